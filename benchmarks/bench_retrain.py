"""A simulated user: correct N CamVid val images (ground truth stands in), retrain, measure the rest.

Run: .venv/bin/python -m benchmarks.bench_retrain --model FILE [--data ../shared/data/camvid]
     [--counts 10,20] [--minutes 2] [--threads 2]
For each N: fine-tune the model on the first N val frames for the time budget
(the app's own ``ml.finetune``), then report mean IoU on the remaining val
frames before and after.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from segstudio.core.imageio import read_image
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.data import SegmentationFolder, load_label_map, pair_files
from segstudio.ml.finetune import FinetuneSettings, finetune
from segstudio.ml.train import evaluate
from segstudio.ml.transforms import build_eval_transform


def remaining_miou(model, pairs, loaded) -> dict:
    labels = loaded.labelset
    dataset = SegmentationFolder(pairs, labels.num_classes, build_eval_transform(None, loaded.normalization),
                                 labels.ignore_index, cache=False)
    metrics, _ = evaluate(model, torch.utils.data.DataLoader(dataset, batch_size=1), torch.device("cpu"),
                          labels.num_classes, labels.ignore_index)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="../shared/data/camvid")
    parser.add_argument("--counts", default="10,20")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    pairs = pair_files(data / "val", data / "valannot")
    print("| corrected images | retrain | held-out check (mIoU before -> after) | remaining val images | mIoU before | mIoU after | pixel acc before | after |")
    print("|---|---|---|---|---|---|---|---|")
    for count in (int(c) for c in args.counts.split(",")):
        loaded = load_checkpoint(args.model)
        labels = loaded.labelset
        # Every 5th frame, so the corrected frames spread over the sequence.
        chosen = pairs[::5][:count]
        rest = [p for p in pairs if p not in chosen]
        images, masks = {}, {}
        for image_path, label_path in chosen:
            images[image_path.stem] = read_image(image_path)
            masks[image_path.stem] = load_label_map(label_path, labels.num_classes, labels.ignore_index,
                                                    images[image_path.stem].shape[:2])
        before = remaining_miou(loaded.model, rest, loaded)
        generator = finetune(loaded, images, masks, FinetuneSettings(minutes=args.minutes, threads=args.threads),
                             torch.device("cpu"))
        while True:
            try:
                next(generator)
            except StopIteration as stop:
                result = stop.value
                break
        loaded.model.load_state_dict(result.state_dict)
        after = remaining_miou(loaded.model, rest, loaded)
        print(f"| {count} | {args.minutes:g} min, {result.steps} steps | {result.before['mean_iou']:.3f} -> "
              f"{result.after['mean_iou']:.3f} | {len(rest)} | {before['mean_iou']:.3f} | {after['mean_iou']:.3f} | "
              f"{before['pixel_accuracy']:.3f} | {after['pixel_accuracy']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
