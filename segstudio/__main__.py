"""Entry points: ``segstudio`` (console), ``segstudio-gui`` and ``python -m segstudio``.

With a sub-command (``train``, ``eval``, ...) or a global flag (``--help``,
``--version``) the headless CLI runs; otherwise (nothing, a folder,
``--self-test``) the desktop app opens. This module is the only one that
knows both: ``segstudio.cli`` and ``segstudio.app`` never import each other.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

_APP_OPTIONS_WITH_VALUE = ("--labelset",)


def _folder_word(argv: list[str]) -> str | None:
    """The app's FOLDER argument (the first word that is neither an option nor an option's value)."""
    for i, word in enumerate(argv):
        if word.startswith("-") or (i > 0 and argv[i - 1] in _APP_OPTIONS_WITH_VALUE):
            continue
        return word
    return None


def main(argv: list[str] | None = None) -> int:
    # A frozen executable re-runs itself for multiprocessing children: they must stop here.
    multiprocessing.freeze_support()
    if sys.stdout is None or sys.stderr is None:
        # Windowed (pythonw, segstudio-gui on Windows, a console=False bundle): no
        # console, so print() and progress bars would raise. Send them to the log folder.
        from segstudio.system.logsetup import setup_logging

        setup_logging(windowed=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    from segstudio.cli.main import is_cli_invocation  # cheap: loads no sub-command
    from segstudio.system.dependencies import missing_dependency_message

    try:
        if is_cli_invocation(argv):
            from segstudio.cli.main import run_cli

            return run_cli(argv)
        folder = _folder_word(argv)
        if folder is not None and not Path(folder).is_dir():  # a typo must not open an empty window
            from segstudio.cli.main import unknown_word_message

            print(f"segstudio: error: {unknown_word_message(folder)}", file=sys.stderr)
            return 2
        from segstudio.app.launch import launch_app

        return launch_app(argv)
    except ImportError as exc:
        message = missing_dependency_message(exc)
        if message is None:
            raise  # one of our own modules is broken: that is a bug, show it whole
        print(f"segstudio: {message}", file=sys.stderr)
        return 2


def gui_main() -> int:
    """The windowed entry point: never assumes a console exists."""
    return main()


if __name__ == "__main__":
    sys.exit(main())
