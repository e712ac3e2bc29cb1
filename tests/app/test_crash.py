"""Crash handling: an exception in a slot is logged, shown once, and the app goes on; Help > About."""

import sys
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from segstudio.app import crash

# pytest-qt turns exceptions in slots into test failures by replacing sys.excepthook;
# these tests need the app's own hook in charge.
pytestmark = pytest.mark.qt_no_exception_capture


@pytest.fixture
def hook(qapp, tmp_path, monkeypatch):
    """Our hook installed, crash logs in tmp_path/logs, dialogs recorded instead of shown."""
    monkeypatch.setenv("SEGSTUDIO_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("SEGSTUDIO_NO_CRASH_DIALOG", raising=False)
    shown = []
    monkeypatch.setattr(crash, "_exec_dialog", lambda box: shown.append(box.detailedText()))
    previous = sys.excepthook
    crash.install_excepthook(qapp, show_dialog=True)
    yield shown
    crash.uninstall_excepthook()
    assert sys.excepthook is previous


def _crash_logs(tmp_path):
    return sorted((tmp_path / "logs").glob("crash-*.log"))


def _boom():
    raise ValueError("boom in a slot")


def test_exception_in_a_slot_is_logged_shown_and_the_app_keeps_running(qtbot, hook, tmp_path):
    after = []
    QTimer.singleShot(0, _boom)
    QTimer.singleShot(20, lambda: after.append("still running"))
    qtbot.waitUntil(lambda: bool(after), timeout=5000)
    logs = _crash_logs(tmp_path)
    assert len(logs) == 1
    text = logs[0].read_text(encoding="utf-8")
    assert "ValueError: boom in a slot" in text and "_boom" in text  # the traceback
    assert "SegStudio" in text and "torch" in text and "PySide6" in text  # the versions
    assert len(hook) == 1 and "boom in a slot" in hook[0]


def test_an_exception_while_the_dialog_is_open_does_not_loop(qtbot, hook, tmp_path, monkeypatch):
    calls = []

    def dialog_that_fails(box):
        calls.append(box)
        # A slot fails while the dialog's own event loop runs, then the dialog code fails.
        try:
            raise KeyError("second error inside the dialog")
        except KeyError:
            sys.excepthook(*sys.exc_info())
        raise RuntimeError("the dialog itself broke")

    monkeypatch.setattr(crash, "_exec_dialog", dialog_that_fails)
    try:
        raise ValueError("first")
    except ValueError:
        sys.excepthook(*sys.exc_info())  # must return, not raise or recurse
    assert len(calls) == 1  # one dialog, not one per error
    texts = [p.read_text(encoding="utf-8") for p in _crash_logs(tmp_path)]
    assert any("ValueError: first" in t for t in texts)
    assert any("KeyError" in t for t in texts)
    # The hook is usable again afterwards.
    QTimer.singleShot(0, _boom)
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=5000)


def test_exception_in_a_thread_is_logged_and_shown_on_the_gui_thread(qtbot, hook, tmp_path):
    def work():
        raise OSError("disk gone in a worker thread")

    thread = threading.Thread(target=work, name="worker-x")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(hook), timeout=5000)
    assert "disk gone" in hook[0] and "worker-x" in hook[0]
    assert any("disk gone" in p.read_text(encoding="utf-8") for p in _crash_logs(tmp_path))


def test_dialog_suppressed_by_environment(qtbot, qapp, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("SEGSTUDIO_NO_CRASH_DIALOG", "1")
    shown = []
    monkeypatch.setattr(crash, "_exec_dialog", lambda box: shown.append(box))
    crash.install_excepthook(qapp)
    try:
        after = []
        QTimer.singleShot(0, _boom)
        QTimer.singleShot(20, lambda: after.append(1))
        qtbot.waitUntil(lambda: bool(after), timeout=5000)
    finally:
        crash.uninstall_excepthook()
    assert not shown and len(_crash_logs(tmp_path)) == 1


def test_copy_details_puts_the_report_on_the_clipboard(qtbot, tmp_path):
    box = crash.crash_dialog("Traceback: details here", tmp_path / "crash.log")
    qtbot.addWidget(box)
    assert box.detailedText() == "Traceback: details here"
    assert str(tmp_path / "crash.log") in box.text()
    QApplication.clipboard().clear()
    box.copy_button.click()
    assert QApplication.clipboard().text() == "Traceback: details here"


def test_about_box_shows_versions_and_icon(qtbot):
    from segstudio.app.about import about_box, app_icon

    box = about_box()
    qtbot.addWidget(box)
    assert "SegStudio" in box.text() and "torch" in box.text() and "device" in box.text()
    assert not box.iconPixmap().isNull()
    assert not app_icon().isNull()


def test_about_box_names_the_model_and_device_in_use(qtbot):
    from types import SimpleNamespace

    from segstudio.app.about import about_box

    loaded = SimpleNamespace(choice="model-20261125.safetensors", device_text="cpu — CUDA not available; using CPU")
    window = SimpleNamespace(model_features=SimpleNamespace(autoseg=SimpleNamespace(loaded=loaded)))
    box = about_box(None)
    qtbot.addWidget(box)
    assert "in use:" not in box.text()
    from segstudio.app import about

    text = about.version_text(about.in_use_text(window))
    assert text.splitlines()[-1] == "in use: model-20261125.safetensors on cpu — CUDA not available; using CPU"
