"""Inference images/s and one training step's time for each registry model at 360x480.

Run: .venv/bin/python -m benchmarks.bench_models [--models unet-bn,...] [--batch-sizes 1,8]
     [--device cpu|cuda] [--threads 2] [--repeats 3]
On CUDA it uses bf16 autocast and channels_last.
"""

from __future__ import annotations

import argparse
import time

import torch

from segstudio.ml.device import autocast_dtype, choose_device
from segstudio.ml.models.registry import MODEL_NAMES, build_model, model_config


def timed(fn, repeats: int, device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODEL_NAMES))
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, help="U-Net base width override")
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--img-width", type=int, default=480)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device, reason = choose_device(args.device)
    amp = autocast_dtype(device)
    print(f"device: {reason}; threads {torch.get_num_threads()}; input {args.height}x{args.img_width}")
    print("| model | params (M) | batch | inference img/s | train step (s) |")
    print("|---|---|---|---|---|")
    for name in args.models.split(","):
        overrides = {"base_width": args.width} if args.width and name.startswith("unet") else {}
        model = build_model(model_config(name, **overrides)).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            x = torch.randn(batch, 3, args.height, args.img_width, device=device)
            y = torch.randint(0, 11, (batch, args.height, args.img_width), device=device)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)

            def infer():
                model.eval()
                with torch.inference_mode(), torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    model(x)

            def step():
                model.train()
                with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                    loss = torch.nn.functional.cross_entropy(model(x).float(), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            per_batch = timed(infer, args.repeats, device)
            step_s = timed(step, max(1, args.repeats // 2), device)
            label = name + (f" (width {args.width})" if overrides else "")
            print(f"| {label} | {params:.1f} | {batch} | {batch / per_batch:.2f} | {step_s:.2f} |", flush=True)


if __name__ == "__main__":
    main()
