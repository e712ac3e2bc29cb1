"""``segstudio effort``: the correction effort of a folder as CSV.

    segstudio effort FOLDER [--out FILE]

One row per image (``kind`` = image: pixels changed from the model's
pre-fill, strokes, clicks, active seconds, the model version), then one row
per model version (``kind`` = version: the means over the images it
pre-filled that someone worked on or reviewed). Read from the folder's
``.segstudio/state.json`` as the app last saved it (``core/effort.py``).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "effort",
        help="export the correction effort per image and per model version as CSV",
        description="Write FOLDER's correction effort (per image, then per model version) as CSV.",
    )
    p.add_argument("folder", help="the image folder")
    p.add_argument("--out", help="the CSV file to write (atomically); default: standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import io
    import json
    from pathlib import Path

    from segstudio.cli.common import CliError, echo
    from segstudio.core.atomic import atomic_write_text
    from segstudio.core.effort import write_effort_csv
    from segstudio.core.imageio import PROJECT_DIR_NAME

    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{folder} is not a folder")
    state_path = folder / PROJECT_DIR_NAME / "state.json"
    if not state_path.exists():
        raise CliError(f"{folder} has no SegStudio project yet ({state_path} is missing): open it in the app first")
    try:  # read only: no lock, no project folder changes, so it runs while the app has it open
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if not isinstance(state, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {state_path}: {exc}") from exc
    buffer = io.StringIO()
    rows = write_effort_csv(state, buffer)
    if args.out:
        try:
            atomic_write_text(Path(args.out), buffer.getvalue())
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc}") from exc
        echo(f"wrote {rows} row(s) to {args.out}")
    else:
        echo(buffer.getvalue().rstrip("\n"))
    return 0
