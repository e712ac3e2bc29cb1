"""SIGTERM / SIGINT (logout, shutdown, Ctrl+C) close the window the normal way: saved, lock released."""

import os
import signal

import pytest

from segstudio.app.quit_signals import install_quit_signals
from segstudio.core.project import ImageStatus, Project

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_quit_signal_saves_and_releases_the_lock(qtbot, opened, image_folder, signum, monkeypatch):
    quits = []
    monkeypatch.setattr("segstudio.app.quit_signals.QCoreApplication.quit", lambda: quits.append(1))
    uninstall = install_quit_signals(opened)
    try:
        opened.session.set_pixels((0, 0, 10, 10), 3)  # an edit not yet autosaved
        lock = image_folder / ".segstudio" / "session.lock"
        assert lock.exists()
        os.kill(os.getpid(), signum)
        qtbot.waitUntil(lambda: not opened.isVisible(), timeout=5000)
        assert not lock.exists() and quits == [1]
    finally:
        uninstall()
    again = Project.open(image_folder)
    assert not again.recovered_from_crash and again.status("img0") == ImageStatus.EDITED
    assert (again.load_mask("img0")[:10, :10] == 3).all()
    again.close()
