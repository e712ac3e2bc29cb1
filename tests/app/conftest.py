import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings

from segstudio.app.main_window import MainWindow
from segstudio.app.settings import Settings


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def window(qtbot, tmp_path):
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.workers.stop_all()
    win.close()


def view_point(window, y, x) -> QPoint:
    """The viewport position of image pixel (y, x)."""
    return window.canvas.mapFromScene(QPointF(x + 0.5, y + 0.5))
