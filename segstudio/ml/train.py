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

import segstudio
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.ml.batch_pipeline import DEFAULT_CACHE_GB
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.device import autocast_dtype, choose_device
from segstudio.ml.distributed import DistContext, all_reduce_sum, broadcast_flag, init_distributed
from segstudio.ml.losses import build_criterion
from segstudio.ml.metrics import ConfusionMatrix
from segstudio.ml.models.registry import build_model, encoder_modules, model_config, normalization
from segstudio.ml.train_data import build_training_data, make_loader  # noqa: F401  (make_loader: public here too)


@dataclass
class TrainConfig:
    train_images: str
    train_labels: str
    val_images: str | None = None
    val_labels: str | None = None
    out: str = "model.safetensors"
    model: str = "unet-bn"
    width: int | None = None
    depth: int | None = None  # U-Net poolings (4 in the study)
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
    loss: str = "ce"  # "ce" | "ohem"
    scale_range: tuple[float, float] = (0.5, 2.0)  # the "scale" augmentation's zoom range
    pipeline: str = "auto"  # "auto" | "device" (decoded once, batch-augmented) | "stream" (from disk)
    cache_gb: float = DEFAULT_CACHE_GB  # memory the decoded data set may take
    flip_tta: bool = False  # validate on the mean of the frame's and its mirror's logits
    # The pretrained encoder learns at this share of ``lr`` (1.0: one rate for the whole network).
    encoder_lr_factor: float = 1.0


@dataclass
class EpochStart:
    epoch: int
    epochs: int
    steps: int
    pipeline: str = ""  # how batches are made (in-memory or streaming, and why)


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


