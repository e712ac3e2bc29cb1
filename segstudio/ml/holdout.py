"""The held-out check of a retrain: which corrected images it uses, how sure it is, and the verdict.

- ``split_holdout``: a fixed share of the corrected images, never fewer than
  its floor, stable across retrains.
- ``iou_uncertainty``: a paired bootstrap over the held-out images, so a
  "+0.003 on one frame" is shown for what it is.
- ``judge``: the guard. A new model is offered only when held-out mean IoU
  rises and no class present in the held-out images drops by more than
  ``max_class_drop``; otherwise the verdict names the classes that got worse.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

HOLDOUT_FRACTION = 0.2
MAX_CLASS_DROP = 0.02


def key_bucket(key: str) -> float:
    """A key's fixed place in [0, 1): the same image always gets the same number."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000


def holdout_size(n: int, fraction: float = HOLDOUT_FRACTION) -> int:
    """How many of ``n`` corrected images are held out: ~fraction, at least 2 from 6 images, 1 below."""
    if n < 2:
        return 0
    floor = 2 if n >= 6 else 1
    return min(n - 1, max(floor, int(round(fraction * n))))


def split_holdout(
    keys: Iterable[str], fraction: float = HOLDOUT_FRACTION, previous: Iterable[str] = (),
    complete: Iterable[str] | None = None,
) -> tuple[list[str], list[str], str]:
    """(train keys, held-out keys, note). Stable: an image once held out stays held out.

    An image is held out when its hash bucket is below ``fraction`` (so that
    choice does not depend on the other images), or when ``previous`` (the
    held-out keys of the last retrain, kept by the caller) has it; the lowest
    buckets top the set up to ``holdout_size``. With one image it is used for
    both training and the check (the note says so).

    ``complete`` names the fully verified images (every pixel confirmed:
    reviewed, or imported ground truth); None means all are. A partly
    corrected image's verified pixels are exactly the model's errors, so a
    check on them alone flatters any change. When there are enough complete
    images, only they are held out (besides ``previous``); otherwise complete
    ones come first and ``ml.finetune`` judges the partial ones on their
    verified pixels plus agreement with the previous model elsewhere.
    """
    keys = sorted(set(keys))
    n = len(keys)
    if n == 0:
        return [], [], "no corrected images"
    if n == 1:
        return keys, keys, "only one corrected image: it is used for both training and the check"
    target = holdout_size(n, fraction)
    kept = set(previous) & set(keys)
    full = set(keys) if complete is None else set(complete) & set(keys)
    pool = full if len(full) >= target else set(keys)
    # Complete images first, then by hash bucket: the order does not depend on the other images.
    by_preference = sorted(keys, key=lambda k: (k not in full, key_bucket(k)))
    holdout = kept | {k for k in pool if key_bucket(k) < fraction}
    for key in by_preference:
        if len(holdout) >= target:
            break
        holdout.add(key)
    while len(holdout) > n - 1:  # at least one image to learn from; drop the newest choices first
        holdout.discard(max((k for k in holdout if k not in kept), key=key_bucket, default=None)
                        or max(holdout, key=key_bucket))
    held = sorted(holdout)
    note = ""
    if len(held) < 3:
        note = (f"the check uses {len(held)} held-out image(s) of {n}: its result is uncertain "
                "(see the interval)")
    return [k for k in keys if k not in holdout], held, note


# --- metrics from confusion matrices ------------------------------------------------------
def _class_ids(num_classes: int, ignore_index: int | None) -> list[int]:
    return [c for c in range(num_classes) if c != ignore_index]


