"""Starting the app: arguments, QApplication, the main window.

``segstudio [FOLDER] [--self-test] [--labelset FILE]``. With no FOLDER the
window opens the last folder (QSettings) or, the first time, the bundled
sample images.

torch is imported only where it must come before PySide6 (Windows: recent
torch fails to load its DLLs once Qt's are loaded). Elsewhere it loads lazily,
the first time a model is used, which keeps the window's start ~2.5 s faster.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="segstudio", description="Open SegStudio (optionally on FOLDER).")
    parser.add_argument("folder", nargs="?", help="a folder of images")
    parser.add_argument("--labelset", help="a JSON label set (default: CamVid)")
    parser.add_argument("--self-test", action="store_true", help="run the offscreen self-test and exit")
    return parser.parse_args(argv)


def sample_folder() -> Path | None:
    """The bundled sample images (``resources/samples``), or None."""
    from segstudio.core.resources import sample_folder as resources_samples

    return resources_samples()


def working_samples(data_dir: Path | None = None) -> Path | None:
    """The user's copy of the samples (``core.resources.user_sample_copy``)."""
    from segstudio.core.resources import user_sample_copy

    return user_sample_copy(data_dir)


def default_folder(settings, data_dir: Path | None = None) -> str | None:
    last = settings.last_folder
    if last and Path(last).is_dir():
        return last
    samples = working_samples(data_dir)
    return str(samples) if samples is not None else None


def _torch_first_if_needed() -> None:
    # Only when torch is installed: without it the window still opens and edits
    # masks (the model features load torch lazily, on first use).
    if sys.platform == "win32" and importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401


def launch_app(argv: list[str]) -> int:
    args = _parse(argv)
    if args.self_test and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before QApplication exists: no display needed
    _torch_first_if_needed()
    from PySide6.QtWidgets import QApplication

    from segstudio.app.about import app_icon
    from segstudio.app.crash import install_excepthook
    from segstudio.system.logsetup import setup_logging
    from segstudio.system.qt_platform import window_problem

    setup_logging(windowed=sys.stdout is None)
    problem = None if QApplication.instance() is not None else window_problem()
    if problem:  # Qt would abort the process (SIGABRT) with a message naming one library
        log.info("no window: %s", problem)  # to the log file; stderr gets it once, below
        print(problem, file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SegStudio")
    app.setApplicationName("SegStudio")
    app.setDesktopFileName("segstudio")  # lets Wayland match the launcher's icon
    app.setWindowIcon(app_icon())
    install_excepthook(app)
    if args.self_test:
        from segstudio.app.selftest import run_self_test

        return run_self_test(app)
    from segstudio.app.main_window import MainWindow
    from segstudio.app.quit_signals import install_quit_signals
    from segstudio.app.retrain import install_model_features
    from segstudio.core.labels import LabelSet, LabelSetError

    labelset = None
    if args.labelset:
        try:
            labelset = LabelSet.load(args.labelset)
        except LabelSetError as exc:
            print(f"segstudio: {exc}", file=sys.stderr)
            return 2
    window = MainWindow(labelset=labelset)
    install_model_features(window)
    install_quit_signals(window)
    window.show()
    folder = args.folder or default_folder(window.settings)
    if folder:
        if not Path(folder).is_dir():
            log.error("%s is not a folder", folder)
            window.statusBar().showMessage(f"{folder} is not a folder", 10000)
        else:
            window.open_folder(folder)
    return app.exec()
