"""Logging to a rotating file in the user's log folder; no crash without a console.

In a windowed or frozen app (``pythonw``, the ``segstudio-gui`` script on
Windows, a PyInstaller ``console=False`` bundle) ``sys.stdout`` and
``sys.stderr`` are ``None``: any ``print`` or progress bar would raise
``AttributeError``. ``setup_logging`` points them at ``console.log`` in the
log folder (or at ``os.devnull`` if that cannot be written), so the output of
``--self-test`` and of CLI runs from the bundle is kept, and turns on
``faulthandler`` there so a hard crash in native code leaves a traceback.

The log folder is ``platformdirs.user_log_dir("SegStudio")``
(Linux ``~/.local/state/SegStudio/log``, Windows
``%LOCALAPPDATA%\\SegStudio\\Logs``, macOS ``~/Library/Logs/SegStudio``);
``SEGSTUDIO_LOG_DIR`` overrides it.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_NAME = "segstudio.log"
CONSOLE_NAME = "console.log"
MAX_LOG_BYTES = 2_000_000
MAX_CONSOLE_BYTES = 5_000_000

_configured = False


def log_dir() -> Path:
    """The user's log folder (created)."""
    override = os.environ.get("SEGSTUDIO_LOG_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_log_dir

        path = Path(user_log_dir("SegStudio", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _console_stream():
    """A line-buffered text file for stdout/stderr: console.log, rolled over once it is big."""
    try:
        path = log_dir() / CONSOLE_NAME
        if path.is_file() and path.stat().st_size > MAX_CONSOLE_BYTES:
            os.replace(path, path.with_name(CONSOLE_NAME + ".1"))
        return open(path, "a", encoding="utf-8", errors="backslashreplace", buffering=1)
    except OSError:
        return open(os.devnull, "w", encoding="utf-8")


def redirect_missing_streams() -> Path | None:
    """Give ``sys.stdout``/``sys.stderr`` a file when they are None. Returns the file's path, if any."""
    if sys.stdout is not None and sys.stderr is not None:
        return None
    stream = _console_stream()
    if sys.stdout is None:
        sys.stdout = stream
    if sys.stderr is None:
        sys.stderr = stream
    try:
        faulthandler.enable(file=stream)  # segfaults in Qt/torch code: a traceback in console.log
    except (ValueError, OSError, AttributeError):  # devnull or a stream without a file descriptor
        pass
    name = getattr(stream, "name", None)
    return Path(name) if isinstance(name, str) and name != os.devnull else None


def setup_logging(windowed: bool = False, level: int = logging.INFO) -> Path | None:
    """Root logging to ``segstudio.log`` (rotating); warnings also to stderr unless windowed.

    Missing standard streams are replaced first (see the module doc). Safe to
    call more than once: later calls only fix the streams. Returns the log
    file's path, or None when it could not be opened (logging then goes
    nowhere rather than failing).
    """
    global _configured
    redirect_missing_streams()
    if _configured:
        return log_dir() / LOG_NAME
    _configured = True
    root = logging.getLogger()
    root.setLevel(min(root.getEffectiveLevel(), level))
    path: Path | None = None
    try:
        path = log_dir() / LOG_NAME
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_LOG_BYTES, backupCount=3, encoding="utf-8",
                                                       delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(level)
        root.addHandler(handler)
    except OSError:
        path = None
    if not windowed and sys.stderr is not None and not any(
        type(h) is logging.StreamHandler for h in root.handlers
    ):
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(console)
    logging.captureWarnings(True)
    return path


__all__ = ["log_dir", "redirect_missing_streams", "setup_logging"]
