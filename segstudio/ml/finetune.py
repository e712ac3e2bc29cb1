"""Fine-tuning on the user's corrections, proven on held-out corrections before use.

``finetune(...)`` is a generator like ``train``: it measures the current model
on a fixed held-out share of the corrected images (``ml.holdout``), trains a
copy on the others (random crops, flips, scale) within a time budget or an
epoch count, measures again and returns a ``FinetuneResult``: both sets of
metrics, the per-class IoU deltas with bootstrap intervals, and the guard's
``verdict`` (``improved`` = the verdict says better). The model passed in is
never modified; the caller decides whether to keep the new weights.

Only verified pixels are targets (``verified[key]``, a bool mask; an image
without one counts as fully verified, e.g. imported ground truth). What keeps
the model from forgetting (measured in docs/results.md, "Retraining from
corrections"): BatchNorm statistics frozen, a class-balanced loss on the
verified pixels, distillation toward the previous model's answers on the
unverified pixels, a lower learning rate for the encoder, and weight
averaging with the previous model (``fine_tuned_share``). Small crops buy
more steps per CPU minute. Held-out checks during the run (progress only)
do not count against the time budget.

The held-out check: fully verified images are held out first; a partly
verified held-out image is judged on its verified pixels and on agreement
with the previous model elsewhere (``ml.corrective.agreement_truth``), since
its verified pixels alone are the previous model's errors and would flatter
any change.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader

from segstudio.ml import corrective as corr
from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.data import ArraySegmentation
from segstudio.ml.device import autocast_dtype
from segstudio.ml.holdout import Uncertainty, Verdict, iou_uncertainty, judge, split_holdout
from segstudio.ml.train import compute_class_weights, seed_everything
from segstudio.ml.transforms import build_train_transform

@dataclass
class FinetuneSettings:
    minutes: float | None = 3.0
    epochs: int | None = None
    # Small crops buy more steps in a CPU minute (measured: docs/results.md).
    crop: tuple[int, int] = (128, 128)
    batch_size: int = 4
    lr: float = 2e-4
    holdout_fraction: float = 0.2
    seed: int = 0
    threads: int | None = None
    # The held-out keys of the last retrain: they stay held out (ml.holdout.split_holdout).
    previous_holdout: tuple[str, ...] = ()
    freeze_batchnorm: bool = True
    class_balanced: bool = True
    distill_weight: float = 1.0
    encoder_lr_factor: float = 0.3
    # Adam's first steps move every weight by about the full learning rate
    # whatever the gradient; a short linear warm-up keeps them small.
    warmup_steps: int = 3
    # The offered weights: base + share x (fine-tuned - base) (weight-space
    # averaging, WiSE-FT); 1.0 offers the fine-tuned weights as they are.
    fine_tuned_share: float = 0.5
    max_class_drop: float = 0.02
    # Held-out checks during the run, for the progress display only; their
    # time does not count against ``minutes``.
    progress_checks: int = 1


@dataclass
class FinetuneProgress:
    phase: str  # "baseline", "training", "validating"
    step: int
    epoch: int
    loss: float | None
    elapsed_s: float
    fraction: float
    eta_s: float | None = None
    val_miou: float | None = None


@dataclass
class FinetuneResult:
    state_dict: dict
    before: dict
    after: dict
    train_keys: list[str]
    holdout_keys: list[str]
    improved: bool
    note: str = ""
    per_class_delta: list = field(default_factory=list)
    steps: int = 0
    elapsed_s: float = 0.0
    verdict: Verdict | None = None
    uncertainty: Uncertainty | None = None


@dataclass
class CorrectionData:
    """What one retrain learns from and checks on, built once from the corrections."""

    train_keys: list[str]
    holdout_keys: list[str]
    note: str
    train_set: ArraySegmentation
    train_targets: list[np.ndarray]
    held_images: list[np.ndarray]
    held_truths: list[np.ndarray]
    # Per held-out image: the previous model's answer on its unverified pixels (None: all verified).
    held_agreements: list = field(default_factory=list)


def teacher_labels(checkpoint: LoadedCheckpoint, images: list[np.ndarray], device: torch.device) -> list[np.ndarray]:
    """The previous model's answer on each image (what distillation keeps where nobody corrected)."""
    from segstudio.ml.inference import Predictor

    predictor = Predictor(checkpoint, device)
    return [predictor.predict(image).mask for image in images]


