"""Tiled inference against whole-image inference: agreement and cost, with the shipped model.

    .venv/bin/python -m benchmarks.bench_tiling                      # 1920x1080
    .venv/bin/python -m benchmarks.bench_tiling --sizes 1920x1080,8000x6000 --threads 2

For each size it predicts one image three ways and prints a markdown row:

* ``tiled``: ``Predictor`` with its defaults (tile 512, margins from the
  network's receptive field: ``ml/receptive_field.py``);
* ``reference``: one whole-image pass (a tile larger than the image) where
  the image has at most ``--whole-limit`` pixels; above that (8000x6000 would
  need ~15 GB of activations on the CPU) a pass with ``--reference-tile``
  tiles instead, whose tile edges fall elsewhere, so any seam of either shows;
* ``overlap 64``: the same Predictor with ``overlap=64`` (32-pixel margins,
  the old default overlap): cheaper, and how far from exact that is.

The image is a CamVid sample frame scaled to 1920x1080, mirrored out to the
size asked (natural content at every scale, no flat padding).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from segstudio.core.imageio import read_image
from segstudio.core.resources import default_model_path, sample_folder
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.inference import Predictor


def scene(height: int, width: int) -> np.ndarray:
    """A sample frame at 1920x1080, mirrored out (or cropped) to ``height x width``."""
    folder = sample_folder()
    paths = sorted(folder.glob("*.jpg")) if folder is not None else []
    if paths:
        frame = cv2.resize(read_image(paths[0]), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    else:
        frame = (np.random.default_rng(0).random((1080, 1920, 3)) * 255).astype(np.uint8)
    while frame.shape[0] < height or frame.shape[1] < width:
        frame = cv2.copyMakeBorder(frame, 0, max(0, min(height - frame.shape[0], frame.shape[0] - 1)), 0,
                                   max(0, min(width - frame.shape[1], frame.shape[1] - 1)), cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(frame[:height, :width])


def timed(predictor: Predictor, image: np.ndarray):
    start = time.perf_counter()
    prediction = predictor.predict(image)
    return prediction, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the shipped default model)")
    parser.add_argument("--sizes", default="1920x1080", help="WxH list")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--whole-limit", type=int, default=4_000_000, help="largest image run as one pass (pixels)")
    parser.add_argument("--reference-tile", type=int, default=2048)
    parser.add_argument("--skip-overlap-64", action="store_true", help="do not run the 64-pixel-overlap variant")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.model or default_model_path())
    tiled = Predictor(checkpoint, "cpu")
    print(f"tile {tiled.tile}, margin {tiled.margin} (overlap {tiled.overlap}), grid {tiled.multiple}; "
          f"{args.threads} CPU threads")
    print("| image | tiled (s) | reference | reference (s) | pixels equal | confidence max diff | overlap 64 (s) | overlap 64: pixels equal |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        image = scene(h, w)
        if h * w <= args.whole_limit:
            reference, label = Predictor(checkpoint, "cpu", tile=max(h, w) + 32), "whole image"
        else:
            reference = Predictor(checkpoint, "cpu", tile=args.reference_tile)
            label = f"tile {reference.tile}"
        ours, seconds = timed(tiled, image)
        ref, ref_seconds = timed(reference, image)
        cheap = cheap_equal = "-"
        if not args.skip_overlap_64:
            fast, fast_seconds = timed(Predictor(checkpoint, "cpu", overlap=64), image)
            cheap, cheap_equal = f"{fast_seconds:.1f}", f"{(fast.mask == ref.mask).mean():.4f}"
        equal = float((ours.mask == ref.mask).mean())
        diff = int(np.abs(ours.confidence.astype(int) - ref.confidence).max())
        print(f"| {w}x{h} | {seconds:.1f} | {label} | {ref_seconds:.1f} | {equal:.6f} | {diff} | {cheap} | {cheap_equal} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