def _iou_from_matrices(matrices: np.ndarray, ids: list[int]) -> np.ndarray:
    """Per-class IoU of (..., C, C) confusion matrices (rows truth), NaN where undefined."""
    m = matrices[..., ids, :][..., :, ids].astype(np.float64)
    row = matrices[..., ids, :].sum(axis=-1).astype(np.float64)  # predictions of void count as misses
    tp = np.diagonal(m, axis1=-2, axis2=-1)
    union = row + m.sum(axis=-2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


@dataclass
class Interval:
    low: float
    high: float

    def __str__(self) -> str:
        return f"[{self.low:+.3f}, {self.high:+.3f}]"


@dataclass
class Uncertainty:
    """90% bootstrap intervals over the held-out images (None with a single image: no spread to measure)."""

    images: int
    mean_iou_delta: Interval | None
    per_class_delta: list[Interval | None] = field(default_factory=list)


def iou_uncertainty(
    before: Sequence[np.ndarray], after: Sequence[np.ndarray], num_classes: int, ignore_index: int | None,
    draws: int = 1000, seed: int = 0,
) -> Uncertainty:
    """Paired bootstrap of the IoU change: resample held-out images, recompute before and after."""
    k = len(before)
    ids = _class_ids(num_classes, ignore_index)
    if k < 2:
        return Uncertainty(k, None, [None] * len(ids))
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, k, k), minlength=k) for _ in range(draws)])  # (B, k)
    flat_b = counts @ np.stack(before).reshape(k, -1).astype(np.float64)
    flat_a = counts @ np.stack(after).reshape(k, -1).astype(np.float64)
    shape = (draws, num_classes, num_classes)
    iou_b, iou_a = _iou_from_matrices(flat_b.reshape(shape), ids), _iou_from_matrices(flat_a.reshape(shape), ids)
    with warnings.catch_warnings():  # draws that miss a class give "mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_delta = np.nanmean(iou_a, axis=1) - np.nanmean(iou_b, axis=1)
    delta = iou_a - iou_b

    def interval(values: np.ndarray) -> Interval | None:
        values = values[~np.isnan(values)]
        if values.size < draws // 2:
            return None
        return Interval(float(np.percentile(values, 5)), float(np.percentile(values, 95)))

    return Uncertainty(k, interval(mean_delta), [interval(delta[:, i]) for i in range(len(ids))])


# --- the guard ----------------------------------------------------------------------------
@dataclass
class ClassChange:
    class_id: int
    name: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass
class Verdict:
    better: bool
    mean_iou_before: float
    mean_iou_after: float
    worse_classes: list[ClassChange]
    message: str

    @property
    def mean_iou_delta(self) -> float:
        return self.mean_iou_after - self.mean_iou_before


def present_classes(metrics: dict) -> list[int]:
    """Class ids with truth pixels in the checked images (from the metrics' confusion matrix)."""
    matrix = np.asarray(metrics["confusion_matrix"])
    return [c for c in metrics["class_ids"] if matrix[c].sum() > 0]


def judge(
    before: dict, after: dict, class_names: Sequence[str] | None = None, max_class_drop: float = MAX_CLASS_DROP
) -> Verdict:
    """Whether ``after`` may be offered over ``before`` (both ``ConfusionMatrix.compute()`` dicts of the same images).

    Better means: mean IoU rises, and no class with truth pixels in the held-out
    images loses more than ``max_class_drop`` IoU. The message says which
    class got worse, so a person can still choose the model knowingly.
    """
    b_miou, a_miou = _finite(before["mean_iou"]), _finite(after["mean_iou"])
    worse = []
    for index, class_id in enumerate(before["class_ids"]):
        if class_id not in present_classes(before):
            continue
        b, a = before["per_class_iou"][index], after["per_class_iou"][index]
        b, a = (0.0 if b is None else b), (0.0 if a is None else a)
        if a < b - max_class_drop:
            name = class_names[class_id] if class_names else f"class {class_id}"
            worse.append(ClassChange(class_id, name, b, a))
    rises = a_miou > b_miou
    if rises and not worse:
        message = f"held-out mean IoU {b_miou:.3f} -> {a_miou:.3f}, no class worse by more than {max_class_drop:.2f}"
    else:
        reasons = []
        if not rises:
            reasons.append(f"held-out mean IoU did not rise ({b_miou:.3f} -> {a_miou:.3f})")
        if worse:
            listed = ", ".join(f"{c.name} {c.before:.2f} -> {c.after:.2f}" for c in worse)
            reasons.append(f"worse on {listed}")
        message = "; ".join(reasons)
    return Verdict(rises and not worse, b_miou, a_miou, worse, message)


def _finite(value) -> float:
    return -1.0 if value is None or value != value else float(value)


__all__ = [
    "HOLDOUT_FRACTION", "MAX_CLASS_DROP", "ClassChange", "Interval", "Uncertainty", "Verdict", "holdout_size",
    "iou_uncertainty", "judge", "key_bucket", "present_classes", "split_holdout",
]
