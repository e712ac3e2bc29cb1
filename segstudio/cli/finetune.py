"""``segstudio finetune``: fine-tune a checkpoint on corrected masks, with a held-out check.

The new checkpoint is written only when it beats the old one on the held-out
images (or with --keep-worse); the before/after table is printed either way.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a model on corrected masks, checked on held-out images")
    p.add_argument("--model", required=True)
    p.add_argument("--images", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float,
                   help="time budget (default 3, or none when --epochs is given); with --epochs too, the first limit ends it")
    p.add_argument("--epochs", type=int, help="epoch limit")
    p.add_argument("--crop", default="256x256")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--holdout", type=float, default=0.2, help="fraction of images held out for the check")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-worse", action="store_true", help="write the new model even if it is not better")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.common import CliError, echo, parse_hw, progress_bar
    from segstudio.core.imageio import read_image
    from segstudio.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from segstudio.ml.data import DataError, load_label_map, pair_files
    from segstudio.ml.device import choose_device
    from segstudio.ml.finetune import FinetuneProgress, FinetuneSettings, delta_table, finetune

    try:
        checkpoint = load_checkpoint(args.model)
        pairs = pair_files(args.images, args.labels)
        device, _ = choose_device(args.device)
        labels = checkpoint.labelset
        images, masks = {}, {}
        for image_path, label_path in pairs:
            key = image_path.stem  # pair_files matched the pair by this name
            images[key] = image = read_image(image_path)
            masks[key] = load_label_map(label_path, labels.num_classes, labels.ignore_index, image.shape[:2])
    except (CheckpointError, DataError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    settings = FinetuneSettings(
        minutes=args.minutes if args.minutes is not None else (None if args.epochs else 3.0),
        epochs=args.epochs, crop=parse_hw(args.crop),
        batch_size=args.batch_size, lr=args.lr, holdout_fraction=args.holdout, seed=args.seed, threads=args.threads,
    )
    bar = progress_bar(1000, "finetune")
    generator = finetune(checkpoint, images, masks, settings, device)
    result = None
    while True:
        try:
            event = next(generator)
        except StopIteration as stop:
            result = stop.value
            break
        if isinstance(event, FinetuneProgress):
            bar.n = int(event.fraction * 1000)
            bar.set_postfix_str(f"{event.phase} loss {event.loss:.3f}" if event.loss else event.phase)
            bar.refresh()
    bar.close()
    echo(f"trained on {len(result.train_keys)} image(s), checked on {len(result.holdout_keys)} held out"
         + (f" ({result.note})" if result.note else ""))
    echo(delta_table(result, list(labels.names)))
    if result.improved or args.keep_worse:
        checkpoint.model.load_state_dict(result.state_dict)
        record = dict(checkpoint.record or {})
        record.update(base_model=str(args.model), images_used=result.train_keys, held_out=result.holdout_keys,
                      before=result.before["mean_iou"], metrics={"mean_iou": result.after["mean_iou"],
                      "pixel_accuracy": result.after["pixel_accuracy"]}, finetune_steps=result.steps)
        save_checkpoint(args.out, checkpoint.model, checkpoint.config, labels,
                        normalization=checkpoint.normalization, train_size=checkpoint.train_size, record=record)
        echo(f"wrote {args.out}")
        return 0
    echo("the fine-tuned model is not better on the held-out images; nothing written (use --keep-worse to force)")
    return 3
