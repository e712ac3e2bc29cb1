"""Unhandled exceptions: written to a crash log, shown in a dialog, app kept alive.

PySide6 routes exceptions raised in slots to ``sys.excepthook``; the default
hook prints and (in some set-ups) aborts. Ours logs the traceback with the
versions, shows it once (no dialog storms: one at a time), and returns, so
the event loop goes on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback

log = logging.getLogger("segstudio.crash")
_showing = threading.Lock()


def crash_log_path():
    from segstudio.logsetup import log_dir

    return log_dir() / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.log"


def report_exception(exc_type, exc, tb) -> str:
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    try:
        from segstudio.cli.version import version_text

        details = f"{version_text()}\n\n{details}"
    except Exception:
        pass
    try:
        path = crash_log_path()
        path.write_text(details, encoding="utf-8")
        log.error("unhandled exception, written to %s:\n%s", path, details)
    except OSError:
        log.error("unhandled exception:\n%s", details)
    return details


def _show_dialog(details: str) -> None:
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread() or os.environ.get("SEGSTUDIO_NO_CRASH_DIALOG"):
        return
    if not _showing.acquire(blocking=False):
        return  # a dialog is open already; the log has this one
    try:
        box = QMessageBox(QMessageBox.Icon.Critical, "SegStudio: unexpected error",
                          "Something went wrong. Your saved work is safe; the details are in the log.")
        box.setDetailedText(details)
        copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Ok)
        box.exec()
        if box.clickedButton() is copy:
            QApplication.clipboard().setText(details)
    finally:
        _showing.release()


def excepthook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        return
    _show_dialog(report_exception(exc_type, exc, tb))


def install_excepthook() -> None:
    import sys

    sys.excepthook = excepthook
    threading.excepthook = lambda args: report_exception(args.exc_type, args.exc_value, args.exc_traceback)
