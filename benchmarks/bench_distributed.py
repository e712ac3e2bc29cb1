"""Training throughput with 1 and 2 processes under torchrun (gloo on CPU, NCCL on GPUs).

Run: .venv/bin/python -m benchmarks.bench_distributed [--images 32] [--epochs 2]
Each run trains the same model on the same generated data for the same epochs
and global batch; on CPU every process gets cores/N threads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--procs", default="1,2")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "images").mkdir()
    (tmp / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i in range(args.images):
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(tmp / "images" / f"{i}.png")
        Image.fromarray(rng.integers(0, 11, (256, 256), dtype=np.uint8), mode="L").save(tmp / "labels" / f"{i}.png")
    cores = os.cpu_count() or 2
    print("| processes | threads each | global batch | images/s |")
    print("|---|---|---|---|")
    for n in (int(p) for p in args.procs.split(",")):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", "segstudio",
               "train", "--train-images", str(tmp / "images"), "--train-labels", str(tmp / "labels"),
               "--model", "unet-bn", "--width", "16", "--epochs", str(args.epochs), "--batch-size", str(8 // n),
               "--crop", "256x256", "--device", "auto", "--threads", str(max(1, cores // n)),
               "--out", str(tmp / f"m{n}.safetensors")]
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(max(1, cores // n))})
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            print(f"| {n} | failed: {result.stderr[-300:]} |")
            continue
        print(f"| {n} | {max(1, cores // n)} | 8 | {args.images * args.epochs / elapsed:.2f} |", flush=True)


if __name__ == "__main__":
    main()
