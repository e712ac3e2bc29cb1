"""Starting the app: arguments, QApplication, the main window."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segstudio", description="Open SegStudio (optionally on FOLDER).")
    parser.add_argument("folder", nargs="?", help="a folder of images")
    parser.add_argument("--labelset", help="a JSON label set (default: CamVid)")
    parser.add_argument("--self-test", action="store_true", help="run the offscreen self-test and exit")
    return parser.parse_args(argv)


def default_folder(settings) -> str | None:
    last = settings.last_folder
    if last and Path(last).is_dir():
        return last
    from segstudio.core.resources import sample_folder

    samples = sample_folder()
    return str(samples) if samples is not None else None


def launch_app(argv: list[str]) -> int:
    args = _parse(argv)
    # torch before Qt: on Windows recent torch fails to load its DLLs otherwise.
    import torch  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from segstudio.logsetup import setup_logging

    setup_logging(windowed=sys.stdout is None)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SegStudio")
    app.setApplicationName("SegStudio")
    app.setDesktopFileName("segstudio")  # lets Wayland match the launcher's icon
    from segstudio.app.about import app_icon
    from segstudio.app.crash import install_excepthook

    app.setWindowIcon(app_icon())
    install_excepthook(app)
    if args.self_test:
        from segstudio.app.selftest import run_self_test

        return run_self_test()
    from segstudio.app.main_window import MainWindow
    from segstudio.core.labels import LabelSet, LabelSetError

    labelset = None
    if args.labelset:
        try:
            labelset = LabelSet.load(args.labelset)
        except LabelSetError as exc:
            print(f"segstudio: {exc}", file=sys.stderr)
            return 2
    window = MainWindow(labelset=labelset)
    from segstudio.app.model_features import install_model_features

    install_model_features(window)
    window.show()
    folder = args.folder or default_folder(window.settings)
    if folder:
        if not Path(folder).is_dir():
            logging.getLogger(__name__).error("%s is not a folder", folder)
        else:
            window.open_folder(folder)
    return app.exec()
