"""Single-image CPU latency of a checkpoint at CamVid's 480x360 (issue 4's laptop target: < 150 ms).

    .venv/bin/python -m benchmarks.bench_latency
    .venv/bin/python -m benchmarks.bench_latency --model FILE --threads 2 --repeats 40

Times three things, interleaved round by round so that a noisy machine
slows all of them alike:

* ``predict``: the whole ``Predictor.predict`` (normalise, forward on the
  inference copy, softmax, argmax, confidence) on a real sample frame;
* ``forward (inference copy)``: the BatchNorm-folded, channels-last module alone;
* ``forward (checkpoint module)``: the checkpoint's own module in its stored
  layout, i.e. what inference ran before the inference copy existed.

Prints a markdown table of median and best milliseconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from segstudio.core.imageio import read_image
from segstudio.core.resources import default_model_path, sample_folder
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.inference import Predictor


def _frame(height: int, width: int) -> np.ndarray:
    folder = sample_folder()
    if folder is not None:
        for path in sorted(folder.glob("*.jpg")):
            image = read_image(path)
            if image.shape[:2] == (height, width):
                return image
    return (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint (default: the shipped default model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--size", default="360x480", help="HxW")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))

    checkpoint = load_checkpoint(args.model or default_model_path())
    predictor = Predictor(checkpoint, "cpu")
    image = _frame(height, width)
    x = predictor.to_input(image[None])
    x_plain = x.contiguous()
    raw = checkpoint.model.eval()

    runs = {
        "predict (whole)": lambda: predictor.predict(image),
        "forward (inference copy)": lambda: predictor.model(x),
        "forward (checkpoint module)": lambda: raw(x_plain),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.inference_mode():
        for fn in runs.values():  # warm-up: oneDNN picks its kernels on the first call
            fn(), fn()
        for _ in range(args.repeats):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000)

    print(f"{args.model or default_model_path()} at {width}x{height}, {args.threads} CPU threads, "
          f"{args.repeats} rounds, torch {torch.__version__}")
    print("| what | median ms | best ms |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {np.median(values):.1f} | {min(values):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
