"""``segstudio predict``: batch pre-labelling of a folder, resumable.

Writes OUT/<key>.png atomically (index or colour PNG, core.maskio); with
--confidence also OUT/confidence/<key>.png (grey, max softmax x 255), written
before the mask, so a mask on disk means the image is done. An image whose
mask exists is skipped unless --overwrite, so an interrupted run picks up
where it stopped. Unreadable images (and images that fail to predict) are
reported and skipped; the exit code is 1 if any failed. Under torchrun the
folder is sharded across ranks (rank r takes every world-th image).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("predict", help="pre-label a folder of images with a model")
    p.add_argument("--model", help="checkpoint (.safetensors); default: the shipped CamVid model")
    p.add_argument("--images", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--format", default="index", choices=("index", "color"))
    p.add_argument("--confidence", action="store_true", help="also write OUT/confidence/<key>.png (0..255)")
    p.add_argument("--tile", type=int, default=512,
                   help="largest tile for large images (default 512; raised to what --overlap needs)")
    p.add_argument("--overlap", type=int, default=None,
                   help="pixels shared by neighbouring tiles (default: twice the model's receptive radius, "
                        "so tiles equal one whole-image pass; less is faster, with seams)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="flip: average the predictions of each image and its mirror (twice the work)")
    p.add_argument("--threads", type=int)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import io

    from PIL import Image

    from segstudio.cli.common import CliError, echo, progress_bar
    from segstudio.core.atomic import atomic_write_bytes
    from segstudio.core.imageio import ImageReadError, list_images, read_image
    from segstudio.core.maskio import write_color_png, write_index_png
    from segstudio.core.project import image_keys
    from segstudio.core.resources import default_model_path
    from segstudio.ml.checkpoint import CheckpointError, load_checkpoint
    from segstudio.ml.device import DeviceError, choose_device
    from segstudio.ml.inference import Predictor

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model_path = Path(args.model) if args.model else default_model_path()
    if not model_path.exists():
        if args.model:
            raise CliError(f"the model {model_path} does not exist")
        raise CliError(f"the shipped default model {model_path} is missing; pass --model FILE")
    if args.tile < 32 or (args.overlap is not None and args.overlap < 0):
        raise CliError("--tile must be at least 32 and --overlap at least 0")
    images_dir, out = Path(args.images), Path(args.out)
    if not images_dir.is_dir():
        raise CliError(f"{images_dir} is not a folder")
    try:
        device, reason = choose_device(args.device)
        checkpoint = load_checkpoint(model_path)
    except (CheckpointError, DeviceError) as exc:
        raise CliError(str(exc)) from exc
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    # Keys over the whole folder before sharding, so every rank names a mask as a project would.
    everything = list_images(images_dir)
    images = list(zip(everything, image_keys(everything)))[rank::world]
    out.mkdir(parents=True, exist_ok=True)
    if args.confidence:
        (out / "confidence").mkdir(exist_ok=True)
    todo = [(p, key) for p, key in images if args.overwrite or not (out / f"{key}.png").exists()]
    if rank == 0:
        echo(f"{len(images) - len(todo)} of {len(images)} already done; predicting {len(todo)} on {device} ({reason})")
    predictor = Predictor(checkpoint, device, tile=args.tile, overlap=args.overlap, flip_tta=args.tta == "flip")
    failures = []
    bar = progress_bar(len(todo), "predict")
    for path, key in todo:
        try:
            prediction = predictor.predict(read_image(path))
        except ImageReadError as exc:
            failures.append(str(exc))
            bar.update(1)
            continue
        except MemoryError as exc:  # even one smallest tile did not fit: this image, not the run
            failures.append(f"{path.name}: {exc or 'out of memory'}")
            bar.update(1)
            continue
        try:
            if args.confidence:
                # Confidence first: the mask's existence marks the image as done.
                buffer = io.BytesIO()
                Image.fromarray(prediction.confidence).save(buffer, format="PNG")
                atomic_write_bytes(out / "confidence" / f"{key}.png", buffer.getvalue())
            writer = write_index_png if args.format == "index" else write_color_png
            writer(out / f"{key}.png", prediction.mask, checkpoint.labelset)
        except OSError as exc:
            raise CliError(f"cannot write to {out}: {exc}") from exc
        bar.update(1)
    bar.close()
    for line in failures:
        echo(f"  skipped: {line}")
    echo(f"wrote {len(todo) - len(failures)} mask(s) to {out}; {len(failures)} failed")
    return 1 if failures else 0
