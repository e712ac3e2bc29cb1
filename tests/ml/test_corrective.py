"""Corrective training: verified pixels only, a stable held-out split, a guard that refuses forgetting."""

import numpy as np
import pytest
import torch

from segstudio.ml.corrective import CorrectiveLoss, encode_targets, freeze_batchnorm
from segstudio.ml.holdout import holdout_size, iou_uncertainty, judge, split_holdout
from segstudio.ml.metrics import ConfusionMatrix
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


# --- training ignores unverified pixels -------------------------------------------------
def _loss_and_grads(mask, verified, teacher=None, distill=0.0):
    torch.manual_seed(0)
    config = model_config("unet-bn", base_width=4, depth=2)
    model = build_model(config)
    image = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    target = torch.from_numpy(encode_targets(mask, verified, 12, teacher).astype(np.int64))[None]
    loss = CorrectiveLoss(12, 11, torch.linspace(0.5, 2.0, 12), distill)(model(image), target)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


def test_loss_and_gradients_ignore_what_unverified_pixels_say():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 11, (32, 32)).astype(np.uint8)
    verified = rng.random((32, 32)) < 0.3
    other = mask.copy()
    other[~verified] = (other[~verified] + 5) % 11  # unverified labels change completely
    loss_a, grads_a = _loss_and_grads(mask, verified)
    loss_b, grads_b = _loss_and_grads(other, verified)
    assert loss_a == loss_b and all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    changed = mask.copy()
    changed[verified] = (changed[verified] + 5) % 11  # a verified change does count
    assert _loss_and_grads(changed, verified)[0] != loss_a


def test_distillation_teaches_the_previous_answer_on_unverified_pixels_only():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 11, (32, 32)).astype(np.uint8)
    verified = rng.random((32, 32)) < 0.3
    teacher = rng.integers(0, 11, (32, 32)).astype(np.uint8)
    target = encode_targets(mask, verified, 12, teacher)
    assert np.array_equal(target[verified], mask[verified])
    assert np.array_equal(target[~verified], teacher[~verified] + 12)
    with_teacher = _loss_and_grads(mask, verified, teacher, distill=0.5)[0]
    other_teacher = _loss_and_grads(mask, verified, (teacher + 3) % 11, distill=0.5)[0]
    assert with_teacher != other_teacher
    assert _loss_and_grads(mask, verified, teacher, distill=0.0)[0] == _loss_and_grads(mask, verified)[0]


def test_frozen_batchnorm_keeps_its_statistics_while_training():
    model = build_model(model_config("unet-bn", base_width=4, depth=2))
    model.train()
    assert freeze_batchnorm(model) > 0
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    model(torch.randn(2, 3, 32, 32) * 5 + 3)
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items() if "running" in k)


# --- the held-out split ---------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5, 6, 7, 10, 14, 20, 40, 100])
def test_holdout_is_never_smaller_than_its_floor(n):
    keys = [f"frame{i:03d}" for i in range(n)]
    train, held, _ = split_holdout(keys)
    assert len(held) >= (2 if n >= 6 else 1) and len(held) >= holdout_size(n)
    assert train and not set(train) & set(held) and sorted(train + held) == sorted(keys)
    if n >= 10:
        assert len(held) <= 0.2 * n + 3  # about a fifth, not most of the work


def test_holdout_is_stable_and_an_image_once_held_out_stays_held_out():
    keys = [f"frame{i:03d}" for i in range(6)]
    _, held, _ = split_holdout(keys)
    assert split_holdout(list(reversed(keys)))[1] == held
    previous = held
    for n in range(7, 60):
        keys.append(f"frame{n - 1:03d}")
        _, held, _ = split_holdout(keys, previous=previous)
        assert set(previous) <= set(held)
        previous = held


def test_one_image_is_both_trained_on_and_checked_and_the_note_says_so():
    train, held, note = split_holdout(["a"])
    assert train == held == ["a"] and "both" in note
    assert "uncertain" in split_holdout(["a", "b", "c"])[2]


# --- the guard ------------------------------------------------------------------------
def _metrics(truth, pred):
    cm = ConfusionMatrix(12, 11)
    cm.update(pred, truth)
    return cm.compute()


def test_the_guard_refuses_a_model_that_forgets_a_class_and_names_it():
    truth = np.array([0] * 50 + [1] * 40 + [7] * 10)
    before = truth.copy()
    before[:30] = 1  # much sky mistaken for building
    after = truth.copy()  # sky and building perfect now ...
    after[90:95] = 1  # ... but half the fence is forgotten
    verdict = judge(_metrics(truth, before), _metrics(truth, after), [f"c{i}" for i in range(12)])
    assert verdict.mean_iou_after > verdict.mean_iou_before
    assert not verdict.better and [c.class_id for c in verdict.worse_classes] == [7]
    assert "c7" in verdict.message
    fixed = truth.copy()
    assert judge(_metrics(truth, before), _metrics(truth, fixed)).better


def test_the_guard_refuses_when_mean_iou_does_not_rise_and_ignores_absent_classes():
    truth = np.array([0] * 50 + [1] * 50)
    same = _metrics(truth, truth)
    verdict = judge(same, same)
    assert not verdict.better and "did not rise" in verdict.message
    before = truth.copy()
    before[:5] = 3  # a class absent from the truth is predicted: no "present" class to protect
    assert judge(_metrics(truth, before), same).better


def test_uncertainty_is_a_bootstrap_interval_over_held_out_images():
    rng = np.random.default_rng(0)
    before, after = [], []
    for _ in range(4):
        truth = rng.integers(0, 3, 500)
        worse = np.where(rng.random(500) < 0.3, (truth + 1) % 3, truth)
        better = np.where(rng.random(500) < 0.1, (truth + 1) % 3, truth)
        for out, pred in ((before, worse), (after, better)):
            cm = ConfusionMatrix(12, 11)
            cm.update(pred, truth)
            out.append(cm.matrix)
    result = iou_uncertainty(before, after, 12, 11, draws=300)
    assert result.images == 4 and 0 < result.mean_iou_delta.low < result.mean_iou_delta.high
    assert result.per_class_delta[0] is not None and result.per_class_delta[5] is None
    assert iou_uncertainty(before[:1], after[:1], 12, 11).mean_iou_delta is None
