import errno
import os
import stat

import pytest

from segstudio.core import atomic
from segstudio.core.atomic import SaveError, atomic_write_bytes, atomic_write_text, retry_with_backoff


def _only(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_text(target, "é1")
    atomic_write_bytes(target, b"2")
    assert target.read_bytes() == b"2"
    assert _only(tmp_path) == ["state.json"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_new_files_get_normal_permissions_not_mkstemp_0600(tmp_path):
    target = tmp_path / "m.png"
    atomic_write_bytes(target, b"x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~atomic._current_umask()
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"y")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize(
    "err, words",
    [(errno.ENOSPC, "no space left on device"), (errno.EROFS, "read-only"), (errno.EACCES, "permission denied")],
)
def test_failed_fsync_keeps_old_file_and_names_reason(tmp_path, monkeypatch, err, words):
    target = tmp_path / "mask.png"
    atomic_write_bytes(target, b"old")

    def broken_fsync(fd):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(SaveError) as info:
        atomic_write_bytes(target, b"new")
    assert words in str(info.value) and "mask.png" in str(info.value)
    assert info.value.errno == err
    assert isinstance(info.value, OSError)
    assert target.read_bytes() == b"old"
    assert _only(tmp_path) == ["mask.png"]


def test_non_os_failure_also_removes_temp(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_bytes(tmp_path / "x.bin", "not bytes")  # type: ignore[arg-type]
    assert _only(tmp_path) == []


def test_missing_folder_is_a_save_error(tmp_path):
    with pytest.raises(SaveError, match="nowhere"):
        atomic_write_bytes(tmp_path / "nowhere" / "x.bin", b"x")


def test_retry_with_backoff_retries_transient_errors_only(monkeypatch):
    monkeypatch.setattr(atomic.time, "sleep", lambda s: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise PermissionError(errno.EACCES, "locked by another process")
        return "ok"

    assert retry_with_backoff(flaky) == "ok" and len(calls) == 3

    calls.clear()

    def full():
        calls.append(1)
        raise SaveError(errno.ENOSPC, "cannot save x: no space left on device")

    with pytest.raises(SaveError, match="no space"):
        retry_with_backoff(full)
    assert len(calls) == 1

    calls.clear()

    def always_busy():
        calls.append(1)
        raise OSError(errno.EBUSY, "busy")

    with pytest.raises(OSError):
        retry_with_backoff(always_busy, attempts=4)
    assert len(calls) == 4


def test_windows_sharing_violation_counts_as_transient():
    exc = OSError(errno.EINVAL, "sharing violation")
    exc.winerror = 32
    assert atomic.is_transient(exc)
    assert not atomic.is_transient(OSError(errno.ENOSPC, "full"))
