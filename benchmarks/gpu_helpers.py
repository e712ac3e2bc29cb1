"""Small steps of ``benchmarks/gpu_run.sh`` (no Qt needed): route split, fp16 packing, the summary.

    python -m benchmarks.gpu_helpers split-routes CAMVID OUT [LIMIT]
    python -m benchmarks.gpu_helpers half IN.safetensors OUT.safetensors
    python -m benchmarks.gpu_helpers summary RESULTS_DIR OUT.json

``split-routes`` makes, as symlinks, OUT/train/{images,labels} (every route
of CAMVID/train but 0006R0), OUT/heldout/{images,labels} (the 0006R0 frames:
a route the model never saw, unlike val/, sequence 0016E5, a third of
train/) and OUT/val/{images,labels}; ``LIMIT`` keeps only the first N frames
of each (a smoke test). ``summary`` gathers RESULTS_DIR's JSON files into one
file and prints a markdown table of the evaluations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


HELD_OUT_ROUTE = "0006R0"


def split_routes(camvid: Path, out: Path, limit: int | None = None) -> None:
    counts = {"train": 0, "heldout": 0, "val": 0}
    frames = [("val", p, camvid / "valannot") for p in sorted((camvid / "val").iterdir())]
    frames += [("heldout" if p.name.startswith(HELD_OUT_ROUTE) else "train", p, camvid / "trainannot")
               for p in sorted((camvid / "train").iterdir())]
    for part, image, labels in frames:
        if image.name.startswith(".") or (limit and counts[part] >= limit):
            continue
        for sub, src in (("images", image), ("labels", labels / (image.stem + ".png"))):
            folder = out / part / sub
            folder.mkdir(parents=True, exist_ok=True)
            (folder / src.name).symlink_to(src.resolve())
        counts[part] += 1
    print(f"route split: {counts['train']} training frames, {counts['heldout']} held-out frames "
          f"({HELD_OUT_ROUTE}), {counts['val']} val frames")


def half(src: Path, dst: Path) -> None:
    from segstudio.ml.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(src)
    save_checkpoint(dst, loaded.model, loaded.config, loaded.labelset, normalization=loaded.normalization,
                    train_size=loaded.train_size, record=loaded.record, half=True)
    print(f"{dst}: {dst.stat().st_size / 2**20:.1f} MiB (fp16)")


def summary(results: Path, out: Path) -> None:
    found = {}
    for path in sorted(results.glob("*.json")):
        try:
            found[path.stem] = json.loads(path.read_text())
        except ValueError as exc:
            found[path.stem] = {"error": f"unreadable: {exc}"}
    out.write_text(json.dumps(found, indent=2))
    print("| evaluation | pixel acc | mean IoU |\n|---|---|---|")
    for name, m in found.items():
        if isinstance(m, dict) and "mean_iou" in m:
            print(f"| {name} | {m['pixel_accuracy']:.4f} | {m['mean_iou']:.4f} |")


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "split-routes":
        split_routes(Path(argv[1]), Path(argv[2]), int(argv[3]) if len(argv) > 3 else None)
    elif len(argv) == 3 and argv[0] == "half":
        half(Path(argv[1]), Path(argv[2]))
    elif len(argv) == 3 and argv[0] == "summary":
        summary(Path(argv[1]), Path(argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
