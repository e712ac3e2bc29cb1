"""Fine-tuning on the user's corrected masks, proven on held-out images before use.

``finetune(...)`` is a generator like ``train``: it measures the current model
on a fixed held-out part of the corrected images, fine-tunes a copy on the
rest (random crops, flips) within a time budget or an epoch count, measures
again, and returns a ``FinetuneResult`` with both sets of metrics and the
per-class IoU deltas. The caller decides whether to keep the new weights;
``improved`` says whether held-out mean IoU went up. The model passed in is
never modified.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.data import ArraySegmentation
from segstudio.ml.device import autocast_dtype
from segstudio.ml.train import evaluate, seed_everything
from segstudio.ml.transforms import build_eval_transform, build_train_transform


@dataclass
class FinetuneSettings:
    minutes: float | None = 3.0
    epochs: int | None = None
    crop: tuple[int, int] = (256, 256)
    batch_size: int = 4
    lr: float = 2e-4
    holdout_fraction: float = 0.2
    seed: int = 0
    threads: int | None = None


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


def split_holdout(keys: list[str], fraction: float) -> tuple[list[str], list[str], str]:
    """A fixed split: a key's hash decides, so the same image stays held out across retrains."""
    keys = sorted(keys)
    if len(keys) < 2:
        return keys, keys, "only one corrected image: it is used for both training and the check"
    def bucket(k: str) -> float:
        return int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    holdout = [k for k in keys if bucket(k) < fraction]
    if not holdout:
        holdout = [min(keys, key=bucket)]
    if len(holdout) == len(keys):
        holdout = holdout[:1]
    train = [k for k in keys if k not in holdout]
    note = ""
    if len(keys) < 5:
        note = f"only {len(keys)} corrected images: the check uses {len(holdout)} held-out image(s) and is noisy"
    return train, holdout, note


EVAL_TILE = 1024  # held-out images larger than this are evaluated in tiles of at most this side


