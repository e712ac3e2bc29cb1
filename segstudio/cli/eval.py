"""``segstudio eval``: metrics of a checkpoint on images + label maps."""

from __future__ import annotations

import argparse
import json
import math
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate a checkpoint: accuracy, mean IoU, per-class IoU")
    p.add_argument("--model", required=True, help="checkpoint (.safetensors)")
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--size", type=int, help="square resize before evaluating (default: full size)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--threads", type=int)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="flip: average the logits of each image and its mirror (twice the work)")
    p.add_argument("--batch-size", type=int, default=1,
                   help="images per forward pass (they must share one size when above 1)")
    p.set_defaults(func=run)


def evaluate_checkpoint(
    model_path: str, images: str, labels: str, size: int | None, device_pref: str,
    flip_tta: bool = False, batch_size: int = 1,
) -> dict:
    import torch

    from segstudio.cli.common import progress_bar
    from segstudio.ml.checkpoint import load_checkpoint
    from segstudio.ml.data import SegmentationFolder, pair_files
    from segstudio.ml.device import autocast_dtype, choose_device
    from segstudio.ml.train import evaluate
    from segstudio.ml.transforms import build_eval_transform

    device, reason = choose_device(device_pref)
    loaded = load_checkpoint(model_path, map_location=device)
    labelset = loaded.labelset
    dataset = SegmentationFolder(
        pair_files(images, labels),
        labelset.num_classes,
        build_eval_transform(size, loaded.normalization),
        labelset.ignore_index,
        cache=False,
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=max(1, batch_size))
    bar = progress_bar(len(dataset), "evaluating")

    def batches():
        for batch in loader:
            yield batch
            bar.update(len(batch[0]))
        bar.close()

    metrics, _ = evaluate(loaded.model, batches(), device, labelset.num_classes, labelset.ignore_index,
                          amp_dtype=autocast_dtype(device), flip_tta=flip_tta)
    trained = loaded.train_size or {}
    if size is None and trained.get("mode") == "resize" and sys.stderr is not None:
        print(
            f"note: this model was trained on images resized to {trained.get('size')}; "
            "evaluating at full size (pass --size to evaluate as it was trained)",
            file=sys.stderr,
        )
    metrics.update(
        {
            "train_size": trained or None,
            "model": str(model_path),
            "images": len(dataset),
            "size": size or "full",
            "device": str(device),
            "tta": "flip" if flip_tta else "none",
            "class_names": [labelset.names[c] for c in metrics["class_ids"]],
        }
    )
    return metrics


def json_safe(value):
    """NaN (a metric with no pixels) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.common import CliError, format_metrics_table
    from segstudio.ml.checkpoint import CheckpointError
    from segstudio.ml.data import DataError
    from segstudio.ml.device import DeviceError

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        metrics = evaluate_checkpoint(args.model, args.images, args.labels, args.size, args.device,
                                      flip_tta=args.tta == "flip", batch_size=args.batch_size)
    except (CheckpointError, DataError, DeviceError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        json.dump(json_safe(metrics), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    print(f"{metrics['images']} images, size {metrics['size']}, device {metrics['device']}")
    names = [""] * (max(metrics["class_ids"]) + 1)
    for cid, name in zip(metrics["class_ids"], metrics["class_names"]):
        names[cid] = name
    print(format_metrics_table(metrics, names))
    print("\nconfusion matrix (rows: truth, columns: prediction; void row/column included)")
    for row in metrics["confusion_matrix"]:
        print(" ".join(f"{v:>8}" for v in row))
    return 0
