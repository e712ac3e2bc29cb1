"""Opening a folder of 10,000 images: time to the first image shown, memory after scrolling.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_file_list [--count 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    folder = os.path.join(tmp, "many")
    os.mkdir(folder)
    first = os.path.join(folder, "img00000.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(first, quality=90)
    for i in range(1, args.count):
        os.link(first, os.path.join(folder, f"img{i:05d}.jpg"))
    app = QApplication.instance() or QApplication([])
    from segstudio.app.main_window import MainWindow
    from segstudio.app.settings import Settings

    window = MainWindow(settings=Settings(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)))
    window.show()
    app.processEvents()
    before = rss_mb()
    start = time.perf_counter()
    window.open_folder(folder)
    app.processEvents()
    shown = time.perf_counter() - start
    view = window.file_list.view
    scroll = view.verticalScrollBar()
    start = time.perf_counter()
    steps = 0
    while scroll.value() < scroll.maximum():
        scroll.setValue(scroll.value() + view.viewport().height())
        app.processEvents()
        steps += 1
    scrolled = time.perf_counter() - start
    deadline = time.perf_counter() + 60
    while window.file_list.thumbnails_pending() and time.perf_counter() < deadline:
        app.processEvents()
    print("| images | open -> first image shown (s) | scroll whole list (s, pages) | peak RSS before / after (MB) |")
    print("|---|---|---|---|")
    print(f"| {args.count} | {shown:.3f} | {scrolled:.2f} ({steps}) | {before:.0f} / {rss_mb():.0f} |")
    window.workers.stop_all()
    window.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
