"""Who holds a project's session.lock: a crashed session or a live one."""

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from segstudio.core.project import Project
from segstudio.core.session_lock import LockOwner, owner_is_alive, process_is_running, read_lock


@pytest.fixture
def folder(tmp_path):
    Image.new("RGB", (8, 6)).save(tmp_path / "img0.png")
    return tmp_path


def _lock(folder, pid, host=None):
    (folder / ".segstudio").mkdir(exist_ok=True)
    (folder / ".segstudio" / "session.lock").write_text(
        json.dumps({"pid": pid, "host": host or socket.gethostname(), "opened_at": 1.0})
    )


def test_a_folder_open_in_a_live_session_is_reported_and_its_temp_files_are_left_alone(folder):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock(folder, other.pid)
        (folder / ".segstudio" / "masks").mkdir(parents=True)
        in_flight = folder / ".segstudio" / "masks" / ".img0.png.xyz.tmp"
        in_flight.write_bytes(b"the other session is writing this")
        project = Project.open(folder)
        assert project.open_elsewhere_pid == other.pid
        assert not project.recovered_from_crash
        assert any(f"process {other.pid}" in w for w in project.warnings)
        assert in_flight.exists()
        project.save_mask("img0", np.zeros((6, 8), np.uint8))
        project.close()
        assert read_lock(folder / ".segstudio" / "session.lock").pid == other.pid  # still theirs
    finally:
        other.kill()
        other.wait()


def test_a_lock_left_by_a_dead_process_means_a_crash(folder):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _lock(folder, dead.pid)
    project = Project.open(folder)
    assert project.recovered_from_crash and project.open_elsewhere_pid is None
    assert read_lock(folder / ".segstudio" / "session.lock").pid != dead.pid  # now ours
    project.close()
    assert not (folder / ".segstudio" / "session.lock").exists()


@pytest.mark.parametrize("content", ["", "not json", json.dumps({"pid": "x"}), json.dumps([1])])
def test_an_unreadable_lock_means_a_crash(folder, content):
    (folder / ".segstudio").mkdir()
    (folder / ".segstudio" / "session.lock").write_text(content)
    assert Project.open(folder).recovered_from_crash


def test_a_lock_from_another_host_cannot_be_checked_and_counts_as_gone():
    assert not owner_is_alive(LockOwner(pid=1, host="some-other-machine.invalid", opened_at=None))


def test_process_is_running():
    assert process_is_running(__import__("os").getpid())
    assert not process_is_running(0) and not process_is_running(-5)
