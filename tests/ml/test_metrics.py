"""Confusion-matrix metrics against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from segstudio.ml.metrics import ConfusionMatrix


def test_hand_computed_with_ignore():
    # classes 0..2 real, 3 = ignore. (truth, prediction) pairs:
    # (0,0) (0,1) (1,1) (1,1) (2,0) (3,2)=ignored (0,3)=a miss predicted as void
    cm = ConfusionMatrix(4, ignore_index=3)
    cm.update(np.array([0, 1, 1]), np.array([0, 0, 1]))
    cm.update(torch.tensor([1, 0, 2, 3]), torch.tensor([1, 2, 3, 0]))
    m = cm.compute()
    assert m["class_ids"] == [0, 1, 2]
    assert m["pixel_accuracy"] == pytest.approx(3 / 6)
    assert m["per_class_accuracy"] == pytest.approx([1 / 3, 1.0, 0.0])
    assert m["mean_class_accuracy"] == pytest.approx(4 / 9)
    # IoU = tp / (row + col - tp): 1/(3+2-1), 2/(2+3-2), 0/(1+0-0)
    assert m["per_class_iou"] == pytest.approx([1 / 4, 2 / 3, 0.0])
    assert m["mean_iou"] == pytest.approx((1 / 4 + 2 / 3 + 0) / 3)
    assert np.array(m["confusion_matrix"]).sum() == 6  # ignored pixel not counted


def test_absent_class_is_left_out_of_means():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 1]), np.array([0, 0, 1]))
    m = cm.compute()
    assert m["per_class_iou"][2] is None and m["per_class_accuracy"][2] is None
    assert m["mean_iou"] == pytest.approx(0.5)
    assert m["mean_class_accuracy"] == pytest.approx(0.75)


def test_camvid_reports_eleven_classes_and_empty_is_nan():
    cm = ConfusionMatrix(12, ignore_index=11)
    assert len(cm.compute()["class_ids"]) == 11
    assert math.isnan(cm.compute()["mean_iou"])
    cm.update(np.full((4, 4), 5), np.full((4, 4), 11))  # all void: nothing counted
    assert cm.compute()["pixels"] == 0


def test_perfect_prediction():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 12, (2, 16, 16))
    cm = ConfusionMatrix(12, 11)
    cm.update(torch.from_numpy(target), torch.from_numpy(target))
    m = cm.compute()
    assert m["pixel_accuracy"] == 1.0 and m["mean_iou"] == 1.0
