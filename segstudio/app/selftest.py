"""``segstudio --self-test``: the whole path a user takes, offscreen, in a temp folder.

Opens a sample image in the main window, loads the default model, auto-segments
the image through the app's own controller (worker thread and all), saves the
mask, exports it, and checks every step. Exit code 0 means it all worked.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _sample_folder(target: Path) -> None:
    from segstudio.core.resources import sample_folder

    samples = sample_folder()
    target.mkdir()
    if samples is not None and any(samples.iterdir()):
        first = sorted(p for p in samples.iterdir() if p.is_file())[0]
        shutil.copyfile(first, target / first.name)
    else:
        from PIL import Image

        Image.fromarray(np.random.default_rng(0).integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(target / "generated.png")


def run_self_test(timeout_s: float = 120.0) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from segstudio.app.main_window import MainWindow
    from segstudio.app.model_features import install_model_features
    from segstudio.app.settings import Settings
    from segstudio.core.export import export_masks
    from segstudio.core.maskio import read_index_png
    from segstudio.core.project import ImageStatus
    from segstudio.core.resources import default_model_path

    app = QApplication.instance() or QApplication([])
    model_path = default_model_path()
    if not model_path.exists():
        print(f"self-test failed: the default model {model_path} is missing")
        return 1
    with tempfile.TemporaryDirectory(prefix="segstudio-selftest-") as tmp:
        tmp_path = Path(tmp)
        folder = tmp_path / "images"
        _sample_folder(folder)
        settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(settings=settings)
        controller = install_model_features(window, interactive=False)
        failures: list[str] = []
        controller.job_failed.connect(failures.append)
        window.open_folder(folder)
        key = window.current_key()
        if key is None:
            print("self-test failed: the sample image did not open")
            return 1
        controller.segment("image")
        deadline = time.monotonic() + timeout_s
        while (controller.busy is not None or controller.predictor is None) and time.monotonic() < deadline and not failures:
            app.processEvents()
            time.sleep(0.01)
        try:
            if failures:
                raise RuntimeError(f"auto-segment failed: {failures[0]}")
            if controller.busy is not None:
                raise RuntimeError(f"auto-segment did not finish within {timeout_s:.0f} s")
            if window.project.status(key) != ImageStatus.PREDICTED:
                raise RuntimeError("the image was not auto-segmented")
            mask = window.mask_for(key)
            labels = window.project.labelset
            if mask.max() >= labels.num_classes:
                raise RuntimeError("the predicted mask holds ids outside the label set")
            if not window.autosaver.save_now():
                raise RuntimeError(f"saving failed: {window.autosaver.last_error}")
            saved = read_index_png(window.project.mask_path(key), labels, mask.shape)
            if not np.array_equal(saved, mask):
                raise RuntimeError("the saved mask differs from the mask in the app")
            report = export_masks(window.project, tmp_path / "export", ("index", "color"))
            if report.written != 1 or report.errors:
                raise RuntimeError(f"export failed: {report.errors or report.skipped}")
            exported = read_index_png(tmp_path / "export" / "labels" / f"{key}.png", labels, mask.shape)
            if not np.array_equal(exported, mask):
                raise RuntimeError("the exported mask differs from the saved mask")
        except RuntimeError as exc:
            print(f"self-test failed: {exc}")
            return 1
        finally:
            window.workers.stop_all()
            window.close()
        shares = np.bincount(mask.ravel(), minlength=labels.num_classes) / mask.size
        top = ", ".join(f"{labels.names[i]} {shares[i]:.0%}" for i in np.argsort(shares)[::-1][:3])
        print(f"self-test passed: {model_path.name} segmented {key} ({top}); saved and exported")
    return 0
