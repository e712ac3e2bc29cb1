"""``segstudio import-masks``: bring existing index or CamVid-colour PNGs into a project."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("import-masks", help="import index or colour PNG masks into a folder's project")
    p.add_argument("folder", help="the image folder")
    p.add_argument("--from", dest="source", required=True, help="folder of PNG masks named like the images")
    p.add_argument("--overwrite", action="store_true", help="replace masks you edited or reviewed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.main import CliError
    from segstudio.core.export import import_masks
    from segstudio.core.project import Project

    try:
        project = Project.open(args.folder)
        report = import_masks(project, args.source, overwrite=args.overwrite)
        project.close()
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    print(f"imported {report.imported}; skipped {len(report.skipped)}; errors {len(report.errors)}")
    for line in report.skipped + report.errors:
        print(f"  {line}")
    return 1 if report.errors else 0
