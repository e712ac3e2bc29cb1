"""Entry points: ``segstudio`` (console), ``segstudio-gui`` and ``python -m segstudio``.

With a sub-command (``train``, ``eval``, ...) the headless CLI runs; with no
sub-command, or with a folder, the desktop app opens.
"""

from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    # A frozen executable re-runs itself for multiprocessing children: they must stop here.
    multiprocessing.freeze_support()
    if sys.stdout is None or sys.stderr is None:
        # Windowed (pythonw, segstudio-gui on Windows, a console=False bundle): no
        # console, so print() and progress bars would raise. Send them to the log folder.
        from segstudio.logsetup import setup_logging

        setup_logging(windowed=True)
    from segstudio.cli.main import run_cli

    return run_cli(sys.argv[1:] if argv is None else argv)


def gui_main() -> int:
    """The windowed entry point: never assumes a console exists."""
    return main()


if __name__ == "__main__":
    sys.exit(main())
