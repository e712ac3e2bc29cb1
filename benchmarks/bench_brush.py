"""Brush latency: mouse-move event -> mask edit -> repainted overlay, at two image sizes.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_brush
[--verified-overlay] (View > Verified Pixels on while painting) [--small] (1024x768 only)
Also reports the memory of 200 typical strokes' undo steps on the large image.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def mouse(kind, pos):
    buttons = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    return QMouseEvent(kind, pos, pos, Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)


def bench(app, size, moves=200, verified_overlay=False):
    from segstudio.app.main_window import MainWindow
    from segstudio.app.settings import Settings

    h, w = size
    tmp = tempfile.mkdtemp()
    folder = os.path.join(tmp, "imgs")
    os.mkdir(folder)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(os.path.join(folder, "big.png"))
    window = MainWindow(settings=Settings(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)))
    window.resize(1400, 900)
    window.show()
    window.open_folder(folder)
    window.canvas.set_zoom(1.0)
    window.canvas.centerOn(QPointF(w / 2, h / 2))
    window.size_spin.setValue(30)
    window.pick_class(3)
    if verified_overlay:
        window.verified_overlay.action.trigger()
    app.processEvents()
    viewport = window.canvas.viewport()
    center = viewport.rect().center()
    times = []
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, QPointF(center)))
    for i in range(moves):
        pos = QPointF(center.x() - 300 + (i * 3) % 600, center.y() - 100 + (i * 7) % 200)
        start = time.perf_counter()
        app.sendEvent(viewport, mouse(QEvent.Type.MouseMove, pos))
        viewport.repaint()  # synchronous paint of the dirty region
        times.append((time.perf_counter() - start) * 1000)
    app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, QPointF(center)))
    app.processEvents()
    undo_bytes = None
    if h * w > 10_000_000:
        for i in range(199):  # 200 strokes in all
            app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonPress, QPointF(center.x() - 200 + i, center.y())))
            for j in range(20):
                app.sendEvent(viewport, mouse(QEvent.Type.MouseMove, QPointF(center.x() - 200 + i + 10 * j, center.y() + 3 * j)))
            app.sendEvent(viewport, mouse(QEvent.Type.MouseButtonRelease, QPointF(center.x(), center.y())))
        undo_bytes = window.doc.history.nbytes
    window.autosaver.save_now()
    window.close()
    return times, undo_bytes, len(window.doc.history) if window.doc else None


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--verified-overlay", action="store_true", help="the verified-pixels overlay on")
    parser.add_argument("--small", action="store_true", help="1024x768 only")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    print("| image | moves | median ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    notes = []
    for size in ((768, 1024),) if args.small else ((768, 1024), (6000, 8000)):
        times, undo_bytes, _ = bench(app, size, verified_overlay=args.verified_overlay)
        times.sort()
        print(f"| {size[1]}x{size[0]} | {len(times)} | {statistics.median(times):.2f} | "
              f"{times[int(len(times) * 0.95)]:.2f} | {times[-1]:.2f} |")
        if undo_bytes is not None:
            notes.append(f"200 strokes (20 moves each, 30 px brush) on 8000x6000: undo history {undo_bytes / 1e6:.1f} MB "
                         f"(a whole-mask copy per step would be {200 * 2 * 48:.0f} MB)")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
