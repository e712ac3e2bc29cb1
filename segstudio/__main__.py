"""Entry points: ``segstudio`` (console), ``segstudio-gui`` and ``python -m segstudio``.

With a sub-command (``train``, ``eval``, ...) the headless CLI runs; with no
sub-command, or with a folder, the desktop app opens.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from segstudio.cli.main import run_cli

    return run_cli(sys.argv[1:] if argv is None else argv)


def gui_main() -> int:
    """The windowed entry point: never assumes a console exists."""
    return main()


if __name__ == "__main__":
    sys.exit(main())
