"""Unhandled exceptions: written to a crash log, shown in a dialog, the app kept alive.

PySide6 hands an exception raised in a slot or an event handler to
``sys.excepthook`` and then goes on with the event loop. The default hook only
prints (to nowhere, in a windowed app). Ours:

1. writes the traceback, the versions (``system.version.version_text``) and the
   thread to ``crash-<time>-<pid>.log`` in the user's log folder
   (``segstudio.system.logsetup.log_dir()``) and to the main log;
2. shows one dialog with the details and a "Copy details" button, on the GUI
   thread (exceptions from other threads are relayed there by a queued signal);
3. returns, so the event loop keeps running.

Re-entrancy: while a dialog is open, or while the hook itself runs, a further
exception is only logged (no dialog storm, no loop if the dialog code itself
fails). Tests and headless runs suppress the dialog with
``SEGSTUDIO_NO_CRASH_DIALOG=1`` or ``install_excepthook(app, show_dialog=False)``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("segstudio.crash")

KEEP_CRASH_LOGS = 20

_lock = threading.RLock()
_state = {"installed": False, "show_dialog": True, "in_hook": False, "dialog_open": False,
          "previous": None, "previous_thread": None, "relay": None, "versions": None}


@dataclass
class CrashReport:
    details: str
    path: Path | None


def _versions() -> str:
    if _state["versions"] is None:
        try:
            from segstudio.system.version import version_text

            _state["versions"] = version_text()
        except Exception as exc:  # the report must not fail on a broken torch
            _state["versions"] = f"(versions unavailable: {exc})"
    return _state["versions"]


def report_exception(exc_type, exc, tb, thread_name: str | None = None) -> CrashReport:
    """Write a crash log; returns the text and where it went (None if it could not be written)."""
    trace = "".join(traceback.format_exception(exc_type, exc, tb))
    thread_name = thread_name or threading.current_thread().name
    details = (f"{time.strftime('%Y-%m-%d %H:%M:%S')}  thread {thread_name}  argv {sys.argv!r}\n"
               f"{_versions()}\n\n{trace}")
    path = None
    try:
        from segstudio.system.logsetup import log_dir

        folder = log_dir()
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}.log"
        path.write_text(details, encoding="utf-8", errors="backslashreplace")
        for old in sorted(folder.glob("crash-*.log"))[:-KEEP_CRASH_LOGS]:
            old.unlink(missing_ok=True)
    except OSError:
        path = None
    log.error("unhandled exception%s:\n%s", f" (crash log {path})" if path else "", trace)
    return CrashReport(details, path)


# --- the dialog -------------------------------------------------------------------------
def crash_dialog(details: str, path: Path | None = None, parent=None):
    """The error box: short text, the details, "Copy details" (puts them on the clipboard) and OK."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    where = f"The details were written to\n{path}" if path else "The details could not be written to a file."
    box = QMessageBox(QMessageBox.Icon.Critical, "SegStudio: unexpected error",
                      "SegStudio hit an unexpected error and carries on; what was saved is safe.\n"
                      f"{where}\nIf you report it, please include the details.", parent=parent)
    box.setDetailedText(details)
    copy = box.addButton("Copy details", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QApplication.clipboard().setText(details))
    box.addButton(QMessageBox.StandardButton.Ok)
    box.setDefaultButton(QMessageBox.StandardButton.Ok)
    box.copy_button = copy  # for tests
    return box


def _exec_dialog(box) -> None:  # patched in tests
    box.exec()


def _show_dialog(report: CrashReport) -> None:
    """On the GUI thread: one dialog at a time; later ones only go to the log."""
    from PySide6.QtWidgets import QApplication

    if not _state["show_dialog"] or os.environ.get("SEGSTUDIO_NO_CRASH_DIALOG"):
        return
    app = QApplication.instance()
    if app is None or _state["dialog_open"]:
        return
    _state["dialog_open"] = True
    try:
        parent = app.activeWindow()
        _exec_dialog(crash_dialog(report.details, report.path, parent))
    except Exception:  # the dialog itself failed: log it, never recurse
        log.exception("could not show the crash dialog")
    finally:
        _state["dialog_open"] = False


def _on_gui_thread() -> bool:
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    return app is not None and QThread.currentThread() is app.thread()


def _make_relay():
    """A QObject living on the GUI thread; its signal, emitted anywhere, shows the dialog there."""
    from PySide6.QtCore import QObject, Signal

    class CrashRelay(QObject):
        crashed = Signal(object)

    relay = CrashRelay()
    relay.crashed.connect(_show_dialog)
    return relay


# --- the hooks --------------------------------------------------------------------------
def excepthook(exc_type, exc, tb) -> None:
    """``sys.excepthook``: log, show (GUI thread) or relay (other threads), return."""
    if issubclass(exc_type, KeyboardInterrupt):
        previous = _state["previous"] or sys.__excepthook__
        previous(exc_type, exc, tb)
        return
    with _lock:
        if _state["in_hook"]:  # an exception while handling one: log only
            reentrant = True
        else:
            reentrant = False
            _state["in_hook"] = True
    if reentrant:
        try:
            report_exception(exc_type, exc, tb)
        except Exception:
            sys.__excepthook__(exc_type, exc, tb)
        return
    try:
        report = report_exception(exc_type, exc, tb)
        # Free the flag before the dialog: its nested event loop may run slots that
        # fail too; those are logged (dialog_open stops a second dialog).
        _state["in_hook"] = False
        if _on_gui_thread():
            _show_dialog(report)
        elif _state["relay"] is not None:
            _state["relay"].crashed.emit(report)
    except Exception:
        sys.__excepthook__(exc_type, exc, tb)
    finally:
        _state["in_hook"] = False


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    try:
        report = report_exception(args.exc_type, args.exc_value, args.exc_traceback,
                                  args.thread.name if args.thread else None)
        if _state["relay"] is not None:
            _state["relay"].crashed.emit(report)
    except Exception:
        sys.__excepthook__(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthook(app=None, show_dialog: bool | None = None) -> None:
    """Install the hooks (``sys`` and ``threading``). Call on the GUI thread, after the QApplication.

    ``show_dialog=False`` (or ``SEGSTUDIO_NO_CRASH_DIALOG=1``) logs only.
    Calling it again only updates ``show_dialog``.
    """
    if show_dialog is not None:
        _state["show_dialog"] = show_dialog
    elif os.environ.get("SEGSTUDIO_NO_CRASH_DIALOG"):
        _state["show_dialog"] = False
    if _state["relay"] is None:
        try:
            from PySide6.QtWidgets import QApplication

            if (app or QApplication.instance()) is not None and _on_gui_thread():
                _state["relay"] = _make_relay()
        except ImportError:
            pass
    if _state["installed"]:
        return
    _state["previous"], _state["previous_thread"] = sys.excepthook, threading.excepthook
    sys.excepthook = excepthook
    threading.excepthook = _thread_excepthook
    _state["installed"] = True


def uninstall_excepthook() -> None:
    """Put the previous hooks back (tests)."""
    if not _state["installed"]:
        return
    sys.excepthook = _state["previous"] or sys.__excepthook__
    threading.excepthook = _state["previous_thread"] or threading.__excepthook__
    relay = _state["relay"]
    _state.update(installed=False, previous=None, previous_thread=None, relay=None, show_dialog=True)
    if relay is not None:
        relay.deleteLater()


__all__ = ["CrashReport", "crash_dialog", "excepthook", "install_excepthook", "report_exception",
           "uninstall_excepthook"]