def split_into_tiles(
    images: list[np.ndarray], masks: list[np.ndarray], tile: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cuts image/mask pairs larger than ``tile`` into non-overlapping tiles (views, no copies).

    A confusion matrix summed over the tiles is the image's own, except that
    pixels near a tile border see less context; an 8000x6000 photo is thus
    checked in 1024x1024 pieces instead of one forward pass that needs
    gigabytes of activations.
    """
    out_images, out_masks = [], []
    for image, mask in zip(images, masks):
        h, w = mask.shape[:2]
        for y in range(0, h, tile):
            for x in range(0, w, tile):
                out_images.append(image[y : y + tile, x : x + tile])
                out_masks.append(mask[y : y + tile, x : x + tile])
    return out_images, out_masks


def finetune(
    checkpoint: LoadedCheckpoint,
    images: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    settings: FinetuneSettings,
    device: torch.device,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator:
    keys = sorted(set(images) & set(masks))
    if not keys:
        raise ValueError("no corrected images to learn from: edit or review some masks first")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    labelset = checkpoint.labelset
    ignore = labelset.ignore_index
    train_keys, holdout_keys, note = split_holdout(keys, settings.holdout_fraction)
    norm = checkpoint.normalization
    resize = (checkpoint.train_size or {}).get("size") if (checkpoint.train_size or {}).get("mode") == "resize" else None
    held_images, held_masks = [images[k] for k in holdout_keys], [masks[k] for k in holdout_keys]
    if not resize:  # a big photo is checked tile by tile: the metrics add up, the memory does not
        held_images, held_masks = split_into_tiles(held_images, held_masks, EVAL_TILE)
    holdout_set = ArraySegmentation(held_images, held_masks,
                                    build_eval_transform(tuple(resize) if resize else None, norm))
    train_set = ArraySegmentation(
        [images[k] for k in train_keys], [masks[k] for k in train_keys],
        build_train_transform(tuple(resize) if resize else None, None if resize else settings.crop,
                              {"flip", "scale"}, ignore if ignore is not None else 255, norm),
    )
    holdout_loader = DataLoader(holdout_set, batch_size=1)
    generator = torch.Generator().manual_seed(settings.seed)
    train_loader = DataLoader(train_set, batch_size=min(settings.batch_size, len(train_set)), shuffle=True,
                              generator=generator, drop_last=False)
    started = time.monotonic()
    amp = autocast_dtype(device)
    model = copy.deepcopy(checkpoint.model).to(device)
    n = labelset.num_classes
    yield FinetuneProgress("baseline", 0, 0, None, 0.0, 0.0)
    before, _ = evaluate(model, holdout_loader, device, n, ignore, amp_dtype=amp)
    criterion = nn.CrossEntropyLoss(ignore_index=ignore if ignore is not None else -100)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.lr, weight_decay=1e-4)
    budget_s = settings.minutes * 60 if settings.minutes else None
    max_epochs = settings.epochs or (10_000 if budget_s else 10)
    step = epoch = 0
    last_loss = None
    stop = False
    while epoch < max_epochs and not stop:
        model.train()
        epoch += 1
        for step_in_epoch, (image_t, mask_t) in enumerate(train_loader, start=1):
            image_t, mask_t = image_t.to(device), mask_t.to(device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                logits = model(image_t)
            loss = criterion(logits.float(), mask_t)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            last_loss = loss.item()
            elapsed = time.monotonic() - started
            # Whichever limit comes first ends it: progress is the further along of the two.
            by_time = elapsed / budget_s if budget_s else 0.0
            by_epochs = 0.0
            if settings.epochs or not budget_s:
                by_epochs = (epoch - 1 + step_in_epoch / max(1, len(train_loader))) / max_epochs
            fraction = min(1.0, max(by_time, by_epochs))
            eta = elapsed * (1.0 - fraction) / fraction if fraction > 0 else None
            yield FinetuneProgress("training", step, epoch, last_loss, elapsed, fraction, eta)
            if should_stop():
                return None  # cancelled: nothing is returned, nothing changes
            if budget_s and elapsed > budget_s:
                stop = True
                break
        if len(train_set) and epoch % 2 == 0 and not stop:
            metrics, _ = evaluate(model, holdout_loader, device, n, ignore, amp_dtype=amp)
            yield FinetuneProgress("validating", step, epoch, last_loss, time.monotonic() - started,
                                   fraction, val_miou=metrics["mean_iou"])
    after, _ = evaluate(model, holdout_loader, device, n, ignore, amp_dtype=amp)
    delta = [
        None if a is None or b is None else a - b
        for a, b in zip(after["per_class_iou"], before["per_class_iou"])
    ]
    improved = _score(after) > _score(before)
    result = FinetuneResult(
        state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        before=before, after=after, train_keys=train_keys, holdout_keys=holdout_keys,
        improved=improved, note=note, per_class_delta=delta, steps=step,
        elapsed_s=time.monotonic() - started,
    )
    return result


def _score(metrics: dict) -> float:
    value = metrics.get("mean_iou")
    return -1.0 if value is None or value != value else float(value)


def delta_table(result: FinetuneResult, class_names: list[str]) -> str:
    lines = [f"{'class':<12} {'before':>7} {'after':>7} {'delta':>7}"]
    for cid, b, a, d in zip(result.before["class_ids"], result.before["per_class_iou"],
                            result.after["per_class_iou"], result.per_class_delta):
        f = lambda v: "   -   " if v is None else f"{v:7.3f}"
        sign = "" if d is None else ("+" if d >= 0 else "")
        lines.append(f"{class_names[cid]:<12} {f(b)} {f(a)} {sign}{'-' if d is None else f'{d:.3f}':>6}")
    lines.append(f"{'mean IoU':<12} {result.before['mean_iou']:7.3f} {result.after['mean_iou']:7.3f} "
                 f"{result.after['mean_iou'] - result.before['mean_iou']:+7.3f}")
    return "\n".join(lines)
