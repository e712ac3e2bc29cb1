"""Predict throughput end to end: images/s of ``segstudio predict`` on a folder, and of the network alone.

Run (CPU; on a GPU add --device cuda):

    .venv/bin/python -m benchmarks.bench_predict_throughput --images ../shared/data/camvid/val \\
        --limit 16 --width 16 --threads 2 --device cpu

``--model FILE`` measures a checkpoint; without it a fresh ``unet-bn`` of
``--width`` (random weights: speed does not depend on them) is saved to a
temporary checkpoint. Reports:

- end to end: ``segstudio predict`` (load the checkpoint, then per image read
  and decode, predict, encode and write the index PNG), images/s over the
  whole second call (the first is a warm-up);
- network only: ``Predictor.predict`` on frames already decoded, so the
  difference is what the file work costs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from segstudio.cli.main import run_cli
from segstudio.core.imageio import list_images, read_image
from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import load_checkpoint, save_checkpoint
from segstudio.ml.device import choose_device
from segstudio.ml.inference import Predictor
from segstudio.ml.models.registry import build_model, model_config


def _folder(images: Path, limit: int | None, tmp: Path) -> Path:
    if not limit:
        return images
    sub = tmp / "images"
    sub.mkdir()
    for path in list_images(images)[:limit]:
        (sub / path.name).symlink_to(path.resolve())
    return sub


def main(argv: list[str] | None = None) -> int:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid" / "val"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, default=default)
    p.add_argument("--limit", type=int, help="only the first N images")
    p.add_argument("--model", type=Path)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device, reason = choose_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_path = args.model
        if model_path is None:
            model_path = tmp / "model.safetensors"
            config = model_config("unet-bn", base_width=args.width)
            save_checkpoint(model_path, build_model(config).eval(), config, CAMVID)
        folder = _folder(args.images, args.limit, tmp)
        paths = list_images(folder)
        # Network only: decoded frames, one warm-up prediction first.
        predictor = Predictor(load_checkpoint(model_path), device)
        frames = [read_image(path) for path in paths]
        predictor.predict(frames[0])
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for frame in frames:
            predictor.predict(frame)
        network_ips = len(frames) / (time.perf_counter() - t0)
        # End to end: the CLI, on a warm run (the first call pays the imports and cuDNN's tuning).
        common = ["predict", "--model", str(model_path), "--images", str(folder), "--device", str(device.type),
                  "--overwrite"] + (["--threads", str(args.threads)] if args.threads else [])
        run_cli(common + ["--out", str(tmp / "warm")])
        t0 = time.perf_counter()
        code = run_cli(common + ["--out", str(tmp / "out")])
        end_to_end = time.perf_counter() - t0
        size = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
    row = {
        "device": str(device), "reason": reason, "images": len(paths), "size": size, "model": str(args.model or
        f"unet-bn width {args.width} (random weights)"), "exit_code": code,
        "end_to_end_ips": round(len(paths) / end_to_end, 2), "network_only_ips": round(network_ips, 2),
    }
    print(json.dumps(row))
    print(f"\npredict on {device}: {len(paths)} images of {size}: end to end {row['end_to_end_ips']} images/s "
          f"(CLI: decode, predict, PNG), network only {row['network_only_ips']} images/s")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
