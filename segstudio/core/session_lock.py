"""The ``session.lock`` marker of a project: who has the folder open.

Written on open and removed on a clean close. Finding one on open means
either that the last session crashed (its process is gone) or that another
SegStudio still has the folder open (its process runs on this machine): the
two need different words to the user, and in the second case the other
session's half-written temp files must not be cleaned up under it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from segstudio.core.atomic import atomic_write_text


@dataclass(frozen=True)
class LockOwner:
    pid: int | None
    host: str | None
    opened_at: float | None


def read_lock(path: Path) -> LockOwner | None:
    """The owner written in the marker; ``None`` when there is no marker."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return LockOwner(None, None, None)
    try:
        data = json.loads(text)
        pid = int(data["pid"])
        host = data.get("host")
        opened = data.get("opened_at")
        return LockOwner(pid, str(host) if host else None, float(opened) if opened else None)
    except (ValueError, KeyError, TypeError):
        return LockOwner(None, None, None)


def write_lock(path: Path) -> None:
    atomic_write_text(
        path, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "opened_at": time.time()})
    )


def owner_is_alive(owner: LockOwner) -> bool:
    """True when the marker's process runs on this machine and is not us.

    A process on another host (a shared network folder) cannot be checked:
    it counts as gone, which at worst shows a recovery message.
    """
    if owner.pid is None or owner.pid == os.getpid():
        return False
    if owner.host is not None and owner.host != socket.gethostname():
        return False
    return process_is_running(owner.pid)


def process_is_running(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_process_is_running(pid)
    try:
        os.kill(pid, 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return _not_a_zombie(pid)


def _not_a_zombie(pid: int) -> bool:
    """A killed child that nobody reaped yet still answers signal 0 (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _windows_process_is_running(pid: int) -> bool:
    # os.kill on Windows terminates the process, so ask the kernel instead.
    import ctypes

    PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
    STILL_ACTIVE = 259
    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