def resolve_class_weights(config: "TrainConfig", counts, num_classes: int) -> torch.Tensor | None:
    """None, median-frequency weights from the training labels, or the given list.

    ``counts``: pixels per class of the training labels (an array, or a data set
    with ``class_pixel_counts()``); read only for ``"auto"``.
    """
    spec = config.class_weights
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, str) and spec.lower() == "auto":
        if hasattr(counts, "class_pixel_counts"):
            counts = counts.class_pixel_counts()
        return compute_class_weights(np.asarray(counts), config.ignore_index)
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
    flip_tta: bool = False,
) -> tuple[dict, float | None]:
    """Confusion-matrix metrics (reduced across ranks) and the mean loss.

    ``flip_tta``: predict from the mean of the logits of each frame and of its
    mirror image (test-time augmentation; twice the work).
    """
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index)
    loss_sum = torch.zeros(2, dtype=torch.float64)
    for images, masks in loader:
        images, masks = images.to(device), masks.to(device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(images)
            if flip_tta:
                logits = (logits.float() + model(images.flip(-1)).float().flip(-1)) / 2
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


# --- the pieces of a training loop (fine-tuning reuses them) ----------------------------


@dataclass
class StepResult:
    """One optimisation step: its loss and where the time went."""

    loss: float
    images: int
    data_wait_s: float  # waiting for the batch (decode, augment, copy) before the step could start
    step_s: float  # the whole step, data wait included


def make_grad_scaler(device: torch.device, amp_dtype: torch.dtype | None):
    """A loss scaler for fp16 autocast (its small range underflows gradients); None for bf16 and fp32."""
    if amp_dtype is torch.float16 and device.type in ("cuda", "mps"):
        return torch.amp.GradScaler(device.type)
    return None


def train_step(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    *,
    amp_dtype: torch.dtype | None = None,
    scaler=None,
) -> torch.Tensor:
    """One forward, backward and optimizer step on a batch already on the model's device.

    Returns the loss as a detached 0-d tensor (reading it syncs a GPU: the caller chooses when).
    """
    with torch.autocast(images.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits = model(images)
    loss = criterion(logits.float(), masks)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


def train_epoch(
    model: nn.Module,
    batches,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    device: torch.device,
    *,
    scheduler=None,
    amp_dtype: torch.dtype | None = None,
    scaler=None,
) -> Iterator[StepResult]:
    """Runs ``train_step`` over ``batches`` (any iterable of (images, masks)); yields a ``StepResult`` per step.

    Batches are moved to ``device`` (channels-last on CUDA) if they are not
    there yet; ``scheduler.step()`` follows every step. Stop early by no
    longer iterating: the step just yielded is complete.
    """
    model.train()
    channels_last = device.type == "cuda"
    iterator = iter(batches)
    while True:
        started = time.perf_counter()
        try:
            images, masks = next(iterator)
        except StopIteration:
            return
        images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        waited = time.perf_counter() - started
        loss = train_step(model, images, masks, optimizer, criterion, amp_dtype=amp_dtype, scaler=scaler)
        if scheduler is not None:
            scheduler.step()
        value = float(loss)
        yield StepResult(value, int(images.shape[0]), waited, time.perf_counter() - started)


def lr_factor(
    step: int, total_steps: int, warmup_steps: int = 0, elapsed_s: float | None = None, budget_s: float | None = None
) -> float:
    """The learning-rate multiplier: linear warm-up, then polynomial decay (torchvision's reference).

    Progress is the further along of ``step / total_steps`` and, with a time
    budget, ``elapsed_s / budget_s``: whichever limit ends the run, the rate
    has decayed to zero by then.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if budget_s is not None and elapsed_s is not None:
        progress = max(progress, elapsed_s / budget_s) if budget_s > 0 else 1.0
    return (1.0 - min(1.0, progress)) ** 0.9




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
    """The network, its configuration and the input normalisation its encoder expects."""
    if config.init_checkpoint:
        from segstudio.ml.checkpoint import load_checkpoint

        loaded = load_checkpoint(config.init_checkpoint)
        model, arch, norm = loaded.model, loaded.config, loaded.normalization
    else:
        overrides = {"num_classes": config.labelset.num_classes}
        if config.width is not None:
            overrides["base_width"] = config.width
        if config.depth is not None:
            overrides["depth"] = config.depth
        arch = model_config(config.model, **overrides)
        model = build_model(arch, encoder_weights=config.encoder_weights)
        norm = normalization(arch)
    if ctx.enabled and config.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model, arch, norm


def optimizer_groups(model: nn.Module, arch: dict, lr: float, encoder_lr_factor: float) -> list[dict]:
    """One group, or the encoder (from the architecture contract) at ``lr * encoder_lr_factor``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if encoder_lr_factor == 1.0:
        return [{"params": params, "lr": lr}]
    encoder_ids = {id(p) for p in encoder_modules(model, arch).parameters()}
    return [{"params": [p for p in params if id(p) not in encoder_ids], "lr": lr},
            {"params": [p for p in params if id(p) in encoder_ids], "lr": lr * encoder_lr_factor}]


def train(config: TrainConfig, should_stop: Callable[[], bool] = lambda: False) -> Iterator:
    """Runs a training; yields progress events; returns (and yields) ``TrainDone``."""
    ctx = init_distributed(config.device)
    if ctx.enabled and torch.cuda.is_available() and config.device in ("auto", "cuda"):
        device = torch.device("cuda", ctx.local_rank)
    else:
        device, _ = choose_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: the fastest kernels are found once
    seed_everything(config.seed + ctx.rank)
    labelset = config.labelset
    num_classes = labelset.num_classes
    ignore = config.ignore_index
    wants_counts = isinstance(config.class_weights, str) and config.class_weights.lower() == "auto"
    model, arch, norm = _build(config, device, ctx)
    data = build_training_data(config, ctx, device, want_counts=wants_counts, normalization=norm)
    weights = resolve_class_weights(config, data.class_counts, num_classes)
    if weights is not None:
        weights = weights.to(device)
    criterion = build_criterion(config.loss, weights, ignore)
    groups = optimizer_groups(_unwrap(model), arch, config.lr, config.encoder_lr_factor)
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = data.steps_per_epoch
    total_steps = steps_per_epoch * config.epochs
    # Warm-up is at most a fifth of the run, so that short runs still decay.
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total_steps // 5)
    budget_s = config.minutes * 60 if config.minutes is not None else None
    started = time.monotonic()
    # With --minutes the schedule also follows the clock, so a run that the budget ends has decayed.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, time.monotonic() - started, budget_s)
    )
    if ctx.enabled:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    amp_dtype = autocast_dtype(device) if config.amp else None
    scaler = make_grad_scaler(device, amp_dtype)
    out = Path(config.out)
    if ctx.is_main:
        out.parent.mkdir(parents=True, exist_ok=True)  # --out runs/new/model.safetensors just works
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

    stopped: str | None = None
    epoch = start_epoch
    train_size = {"mode": "resize", "size": [config.size, config.size]} if config.size else {"mode": "native"}
    if data.image_size is not None and not config.size:
        train_size["image_size"] = list(data.image_size)  # the frames' typical size: the scale objects had
    for epoch in range(start_epoch, config.epochs):
        seed_everything(_epoch_seed(config.seed, epoch, ctx.rank))
        batches = data.epoch(epoch, _epoch_seed(config.seed, epoch, 0))
        yield EpochStart(epoch + 1, config.epochs, steps_per_epoch, data.description)
        loss_sum, seen = 0.0, 0
        epoch_start = time.monotonic()
        steps = train_epoch(model, batches, optimizer, criterion, device,
                            scheduler=scheduler, amp_dtype=amp_dtype, scaler=scaler)
        for step, result in enumerate(steps):
            loss_sum += result.loss * result.images
            seen += result.images
            now = time.monotonic()
            per_step = (now - epoch_start) / (step + 1)
            remaining = (config.epochs - epoch - 1) * steps_per_epoch + steps_per_epoch - step - 1
            eta = per_step * remaining
            if budget_s is not None:
                eta = min(eta, max(0.0, budget_s - (now - started)))
            yield StepProgress(epoch + 1, step + 1, steps_per_epoch, result.loss, scheduler.get_last_lr()[0], eta)
            over_time = budget_s is not None and now - started > budget_s
            if broadcast_flag(should_stop() or over_time, ctx):
                stopped = "cancelled" if should_stop() else "time budget reached"
                break
        totals = all_reduce_sum(torch.tensor([loss_sum, seen], dtype=torch.float64), ctx)
        train_loss = float(totals[0] / max(totals[1], 1))
        if stopped == "cancelled":
            break
        last = epoch + 1 == config.epochs or stopped is not None
        metrics, val_loss, is_best = None, None, False
        if data.val is not None and ((epoch + 1) % config.val_every == 0 or last):
            metrics, val_loss = evaluate(model, data.val, device, num_classes, ignore, criterion, ctx, amp_dtype,
                                         flip_tta=config.flip_tta)
            miou = metrics["mean_iou"] if not math.isnan(metrics["mean_iou"]) else 0.0
            is_best = miou > best_miou
            if is_best:
                best_miou, best_metrics = miou, metrics
        elif data.val is None:
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
                save_checkpoint(out, _unwrap(model), arch, labelset, normalization=norm, train_size=train_size,
                                record=record)
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
