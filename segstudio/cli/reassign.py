"""``segstudio reassign``: every pixel of class A becomes B in a folder's saved masks.

    segstudio reassign FOLDER --from A --to B [--only KEY ...] [--dry-run]

A and B are class ids or names of the folder's label set. Each changed mask
is rewritten atomically; an image's status becomes EDITED unless it was
REVIEWED; the correction effort count follows. Refused while the folder is
open in the app (its masks in memory would overwrite the files).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("reassign", help="replace class A by class B in a folder's masks",
                              description="Replace class A by class B in every saved mask of FOLDER (or --only some).")
    p.add_argument("folder", help="the image folder")
    p.add_argument("--from", dest="source", required=True, help="the class to replace (id or name)")
    p.add_argument("--to", dest="target", required=True, help="the class that replaces it (id or name)")
    p.add_argument("--only", nargs="+", metavar="KEY", help="only these images (keys: file names without extension)")
    p.add_argument("--dry-run", action="store_true", help="only count the pixels that would change")
    p.set_defaults(func=run)


def class_id(text: str, labelset) -> int:
    from segstudio.cli.common import CliError

    if text.isdigit():
        return int(text)
    names = [n.lower() for n in labelset.names]
    if text.lower() not in names:
        raise CliError(f"unknown class {text!r}; classes: {', '.join(labelset.names)}")
    return names.index(text.lower())


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segstudio.cli.common import CliError, close_project_quietly, echo
    from segstudio.core.project import Project
    from segstudio.core.reassign import ReassignError, check_classes, run_job, saved_count_job, saved_reassign_job
    from segstudio.core.session import EditingSession

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    project = Project.open(folder)
    try:
        if project.open_elsewhere_pid is not None:
            raise CliError(f"{folder} is open in SegStudio (process {project.open_elsewhere_pid}): use Edit > "
                           "Reassign Class there, or close it first")
        source, target = class_id(args.source, project.labelset), class_id(args.target, project.labelset)
        try:
            check_classes(source, target, project.labelset.num_classes)
        except ReassignError as exc:
            raise CliError(str(exc)) from exc
        keys = args.only or project.keys
        unknown = [k for k in keys if k not in project.keys]
        if unknown:
            raise CliError(f"no such image(s) in {folder}: {', '.join(unknown)}")
        session = EditingSession()
        session.open_project(project)
        job = (saved_count_job(project, keys, source) if args.dry_run
               else saved_reassign_job(project, keys, source, target, session.effort.read_baseline))
        events = run_job(job)
        for event in events:
            if not args.dry_run:
                session.saved_mask_rewritten(event)
            if event.error:
                echo(f"  error: {event.key}: {event.error}")
    finally:
        close_project_quietly(project)  # saves the statuses and effort
    changed = sum(e.changed for e in events)
    images = sum(1 for e in events if e.changed)
    verb = "would change" if args.dry_run else "changed"
    echo(f"class {source} -> {target}: {verb} {changed} pixel(s) in {images} image(s)")
    return 1 if any(e.error for e in events) else 0
