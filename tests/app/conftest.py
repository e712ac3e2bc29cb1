import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from segstudio.app.main_window import MainWindow
from segstudio.app.settings import Settings

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture(autouse=True)
def no_modal_message_boxes(monkeypatch):
    """A real QMessageBox would block an offscreen test forever: answer "No" / "Ok".

    pytest-qt closes the windows before fixtures are torn down, so this also
    covers a close at teardown. Tests that need another answer patch again.
    """
    seen = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: seen.append(a[2:3]) or QMessageBox.StandardButton.No)
    for name in ("warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, **k: seen.append(a[2:3]) or QMessageBox.StandardButton.Ok)
    return seen


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def settings(tmp_path):
    """Settings in a temp INI file: tests never touch the user's QSettings."""
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, tmp_path):
    # Self-contained (no other fixture of this file): tests/robustness imports it.
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.workers.stop_all()
    win.close()


@pytest.fixture
def opened(window, image_folder):
    """The window on image_folder at 2x zoom, centred on the 160x120 image."""
    assert window.open_folder(image_folder)
    window.canvas.set_zoom(2.0)
    window.canvas.centerOn(QPointF(80, 60))
    return window


def view_point(window, y, x) -> QPoint:
    """The viewport position of image pixel (y, x)."""
    return window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))


def drag(qtbot, window, points, button=LEFT):
    """Press at the first (y, x), move through the rest, release at the last."""
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, button, pos=view_point(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(viewport, pos=view_point(window, *p))
    qtbot.mouseRelease(viewport, button, pos=view_point(window, *points[-1]))


def click(qtbot, window, y, x):
    qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=view_point(window, y, x))
