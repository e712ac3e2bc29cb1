"""Segmentation metrics from one confusion matrix (torchvision references style).

The ignore class (CamVid's void) is skipped in the targets and left out of the
class list, so CamVid reports 11 classes. A class absent from both targets and
predictions has no IoU (NaN) and is left out of the means.
"""

from __future__ import annotations

import numpy as np


class ConfusionMatrix:
    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows: truth

    def update(self, pred, target) -> None:
        pred = _to_numpy(pred).reshape(-1).astype(np.int64)
        target = _to_numpy(target).reshape(-1).astype(np.int64)
        keep = (target >= 0) & (target < self.num_classes)
        if self.ignore_index is not None:
            keep &= target != self.ignore_index
        pred = np.clip(pred[keep], 0, self.num_classes - 1)
        self.matrix += np.bincount(
            target[keep] * self.num_classes + pred, minlength=self.num_classes**2
        ).reshape(self.num_classes, self.num_classes)

    def merge(self, other: "ConfusionMatrix") -> None:
        self.matrix += other.matrix

    def class_ids(self) -> list[int]:
        return [c for c in range(self.num_classes) if c != self.ignore_index]

    def compute(self) -> dict:
        ids = self.class_ids()
        m = self.matrix[np.ix_(ids, ids)].astype(np.float64)
        # Predictions of the ignore class on real pixels are errors: count them
        # in the row totals (as misses) though they have no column of their own.
        row_total = self.matrix[ids].sum(axis=1).astype(np.float64)
        tp = np.diag(m)
        col_total = m.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_acc = np.where(row_total > 0, tp / row_total, np.nan)
            union = row_total + col_total - tp
            iou = np.where(union > 0, tp / union, np.nan)
        total = row_total.sum()
        return {
            "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
            "mean_class_accuracy": _nanmean(class_acc),
            "mean_iou": _nanmean(iou),
            "per_class_iou": [None if np.isnan(v) else float(v) for v in iou],
            "per_class_accuracy": [None if np.isnan(v) else float(v) for v in class_acc],
            "class_ids": ids,
            "confusion_matrix": self.matrix.tolist(),
            "pixels": int(total),
        }


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _to_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)
