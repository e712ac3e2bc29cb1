"""Continuous mode: only better models are offered, new corrections join, should_stop ends it at once."""

import itertools

import numpy as np
import torch

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.continuous import (
    CandidateBetter,
    CheckResult,
    ContinuousProgress,
    Correction,
    WaitingForCorrections,
    continuous_training,
)
from segstudio.ml.finetune import FinetuneSettings
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


def corrections(count, seed=0, size=32):
    from tests.conftest import make_scene

    rng = np.random.default_rng(seed)
    out = {}
    for i in range(count):
        image, mask = make_scene(rng, size, size)
        # Partly corrected images count too; the fully verified ones are what the check holds out.
        verified = rng.random(mask.shape) < (0.7 if i % 2 else 1.0)
        out[f"s{i}"] = Correction(image, mask, verified)
    return out


def tiny_checkpoint():
    torch.manual_seed(0)
    config = model_config("unet-bn", base_width=4, depth=2)
    return LoadedCheckpoint(build_model(config).eval(), config, CAMVID, train_size={"mode": "native"})


class StepClock:
    """A clock that advances one "second" per reading: rounds last a fixed number of steps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


SETTINGS = FinetuneSettings(crop=(32, 32), batch_size=2, lr=1e-2, distill_weight=0.0)


def test_only_models_better_than_the_best_so_far_are_offered():
    data = corrections(8)
    events = continuous_training(tiny_checkpoint(), lambda: data, SETTINGS, torch.device("cpu"),
                                 check_every_s=4, clock=StepClock())
    checks = [e for e in itertools.islice(events, 200) if isinstance(e, (CandidateBetter, CheckResult))]
    candidates = [e for e in checks if isinstance(e, CandidateBetter)]
    assert candidates and len(checks) > len(candidates)  # both outcomes happened
    best = -1.0
    for event in checks:
        if isinstance(event, CandidateBetter):
            assert event.verdict.better and event.metrics["mean_iou"] > best
            assert event.verdict.mean_iou_before == (best if best >= 0 else event.verdict.mean_iou_before)
            best = event.metrics["mean_iou"]
            assert set(event.state_dict) == set(tiny_checkpoint().model.state_dict())
        else:
            assert not event.verdict.better


def test_newly_saved_corrections_join_the_next_round():
    data = corrections(3)
    more = corrections(9, seed=5)
    listings = []

    def list_corrections():
        listings.append(1)
        return data if len(listings) < 3 else {**data, **{f"new{k}": v for k, v in more.items()}}

    events = continuous_training(tiny_checkpoint(), list_corrections, SETTINGS, torch.device("cpu"),
                                 check_every_s=3, clock=StepClock())
    progress = [e for e in itertools.islice(events, 40) if isinstance(e, ContinuousProgress)]
    assert progress[0].train_images + progress[0].holdout_images == 3
    assert progress[-1].train_images + progress[-1].holdout_images == 12
    assert progress[-1].holdout_images >= 2


def test_should_stop_ends_it_within_one_step_and_leaves_the_model_as_it_was():
    checkpoint = tiny_checkpoint()
    before = {k: v.clone() for k, v in checkpoint.model.state_dict().items()}
    stop = []
    events = continuous_training(checkpoint, lambda: corrections(4), SETTINGS, torch.device("cpu"),
                                 should_stop=lambda: bool(stop), check_every_s=1e9)
    seen = 0
    for event in events:
        seen += 1
        if seen == 3:
            stop.append(True)
    assert seen == 3
    assert all(torch.equal(before[k], v) for k, v in checkpoint.model.state_dict().items())


def test_it_waits_for_enough_corrections_and_still_stops():
    stop = []
    events = continuous_training(tiny_checkpoint(), lambda: {}, SETTINGS, torch.device("cpu"),
                                 should_stop=lambda: bool(stop), poll_s=0.01)
    first = next(events)
    assert isinstance(first, WaitingForCorrections) and first.corrected == 0
    stop.append(True)
    assert list(events) == []
