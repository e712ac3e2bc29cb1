"""``segstudio export``: a project's masks as index/colour PNGs or overlays.

    segstudio export FOLDER --out DIR [--format index|color|overlay ...]

``--format`` repeats or takes a comma list (default ``index``). Writes
``DIR/images`` (copies of the originals) and ``DIR/labels`` (index PNGs), the
layout ``segstudio train --train-images DIR/images --train-labels DIR/labels``
reads, plus ``DIR/labels_color`` and ``DIR/overlays`` when asked. Exit 0 when
every mask was written, 1 when some files failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the masks of an annotated folder",
        description="Export the masks saved for FOLDER (in FOLDER/.segstudio) as index PNGs, "
        "colour PNGs and/or overlays, beside copies of the images.",
    )
    p.add_argument("folder", help="the folder opened in SegStudio")
    p.add_argument("--out", required=True, help="output folder (images/, labels/, labels_color/, overlays/)")
    p.add_argument(
        "--format", action="append", default=None, metavar="FORMAT",
        help="index, color or overlay; repeat it or give a comma list (default: index)",
    )
    p.add_argument("--no-images", action="store_true", help="do not copy the images beside the labels")
    p.add_argument("--only-reviewed", action="store_true", help="export only images marked reviewed")
    p.set_defaults(func=run)


def parse_formats(values: list[str] | None) -> tuple[str, ...]:
    """``["index,color", "overlay"]`` -> ``("index", "color", "overlay")`` (validated, no repeats)."""
    from segstudio.cli.common import CliError
    from segstudio.core.export import FORMATS

    aliases = {"colour": "color", "overlays": "overlay", "labels": "index"}
    formats: list[str] = []
    for value in values or ["index"]:
        for name in value.split(","):
            name = aliases.get(name.strip().lower(), name.strip().lower())
            if not name:
                continue
            if name not in FORMATS:
                raise CliError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
            if name not in formats:
                formats.append(name)
    if not formats:
        raise CliError(f"no format given; choose from {', '.join(FORMATS)}")
    return tuple(formats)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segstudio.cli.common import CliError, close_project_quietly, echo
    from segstudio.core.export import export_masks
    from segstudio.core.project import ImageStatus, Project

    formats = parse_formats(args.format)
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
            only_status=ImageStatus.REVIEWED if args.only_reviewed else None,
        )
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        close_project_quietly(project)
    echo(
        f"exported {report.written} mask(s) ({', '.join(formats)}) to {args.out}; "
        f"skipped {len(report.skipped)}; errors {len(report.errors)}"
    )
    for line in report.skipped:
        echo(f"  skipped: {line}")
    for line in report.errors:
        echo(f"  error: {line}")
    return 1 if report.errors else 0
