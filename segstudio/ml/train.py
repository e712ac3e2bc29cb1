"""Training as a generator of progress events (torchvision references recipe).

``train(config)`` yields ``EpochStart``, ``StepProgress``, ``EpochEnd`` and
finally ``TrainDone``; the CLI prints them, the app's worker turns them into
Qt signals, and ``should_stop`` gives cooperative cancel. The best checkpoint
by validation mean IoU is kept; a resume file (tensors and plain values only,
read back with ``weights_only=True``) lets ``--resume`` continue a run, also
with a different number of processes under torchrun.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

import segstudio
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.ml.checkpoint import NORMALIZATION, save_checkpoint
from segstudio.ml.data import SegmentationFolder, pair_files
from segstudio.ml.device import autocast_dtype, choose_device
from segstudio.ml.distributed import DistContext, all_reduce_sum, broadcast_flag, init_distributed
from segstudio.ml.metrics import ConfusionMatrix
from segstudio.ml.models.registry import build_model, model_config
from segstudio.ml.transforms import build_eval_transform, build_train_transform


@dataclass
class TrainConfig:
    train_images: str
    train_labels: str
    val_images: str | None = None
    val_labels: str | None = None
    out: str = "model.safetensors"
    model: str = "unet-bn"
    width: int | None = None
    encoder_weights: str | None = None
    size: int | None = None
    crop: tuple[int, int] | None = None
    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    warmup_epochs: float = 1.0
    aug: tuple[str, ...] = ()
    class_weights: str | tuple[float, ...] = "none"  # "none" | "auto" | one weight per class
    ignore_index: int = 11
    device: str = "auto"
    amp: bool = False
    seed: int = 0
    resume: str | None = None
    minutes: float | None = None
    threads: int | None = None
    val_every: int = 1
    num_workers: int = 0
    sync_bn: bool = False
    labelset: LabelSet = field(default=CAMVID, repr=False)
    init_checkpoint: str | None = None  # fine-tuning starts from these weights


@dataclass
class EpochStart:
    epoch: int
    epochs: int
    steps: int


@dataclass
class StepProgress:
    epoch: int
    step: int
    steps: int
    loss: float
    lr: float
    eta_s: float | None


@dataclass
class EpochEnd:
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    metrics: dict | None
    is_best: bool
    elapsed_s: float
    epoch_s: float = 0.0


@dataclass
class TrainDone:
    best_metrics: dict | None
    checkpoint_path: str
    epochs_run: int
    elapsed_s: float
    stopped_early: str | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    # Every epoch draws from a seed derived from (seed, epoch), so a resumed run
    # shuffles and augments exactly as the uninterrupted run would have.
    return (seed * 1_000_003 + epoch * 7919 + rank) % 2**63


def resolve_class_weights(config: "TrainConfig", dataset, num_classes: int) -> torch.Tensor | None:
    """None, median-frequency weights from the training labels, or the given list."""
    spec = config.class_weights
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, str) and spec.lower() == "auto":
        return compute_class_weights(dataset.class_pixel_counts(), config.ignore_index)
    if isinstance(spec, str):
        try:
            spec = [float(v) for v in spec.split(",")]
        except ValueError as exc:
            raise ValueError(f"class weights: expected none, auto or {num_classes} numbers, got {spec!r}") from exc
    values = [float(v) for v in spec]
    if len(values) != num_classes or any(v < 0 or not math.isfinite(v) for v in values):
        raise ValueError(f"class weights: expected {num_classes} non-negative numbers, got {len(values)}: {values}")
    return torch.tensor(values, dtype=torch.float32)


def compute_class_weights(counts: np.ndarray, ignore_index: int | None) -> torch.Tensor:
    """Softened median-frequency balancing: sqrt(median_freq / freq), capped.

    Plain median frequency (SegNet) gives rare CamVid classes weights near 10
    and makes training noisy; the square root keeps most of the gain in mean
    IoU for a fraction of the pixel-accuracy cost.
    """
    counts = counts.astype(np.float64).copy()
    valid = np.ones_like(counts, dtype=bool)
    if ignore_index is not None and ignore_index < len(counts):
        valid[ignore_index] = False
    freq = counts / max(counts[valid].sum(), 1.0)
    present = valid & (freq > 0)
    weights = np.ones_like(freq)
    if present.any():
        median = np.median(freq[present])
        weights[present] = np.sqrt(median / freq[present])
    weights = np.clip(weights, 0.2, 5.0)
    weights[~valid] = 0.0
    return torch.tensor(weights, dtype=torch.float32)


def make_loader(dataset, batch_size: int, shuffle: bool, ctx: DistContext, seed: int, num_workers: int):
    if getattr(sys, "frozen", False):
        num_workers = 0  # a frozen app cannot spawn DataLoader worker processes
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed) if ctx.enabled else None
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=shuffle and len(dataset) > batch_size * max(ctx.world_size, 1),
        generator=generator,
        persistent_workers=num_workers > 0,
    )
    return loader, sampler


def predict_classes(logits: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    """argmax over the real classes: the ignore class never gets a gradient, so it is never predicted."""
    if ignore_index is not None and 0 <= ignore_index < logits.shape[1]:
        logits = logits.clone()
        logits[:, ignore_index] = float("-inf")
    return logits.argmax(1)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device,
    num_classes: int,
    ignore_index: int | None,
    criterion: nn.Module | None = None,
    ctx: DistContext = DistContext(),
    amp_dtype: torch.dtype | None = None,
) -> tuple[dict, float | None]:
    """Confusion-matrix metrics (reduced across ranks) and the mean loss."""
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index)
    loss_sum = torch.zeros(2, dtype=torch.float64)
    for images, masks in loader:
        images, masks = images.to(device), masks.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(images)
        if criterion is not None:
            loss_sum[0] += float(criterion(logits.float(), masks)) * images.shape[0]
            loss_sum[1] += images.shape[0]
        cm.update(predict_classes(logits, ignore_index), masks)
    matrix = torch.from_numpy(cm.matrix)
    all_reduce_sum(matrix, ctx)
    all_reduce_sum(loss_sum, ctx)
    cm.matrix = matrix.numpy()
    val_loss = float(loss_sum[0] / loss_sum[1]) if loss_sum[1] > 0 else None
    return cm.compute(), val_loss


def _resume_path(out: Path) -> Path:
    return out.with_name(out.stem + ".resume.pt")


def _save_resume(
    path: Path, model, optimizer, scheduler, epoch: int, best: float, config: TrainConfig, best_metrics: dict | None
) -> None:
    """Model, optimizer, scheduler, epoch and plain values: loadable with ``weights_only=True``."""
    from segstudio.core.atomic import atomic_write_bytes
    import io

    state = {
        "model": {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "best_miou": best,
        "model_name": config.model,
        "best_metrics": _compact(best_metrics),
        "torch_rng": torch.get_rng_state(),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_resume_state(path: str | Path, model_name: str | None = None) -> dict:
    """A resume file, read with ``weights_only=True`` (no arbitrary unpickling)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that needs more than tensors and plain values
        raise ValueError(f"{path} is not a SegStudio resume file that loads safely: {exc}") from exc
    missing = {"model", "optimizer", "scheduler", "epoch", "best_miou"} - set(state if isinstance(state, dict) else ())
    if missing:
        raise ValueError(f"{path} is not a SegStudio resume file (missing {', '.join(sorted(missing))})")
    if model_name is not None and state.get("model_name") not in (None, model_name):
        raise ValueError(f"{path} was written for model {state['model_name']!r}, not {model_name!r}")
    return state


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def _build(config: TrainConfig, device: torch.device, ctx: DistContext):
    if config.init_checkpoint:
        from segstudio.ml.checkpoint import load_checkpoint

        loaded = load_checkpoint(config.init_checkpoint)
        model, arch = loaded.model, loaded.config
    else:
        overrides = {"num_classes": config.labelset.num_classes}
        if config.width is not None:
            overrides["base_width"] = config.width
        arch = model_config(config.model, **overrides)
        model = build_model(arch, encoder_weights=config.encoder_weights)
    if ctx.enabled and config.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, arch


