"""Training throughput of the real pipeline: images/s and the share of each step spent waiting for data.

Run (CPU; the same on a GPU with --device cuda --amp):

    .venv/bin/python -m benchmarks.bench_train_throughput --data ../shared/data/camvid \\
        --widths 16 --images 24 --batch-size 4 --epochs 3 --threads 2 --device cpu

For each U-Net width and each pipeline (``device``: decoded once, batches
augmented on the training device; ``stream``: ``SegmentationFolder`` +
``DataLoader``, today's path) it trains ``--epochs`` epochs over the first
``--images`` training frames with the same recipe (random crops, scale, flip,
colour jitter) and reports:

- first epoch images/s (the stream pipeline decodes its PNGs then; the device
  pipeline decoded them before training, reported as ``decode s``),
- steady images/s (epochs 2..E) and the data-wait share: time between the end
  of one step and the batch of the next being ready, over the steps' time,
- the ceiling: the same steps on one batch already on the device (no data
  pipeline at all), and the pipeline's share of it.

Uses ``ml.train_data.build_training_data`` and ``ml.train.train_epoch``:
exactly the code ``segstudio train`` runs. ``--json FILE`` writes the rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from segstudio.cli.common import parse_hw
from segstudio.ml.device import autocast_dtype, choose_device
from segstudio.ml.distributed import DistContext
from segstudio.ml.losses import build_criterion
from segstudio.ml.models.registry import build_model, model_config
from segstudio.ml.train import TrainConfig, make_grad_scaler, train_epoch
from segstudio.ml.train_data import build_training_data


def _subset(data: Path, n: int | None, tmp: Path) -> tuple[Path, Path]:
    """The first ``n`` training pairs, as symlinks (the data set is never copied)."""
    images, labels = data / "train", data / "trainannot"
    if not n:
        return images, labels
    names = sorted(p.name for p in images.iterdir() if not p.name.startswith("."))[:n]
    for sub, src in (("img", images), ("lab", labels)):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        for name in names:
            label = (src / name).with_suffix(".png") if src is labels else src / name
            (tmp / sub / label.name).symlink_to(label.resolve())
    return tmp / "img", tmp / "lab"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_one(config: TrainConfig, width: int, device: torch.device, epochs: int) -> dict:
    torch.manual_seed(0)
    started = time.perf_counter()
    data = build_training_data(config, DistContext(), device, want_counts=False)
    prepare_s = time.perf_counter() - started
    model = build_model(model_config("unet-bn", base_width=width)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = build_criterion("ce", None, config.ignore_index)
    amp = autocast_dtype(device) if config.amp else None
    scaler = make_grad_scaler(device, amp)
    per_epoch = []
    first_batch = None
    for epoch in range(epochs):
        _sync(device)
        t0 = time.perf_counter()
        images = waited = stepped = 0.0
        for result in train_epoch(model, data.epoch(epoch, epoch), optimizer, criterion, device,
                                  amp_dtype=amp, scaler=scaler):
            images += result.images
            waited += result.data_wait_s
            stepped += result.step_s
        _sync(device)
        per_epoch.append((images, time.perf_counter() - t0, waited, stepped))
        if first_batch is None:
            first_batch = next(iter(data.epoch(0, 0)))
    # The ceiling: the same number of steps on one batch that is already on the device.
    x, y = (t.to(device) for t in first_batch)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    steps = max(2, data.steps_per_epoch)
    list(train_epoch(model, [(x, y)], optimizer, criterion, device, amp_dtype=amp, scaler=scaler))  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    list(train_epoch(model, [(x, y)] * steps, optimizer, criterion, device, amp_dtype=amp, scaler=scaler))
    _sync(device)
    ceiling = steps * x.shape[0] / (time.perf_counter() - t0)
    steady = per_epoch[1:] or per_epoch
    steady_ips = sum(e[0] for e in steady) / sum(e[1] for e in steady)
    return {
        "pipeline": config.pipeline, "width": width, "batch": config.batch_size, "crop": list(config.crop),
        "prepare_s": round(prepare_s, 2),
        "first_epoch_ips": round(per_epoch[0][0] / per_epoch[0][1], 2),
        "steady_ips": round(steady_ips, 2),
        "data_wait_share": round(sum(e[2] for e in steady) / max(1e-9, sum(e[3] for e in steady)), 3),
        "ceiling_ips": round(ceiling, 2),
        "of_ceiling": round(steady_ips / ceiling, 3),
        "description": data.description,
    }


def main(argv: list[str] | None = None) -> int:
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data, help="CamVid layout (train/ + trainannot/)")
    p.add_argument("--images", type=int, help="use only the first N training frames (default: all)")
    p.add_argument("--widths", default="16", help="comma list of U-Net base widths")
    p.add_argument("--pipelines", default="device,stream")
    p.add_argument("--crop", type=parse_hw, default=(352, 480))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3, help="the first decodes (stream); the rest are steady")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the stream pipeline")
    p.add_argument("--aug", default="scale,flip,color")
    p.add_argument("--device", default="auto")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, reason = choose_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"# training throughput on {device} ({reason}); torch {torch.__version__}; {platform.processor() or ''} "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images, labels = _subset(args.data, args.images, Path(tmp))
        for width in (int(w) for w in args.widths.split(",")):
            for pipeline in args.pipelines.split(","):
                config = TrainConfig(
                    train_images=str(images), train_labels=str(labels), out=str(Path(tmp) / "unused.safetensors"),
                    crop=args.crop, batch_size=args.batch_size, aug=tuple(args.aug.split(",")) if args.aug else (),
                    device=str(device), amp=args.amp, pipeline=pipeline, num_workers=args.workers,
                )
                row = run_one(config, width, device, args.epochs)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print("\n| pipeline | width | batch | prepare s | first epoch img/s | steady img/s | data wait | ceiling img/s | of ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pipeline']} | {r['width']} | {r['batch']} | {r['prepare_s']} | {r['first_epoch_ips']} | "
              f"{r['steady_ips']} | {r['data_wait_share']:.1%} | {r['ceiling_ips']} | {r['of_ceiling']:.0%} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
