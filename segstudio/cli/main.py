"""The ``segstudio`` command: sub-commands over core and ml, or the app.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
callable taking the parsed namespace and returning an exit code. The CLI
never imports ``segstudio.app`` at module level; only the no-sub-command path
does, lazily, so headless use never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import segstudio

# Modules under segstudio.cli that define sub-commands, in help order.
SUBCOMMAND_MODULES = (
    "train",
    "eval",
    "reproduce",
    "predict",
    "finetune",
    "export",
    "import_masks",
    "install_shortcut",
)


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="SegStudio: dense semantic annotation with a model in the loop. "
        "With no sub-command, opens the desktop app (optionally on FOLDER).",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"segstudio.cli.{name}")
        except ModuleNotFoundError as exc:
            # A sub-command module not written yet must not break the others.
            if exc.name == f"segstudio.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def run_cli(argv: list[str]) -> int:
    # The app takes its own arguments (a folder, --self-test); only hand over
    # to argparse when the first word is a sub-command or a global flag.
    parser = build_parser()
    known = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if not argv or (argv[0] not in known and argv[0] not in ("-h", "--help", "--version")):
        from segstudio.app.launch import launch_app

        return launch_app(argv)
    args = parser.parse_args(argv)
    if args.version:
        from segstudio.cli.version import version_text

        print(version_text())
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"segstudio {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


__all__ = ["CliError", "build_parser", "run_cli", "segstudio"]