def train(config: TrainConfig, should_stop: Callable[[], bool] = lambda: False) -> Iterator:
    """Runs a training; yields progress events; returns (and yields) ``TrainDone``."""
    ctx = init_distributed(config.device)
    if ctx.enabled and torch.cuda.is_available() and config.device in ("auto", "cuda"):
        device = torch.device("cuda", ctx.local_rank)
    else:
        device, _ = choose_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed + ctx.rank)
    labelset = config.labelset
    num_classes = labelset.num_classes
    ignore = config.ignore_index

    train_set = SegmentationFolder(
        pair_files(config.train_images, config.train_labels),
        num_classes,
        build_train_transform(config.size, config.crop, set(config.aug), ignore, NORMALIZATION),
        ignore,
    )
    val_set = None
    if config.val_images and config.val_labels:
        val_set = SegmentationFolder(
            pair_files(config.val_images, config.val_labels), num_classes, build_eval_transform(config.size), ignore
        )
    train_loader, train_sampler = make_loader(train_set, config.batch_size, True, ctx, config.seed, config.num_workers)
    val_loader = None
    if val_set is not None:
        # Crops train, full frames evaluate: one image per batch then.
        val_bs = config.batch_size if config.size else 1
        val_loader, _ = make_loader(val_set, val_bs, False, ctx, config.seed, config.num_workers)

    model, arch = _build(config, device, ctx)
    weights = resolve_class_weights(config, train_set, num_classes)
    if weights is not None:
        weights = weights.to(device)
    criterion = nn.CrossEntropyLoss(weight=weights, ignore_index=ignore if ignore is not None else -100)
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(train_loader))
    total_steps = steps_per_epoch * config.epochs
    # Warm-up is at most a fifth of the run, so that short runs still decay.
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total_steps // 5)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return (1.0 - progress) ** 0.9  # polynomial decay, as torchvision's reference

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    if ctx.enabled:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    amp_dtype = autocast_dtype(device) if config.amp else None
    out = Path(config.out)
    start_epoch, best_miou = 0, -1.0
    best_metrics: dict | None = None
    if config.resume:
        state = load_resume_state(config.resume, config.model)
        try:
            _unwrap(model).load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"{config.resume} does not fit this model and settings: {exc}") from exc
        start_epoch, best_miou = int(state["epoch"]), float(state["best_miou"])
        best_metrics = state.get("best_metrics")

    started = time.monotonic()
    stopped: str | None = None
    epoch = start_epoch
    train_size = {"mode": "resize", "size": [config.size, config.size]} if config.size else {"mode": "native"}
    for epoch in range(start_epoch, config.epochs):
        if train_sampler is not None:
            train_sampler.set_epoch(epoch)  # a different shuffle every epoch, same on every rank
        seed_everything(_epoch_seed(config.seed, epoch, ctx.rank))
        train_loader.generator.manual_seed(_epoch_seed(config.seed, epoch, 0))
        model.train()
        yield EpochStart(epoch + 1, config.epochs, steps_per_epoch)
        loss_sum, seen = 0.0, 0
        epoch_start = time.monotonic()
        for step, (images, masks) in enumerate(train_loader):
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            if device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(images)
            loss = criterion(logits.float(), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_value = loss.item()
            loss_sum += loss_value * images.shape[0]
            seen += images.shape[0]
            per_step = (time.monotonic() - epoch_start) / (step + 1)
            remaining = (config.epochs - epoch - 1) * steps_per_epoch + steps_per_epoch - step - 1
            yield StepProgress(epoch + 1, step + 1, steps_per_epoch, loss_value, scheduler.get_last_lr()[0], per_step * remaining)
            over_time = config.minutes is not None and time.monotonic() - started > config.minutes * 60
            if broadcast_flag(should_stop() or over_time, ctx):
                stopped = "cancelled" if should_stop() else "time budget reached"
                break
        totals = all_reduce_sum(torch.tensor([loss_sum, seen], dtype=torch.float64), ctx)
        train_loss = float(totals[0] / max(totals[1], 1))
        if stopped == "cancelled":
            break
        last = epoch + 1 == config.epochs or stopped is not None
        metrics, val_loss, is_best = None, None, False
        if val_loader is not None and ((epoch + 1) % config.val_every == 0 or last):
            metrics, val_loss = evaluate(model, val_loader, device, num_classes, ignore, criterion, ctx, amp_dtype)
            miou = metrics["mean_iou"] if not math.isnan(metrics["mean_iou"]) else 0.0
            is_best = miou > best_miou
            if is_best:
                best_miou, best_metrics = miou, metrics
        elif val_loader is None:
            is_best, best_metrics = True, None
        if ctx.is_main:
            if is_best:
                record = {
                    "train_images": str(config.train_images),
                    "train_labels": str(config.train_labels),
                    "val_images": str(config.val_images),
                    "val_labels": str(config.val_labels),
                    "epoch": epoch + 1,
                    "epochs": config.epochs,
                    "seed": config.seed,
                    "settings": {k: v for k, v in asdict(config).items() if k != "labelset"},
                    "metrics": _compact(metrics),
                    "device": str(device),
                    "world_size": ctx.world_size,
                    "elapsed_s": round(time.monotonic() - started, 1),
                    "segstudio_version": segstudio.__version__,
                }
                save_checkpoint(out, _unwrap(model), arch, labelset, train_size=train_size, record=record)
            _save_resume(_resume_path(out), model, optimizer, scheduler, epoch + 1, best_miou, config, best_metrics)
        yield EpochEnd(
            epoch + 1, config.epochs, train_loss, val_loss, metrics, is_best,
            time.monotonic() - started, time.monotonic() - epoch_start,
        )
        if stopped:
            break
    epochs_run = epoch + 1 if config.epochs > start_epoch else start_epoch
    done = TrainDone(_compact(best_metrics), str(out), epochs_run, time.monotonic() - started, stopped)
    yield done
    return done


def _compact(metrics: dict | None) -> dict | None:
    """Metrics for the checkpoint record, without the bulky confusion matrix."""
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "confusion_matrix"}