def prepare_corrections(
    checkpoint: LoadedCheckpoint, images: dict, masks: dict, verified: dict | None, settings: FinetuneSettings,
    device: torch.device, teachers: dict | None = None,
) -> CorrectionData:
    """Splits the corrections and builds the training targets and the held-out truths.

    Held out are fully verified images when there are enough
    (``ml.holdout.split_holdout``); a partly verified held-out image is
    judged on its verified pixels and, elsewhere, on agreement with the
    previous model (``ml.corrective.agreement_truth``), so forgetting shows.

    ``teachers`` caches the previous model's answer per key (it depends on
    the image only), so continuous mode predicts each image once.
    """
    keys = sorted(set(images) & set(masks))
    if not keys:
        raise ValueError("no corrected images to learn from: edit or review some masks first")
    verified = verified or {}
    labelset = checkpoint.labelset
    n, ignore = labelset.num_classes, labelset.ignore_index
    complete = [k for k in keys if verified.get(k) is None or verified[k].all()]
    train_keys, holdout_keys, note = split_holdout(keys, settings.holdout_fraction, settings.previous_holdout,
                                                   complete)
    teachers = {} if teachers is None else teachers
    partial = {k for k in keys if verified.get(k) is not None and not verified[k].all()}
    # The held-out check always needs the previous answer on a partial image (ml.corrective.agreement_truth);
    # training needs it only for distillation.
    needs_teacher = [k for k in (holdout_keys + (train_keys if settings.distill_weight > 0 else []))
                     if k in partial and k not in teachers]
    if needs_teacher:
        teachers.update(zip(needs_teacher, teacher_labels(checkpoint, [images[k] for k in needs_teacher], device)))
    targets = [corr.encode_targets(masks[k], verified.get(k), n,
                                   teachers.get(k) if settings.distill_weight > 0 else None) for k in train_keys]
    train_images = [images[k] for k in train_keys]
    resize = _resize_of(checkpoint)
    transform = build_train_transform(resize, None if resize else settings.crop, {"flip", "scale"},
                                      corr.UNLABELLED, checkpoint.normalization)
    return CorrectionData(
        train_keys, holdout_keys, note, ArraySegmentation(train_images, targets, transform), targets,
        [images[k] for k in holdout_keys],
        [corr.verified_only(masks[k], verified.get(k), ignore) for k in holdout_keys],
        [corr.agreement_truth(verified.get(k), teachers.get(k), ignore) for k in holdout_keys],
    )


def _resize_of(checkpoint: LoadedCheckpoint) -> tuple[int, int] | None:
    info = checkpoint.train_size or {}
    return tuple(info["size"]) if info.get("mode") == "resize" and info.get("size") else None


def build_training(model, data: CorrectionData, labelset, settings: FinetuneSettings):
    """(criterion, optimizer, scheduler) of a corrective fine-tune (the scheduler warms the rates up)."""
    n, ignore = labelset.num_classes, labelset.ignore_index
    weights = None
    if settings.class_balanced:
        weights = compute_class_weights(corr.verified_class_counts(data.train_targets, n), ignore)
    criterion = corr.CorrectiveLoss(n, ignore, weights, settings.distill_weight)
    optimizer = torch.optim.AdamW(corr.param_groups(model, settings.lr, settings.encoder_lr_factor),
                                  lr=settings.lr, weight_decay=1e-4)
    warmup = max(1, settings.warmup_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup))
    return criterion, optimizer, scheduler


def check(model, data: CorrectionData, checkpoint: LoadedCheckpoint, device) -> list[np.ndarray]:
    """Per-image confusion matrices of ``model`` on the held-out corrections."""
    return corr.confusion_per_image(checkpoint, model, data.held_images, data.held_truths, device,
                                    data.held_agreements)


