"""``segstudio --self-test``: the path a user takes, without a visible window, in a temp folder.

Copies a sample image (``core.resources.sample_folder()``, else a generated
one) into a temporary folder, opens it in the main window (never shown),
loads the default model (``core.resources.default_model_path()``;
``SEGSTUDIO_DEFAULT_MODEL=/path/model.safetensors`` points it elsewhere),
auto-segments the image through the app's own controller (worker thread and
all; ``ml.inference.Predictor`` directly if the controller is not there),
checks the mask, saves it, exports it, decodes the export and compares.

Prints ``self-test passed: ...`` and returns 0, or ``self-test failed: <reason>``
and returns 1 (2 for an unexpected exception). ``SEGSTUDIO_SELFTEST_TIMEOUT``
(seconds, default 300) bounds the model work. In a windowed bundle the output
goes to ``console.log`` in the log folder (see ``segstudio.system.logsetup``); the
exit code is the answer.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0


class SelfTestFailure(Exception):
    """A check failed; the message is the reason shown to the user."""


def _say(line: str) -> None:
    print(line, flush=True)
    log.info(line)


def _put_sample(target: Path) -> Path:
    from segstudio.core.imageio import list_images
    from segstudio.core.resources import sample_folder

    target.mkdir(parents=True)
    samples = sample_folder()
    images = list_images(samples) if samples is not None else []
    if images:
        shutil.copyfile(images[0], target / images[0].name)
        return target / images[0].name
    # No bundled samples (a bare wheel install): a generated road-like scene.
    from PIL import Image

    rng = np.random.default_rng(0)
    image = np.zeros((240, 320, 3), np.uint8)
    image[:100] = (120, 160, 230)
    image[100:] = (90, 80, 90)
    image[150:190, 60:140] = (200, 30, 30)
    image = np.clip(image.astype(int) + rng.integers(-15, 16, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(target / "generated.png")
    return target / "generated.png"


def _wait(app, done, timeout_s: float, what: str, failures: list[str]) -> None:
    """Run the event loop until ``done()``; closes any modal dialog that pops up (it would block)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        modal = QApplication.activeModalWidget()
        if modal is not None:
            text = modal.text() if hasattr(modal, "text") else ""
            failures.append(f"a dialog appeared: {modal.windowTitle()}: {text}".strip(": "))
            modal.close()
        if done() or failures or time.monotonic() > deadline:
            loop.quit()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(50)
    try:
        if not (done() or failures):
            loop.exec()
    finally:
        timer.stop()
    if failures:
        raise SelfTestFailure(f"{what} failed: {failures[0]}")
    if not done():
        raise SelfTestFailure(f"{what} did not finish within {timeout_s:.0f} s (SEGSTUDIO_SELFTEST_TIMEOUT)")


def _controller(window):
    """The window's auto-segment controller: its own if it has one, else installed here (no dialogs)."""
    controller = getattr(window, "autosegment", None)
    if controller is None:
        from segstudio.app.retrain import install_model_features

        controller = install_model_features(window, interactive=False).autoseg
    controller.interactive = False
    return controller


def _segment_with_controller(app, window, key: str, timeout_s: float) -> str:
    controller = _controller(window)
    failures: list[str] = []
    finished: list[object] = []
    controller.failed.connect(failures.append)
    controller.finished.connect(finished.append)
    status = window.statusBar()
    if controller.segment("image") is False:
        raise SelfTestFailure(f"auto-segment did not start ({status.currentMessage() or 'no reason given'})")
    _wait(app, lambda: controller.busy is None, timeout_s, "loading the model and auto-segmenting", failures)
    if controller.predictor is None:
        raise SelfTestFailure(f"the model did not load ({status.currentMessage() or 'no reason given'})")
    report = finished[0] if finished else None
    if report is None or key not in report.applied:
        raise SelfTestFailure(f"the image was not auto-segmented ({report or status.currentMessage()})")
    return "the app's auto-segment controller"


