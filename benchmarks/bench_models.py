"""Model speed: inference images/s and one training step's time for each registry model.

Run (CPU, 2 threads; plus CUDA with bf16 autocast + channels_last when a GPU is there):

    .venv/bin/python -m benchmarks.bench_models
    .venv/bin/python -m benchmarks.bench_models --models unet-bn --batch-sizes 1 --repeats 1 --device cpu

At 360x480 (CamVid's size), batch 1 and 8 by default. Inference is
``torch.inference_mode`` in eval mode; a training step is forward +
cross-entropy + backward + Adam step in train mode. Each number is the mean
over ``--repeats`` runs after one warm-up run. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from contextlib import nullcontext

import torch
from torch import nn

from segstudio.ml.models.registry import MODEL_NAMES, build_model, model_config


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Mean seconds per call of ``fn`` after one warm-up call."""
    fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def bench_one(name: str, device: torch.device, batch: int, size: tuple[int, int], repeats: int,
              width: int | None = None) -> dict:
    """Times one model at one batch size on one device; returns a table row."""
    torch.manual_seed(0)
    overrides = {"base_width": width} if width and name.startswith("unet") else {}
    model = build_model(model_config(name, **overrides)).to(device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    h, w = size
    x = torch.randn(batch, 3, h, w, device=device).contiguous(memory_format=memory_format)
    target = torch.randint(0, 11, (batch, h, w), device=device)
    row = {"model": name, "device": str(device), "batch": batch,
           "params_m": sum(p.numel() for p in model.parameters()) / 1e6}

    model.eval()

    def infer():
        with torch.inference_mode(), amp:
            model(x)

    try:
        row["infer_s"] = _timed(infer, device, repeats)
        row["images_per_s"] = batch / row["infer_s"]
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        loss_fn = nn.CrossEntropyLoss(ignore_index=11)

        def step():
            optimizer.zero_grad(set_to_none=True)
            with amp:
                loss = loss_fn(model(x), target)
            loss.backward()
            optimizer.step()

        row["train_step_s"] = _timed(step, device, repeats)
    except torch.OutOfMemoryError:
        row["error"] = "out of memory"
    finally:
        del model
        if cuda:
            torch.cuda.empty_cache()
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| device | model | params (M) | batch | inference (images/s) | training step (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r and "images_per_s" not in r:
            ips, step = r["error"], "-"
        else:
            ips = f"{r['images_per_s']:.2f}"
            step = f"{r['train_step_s']:.3f}" if "train_step_s" in r else r.get("error", "-")
        lines.append(f"| {r['device_label']} | {r['model']} | {r['params_m']:.1f} | {r['batch']} | {ips} | {step} |")
    return "\n".join(lines)


def _devices(choice: str) -> list[torch.device]:
    if choice == "cpu":
        return [torch.device("cpu")]
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: CUDA is not available here")
        return [torch.device("cuda")]
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated registry names")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement, after one warm-up")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all",
                        help="all = the CPU, plus CUDA when available")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--size", default="360x480", help="HxW (default 360x480)")
    parser.add_argument("--width", type=int, help="U-Net base width override (the shipped model uses 16)")
    args = parser.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODEL_NAMES)}")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    h, w = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(args.threads)

    rows = []
    for device in _devices(args.device):
        if device.type == "cuda":
            label = f"{torch.cuda.get_device_name(device)} (bf16, channels_last)"
            torch.backends.cudnn.benchmark = True
        else:
            label = f"CPU {platform.processor() or platform.machine()} ({args.threads} threads)"
        for name in models:
            for batch in batches:
                row = bench_one(name, device, batch, (h, w), args.repeats, args.width)
                row["device_label"] = label
                rows.append(row)
                print(f"# {label} {name} batch {batch}: "
                      + ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)),
                      file=sys.stderr, flush=True)
    print(f"Input {h}x{w}, {args.repeats} timed run(s) after 1 warm-up; torch {torch.__version__}\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
