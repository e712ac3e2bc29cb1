"""Logging to a rotating file in the user's log folder, and no crash without a console.

In a windowed or frozen app ``sys.stdout``/``sys.stderr`` can be None; any
print or progress bar would then raise. They are pointed at the log file.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from platformdirs import user_log_dir


def log_dir() -> Path:
    path = Path(user_log_dir("SegStudio", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_logging(windowed: bool = False, level: int = logging.INFO) -> Path | None:
    root = logging.getLogger()
    if getattr(root, "_segstudio_configured", False):
        return None
    root.setLevel(level)
    path = None
    try:
        path = log_dir() / "segstudio.log"
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    except OSError:
        path = None
    if sys.stderr is not None and not windowed:
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        root.addHandler(console)
    if windowed or sys.stdout is None or sys.stderr is None:
        stream = open(path, "a", encoding="utf-8", buffering=1) if path else open(__import__("os").devnull, "w")
        if sys.stdout is None:
            sys.stdout = stream
        if sys.stderr is None:
            sys.stderr = stream
    root._segstudio_configured = True
    return path
