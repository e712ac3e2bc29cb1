"""A simulated user on a route the model never saw: correct 20 consecutive frames, retrain, judge the rest.

Run (leave-one-route-out base model, see docs/results.md):
    .venv/bin/python -m benchmarks.bench_retrain --model /work/runs/no0006_base.safetensors \
        --route-images /work/data/r0006/images --route-labels /work/data/r0006/labels \
        --variants full,partial --minutes 1,2 --threads 2

"full": the 20 frames' ground truth, every pixel verified. "partial": the
person starts from the model's auto-segment and fixes only its wrong pixels
inside a random 30% of each frame (64x64 cells); only those pixels are
verified. Retraining is the app's own ``ml.finetune`` on the CPU; the judge
is mean and per-class IoU on the route's other frames (never trained on),
before and after. Ablation switches (``--no-freeze-bn`` ...) measure what
each anti-forgetting measure is worth.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from segstudio.core.imageio import read_image
from segstudio.ml import corrective as corr
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.data import load_label_map, pair_files
from segstudio.ml.finetune import FinetuneSettings, average_weights, finetune, teacher_labels

CELL = 64


def partial_correction(gt: np.ndarray, predicted: np.ndarray, rng, ignore: int, share: float = 0.3):
    """(mask, verified): the model's mask, with its wrong pixels fixed inside a random ``share`` of cells."""
    h, w = gt.shape
    cells = rng.random(((h + CELL - 1) // CELL, (w + CELL - 1) // CELL)) < share
    chosen = np.kron(cells, np.ones((CELL, CELL), bool))[:h, :w]
    verified = chosen & (gt != predicted) & (gt != ignore)
    return np.where(verified, gt, predicted).astype(np.uint8), verified


def route_metrics(model, images, truths, loaded) -> dict:
    labels = loaded.labelset
    matrices = corr.confusion_per_image(loaded, model, images, truths, torch.device("cpu"))
    return corr.metrics_of(matrices, labels.num_classes, labels.ignore_index)


def per_class(before: dict, after: dict, names) -> tuple[str, float, str]:
    deltas = [(names[c], a - b) for c, b, a in zip(before["class_ids"], before["per_class_iou"],
                                                    after["per_class_iou"]) if a is not None and b is not None]
    worst = min(deltas, key=lambda d: d[1])
    return ", ".join(f"{n} {d:+.2f}" for n, d in deltas), worst[1], worst[0]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--route-images", default="/work/data/r0006/images")
    p.add_argument("--route-labels", default="/work/data/r0006/labels")
    p.add_argument("--count", type=int, default=20, help="consecutive frames corrected")
    p.add_argument("--start", type=int, default=0, help="index of the first corrected frame")
    p.add_argument("--judge-every", type=int, default=3,
                   help="judge on every n-th other frame (consecutive video frames look alike; CPU time)")
    p.add_argument("--variants", default="full,partial")
    p.add_argument("--minutes", default="1,2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-freeze-bn", action="store_true")
    p.add_argument("--no-balance", action="store_true")
    p.add_argument("--distill", type=float, default=FinetuneSettings.distill_weight)
    p.add_argument("--encoder-lr", type=float, default=FinetuneSettings.encoder_lr_factor)
    p.add_argument("--lr", type=float, default=FinetuneSettings.lr)
    p.add_argument("--shares", default="1",
                   help="also judge base + share x (fine-tuned - base) for these shares (weight averaging), post hoc")
    p.add_argument("--warmup", type=int, default=FinetuneSettings.warmup_steps)
    p.add_argument("--crop", type=int, default=FinetuneSettings.crop[0], help="square training crop side")
    p.add_argument("--batch", type=int, default=FinetuneSettings.batch_size)
    p.add_argument("--share", type=float, default=FinetuneSettings.fine_tuned_share,
                   help="the offered weights: base + share x (fine-tuned - base), judged by the held-out check")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.model)
    labels = loaded.labelset
    names = list(labels.names)
    pairs = pair_files(args.route_images, args.route_labels)
    frames = [read_image(i) for i, _ in pairs]
    truths = [load_label_map(l, labels.num_classes, labels.ignore_index, f.shape[:2]) for (_, l), f in zip(pairs, frames)]
    chosen = list(range(args.start, args.start + args.count))
    rest = [i for i in range(len(pairs)) if i not in chosen][:: args.judge_every]
    t0 = time.monotonic()
    base = route_metrics(loaded.model, [frames[i] for i in rest], [truths[i] for i in rest], loaded)
    print(f"# {len(chosen)} corrected frames ({pairs[chosen[0]][0].stem}..{pairs[chosen[-1]][0].stem}), "
          f"judged on {len(rest)} others; base mIoU {base['mean_iou']:.3f} ({time.monotonic() - t0:.0f} s to judge)")
    predicted = teacher_labels(loaded, [frames[i] for i in chosen], torch.device("cpu"))
    print("| variant | CPU budget | steps | held-out check | route mIoU before -> after | delta | worst class | per-class IoU change |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in args.variants.split(","):
        rng = np.random.default_rng(0)
        images, masks, verified = {}, {}, {}
        for i, pred in zip(chosen, predicted):
            key = pairs[i][0].stem
            images[key] = frames[i]
            if variant == "full":
                masks[key] = truths[i]
            else:
                masks[key], verified[key] = partial_correction(truths[i], pred, rng, labels.ignore_index)
        for minutes in (float(m) for m in args.minutes.split(",")):
            settings = FinetuneSettings(
                minutes=minutes, threads=args.threads, lr=args.lr, freeze_batchnorm=not args.no_freeze_bn,
                class_balanced=not args.no_balance, distill_weight=args.distill, encoder_lr_factor=args.encoder_lr,
                warmup_steps=args.warmup, crop=(args.crop, args.crop), batch_size=args.batch,
                fine_tuned_share=args.share, seed=args.seed)
            events = finetune(loaded, images, masks, settings, torch.device("cpu"), verified=verified or None)
            while True:
                try:
                    next(events)
                except StopIteration as stop:
                    result = stop.value
                    break
            model = loaded.model
            saved = {k: v.clone() for k, v in model.state_dict().items()}
            for share in (float(s) for s in args.shares.split(",")):
                model.load_state_dict(average_weights(saved, result.state_dict, share))
                after = route_metrics(model, [frames[i] for i in rest], [truths[i] for i in rest], loaded)
                changes, worst, worst_name = per_class(base, after, names)
                held = (f"{result.before['mean_iou']:.3f} -> {result.after['mean_iou']:.3f} on "
                        f"{len(result.holdout_keys)} ({'offered' if result.improved else 'refused: ' + result.verdict.message})")
                label = variant if share == 1.0 else f"{variant}, share {share:g}"
                print(f"| {label} | {minutes:g} min | {result.steps} | {held} | {base['mean_iou']:.3f} -> "
                      f"{after['mean_iou']:.3f} | {after['mean_iou'] - base['mean_iou']:+.3f} | {worst_name} "
                      f"{worst:+.3f} | {changes} |", flush=True)
            model.load_state_dict(saved)


if __name__ == "__main__":
    main()
