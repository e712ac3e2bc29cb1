"""``segstudio export``: a project's masks in a layout other tools read.

    segstudio export FOLDER --out DIR [--format index|color|overlay ... | camvid | voc | datumaro] [--split [VAL]]

``--format`` repeats or takes a comma list (default ``index``). The folder
layout writes ``DIR/labelset.json``, ``DIR/images`` (copies of the originals)
and ``DIR/labels`` (index PNGs), what ``segstudio train --train-images
DIR/images --train-labels DIR/labels`` reads, plus ``DIR/labels_color`` and
``DIR/overlays`` when asked. ``camvid`` (CVAT's "CamVid 1.0"), ``voc``
(Pascal VOC segmentation) and ``datumaro`` (Datumaro's common semantic
segmentation) are whole layouts, one per export (see core.formats.layouts).
``--split`` writes train/val subsets (val fraction, default 0.2) without
splitting a video sequence. Exit 0 when every mask was written, 1 when some
files failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the masks of an annotated folder",
        description="Export the masks saved for FOLDER (in FOLDER/.segstudio) beside copies of the images: "
        "as SegStudio's folder (index PNGs, colour PNGs and/or overlays) or as a CamVid, Pascal VOC or "
        "Datumaro data set, each with its file of class names and colours.",
    )
    p.add_argument("folder", help="the folder opened in SegStudio")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--format", action="append", default=None, metavar="FORMAT",
        help="index, color, overlay (repeat or comma list; default: index), or one of camvid, voc, datumaro",
    )
    p.add_argument(
        "--split", nargs="?", type=float, const=0.2, default=None, metavar="VAL_FRACTION",
        help="write train and val subsets (val fraction, default 0.2); a video sequence stays in one subset",
    )
    p.add_argument("--no-images", action="store_true", help="do not copy the images beside the labels")
    p.add_argument("--only-reviewed", action="store_true", help="export only images marked reviewed")
    p.set_defaults(func=run)


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    """``["index,color", "overlay"]`` -> ``("index", "color", "overlay")`` (validated, no repeats)."""
    from segstudio.cli.common import CliError
    from segstudio.core.export import normalize_formats

    names = [name for value in values or ["index"] for name in value.split(",") if name.strip()]
    try:
        return normalize_formats(names)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segstudio.cli.common import CliError, close_project_quietly, echo
    from segstudio.core.export import export_masks
    from segstudio.core.project import ImageStatus, Project

    formats = parse_formats(args.format)
    if args.split is not None and not 0 < args.split < 1:
        raise CliError(f"--split takes the val fraction, between 0 and 1; got {args.split}")
    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    try:
        project = Project.open(folder)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot open {folder}: {exc}") from exc
    try:
        report = export_masks(
            project, args.out, formats, include_images=not args.no_images,
            only_status=ImageStatus.REVIEWED if args.only_reviewed else None, split=args.split,
        )
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        close_project_quietly(project)
    echo(
        f"exported {report.written} mask(s) ({', '.join(formats)}) to {args.out}; "
        f"skipped {len(report.skipped)}; errors {len(report.errors)}"
    )
    if args.split is not None:
        echo("  subsets: " + ", ".join(f"{name} {count}" for name, count in sorted(report.subsets.items())))
    for line in report.skipped:
        echo(f"  skipped: {line}")
    for line in report.errors:
        echo(f"  error: {line}")
    return 1 if report.errors else 0
