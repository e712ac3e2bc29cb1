"""``segstudio import-masks``: bring existing masks into a project.

    segstudio import-masks FOLDER --from DIR [--overwrite]

DIR is a CamVid, Pascal VOC or Datumaro data set (a CVAT export too), a
SegStudio export, or a plain folder of PNGs named ``<image key>.png`` (or
CamVid's ``<stem>_L.png``). A data set's classes are matched to the folder's
label set by name; a plain folder's ids or colours are the label set's own.
Masks are checked against the image size and saved as the user's edits; one
equal to the saved mask is left alone; masks already edited or reviewed are
kept unless ``--overwrite``. Exit 0 when every matching file was imported,
1 when some failed, 2 for a usage error (an unreadable class map included).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-masks",
        help="import masks (CamVid, VOC, Datumaro, SegStudio or plain PNGs) into a folder's project",
        description="Import masks named like FOLDER's images from DIR into FOLDER/.segstudio.",
    )
    p.add_argument("folder", help="the image folder")
    p.add_argument("--from", dest="source", required=True, help="a data set (CamVid, VOC, Datumaro, SegStudio export) or a folder of PNG masks named like the images")
    p.add_argument("--overwrite", action="store_true", help="replace masks you edited or reviewed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segstudio.cli.common import CliError, close_project_quietly, echo
    from segstudio.core.export import import_masks
    from segstudio.core.project import Project

    folder, source = Path(args.folder), Path(args.source)
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    if not source.is_dir():
        raise CliError(f"{source} is not a folder")
    try:
        project = Project.open(folder)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot open {folder}: {exc}") from exc
    try:
        report = import_masks(project, source, overwrite=args.overwrite)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        close_project_quietly(project)
    echo(
        f"imported {report.imported} mask(s) into {folder} (read as {report.layout}); "
        f"unchanged {report.unchanged}; skipped {len(report.skipped)}; errors {len(report.errors)}"
    )
    for line in report.skipped:
        echo(f"  skipped: {line}")
    if report.conflicts:
        echo(f"  {len(report.conflicts)} image(s) kept your edits: --overwrite replaces them")
    for line in report.errors:
        echo(f"  error: {line}")
    return 1 if report.errors else 0
