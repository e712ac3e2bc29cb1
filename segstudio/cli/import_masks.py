"""``segstudio import-masks``: bring existing index or CamVid-colour PNGs into a project.

    segstudio import-masks FOLDER --from DIR [--overwrite]

Files in DIR named ``<key>.png`` (or CamVid's ``<key>_L.png``; an image's key
is its file name without extension, see ``core.project``) are
read as index (grey or palette) or colour PNGs with the folder's label set,
checked against the image size, and saved as the user's edits. Masks already
edited or reviewed are kept unless ``--overwrite``. Exit 0 when every
matching file was imported, 1 when some failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-masks",
        help="import index or colour PNG masks into a folder's project",
        description="Import masks named like FOLDER's images from DIR into FOLDER/.segstudio.",
    )
    p.add_argument("folder", help="the image folder")
    p.add_argument("--from", dest="source", required=True, help="folder of PNG masks named like the images")
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
    echo(f"imported {report.imported} mask(s) into {folder}; skipped {len(report.skipped)}; errors {len(report.errors)}")
    for line in report.skipped:
        echo(f"  skipped: {line}")
    if report.conflicts:
        echo(f"  {len(report.conflicts)} image(s) kept your edits: --overwrite replaces them")
    for line in report.errors:
        echo(f"  error: {line}")
    return 1 if report.errors else 0