def finetune(
    checkpoint: LoadedCheckpoint,
    images: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    settings: FinetuneSettings,
    device: torch.device,
    should_stop: Callable[[], bool] = lambda: False,
    verified: dict[str, np.ndarray] | None = None,
) -> Iterator:
    if settings.threads:
        torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    labelset = checkpoint.labelset
    n, ignore = labelset.num_classes, labelset.ignore_index
    yield FinetuneProgress("baseline", 0, 0, None, 0.0, 0.0)
    data = prepare_corrections(checkpoint, images, masks, verified, settings, device)
    amp = autocast_dtype(device)
    model = copy.deepcopy(checkpoint.model).to(device)
    before_cms = check(model, data, checkpoint, device)
    before = corr.metrics_of(before_cms, n, ignore)
    if should_stop():
        return None
    started = time.monotonic()
    checking_s = 0.0  # time spent on progress checks: the budget is training time only
    criterion, optimizer, scheduler = build_training(model, data, labelset, settings)
    loader = DataLoader(data.train_set, batch_size=min(settings.batch_size, len(data.train_set)), shuffle=True,
                        generator=torch.Generator().manual_seed(settings.seed))
    budget_s = settings.minutes * 60 if settings.minutes else None
    max_epochs = settings.epochs or (10_000 if budget_s else 10)
    step = epoch = 0
    loss = fraction = None
    checks_done = 0
    stop = False
    while epoch < max_epochs and not stop:
        epoch += 1
        for step_in_epoch, (image_t, target_t) in enumerate(loader, start=1):
            loss = corr.corrective_step(model, optimizer, criterion, image_t, target_t, device, amp,
                                        settings.freeze_batchnorm)
            scheduler.step()
            step += 1
            elapsed = time.monotonic() - started - checking_s
            # Whichever limit comes first ends it: progress is the further along of the two.
            by_time = elapsed / budget_s if budget_s else 0.0
            by_epochs = 0.0
            if settings.epochs or not budget_s:
                by_epochs = (epoch - 1 + step_in_epoch / max(1, len(loader))) / max_epochs
            fraction = min(1.0, max(by_time, by_epochs))
            eta = elapsed * (1.0 - fraction) / fraction if fraction > 0 else None
            yield FinetuneProgress("training", step, epoch, loss, elapsed, fraction, eta)
            if should_stop():
                return None  # cancelled: nothing is returned, nothing changes
            if budget_s and elapsed > budget_s:
                stop = True
                break
            # Progress checks at even shares of the run (the final check comes after it anyway).
            if fraction < 1.0 and checks_done < settings.progress_checks and \
                    fraction >= (checks_done + 1) / (settings.progress_checks + 1):
                checks_done += 1
                check_started = time.monotonic()
                metrics = corr.metrics_of(check(model, data, checkpoint, device), n, ignore)
                checking_s += time.monotonic() - check_started
                yield FinetuneProgress("validating", step, epoch, loss, elapsed, fraction, val_miou=metrics["mean_iou"])
    if settings.fine_tuned_share != 1.0:
        model.load_state_dict(average_weights(checkpoint.model.state_dict(), model.state_dict(),
                                              settings.fine_tuned_share))
    after_cms = check(model, data, checkpoint, device)
    after = corr.metrics_of(after_cms, n, ignore)
    verdict = judge(before, after, list(labelset.names), settings.max_class_drop)
    delta = [None if a is None or b is None else a - b
             for a, b in zip(after["per_class_iou"], before["per_class_iou"])]
    return FinetuneResult(
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        before=before, after=after, train_keys=data.train_keys, holdout_keys=data.holdout_keys,
        improved=verdict.better, note=data.note, per_class_delta=delta, steps=step,
        elapsed_s=time.monotonic() - started - checking_s, verdict=verdict,
        uncertainty=iou_uncertainty(before_cms, after_cms, n, ignore, seed=settings.seed),
    )


def average_weights(base: dict, tuned: dict, share: float) -> dict:
    """base + share x (tuned - base) for float tensors; the rest (BatchNorm counters) from ``tuned``."""
    out = {}
    for name, value in tuned.items():
        start = base[name].to(value.device)
        out[name] = start + share * (value - start) if value.is_floating_point() else value
    return out


def delta_table(result: FinetuneResult, class_names: list[str]) -> str:
    """Before/after IoU per class, with the bootstrap interval of each change when there is one."""
    intervals = result.uncertainty.per_class_delta if result.uncertainty else []
    lines = [f"{'class':<12} {'before':>7} {'after':>7} {'delta':>7}  90% interval"]
    f = lambda v: "   -   " if v is None else f"{v:7.3f}"
    for i, (cid, b, a, d) in enumerate(zip(result.before["class_ids"], result.before["per_class_iou"],
                                           result.after["per_class_iou"], result.per_class_delta)):
        interval = intervals[i] if i < len(intervals) and intervals[i] is not None and d is not None else ""
        lines.append(f"{class_names[cid]:<12} {f(b)} {f(a)} {'      -' if d is None else f'{d:+7.3f}'}  {interval}")
    mean_interval = result.uncertainty.mean_iou_delta if result.uncertainty else None
    lines.append(f"{'mean IoU':<12} {result.before['mean_iou']:7.3f} {result.after['mean_iou']:7.3f} "
                 f"{result.after['mean_iou'] - result.before['mean_iou']:+7.3f}  {mean_interval or ''}")
    return "\n".join(lines)
