"""``segstudio finetune``: fine-tune a checkpoint on corrected masks, with a held-out check.

Two sources: ``--project FOLDER`` (a SegStudio folder: its edited/reviewed
images, learning from their verified pixels only, and the held-out images of
the last retrain stay held out), or ``--images`` + ``--labels`` folders (every
pixel counts as verified). The new checkpoint is written only when the guard
finds it better on the held-out images (mean IoU up, no class present there
down by more than 0.02), or with --keep-worse; the before/after table, with
bootstrap intervals, is printed either way.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune a model on corrected masks, checked on held-out images")
    p.add_argument("--model", required=True)
    p.add_argument("--project", help="a SegStudio folder: learn from its corrected images' verified pixels")
    p.add_argument("--images", help="a folder of images (with --labels)")
    p.add_argument("--labels", help="a folder of label maps with the images' stems (every pixel counts)")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float,
                   help="time budget (default 3, or none when --epochs is given); with --epochs too, the first limit ends it")
    p.add_argument("--epochs", type=int, help="epoch limit")
    p.add_argument("--crop", default="128x128", help="training crop (small crops: more steps per minute)")
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
    from segstudio.core.verified import previous_holdout, remember_holdout
    from segstudio.ml.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from segstudio.ml.data import DataError
    from segstudio.ml.device import choose_device
    from segstudio.ml.finetune import FinetuneProgress, FinetuneSettings, delta_table, finetune

    if bool(args.project) == bool(args.images and args.labels) or (bool(args.images) != bool(args.labels)):
        raise CliError("give either --project FOLDER, or --images and --labels")
    project = None
    try:
        checkpoint = load_checkpoint(args.model)
        device, _ = choose_device(args.device)
        labels = checkpoint.labelset
        if args.project:
            project, images, masks, verified = _project_corrections(args.project, labels)
        else:
            images, masks, verified = _folder_pairs(args.images, args.labels, labels)
    except (CheckpointError, DataError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from exc
    settings = FinetuneSettings(
        minutes=args.minutes if args.minutes is not None else (None if args.epochs else 3.0),
        epochs=args.epochs, crop=parse_hw(args.crop),
        batch_size=args.batch_size, lr=args.lr, holdout_fraction=args.holdout, seed=args.seed, threads=args.threads,
        previous_holdout=tuple(previous_holdout(project)) if project else (),
    )
    bar = progress_bar(1000, "finetune")
    generator = finetune(checkpoint, images, masks, settings, device, verified=verified)
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
    echo(("better: " if result.improved else "not better: ") + result.verdict.message)
    if project is not None and project.writable:
        remember_holdout(project, result.holdout_keys)  # they stay held out next time
        project.save_state()
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


def _folder_pairs(images_dir, labels_dir, labels):
    """Images and label maps paired by stem; every pixel counts as verified."""
    from segstudio.core.imageio import read_image
    from segstudio.ml.data import load_label_map, pair_files

    images, masks = {}, {}
    for image_path, label_path in pair_files(images_dir, labels_dir):
        image = read_image(image_path)
        images[image_path.stem] = image
        masks[image_path.stem] = load_label_map(label_path, labels.num_classes, labels.ignore_index, image.shape[:2])
    return images, masks, None


def _project_corrections(folder, labels):
    """A SegStudio folder's corrected images, masks and verified pixels."""
    from segstudio.core.imageio import read_image
    from segstudio.core.project import Project
    from segstudio.core.verified import corrected_keys, load_correction

    project = Project.open(folder, labels)
    images, masks, verified = {}, {}, {}
    try:
        for key in corrected_keys(project):
            image = read_image(project.image_path(key))
            found = load_correction(project, key, image.shape[:2])
            if found is not None:
                images[key], (masks[key], verified[key]) = image, found
    finally:
        project.close()
    if not images:
        raise ValueError(f"{folder} has no corrected image yet: edit or review some masks first")
    return project, images, masks, verified
