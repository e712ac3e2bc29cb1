"""The held-out check is honest about partly corrected images.

A partly corrected image's verified pixels are exactly the previous model's
errors: judged on them alone, "before" is ~0 and any change looks better.
So fully verified images are held out when there are enough, and a partly
verified held-out image is also judged on its unverified pixels for
agreement with the previous model, so a model that forgets is refused.
"""

import numpy as np
import pytest
import torch

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.corrective import agreement_truth, judged_matrix, metrics_of, verified_only
from segstudio.ml.finetune import FinetuneSettings, prepare_corrections
from segstudio.ml.holdout import holdout_size, judge, split_holdout
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)
SKY, BUILDING, ROAD, CAR, VOID = 0, 1, 3, 8, 11
NAMES = list(CAMVID.names)


# --- which images are held out ------------------------------------------------------------
@pytest.mark.parametrize("n", [6, 10, 20, 40])
def test_only_fully_verified_images_are_held_out_when_there_are_enough(n):
    keys = [f"frame{i:03d}" for i in range(n)]
    complete = keys[::2]
    train, held, _ = split_holdout(keys, complete=complete)
    assert set(held) <= set(complete) and len(held) >= holdout_size(n)
    assert sorted(train + held) == keys


def test_complete_images_come_first_when_there_are_too_few():
    keys = [f"frame{i:03d}" for i in range(20)]
    _, held, _ = split_holdout(keys, complete=["frame007"])
    assert "frame007" in held and len(held) >= holdout_size(20)
    _, held_none, _ = split_holdout(keys, complete=[])
    assert held_none == split_holdout(keys)[1]  # nothing complete: the plain hash split


def test_an_image_once_held_out_stays_held_out_even_when_partial():
    keys = [f"frame{i:03d}" for i in range(10)]
    _, first, _ = split_holdout(keys, complete=[])
    _, later, _ = split_holdout(keys + ["frame010", "frame011", "frame012"], previous=first,
                                complete=["frame010", "frame011", "frame012"])
    assert set(first) <= set(later)


# --- how a partly verified held-out image is judged -----------------------------------------
def _route_scene():
    """Truth: sky on top, a building, road below. The previous model calls a band of road "car"."""
    truth = np.full((40, 40), ROAD, np.uint8)
    truth[:10], truth[10:20] = SKY, BUILDING
    previous = truth.copy()
    previous[30:34] = CAR  # its error
    verified = np.zeros(truth.shape, bool)
    verified[30:34, :20] = True  # the person fixed part of the error, nothing else
    mask = np.where(verified, truth, previous).astype(np.uint8)
    return truth, previous, mask, verified


def _check(predicted, mask, verified, previous):
    matrix = judged_matrix(predicted, verified_only(mask, verified, VOID),
                           agreement_truth(verified, previous, VOID), 12, VOID)
    return metrics_of([matrix], 12, VOID)


def test_a_model_that_forgets_building_is_refused_on_a_partly_verified_image():
    truth, previous, mask, verified = _route_scene()
    forgetful = previous.copy()
    forgetful[verified] = truth[verified]  # fixes the verified error...
    forgetful[10:20] = ROAD  # ...and loses Building, where nobody said anything
    verdict = judge(_check(previous, mask, verified, previous), _check(forgetful, mask, verified, previous), NAMES)
    assert not verdict.better
    assert [c.name for c in verdict.worse_classes] == ["Building"]


def test_a_model_that_fixes_the_errors_and_keeps_the_rest_is_offered():
    truth, previous, mask, verified = _route_scene()
    fixed = previous.copy()
    fixed[verified] = truth[verified]
    before, after = _check(previous, mask, verified, previous), _check(fixed, mask, verified, previous)
    assert before["mean_iou"] > 0.3  # not the ~0 of "verified pixels only"
    verdict = judge(before, after, NAMES)
    assert verdict.better, verdict.message


def test_an_arbitrary_change_does_not_look_better():
    truth, previous, mask, verified = _route_scene()
    noise = np.random.default_rng(0).integers(0, 11, truth.shape).astype(np.uint8)
    assert not judge(_check(previous, mask, verified, previous), _check(noise, mask, verified, previous)).better


def test_all_verified_images_are_judged_on_their_pixels_alone():
    truth, previous, _, _ = _route_scene()
    assert agreement_truth(np.ones(truth.shape, bool), previous, VOID) is None
    assert agreement_truth(None, previous, VOID) is None


# --- end to end: what prepare_corrections holds out -----------------------------------------
def test_prepare_corrections_holds_out_complete_images_and_judges_partial_ones_on_agreement():
    from tests.conftest import make_scene

    torch.manual_seed(0)
    config = model_config("unet-bn", base_width=4, depth=2)
    checkpoint = LoadedCheckpoint(build_model(config).eval(), config, CAMVID, train_size={"mode": "native"})
    rng = np.random.default_rng(0)
    images, masks, verified = {}, {}, {}
    for i in range(10):
        images[f"k{i}"], masks[f"k{i}"] = make_scene(rng, 32, 32)
        verified[f"k{i}"] = np.ones((32, 32), bool) if i < 3 else rng.random((32, 32)) < 0.3
    settings = FinetuneSettings(crop=(32, 32), batch_size=2, distill_weight=0.0)
    data = prepare_corrections(checkpoint, images, masks, verified, settings, torch.device("cpu"))
    assert set(data.holdout_keys) <= {"k0", "k1", "k2"} and all(a is None for a in data.held_agreements)

    for key in ("k0", "k1", "k2"):
        verified[key] = rng.random((32, 32)) < 0.3  # now nothing is fully verified
    data = prepare_corrections(checkpoint, images, masks, verified, settings, torch.device("cpu"))
    assert data.holdout_keys and all(a is not None for a in data.held_agreements)
