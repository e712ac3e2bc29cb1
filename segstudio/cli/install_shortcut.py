"""``segstudio install-shortcut [--desktop] [--remove]``: a menu launcher for this install."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "install-shortcut",
        help="add (or --remove) a SegStudio launcher in your applications menu",
        description="Put a launcher for the current user in the applications menu (Linux: "
        "~/.local/share/applications; Windows: Start menu; macOS: ~/Applications/SegStudio.app) that "
        "starts SegStudio with this Python environment. --remove deletes exactly the files it made.",
    )
    p.add_argument("--desktop", action="store_true", help="also put a launcher on the desktop")
    p.add_argument("--remove", action="store_true", help="remove the launcher(s) installed earlier")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from segstudio.cli.common import CliError
    from segstudio.system.shortcuts import ShortcutError, gui_command, install_shortcuts, manifest_path, remove_shortcuts

    try:
        if args.remove:
            removed = remove_shortcuts()
            if not removed:
                print(f"nothing to remove (no record at {manifest_path()})")
            for path in removed:
                print(f"removed {path}")
            return 0
        installed = install_shortcuts(desktop=args.desktop)
    except ShortcutError as exc:
        raise CliError(str(exc)) from exc
    for line in installed.messages:
        print(line)
    print(f"it runs: {' '.join(gui_command(installed.system))}")
    print("undo with: segstudio install-shortcut --remove")
    return 0
