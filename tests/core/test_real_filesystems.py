"""A really read-only and a really full file system, not a patched ``os`` call.

Permission bits mean nothing to root (how CI runs), so each test mounts a
small tmpfs of its own, as root where mounting is allowed; elsewhere it skips
and says why. The simulated versions (patched ``os.replace``/``os.fsync``)
run everywhere: ``tests/core/test_atomic.py``, ``tests/core/test_io.py``.
"""

import errno
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from segstudio.core.atomic import SaveError
from segstudio.core.project import Project

SHAPE = (40, 56)


def _mount(args):
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


@pytest.fixture
def tmpfs(tmp_path):
    """Mounts a tmpfs at a fresh folder; yields ``(folder, remount)``, unmounts afterwards."""
    if not sys.platform.startswith("linux"):
        pytest.skip("tmpfs mounts are Linux")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the simulated read-only/disk-full tests still run")
    if shutil.which("mount") is None:
        pytest.skip("no mount command on this machine")
    folder = tmp_path / "fs"
    folder.mkdir()
    mounted = []

    def mount(size_kb: int):
        result = _mount(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=755", "tmpfs", str(folder)])
        if result.returncode != 0:
            pytest.skip(f"mount is not allowed here (a container without CAP_SYS_ADMIN?): {result.stderr.strip()}")
        mounted.append(folder)
        return folder

    def remount(options: str):
        result = _mount(["mount", "-o", f"remount,{options}", str(folder)])
        assert result.returncode == 0, result.stderr

    yield mount, remount
    if mounted:
        _mount(["umount", "-l", str(folder)])


def old_mask():
    return np.random.default_rng(0).integers(0, 11, SHAPE).astype(np.uint8)


def make_folder_with_a_mask(folder):
    for i in range(2):
        Image.fromarray(np.full((*SHAPE, 3), 60 * i, np.uint8)).save(folder / f"img{i}.png")
    project = Project.open(folder)
    project.save_mask("img0", old_mask())
    project.save_state()
    project.close()


def test_a_read_only_file_system_opens_for_viewing_and_refuses_saves(tmpfs):
    mount, remount = tmpfs
    folder = mount(1024)
    make_folder_with_a_mask(folder)
    remount("ro")
    project = Project.open(folder)
    assert not project.writable
    assert any("read-only" in w for w in project.warnings)
    assert np.array_equal(project.load_mask("img0"), old_mask())  # the saved work is still there
    with pytest.raises(SaveError, match="read-only"):
        project.save_mask("img0", np.zeros(SHAPE, np.uint8))
    assert np.array_equal(project.load_mask("img0"), old_mask())


def test_a_full_disk_keeps_the_old_mask_says_why_and_saves_once_there_is_room(tmpfs):
    mount, _ = tmpfs
    folder = mount(256)
    make_folder_with_a_mask(folder)
    project = Project.open(folder)
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as handle:  # fill every free byte (unbuffered: no flush at close)
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    noisy = np.random.default_rng(1).integers(0, 11, SHAPE).astype(np.uint8)  # does not compress to nothing
    with pytest.raises(SaveError, match="no space left on device") as info:
        project.save_mask("img0", noisy)
    assert info.value.errno == errno.ENOSPC and "img0" in str(info.value)
    assert np.array_equal(project.load_mask("img0"), old_mask())
    assert not list((folder / ".segstudio").rglob("*.tmp"))  # the half-written temp file is gone
    filler.unlink()
    project.save_mask("img0", noisy)
    assert np.array_equal(Project.open(folder).load_mask("img0"), noisy)
