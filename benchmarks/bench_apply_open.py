"""GUI-thread time to put a model's mask on the image that is open, at 8000x6000.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_apply_open [--size 6000x8000] [--repeats 3]

When auto-segment reaches the image on the canvas, the GUI thread applies the
mask as one undo step, recounts the class shares, recolours the overlay and
writes the PNGs that the worker already encoded. This times
``window.session.apply_prediction`` plus the event processing after it, with a
random 12-class mask (the worst case: the changed rectangle is the whole
image and nothing compresses).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from segstudio.app.main_window import MainWindow
from segstudio.app.settings import Settings
from segstudio.core.labels import CAMVID
from segstudio.core.maskio import encode_grey_png, encode_index_png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="6000x8000", help="HxW")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))
    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "big"
        folder.mkdir()
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / "huge.jpg", quality=80)
        window = MainWindow(settings=Settings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)))
        window.resize(1400, 900)
        window.show()
        window.open_folder(folder)
        app.processEvents()
        times = []
        for _ in range(args.repeats):
            mask = rng.integers(0, 11, (h, w), dtype=np.uint8)
            confidence = rng.integers(0, 255, (h, w), dtype=np.uint8)
            encoded = (encode_index_png(mask, CAMVID), encode_grey_png(confidence))  # the worker's job
            start = time.perf_counter()
            window.session.apply_prediction("huge", mask, confidence, encoded=encoded)
            app.processEvents()
            times.append((time.perf_counter() - start) * 1000)
        window.close()
    print(f"apply_prediction on the open {w}x{h} image: median {np.median(times):.0f} ms, "
          f"best {min(times):.0f} ms over {args.repeats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
