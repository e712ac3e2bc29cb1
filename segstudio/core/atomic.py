"""Atomic file writes: a file is either its old content or its new content, never half.

Write to a temporary file in the same folder (same file system, so the rename
is atomic), flush and fsync it, ``os.replace`` it over the target, then fsync
the folder so the rename itself survives a power cut. On any failure the
temporary file is removed and the old file is untouched.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# Errors worth retrying: a file held open for a moment by another program
# (Windows sharing violations surface as PermissionError), or a busy device.
_TRANSIENT_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.EACCES, errno.EINTR}


class SaveError(OSError):
    """A write that failed; the message names the file and the reason."""


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "the folder is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` atomically; raises SaveError on failure."""
    path = Path(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise SaveError(exc.errno, f"cannot save {path}: {_describe(exc)}") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def retry_with_backoff(fn: Callable[[], T], attempts: int = 4, first_delay: float = 0.05) -> T:
    """Calls ``fn``, retrying transient OS errors with doubling delays."""
    delay = first_delay
    for attempt in range(attempts):
        try:
            return fn()
        except OSError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            if attempt == attempts - 1 or cause.errno not in _TRANSIENT_ERRNOS:
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
