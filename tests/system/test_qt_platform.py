"""The first-run check: Qt's missing system libraries and a missing display said in words, before Qt aborts."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segstudio.system import qt_platform
from segstudio.system.qt_platform import SONAME_PACKAGES, XCB_PACKAGES, missing_sonames, window_problem

ROOT = Path(__file__).resolve().parents[2]

# What ldd printed for libqxcb.so on a fresh Debian 12 with PySide6 6.11 (two libraries missing).
FAKE_LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
\tlibxcb-weird.so.9 => not found
"""
PLUGIN = [Path("/venv/PySide6/Qt/plugins/platforms/libqxcb.so")]
X11 = {"DISPLAY": ":0"}


def test_missing_libraries_become_the_exact_apt_get_line():
    assert missing_sonames(FAKE_LDD) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-weird.so.9"]
    problem = window_problem(env=X11, platform="linux", ldd=lambda p: FAKE_LDD, plugin_files=PLUGIN,
                             display_check=lambda d: True)
    assert problem.startswith("SegStudio cannot open a window")
    assert "sudo apt-get install -y libxcb-icccm4 libxcb-keysyms1 libxcb-weird.so.9\n" in problem
    assert "segstudio --self-test" in problem and "segstudio train" in problem  # the headless way out


def test_no_display_or_a_dead_one_is_one_sentence_naming_the_headless_commands():
    clean = dict(ldd=lambda p: "", plugin_files=PLUGIN, platform="linux")
    assert "there is no display (DISPLAY is not set)" in window_problem(env={}, **clean)
    dead = window_problem(env={"DISPLAY": ":97"}, display_check=lambda d: False, **clean)
    assert "no X server answers on DISPLAY=:97" in dead and "segstudio --help" in dead
    assert window_problem(env=X11, display_check=lambda d: True, **clean) is None


def test_only_the_xcb_platform_is_checked():
    broken = dict(ldd=lambda p: FAKE_LDD, plugin_files=PLUGIN, display_check=lambda d: False)
    assert window_problem(env={"QT_QPA_PLATFORM": "offscreen"}, platform="linux", **broken) is None
    assert window_problem(env={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux", **broken) is None
    assert window_problem(env={}, platform="win32", **broken) is None
    assert window_problem(env={"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}, platform="linux", **broken)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is a Linux matter")
def test_a_display_nobody_serves_does_not_open():
    assert not qt_platform.display_opens(":987")


def test_ci_installs_every_package_the_check_can_ask_for():
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(f" {package}" in ci for package in XCB_PACKAGES), [p for p in XCB_PACKAGES if f" {p}" not in ci]
    assert " xvfb" in ci and set(XCB_PACKAGES) == set(SONAME_PACKAGES.values())


def _env_without_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return {**env, "SEGSTUDIO_LOG_DIR": str(tmp_path / "logs"), "HOME": str(tmp_path)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is a Linux matter")
def test_the_app_says_why_instead_of_qt_aborting(tmp_path):
    result = subprocess.run([sys.executable, "-m", "segstudio", str(tmp_path)], capture_output=True, text=True,
                            env=_env_without_display(tmp_path), timeout=120, cwd=ROOT)
    assert result.returncode == 2, result.stderr  # not -6 (SIGABRT)
    assert "SegStudio cannot open a window" in result.stderr and "segstudio --self-test" in result.stderr
    assert "cannot open a window" in (tmp_path / "logs" / "segstudio.log").read_text()


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (.ci/run installs it)")
def test_the_real_xcb_platform_starts_under_xvfb(tmp_path):
    display = f":{90 + os.getpid() % 500}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not qt_platform.display_opens(display):
            assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.1)
        env = {**_env_without_display(tmp_path), "DISPLAY": display}
        check = subprocess.run([sys.executable, "-m", "segstudio.system.qt_platform"], capture_output=True,
                               text=True, env=env, timeout=60, cwd=ROOT)
        assert check.returncode == 0, check.stdout  # names the apt-get line when a library is missing
        code = ("from PySide6.QtWidgets import QApplication, QWidget; app = QApplication([]); w = QWidget(); "
                "w.show(); app.processEvents(); print(app.platformName())")
        qt = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert qt.returncode == 0 and qt.stdout.strip() == "xcb", qt.stderr
    finally:
        server.terminate()
        server.wait(10)
