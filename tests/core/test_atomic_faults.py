"""The atomic writer under faults injected at every step, not a kill timed by luck.

A child process opens a project and saves a mask over an older one; the
fault is put exactly where the test wants it:

- mid-write: ``RLIMIT_FSIZE`` stops the process (SIGXFSZ) when a write
  crosses byte ``n`` of any file, for ``n`` from 0 to the file's size: a
  writer that writes the target in place leaves it cut at ``n``;
- at each step: every file-system call the writer makes (``mkstemp``,
  ``fchmod``, ``fsync``, ``replace``, the folder's ``open``/``fsync``...) is
  wrapped, and the child SIGKILLs itself just before or just after call k,
  for every k.

After each death the mask on disk must decode to the old or the new mask,
never anything else, and reopening the folder leaves no temp file.
Separately, the folder's fsync after the rename (what makes the rename itself
survive a power cut) is observed directly.
"""

import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from segstudio.core import atomic
from segstudio.core.project import Project

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and resource limits")

SHAPE = (48, 64)

CHILD = r"""
import os, resource, signal, sys, tempfile
import numpy as np
from segstudio.core.project import Project

folder, mode, arg = sys.argv[1], sys.argv[2], sys.argv[3]
project = Project.open(folder)  # its own writes (state, lock) happen before any fault
new = np.random.default_rng(1).integers(0, 11, (48, 64)).astype(np.uint8)
if mode == "fsize":
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it; the default kills, as a crash would
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(arg), resource.RLIM_INFINITY))
else:
    phase, target = mode, int(arg)
    calls = [0]

    def wrap(module, name):
        real = getattr(module, name)

        def faulty(*args, **kwargs):
            calls[0] += 1
            this = calls[0]  # calls nest (mkstemp calls os.open)
            if this == target and phase == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(*args, **kwargs)
            if this == target and phase == "after":
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(module, name, faulty)

    for name in ("open", "close", "fsync", "fchmod", "replace", "rename", "unlink", "write", "ftruncate"):
        wrap(os, name)
    wrap(tempfile, "mkstemp")
project.save_mask("img0", new)
print("saved", flush=True)
"""


def old_mask():
    return np.random.default_rng(0).integers(0, 11, SHAPE).astype(np.uint8)


def new_mask():
    return np.random.default_rng(1).integers(0, 11, SHAPE).astype(np.uint8)


@pytest.fixture
def saved_folder(tmp_path):
    Image.fromarray(np.zeros((*SHAPE, 3), np.uint8)).save(tmp_path / "img0.png")
    Project.open(tmp_path).save_mask("img0", old_mask())
    return tmp_path


def run_child(folder, mode, arg):
    result = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode, str(arg)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 or result.returncode < 0, result.stderr[-2000:]  # saved, or killed by a signal
    return result.returncode, "saved" in result.stdout


def assert_old_or_new(folder, context):
    project = Project.open(folder)  # also removes the temp file a killed save leaves
    mask = project.load_mask("img0")
    assert mask is not None, context
    assert np.array_equal(mask, old_mask()) or np.array_equal(mask, new_mask()), context
    leftovers = [p.name for p in (folder / ".segstudio").rglob("*.tmp")]
    assert not leftovers, (context, leftovers)
    return "new" if np.array_equal(mask, new_mask()) else "old"


def test_a_save_stopped_at_any_byte_of_the_write_leaves_the_old_or_the_new_mask(saved_folder):
    size = (saved_folder / ".segstudio" / "masks" / "img0.png").stat().st_size
    outcomes = set()
    for limit in sorted({0, 1, 33, size // 2, size - 1}):
        code, saved = run_child(saved_folder, "fsize", limit)
        assert code == -signal.SIGXFSZ and not saved, (limit, code)  # the fault really hit the write
        outcomes.add(assert_old_or_new(saved_folder, f"killed at byte {limit} of {size}"))
    assert outcomes == {"old"}  # the target was never touched before the new content was whole


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_save_killed_at_each_file_system_call_leaves_the_old_or_the_new_mask(saved_folder, phase):
    outcomes = []
    for k in range(1, 40):
        code, saved = run_child(saved_folder, phase, k)
        if saved:  # k is past the writer's last call: every step has been tried
            assert k > 3, "the writer made almost no file-system calls: it cannot be atomic"
            break
        assert code == -signal.SIGKILL
        outcomes.append(assert_old_or_new(saved_folder, f"killed {phase} call {k}"))
        # back to the old mask for the next k
        Project.open(saved_folder).save_mask("img0", old_mask())
    else:
        pytest.fail("the save never completed")
    # The writer switches from old to new exactly once (at the rename) and never back.
    assert outcomes == sorted(outcomes, key=lambda o: o == "new"), outcomes
    assert "old" in outcomes


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    """Without the folder's fsync the rename can be lost in a power cut: the old file comes back."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        info = os.fstat(fd)
        events.append(("fsync", "dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        return real_fsync(fd)

    def spy_replace(src, dst, *args, **kwargs):
        events.append(("replace", None, None))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    atomic.atomic_write_bytes(tmp_path / "state.json", b"{}")
    folder_inode = tmp_path.stat().st_ino
    replaced = events.index(("replace", None, None))
    assert ("fsync", "file", (tmp_path / "state.json").stat().st_ino) in events[:replaced]  # data first
    assert ("fsync", "dir", folder_inode) in events[replaced + 1 :], events  # then the rename itself
