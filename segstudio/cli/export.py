"""``segstudio export``: a project's masks as index/colour PNGs or overlays."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export the masks of an annotated folder")
    p.add_argument("folder", help="the folder opened in SegStudio")
    p.add_argument("--out", required=True)
    p.add_argument("--format", default="index", help="comma list of index,color,overlay")
    p.add_argument("--no-images", action="store_true", help="do not copy the images beside the labels")
    p.add_argument("--only-reviewed", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.main import CliError
    from segstudio.core.export import export_masks
    from segstudio.core.project import ImageStatus, Project

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    try:
        project = Project.open(args.folder)
        report = export_masks(
            project, args.out, formats, include_images=not args.no_images,
            only_status=ImageStatus.REVIEWED if args.only_reviewed else None,
        )
        project.close()
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    print(f"exported {report.written} mask(s) to {args.out}; skipped {len(report.skipped)}; errors {len(report.errors)}")
    for line in report.errors:
        print(f"  error: {line}")
    return 1 if report.errors else 0