def _check(app, tmp: Path, timeout_s: float) -> str:
    from PySide6.QtCore import QSettings
    from PIL import Image

    from segstudio.app.main_window import MainWindow
    from segstudio.app.settings import Settings
    from segstudio.core.export import export_masks
    from segstudio.core.imageio import read_image_size
    from segstudio.core.maskio import read_index_png
    from segstudio.core.project import ImageStatus
    from segstudio.core.resources import default_model_path

    model_path = default_model_path()
    if not model_path.is_file():
        raise SelfTestFailure(f"the default model {model_path} is missing "
                              "(set SEGSTUDIO_DEFAULT_MODEL to a SegStudio .safetensors checkpoint)")
    image_path = _put_sample(tmp / "images")
    # Private settings: the self-test must not change the user's last folder, model, layout.
    settings = Settings(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(settings=settings)  # never shown: no window flashes up on a desktop
    try:
        if not window.open_folder(tmp / "images") or window.current_key() is None:
            raise SelfTestFailure(f"the sample image {image_path.name} did not open")
        key = window.current_key()
        how = _segment_with_controller(app, window, key, timeout_s)
        project = window.project
        labels = project.labelset
        if project.status(key) != ImageStatus.PREDICTED:
            raise SelfTestFailure(f"the image was not auto-segmented (status {project.status(key)})")
        mask = window.session.mask_for(key)
        width, height = read_image_size(image_path)
        if mask is None or mask.dtype != np.uint8 or mask.shape != (height, width):
            got = "no mask" if mask is None else f"{mask.dtype} {mask.shape}"
            raise SelfTestFailure(f"the mask should be uint8 {(height, width)}, got {got}")
        if int(mask.max()) >= labels.num_classes:
            raise SelfTestFailure(f"the mask holds id {int(mask.max())}, outside the {labels.num_classes} classes")
        if not window.autosaver.save_now():
            raise SelfTestFailure(f"saving the mask failed: {window.autosaver.last_error}")
        saved = project.load_mask(key)
        if saved is None or not np.array_equal(saved, mask):
            raise SelfTestFailure("the saved mask differs from the mask in the app")
        out = tmp / "export"
        report = export_masks(project, out, ("index", "color"))
        if getattr(report, "errors", None):
            raise SelfTestFailure(f"export failed: {report.errors}")
        exported = out / "labels" / f"{key}.png"
        if not exported.is_file():
            raise SelfTestFailure(f"export wrote no {exported.relative_to(tmp)}")
        with Image.open(exported) as im:
            im.load()  # decodes with a plain PNG reader, not only ours
        if not np.array_equal(read_index_png(exported, labels, mask.shape), mask):
            raise SelfTestFailure("the exported mask differs from the saved mask")
    finally:
        window.workers.stop_all()
        window.close_project()
        window.deleteLater()
    shares = np.bincount(mask.ravel(), minlength=labels.num_classes) / mask.size
    top = ", ".join(f"{labels.names[i]} {shares[i]:.0%}" for i in np.argsort(shares)[::-1][:3])
    return f"{model_path.name} segmented {image_path.name} via {how} ({top}); saved and exported"


def run_self_test(app=None, timeout_s: float | None = None) -> int:
    """Run the self-test; returns the exit code. Creates the QApplication if there is none."""
    if timeout_s is None:
        try:
            timeout_s = float(os.environ.get("SEGSTUDIO_SELFTEST_TIMEOUT", DEFAULT_TIMEOUT_S))
        except ValueError:
            timeout_s = DEFAULT_TIMEOUT_S
    try:
        import torch  # noqa: F401  (before Qt: Windows DLL order, STYLE habit 8)
        from PySide6.QtWidgets import QApplication

        if QApplication.instance() is None:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = app or QApplication.instance() or QApplication(["segstudio"])
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="segstudio-selftest-", ignore_cleanup_errors=True) as tmp:
            summary = _check(app, Path(tmp), timeout_s)
    except SelfTestFailure as exc:
        _say(f"self-test failed: {exc}")
        return 1
    except Exception as exc:
        log.error("self-test error:\n%s", traceback.format_exc())
        _say(f"self-test failed: unexpected {type(exc).__name__}: {exc}")
        return 2
    _say(f"self-test passed in {time.monotonic() - started:.1f} s: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_self_test())
