"""Smart tools on an 8000x6000 image: GUI-thread cost per mouse move, and the background work.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_smart_tools

In a real (offscreen) window at 1:1 zoom, like ``bench_brush``: each mouse
move is sent to the viewport and the dirty region repainted synchronously;
the worker jobs (edge map, superpixel tiles, GrabCut) are waited for before
the moves are timed and reported on their own. The budget per move is 16 ms.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

H, W = 6000, 8000


def mouse(kind, pos, pressed=True):
    buttons = Qt.MouseButton.LeftButton if pressed and kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QMouseEvent(kind, pos, pos, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)


def scene() -> np.ndarray:
    """Blocks of colour with soft edges and noise: edges to follow, regions to find."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    image = cv2.resize(small, (W, H), interpolation=cv2.INTER_NEAREST)
    image = cv2.GaussianBlur(image, (9, 9), 3)
    return cv2.add(image, rng.integers(0, 20, (H, W, 3), dtype=np.uint8))


def wait_workers(app, window) -> float:
    start = time.perf_counter()
    while [w for w in window.workers.running() if w.name == "smart tool"]:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()
    return time.perf_counter() - start


def timed_moves(app, viewport, center, pressed, moves=100):
    times = []
    for i in range(moves):
        pos = QPointF(center.x() - 150 + (i * 3) % 300, center.y() - 60 + (i * 7) % 120)
        start = time.perf_counter()
        app.sendEvent(viewport, mouse(QEvent.Type.MouseMove, pos, pressed))
        viewport.repaint()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)


def main() -> None:
    from segstudio.app.main_window import MainWindow
    from segstudio.app.settings import Settings

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp()
    folder = os.path.join(tmp, "imgs")
    os.mkdir(folder)
    Image.fromarray(scene()).save(os.path.join(folder, "big.png"), compress_level=1)
    window = MainWindow(settings=Settings(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)))
    window.resize(1400, 900)
    window.show()
    window.open_folder(folder)
    prediction = np.zeros((H, W), np.uint8)
    prediction[:, W // 2:] = 1
    window.session.apply_prediction("big", prediction)
    window.canvas.set_zoom(1.0)
    window.canvas.centerOn(QPointF(W / 2, H / 2))
    window.size_spin.setValue(24)
    window.pick_class(3)
    app.processEvents()
    viewport = window.canvas.viewport()
    c = QPointF(viewport.rect().center())
    rows = []

    def report(name, times, background_s=None):
        bg = f"{background_s:.2f}" if background_s is not None else "-"
        rows.append(f"| {name} | {len(times)} | {statistics.median(times):.2f} | {times[int(len(times) * 0.95)]:.2f} | "
                    f"{times[-1]:.2f} | {bg} |")

    window.set_tool("superpixel")
    app.sendEvent(viewport, mouse(QEvent.Type.MouseMove, c, pressed=False))  # hover: the tile under the cursor
    for dx in (-150, 150):  # and its neighbours the stroke will cross
        app.sendEvent(viewport, mouse(QEvent.Type.MouseMove, QPointF(c.x() + dx, c.y()), pressed=False))
    background = wait_workers(app, window)
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, c))
    times = timed_moves(app, viewport, c, True)
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, c))
    background += wait_workers(app, window)  # tiles first reached during the stroke
    report("superpixel brush (stroke)", times, background)

    window.set_tool("edge_polygon")
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, QPointF(c.x() - 200, c.y() - 100)))
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, QPointF(c.x() - 200, c.y() - 100)))
    background = wait_workers(app, window)
    report("edge polygon (hover, live path)", timed_moves(app, viewport, c, False), background)
    window.tools["edge_polygon"].cancel()

    window.set_tool("accept_model")
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, c))
    times = timed_moves(app, viewport, c, True)
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, c))
    report("accept model (stroke)", times)

    window.set_tool("region")
    clicks = []
    for dx in (-300, 300):  # the prediction's halves: 24 MP regions
        window.session.set_pixels((0, 0, H, W), prediction)
        start = time.perf_counter()
        app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, QPointF(c.x() + dx, c.y())))
        app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, QPointF(c.x() + dx, c.y())))
        viewport.repaint()
        clicks.append((time.perf_counter() - start) * 1000)
    report("region pick (one click on a 24 MP region)", sorted(clicks))

    window.set_tool("refine_box")
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, QPointF(c.x() - 300, c.y() - 200)))
    times = timed_moves(app, viewport, c, True, moves=50)
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, QPointF(c.x() + 300, c.y() + 200)))
    report("refine in box (drag; GrabCut of a 600x400 box)", times, wait_workers(app, window))

    print(f"{W}x{H} image, 1:1 zoom, brush/superpixel size 24")
    print("| tool | events | median ms | p95 ms | max ms | background s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    window.autosaver.save_now()
    window.close()


if __name__ == "__main__":
    main()
