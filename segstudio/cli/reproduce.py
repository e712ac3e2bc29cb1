"""``segstudio reproduce``: the study's configurations at 224x224 on CamVid, side by side.

Trains each configuration on DATA/train + DATA/trainannot, evaluates on
DATA/val + DATA/valannot at 224x224 (as the study did), and writes
OUT/results.md (the study's pixel accuracy beside ours, plus our mean IoU)
and OUT/results.json. A configuration that fails is recorded and the rest go on.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

# (row name, registry model, augmentation, the study's pixel accuracy)
STUDY_ROWS = (
    ("U-Net", "unet", "", 0.596),
    ("U-Net + BN", "unet-bn", "", 0.740),
    ("U-Net + BN + Dropout", "unet-bn-dropout", "", 0.806),
    ("VGG16 U-Net", "vgg16-unet", "", 0.855),
    ("VGG16 U-Net + BN", "vgg16-unet-bn", "", 0.855),
    ("VGG16 U-Net + BN + Dropout", "vgg16-unet-bn-dropout", "", 0.864),
    ("VGG16 U-Net + BN + Dropout, brightness aug", "vgg16-unet-bn-dropout", "bright", 0.868),
    ("VGG16 U-Net + BN + Dropout, rotation aug", "vgg16-unet-bn-dropout", "rotate", 0.582),
)


def register(subparsers) -> None:
    from segstudio.cli.train import add_pipeline_arguments

    p = subparsers.add_parser("reproduce", help="re-run the study's configurations on CamVid at 224x224")
    p.add_argument("--data", required=True, help="CamVid folder with train/, trainannot/, val/, valannot/")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--width", type=int, help="override the U-Net base width (64 in the study)")
    p.add_argument("--encoder-weights", default="none", help="none | imagenet | FILE, for the VGG rows")
    p.add_argument(
        "--configs", "--rows", dest="configs", nargs="+",
        help="rows to run: numbers 1-8 or names such as unet, vgg16-unet-bn-dropout+bright (default: all)",
    )
    p.add_argument(
        "--augmentation-base", metavar="MODEL",
        help="run the brightness and rotation rows (7, 8) on this registry model instead of the study's "
             "vgg16-unet-bn-dropout, e.g. unet-bn-dropout where a VGG16 encoder is too slow to train; "
             "compare them with that model's own row",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--amp", action="store_true")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    add_pipeline_arguments(p)
    p.set_defaults(func=run)


def _row_table(rows: list[dict]) -> str:
    lines = [
        "| # | configuration | study pixel acc | our pixel acc | our mean IoU | epochs | time (min) | encoder weights | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = f"{r['pixel_accuracy']:.3f}" if r.get("pixel_accuracy") is not None else "-"
        miou = f"{r['mean_iou']:.3f}" if r.get("mean_iou") is not None else "-"
        lines.append(
            f"| {r['row']} | {r['name']} | {r['study_pixel_accuracy']:.3f} | {acc} | {miou} | {r['epochs']} | "
            f"{r['minutes']:.1f} | {r['weights']} | {r.get('note', '')} |"
        )
    return "\n".join(lines)


def row_key(model: str, aug: str) -> str:
    return model + (f"+{aug}" if aug else "")


def select_rows(configs: list[str] | None) -> set[int]:
    """Row numbers from ``--configs`` (numbers or names, space or comma separated)."""
    from segstudio.cli.common import CliError

    if not configs:
        return set(range(1, len(STUDY_ROWS) + 1))
    by_name = {row_key(model, aug): n for n, (_, model, aug, _) in enumerate(STUDY_ROWS, start=1)}
    wanted = set()
    for item in (x.strip() for c in configs for x in c.split(",")):
        if not item:
            continue
        if item.isdigit() and 1 <= int(item) <= len(STUDY_ROWS):
            wanted.add(int(item))
        elif item in by_name:
            wanted.add(by_name[item])
        else:
            raise CliError(f"unknown configuration {item!r}; choose 1-{len(STUDY_ROWS)} or one of: {', '.join(by_name)}")
    return wanted


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.common import echo
    from segstudio.cli.common import CliError
    from segstudio.cli.train import run_training
    from segstudio.ml.models.registry import MODEL_NAMES
    from segstudio.ml.train import TrainConfig

    data, out = Path(args.data), Path(args.out)
    for sub in ("train", "trainannot", "val", "valannot"):
        if not (data / sub).is_dir():
            raise CliError(f"{data} has no {sub}/ folder (expected the CamVid layout)")
    out.mkdir(parents=True, exist_ok=True)
    wanted = select_rows(args.configs)
    base = getattr(args, "augmentation_base", None)
    if base and base not in MODEL_NAMES:
        raise CliError(f"--augmentation-base {base!r} is not a registry model; choose one of: {', '.join(MODEL_NAMES)}")
    results = []
    for number, (name, model, aug, study_acc) in enumerate(STUDY_ROWS, start=1):
        if number not in wanted:
            continue
        moved = ""
        if aug and base and base != model:
            moved = f"on {base} (study: {model})"
            display = {m: n for n, m, a, _ in STUDY_ROWS if not a}
            name, model = f"{display[base]}, {name.rsplit(', ', 1)[-1]}", base
        is_vgg = model.startswith("vgg")
        weights = args.encoder_weights if is_vgg and args.encoder_weights != "none" else None
        row = {
            "row": number, "name": name, "model": model, "aug": aug, "study_pixel_accuracy": study_acc,
            "epochs": args.epochs,
            "weights": ("ImageNet" if weights == "imagenet" else weights) if weights
            else ("from scratch (no ImageNet weights offline)" if is_vgg else "from scratch"),
        }
        notes = [moved] if moved else []
        if args.width and not is_vgg:
            notes.append(f"base width {args.width} (study: 64)")
        if notes:
            row["note"] = "; ".join(notes)
        echo(f"== {number}. {name} ==")
        started = time.monotonic()
        config = TrainConfig(
            train_images=str(data / "train"), train_labels=str(data / "trainannot"),
            val_images=str(data / "val"), val_labels=str(data / "valannot"),
            out=str(out / f"row{number}-{model}{'-' + aug if aug else ''}.safetensors"),
            model=model, width=None if is_vgg else args.width, encoder_weights=weights,
            size=args.size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            aug=tuple(a for a in aug.split(",") if a), device=args.device, amp=args.amp,
            seed=args.seed, threads=args.threads, val_every=max(1, args.epochs // 5),
            pipeline=getattr(args, "pipeline", "auto"), cache_gb=getattr(args, "cache_gb", 4.0),
            num_workers=getattr(args, "workers", 0),
        )
        try:
            best = run_training(config) or {}
            row.update(pixel_accuracy=best.get("pixel_accuracy"), mean_iou=best.get("mean_iou"),
                       per_class_iou=best.get("per_class_iou"))
        except Exception as exc:  # one failed row must not lose the others
            row["note"] = (row.get("note", "") + f" failed: {type(exc).__name__}: {exc}").strip()
            traceback.print_exc()
        row["minutes"] = (time.monotonic() - started) / 60
        results.append(row)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "results.md").write_text(
            f"# Study reproduction at {args.size}x{args.size}, evaluated on CamVid val\n\n{_row_table(results)}\n"
        )
    echo(_row_table(results))
    return 0
