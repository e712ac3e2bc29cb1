"""Atomic file writes: a file is either its old content or its new content, never half.

Write to a temporary file in the same folder (``.<name>.<random>.tmp``: same
file system, so the rename is atomic; hidden, so no image list shows it),
flush and fsync it, ``os.replace`` it over the target, then fsync the folder
so the rename itself survives a power cut (skipped where folders cannot be
opened, e.g. Windows). On any failure the temporary file is removed and the
old file is untouched; the error is a ``SaveError`` (an ``OSError``) whose
message names the file and the reason ("no space left on device",
"read-only", "permission denied").

A process killed mid-save can leave a ``.*.tmp`` file behind but never a
half-written target; ``core.project`` deletes such leftovers on open.
``retry_with_backoff`` retries the transient failures (a file held open for a
moment by a virus scanner or indexer on Windows, EBUSY) with doubling delays.
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
_TRANSIENT_ERRNOS = {errno.EBUSY, errno.EAGAIN, errno.EACCES, errno.EINTR, getattr(errno, "ETXTBSY", errno.EBUSY)}
_TRANSIENT_WINERRORS = {32, 33}  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION


def _current_umask() -> int:
    if os.name == "nt":
        return 0
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; new files get the usual 0666 & ~umask instead.
_NEW_FILE_MODE = 0o666 & ~_current_umask()


class SaveError(OSError):
    """A write that failed; the message names the file and the reason."""


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "the folder is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (a read-only folder or file, or a file locked by another program)"
    if exc.errno == getattr(errno, "EDQUOT", None):
        return "disk quota exceeded"
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
        if os.name != "nt":
            try:
                mode = os.stat(path).st_mode & 0o777
            except OSError:
                mode = _NEW_FILE_MODE
            try:
                os.fchmod(fd, mode)
            except OSError:
                pass
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


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """``atomic_write_bytes`` of ``text`` encoded (UTF-8 by default)."""
    atomic_write_bytes(path, text.encode(encoding))


def is_transient(exc: OSError) -> bool:
    """Whether a failed write is worth retrying in a moment."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    return cause.errno in _TRANSIENT_ERRNOS or getattr(cause, "winerror", None) in _TRANSIENT_WINERRORS


def retry_with_backoff(fn: Callable[[], T], attempts: int = 4, first_delay: float = 0.05) -> T:
    """Calls ``fn``, retrying transient OS errors with doubling delays.

    Transient: EBUSY, EAGAIN, EINTR, ETXTBSY, EACCES/PermissionError (how
    Windows reports a file another program holds open for a moment) and the
    Windows sharing/lock violations. Disk full, read-only file systems and
    other errors are raised at once; the last failure is raised as it is.
    """
    delay = first_delay
    for attempt in range(attempts):
        try:
            return fn()
        except OSError as exc:
            if attempt == attempts - 1 or not is_transient(exc):
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


__all__ = ["SaveError", "atomic_write_bytes", "atomic_write_text", "is_transient", "retry_with_backoff"]
