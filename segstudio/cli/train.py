"""``segstudio train``: train a registry model on images + label maps."""

from __future__ import annotations

import argparse

from segstudio.cli.common import echo, format_seconds, parse_hw, progress_bar
from segstudio.ml.models.registry import MODEL_NAMES


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a model on a folder of images and label maps")
    p.add_argument("--train-images", required=True)
    p.add_argument("--train-labels", required=True)
    p.add_argument("--val-images")
    p.add_argument("--val-labels")
    p.add_argument("--model", default="unet-bn", choices=MODEL_NAMES)
    p.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    geometry = p.add_mutually_exclusive_group()
    geometry.add_argument("--size", type=int, help="square resize, as the study's 224")
    geometry.add_argument("--crop", type=parse_hw, help="train on random HxW crops, evaluate at full size")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw")
    p.add_argument("--aug", default="", help="comma list of bright,color,rotate,flip,scale")
    p.add_argument("--scale-range", type=_scale_range, default=(0.5, 2.0),
                   help="zoom range of the scale augmentation, LOW,HIGH (default 0.5,2.0)")
    p.add_argument("--loss", choices=("ce", "ohem"), default="ce",
                   help="ce: cross-entropy; ohem: cross-entropy over the hardest pixels only")
    p.add_argument(
        "--class-weights", default="none", type=_class_weights,
        help="none | auto (median-frequency balancing from the training labels) | a comma list, one per class",
    )
    p.add_argument("--ignore-index", type=int, default=11)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--amp", action="store_true", help="bf16/fp16 autocast on GPUs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", help="a .resume.pt file written by an earlier run")
    p.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (and architecture) with a fresh optimizer and "
                        "schedule: to continue a model on more data or for longer")
    p.add_argument("--warmup-epochs", type=float, default=1.0,
                   help="linear LR warm-up, in epochs (at most a fifth of the run)")
    p.add_argument("--width", type=int, help="U-Net base width (64 in the study)")
    p.add_argument("--depth", type=int, help="U-Net poolings, 1-6 (4 in the study)")
    p.add_argument("--encoder-weights", default="none",
                   help="none | imagenet | FILE (models with a pretrained encoder: vgg16-*, lite*-unet)")
    p.add_argument("--encoder-lr-factor", type=float, default=1.0,
                   help="the encoder learns at this share of --lr (e.g. 0.5 for a pretrained encoder)")
    p.add_argument("--minutes", type=float, help="stop after this much training time")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--val-every", type=int, default=1)
    add_pipeline_arguments(p)
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under torchrun")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="validate on the mean of each frame's and its mirror's logits")
    p.set_defaults(func=run)


def add_pipeline_arguments(p) -> None:
    """How training batches are made; shared with ``reproduce``."""
    p.add_argument(
        "--pipeline", choices=("auto", "device", "stream"), default="auto",
        help="device: decode every image once into memory and augment whole batches on the training device; "
             "stream: decode and augment image by image from disk; auto (default): device when the data set "
             "fits --cache-gb and its images share one size",
    )
    p.add_argument("--cache-gb", type=float, default=4.0, help="memory the decoded data set may take (default 4)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (stream pipeline)")


def _scale_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
        if not 0 < low <= high:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH with 0 < LOW <= HIGH, e.g. 0.5,2.0; got {text!r}") from None
    return low, high


def _class_weights(text: str) -> str:
    text = text.strip().lower()
    if text in ("none", "auto"):
        return text
    try:
        [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected none, auto or a comma list of numbers, got {text!r}") from None
    return text


def config_from_args(args: argparse.Namespace):
    from segstudio.ml.train import TrainConfig
    from segstudio.ml.transforms import parse_aug

    return TrainConfig(
        train_images=args.train_images,
        train_labels=args.train_labels,
        val_images=args.val_images,
        val_labels=args.val_labels,
        out=args.out,
        model=args.model,
        width=args.width,
        depth=args.depth,
        encoder_weights=None if args.encoder_weights == "none" else args.encoder_weights,
        size=args.size,
        crop=args.crop,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        optimizer=args.optimizer,
        aug=tuple(sorted(parse_aug(args.aug))),
        class_weights=args.class_weights,
        ignore_index=args.ignore_index,
        device=args.device,
        amp=args.amp,
        seed=args.seed,
        resume=args.resume,
        minutes=args.minutes,
        threads=args.threads,
        val_every=args.val_every,
        num_workers=args.workers,
        sync_bn=args.sync_bn,
        loss=args.loss,
        scale_range=args.scale_range,
        pipeline=args.pipeline,
        cache_gb=args.cache_gb,
        flip_tta=args.tta == "flip",
        encoder_lr_factor=args.encoder_lr_factor,
        init_checkpoint=args.init_from,
        warmup_epochs=args.warmup_epochs,
    )


def run_training(config) -> dict | None:
    """Drives ``ml.train.train`` and prints its events; returns the best metrics."""
    from segstudio.ml.distributed import init_distributed
    from segstudio.ml.train import EpochEnd, EpochStart, StepProgress, TrainDone, train

    is_main = init_distributed(config.device).is_main
    bar = None
    done = None
    for event in train(config):
        if not is_main:
            continue
        if isinstance(event, EpochStart):
            if event.pipeline and bar is None:
                echo(f"data: {event.pipeline}")
            bar = progress_bar(event.steps, f"epoch {event.epoch}/{event.epochs}")
        elif isinstance(event, StepProgress) and bar is not None:
            bar.set_postfix(loss=f"{event.loss:.3f}", lr=f"{event.lr:.1e}")
            bar.update(1)
        elif isinstance(event, EpochEnd):
            if bar is not None:
                bar.close()
            m = event.metrics
            val = (
                f"val loss {event.val_loss:.4f}  pixel acc {m['pixel_accuracy']:.4f}  mIoU {m['mean_iou']:.4f}"
                if m else "no validation"
            )
            echo(
                f"epoch {event.epoch:>3}/{event.epochs}  train loss {event.train_loss:.4f}  {val}  "
                f"{format_seconds(event.epoch_s)} (total {format_seconds(event.elapsed_s)})"
                f"{'  *best*' if event.is_best else ''}"
            )
        elif isinstance(event, TrainDone):
            done = event
    if done is not None and is_main:
        note = f" ({done.stopped_early})" if done.stopped_early else ""
        echo(f"done{note}: {done.epochs_run} epochs in {format_seconds(done.elapsed_s)}; best checkpoint {done.checkpoint_path}")
    return done.best_metrics if done else None


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.common import CliError
    from segstudio.ml.data import DataError
    from segstudio.ml.device import DeviceError
    from segstudio.ml.encoder_weights import EncoderWeightsError

    try:
        config = config_from_args(args)
        run_training(config)
    except (DataError, DeviceError, EncoderWeightsError, ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        from segstudio.ml.distributed import DistContext, cleanup, init_distributed

        try:
            cleanup(init_distributed(args.device))
        except Exception:
            cleanup(DistContext())
    return 0
