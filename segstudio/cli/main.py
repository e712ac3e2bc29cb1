"""The ``segstudio`` command's sub-commands, over core and ml.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a
callable taking the parsed namespace and returning an exit code. Every
sub-command module is imported when the parser is built: a broken one fails
loudly, it is never skipped. The CLI never imports ``segstudio.app``;
``segstudio.__main__`` chooses between the two (``is_cli_invocation``).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from pathlib import Path

import segstudio
from segstudio.cli.common import CliError  # re-exported: sub-commands raise it, run_cli reports it

# Sub-command -> its module under segstudio.cli, in help order. Known without
# importing the modules, so that choosing between the CLI and the app stays cheap.
COMMANDS = {
    "train": "train",
    "eval": "eval",
    "reproduce": "reproduce",
    "predict": "predict",
    "finetune": "finetune",
    "export": "export",
    "import-masks": "import_masks",
    "effort": "effort",
    "reassign": "reassign",
    "install-shortcut": "install_shortcut",
}
GLOBAL_FLAGS = ("-h", "--help", "--version")


def is_cli_invocation(argv: list[str]) -> bool:
    """True when ``argv`` starts with a sub-command or a global flag; anything
    else (nothing, a folder, ``--self-test``) is for the app."""
    return bool(argv) and (argv[0] in COMMANDS or argv[0] in GLOBAL_FLAGS)


def unknown_word_message(word: str) -> str:
    """What to say when ``segstudio WORD`` is neither a command nor a folder: the commands,
    and the closest one when the word looks like a typo."""
    close = difflib.get_close_matches(word, list(COMMANDS), n=1, cutoff=0.6)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    kind = "a file, not a folder" if Path(word).exists() else "neither a command nor a folder"
    return (f"'{word}' is {kind}.{hint} Commands: {', '.join(COMMANDS)} (segstudio COMMAND --help); "
            "or segstudio [FOLDER] to open the app.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segstudio",
        description="SegStudio: dense semantic annotation with a model in the loop. "
        "With no sub-command, opens the desktop app (optionally on FOLDER).",
    )
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        importlib.import_module(f"segstudio.cli.{module_name}").register(subparsers)
    return parser


def run_cli(argv: list[str]) -> int:
    """Runs ``segstudio ARGV`` (a sub-command or a global flag); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from segstudio.system.version import version_text

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


__all__ = ["COMMANDS", "GLOBAL_FLAGS", "CliError", "build_parser", "is_cli_invocation", "run_cli", "unknown_word_message", "segstudio"]
