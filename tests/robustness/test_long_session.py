"""A scripted long session: 2,000 strokes with undo/redo, switches and saves over 50 images.

It runs in a fresh interpreter: the process-wide peak (``ru_maxrss``) of the
test process already holds whatever earlier tests allocated, so a growth
measured there says nothing. The child reports its own resident memory after
the first image is open and its peak (``VmHWM``) at the end.
"""

import json
import subprocess
import sys

import pytest

SESSION = r"""
import json, os, sys, tempfile
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import torch  # noqa: F401  (torch before Qt, as the app does)
import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox
from segstudio.app.main_window import MainWindow
from segstudio.app.settings import Settings
from segstudio.core.maskio import read_index_png

def status_kb(field):
    with open("/proc/self/status") as handle:
        return int(next(line for line in handle if line.startswith(field + ":")).split()[1])

QMessageBox.question = lambda *a, **k: QMessageBox.StandardButton.No  # never block offscreen
for name in ("warning", "information", "critical"):
    setattr(QMessageBox, name, lambda *a, **k: QMessageBox.StandardButton.Ok)
tmp = sys.argv[1]
folder = os.path.join(tmp, "fifty")
os.mkdir(folder)
rng = np.random.default_rng(0)
for i in range(50):
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(os.path.join(folder, f"f{i:02d}.png"))
app = QApplication([])
window = MainWindow(settings=Settings(QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)))
window.resize(1000, 700)
window.show()
app.processEvents()
window.open_folder(folder)
app.processEvents()
brush = window.tools["brush"]
baseline_kb = None
for stroke in range(2000):
    if stroke % 40 == 0:
        window.show_image(f"f{(stroke // 40) % 50:02d}")
    window.pick_class(int(rng.integers(0, 11)))
    window.size_spin.setValue(int(rng.integers(2, 20)))
    points = rng.integers(0, [96, 128], size=(4, 2)).astype(float)
    brush.press(tuple(points[0]))
    for p in points[1:]:
        brush.move(tuple(p))
    brush.release(tuple(points[-1]))
    r = rng.random()
    if r < 0.15:
        window.undo()
    elif r < 0.2:
        window.redo()
    if stroke % 100 == 0:
        window.autosaver.save_now()
        app.processEvents()
    if stroke == 40:  # the first image is open and painted, every code path warmed up
        baseline_kb = status_kb("VmRSS")
saved = bool(window.autosaver.save_now())
mismatches = []
for key in window.project.keys:
    path = window.project.mask_path(key)
    if path.exists() and not np.array_equal(read_index_png(path, 12), window.session.mask_for(key)):
        mismatches.append(key)
history = sum(d.history.nbytes for d in window.documents.all())
grown_mb = (status_kb("VmHWM") - baseline_kb) / 1024
window.workers.stop_all()
print(json.dumps({"saved": saved, "grown_mb": grown_mb, "history_bytes": history, "mismatches": mismatches}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_two_thousand_strokes_keep_memory_bounded_and_disk_equal_to_app(tmp_path):
    result = subprocess.run([sys.executable, "-c", SESSION, str(tmp_path)], capture_output=True, text=True,
                            timeout=280)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["saved"]
    assert not report["mismatches"], f"saved masks differ from the app's: {report['mismatches']}"
    assert report["grown_mb"] < 100  # measured: ~25 MB, f"memory grew by {report['grown_mb']:.0f} MB"
    assert report["history_bytes"] < 50 * 1024 * 1024
