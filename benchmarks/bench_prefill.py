"""Folder pre-fill: throughput, the longest GUI-thread stall, and peak memory on a huge image.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_prefill [--model FILE] [--count 12]
The stall is measured by a 10 ms QTimer on the GUI thread while the app's own
auto-segment controller pre-fills the folder in its worker thread.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def make_folder(root, size, count):
    folder = os.path.join(root, f"{size[1]}x{size[0]}")
    os.mkdir(folder)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)).save(
            os.path.join(folder, f"f{i:03d}.jpg"), quality=90)
    return folder


def prefill(app, folder, model_path, tmp):
    from PySide6.QtCore import QSettings, QTimer

    from segstudio.app.main_window import MainWindow
    from segstudio.app.model_features import install_model_features
    from segstudio.app.settings import Settings

    window = MainWindow(settings=Settings(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)))
    controller = install_model_features(window, interactive=False)
    controller.model_choice = model_path
    window.show()
    window.open_folder(folder)
    controller.with_model(lambda: None)
    while controller.busy is not None:
        app.processEvents()
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    start = time.perf_counter()
    controller.segment("folder")
    while controller.busy is not None:
        app.processEvents()
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    timer.stop()
    count = len(window.project.keys)
    window.close()
    return count / elapsed, max(gaps) * 1000 if gaps else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="checkpoint; default: the shipped model")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--skip-huge", action="store_true")
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from segstudio.core.resources import default_model_path

    model_path = args.model or str(default_model_path())
    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp()
    print(f"model: {model_path}; torch threads: see ModelController (all cores but one on CPU)")
    print("| images | images/s | longest GUI stall (ms) |")
    print("|---|---|---|")
    for size in ((360, 480), (1080, 1920)):
        folder = make_folder(tmp, size, args.count)
        rate, stall = prefill(app, folder, model_path, tmp)
        print(f"| {args.count} x {size[1]}x{size[0]} | {rate:.2f} | {stall:.0f} |", flush=True)
    if not args.skip_huge:
        from segstudio.ml.checkpoint import load_checkpoint
        from segstudio.ml.inference import Predictor

        image = np.random.default_rng(0).integers(0, 255, (6000, 8000, 3), dtype=np.uint8)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        Predictor(load_checkpoint(model_path)).predict(image)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"8000x6000 image: {time.perf_counter() - start:.1f} s, peak RSS {peak:.0f} MB "
              f"(before {before:.0f} MB; the image alone is 144 MB)")


if __name__ == "__main__":
    main()
