"""AutoSegmentController with a tiny model, against a stand-in main window with the window's API."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from segstudio.app.autosegment import AutoSegmentController, SegmentReport, install_autosegment
from segstudio.app.progress import ProgressArea
from segstudio.app.worker import WorkerRegistry
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.project import ImageStatus, Project
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)
TIMEOUT = 30000


class FakeFileList(QObject):
    def __init__(self):
        super().__init__()
        self.uncertainty = {}
        self.model = SimpleNamespace(errors={})

    def set_uncertainty(self, stem, value):
        self.uncertainty[stem] = value

    def set_error(self, stem, message):
        self.model.errors[stem] = message


class FakeMainWindow(QMainWindow):
    """The main window's public API for model features, and nothing else."""

    project_opened = Signal(object)
    current_image_changed = Signal(str)

    def __init__(self, folder):
        super().__init__()
        self.project = Project.open(folder)
        self.settings = SimpleNamespace(model_path="", device="cpu")
        self.workers = WorkerRegistry(self)
        self.progress = ProgressArea(self)
        self.statusBar().addPermanentWidget(self.progress)
        self.file_list = FakeFileList()
        self.masks, self.applied_calls = {}, []
        self._menus = {}
        self._current = self.project.keys[0] if self.project.keys else None
        self._selected = []

    def current_stem(self):
        return self._current

    def selected_stems(self):
        return list(self._selected) or ([self._current] if self._current else [])

    def apply_model_mask(self, stem, mask, confidence=None, force=False):
        self.applied_calls.append((stem, force))
        if self.project.status(stem) in (ImageStatus.EDITED, ImageStatus.REVIEWED) and not force:
            return False
        self.masks[stem] = (mask.copy(), None if confidence is None else confidence.copy())
        self.project.set_status(stem, ImageStatus.PREDICTED)
        return True

    def add_dock(self, dock, area=Qt.DockWidgetArea.RightDockWidgetArea):
        self.addDockWidget(area, dock)

    def menu(self, name):
        if name not in self._menus:
            self._menus[name] = self.menuBar().addMenu(name)
        return self._menus[name]


def make_folder(path, count, size=(48, 64), seed=0):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path / f"img{i:02d}.png")
    return path


@pytest.fixture
def tiny_model(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "native"},
                    record={"best_metrics": {"mean_iou": 0.123}})
    return path


@pytest.fixture
def dialogs(monkeypatch):
    """Records message boxes instead of showing them; ``question`` answers ``dialogs.answer``."""
    seen = SimpleNamespace(warnings=[], questions=[], answer=QMessageBox.StandardButton.No)
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: seen.warnings.append(text))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a, **k: seen.questions.append(text) or seen.answer)
    return seen


@pytest.fixture
def make_controller(qtbot, tmp_path, tiny_model, dialogs):
    made = []

    def make(count=4, size=(48, 64)):
        window = FakeMainWindow(make_folder(tmp_path / f"photos{len(made)}", count, size))
        qtbot.addWidget(window)
        controller = AutoSegmentController(window)
        controller.model_choice = str(tiny_model)
        made.append(window)
        return window, controller

    yield make
    for window in made:
        window.workers.stop_all()


def run_to_end(qtbot, controller, scope="folder", **kwargs):
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        assert controller.segment(scope, **kwargs)
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)
    return blocker.args[0]


def test_folder_run_emits_progress_and_finished_and_applies_every_mask(qtbot, make_controller):
    window, controller = make_controller(count=4)
    progress = []
    controller.progress.connect(lambda done, total: progress.append((done, total)))
    report = run_to_end(qtbot, controller)
    assert isinstance(report, SegmentReport) and not report.cancelled
    assert sorted(report.applied) == window.project.keys
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for stem in window.project.keys:
        mask, confidence = window.masks[stem]
        assert mask.shape == (48, 64) and mask.dtype == np.uint8 and confidence.shape == (48, 64)
        assert 0.0 <= window.file_list.uncertainty[stem] <= 1.0
    assert "val mIoU 0.123" in controller.panel.summary_label.text()
    assert not window.progress.isVisible()


def test_the_model_stays_loaded_between_runs(qtbot, make_controller):
    window, controller = make_controller(count=2)
    run_to_end(qtbot, controller)
    predictor = controller.predictor
    assert predictor is not None
    window._current = window.project.keys[1]
    report = run_to_end(qtbot, controller, "image")
    assert report.applied == [window.project.keys[1]] and controller.predictor is predictor


def test_selection_scope(qtbot, make_controller):
    window, controller = make_controller(count=4)
    window._selected = [window.project.keys[1], window.project.keys[3]]
    report = run_to_end(qtbot, controller, "selection")
    assert report.applied == window._selected


def test_cancel_stops_within_one_image(qtbot, make_controller):
    window, controller = make_controller(count=30)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    predicted = []
    real = controller.predictor.predict
    controller.predictor.predict = lambda image: predicted.append(1) or real(image)
    controller.progress.connect(lambda done, total: controller.cancel())
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    report = blocker.args[0]
    assert report.cancelled
    assert 1 <= len(report.applied) <= 2
    assert len(predicted) <= 3  # the image in hand when Cancel came, at most one more
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)


def test_a_failing_model_is_a_failed_signal_and_a_message_not_a_crash(qtbot, make_controller, dialogs):
    window, controller = make_controller(count=3)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)

    def broken(image):
        raise RuntimeError("the model fell over")

    controller.predictor.predict = broken
    with qtbot.waitSignal(controller.failed, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    assert "fell over" in blocker.args[0]
    assert any("fell over" in text for text in dialogs.warnings)
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)
    assert not window.masks and window.isVisible() is not None
    assert controller.panel.buttons["folder"].isEnabled()


def test_a_missing_model_file_is_a_message(qtbot, make_controller, dialogs, tmp_path):
    window, controller = make_controller(count=1)
    controller.model_choice = str(tmp_path / "gone.safetensors")
    with qtbot.waitSignal(controller.failed, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    assert "gone.safetensors" in blocker.args[0] and dialogs.warnings


def test_edited_and_reviewed_images_are_never_overwritten_without_a_yes(qtbot, make_controller, dialogs):
    window, controller = make_controller(count=4)
    edited, reviewed = window.project.keys[0], window.project.keys[1]
    window.project.set_status(edited, ImageStatus.EDITED)
    window.project.set_status(reviewed, ImageStatus.REVIEWED)
    report = run_to_end(qtbot, controller)  # the dialog says No (the default)
    assert len(dialogs.questions) == 1 and "2 images have your edits" in dialogs.questions[0]
    assert sorted(report.applied) == window.project.keys[2:]
    assert edited not in window.masks and reviewed not in window.masks
    assert all(not force for _, force in window.applied_calls)
    assert window.project.status(edited) == ImageStatus.EDITED

    dialogs.answer = QMessageBox.StandardButton.Yes
    report = run_to_end(qtbot, controller)
    assert edited in report.applied and reviewed in report.applied
    assert (edited, True) in window.applied_calls


def test_an_edit_made_during_the_run_is_kept(qtbot, make_controller):
    window, controller = make_controller(count=3)
    last = window.project.keys[-1]
    controller.progress.connect(lambda done, total: window.project.set_status(last, ImageStatus.EDITED))
    report = run_to_end(qtbot, controller)
    assert last in report.refused and last not in window.masks


def test_unreadable_images_are_reported_and_skipped(qtbot, make_controller):
    window, controller = make_controller(count=2)
    (window.project.folder / "zzz.png").write_bytes(b"not a png")
    window.project = Project.open(window.project.folder)
    report = run_to_end(qtbot, controller)
    assert "zzz" in report.errors and "zzz" in window.file_list.model.errors
    assert len(report.applied) == 2


def test_cpu_threads_are_limited_while_it_runs(qtbot, make_controller):
    window, controller = make_controller(count=2)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    seen = []
    real = controller.predictor.predict
    controller.predictor.predict = lambda image: seen.append(torch.get_num_threads()) or real(image)
    run_to_end(qtbot, controller)
    assert seen and set(seen) == {max(1, (os.cpu_count() or 2) - 1)}


def test_an_image_too_big_even_for_the_smallest_tile_is_skipped_not_the_run(qtbot, make_controller):
    window, controller = make_controller(count=3)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    real, calls = controller.predictor.predict, []

    def predict(image):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory on cpu even with one 128x128 tile at a time")
        return real(image)

    controller.predictor.predict = predict
    report = run_to_end(qtbot, controller)
    assert len(report.applied) == 2 and len(report.errors) == 1
    (message,) = report.errors.values()
    assert "out of memory" in message


def test_a_checkpoint_with_other_classes_is_refused_and_the_model_stays(qtbot, make_controller, dialogs, tmp_path):
    window, controller = make_controller(count=1)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    current = controller.predictor
    other = LabelSet(names=tuple(f"c{i}" for i in range(12)), colors=tuple((i, i, i) for i in range(12)))
    config = model_config("unet", base_width=4, depth=2)
    save_checkpoint(tmp_path / "other.safetensors", build_model(config), config, other)
    controller.choose_model(str(tmp_path / "other.safetensors"))
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)
    assert controller.predictor is current and any("differ" in text for text in dialogs.warnings)
    assert controller.panel.model_combo.currentData() == controller.model_choice


def test_an_untrained_registry_model_is_labelled_untrained(qtbot, make_controller):
    window, controller = make_controller(count=1)
    labels = [controller.panel.model_combo.itemText(i) for i in range(controller.panel.model_combo.count())]
    assert "unet (untrained)" in labels
    import segstudio.ml.models.registry as registry

    real = registry.model_config
    with pytest.MonkeyPatch.context() as mp:  # keep it small: the study's U-Net is 31 M parameters
        mp.setattr(registry, "model_config", lambda name, **kw: real(name, **{**kw, "base_width": 4}))
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT) as blocker:
            controller.choose_model("registry:unet")
    assert "untrained" in blocker.args[0] and "untrained" in controller.panel.summary_label.text()
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)


def test_an_unavailable_device_is_explained_and_the_choice_stays(qtbot, make_controller, dialogs):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    window, controller = make_controller(count=1)
    controller.choose_device("cuda")
    assert controller.device_preference == "cpu"
    assert any("CUDA" in text for text in dialogs.warnings)
    controller.choose_device("auto")
    assert controller.device_preference == "auto"
    assert "CUDA not available" in controller.panel.device_label.text()


def test_the_low_confidence_toggle_reaches_the_canvas(qtbot, make_controller):
    window, controller = make_controller(count=1)
    calls = []
    window.canvas = SimpleNamespace(set_show_low_confidence=calls.append)
    controller.panel.low_confidence_check.setChecked(True)
    assert calls == [True]


def test_menu_actions_are_installed(qtbot, make_controller):
    window, controller = make_controller(count=1)
    texts = {a.text(): a.shortcut().toString() for a in window.menu("Model").actions()}
    assert texts["Auto-segment Folder"] == "Ctrl+Shift+A"
    assert "Auto-segment Image" in texts and "Auto-segment Selection" in texts


def test_with_the_real_main_window(qtbot, window, tiny_model, dialogs, tmp_path):
    folder = make_folder(tmp_path / "real", 3, size=(40, 52))
    controller = install_autosegment(window)
    controller.model_choice = str(tiny_model)
    window.open_folder(folder)
    first = window.project.keys[0]
    window.show_image(first)
    window.doc.mask[:4, :4] = 4
    window._after_edit()  # the user's edit on the first image
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    report = blocker.args[0]
    assert sorted(report.applied) == window.project.keys[1:]
    assert window.project.status(first) == ImageStatus.EDITED and (window.doc.mask[:4, :4] == 4).all()
    assert window.project.status(window.project.keys[1]) == ImageStatus.PREDICTED
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)


def test_the_panel_toggle_and_the_windows_view_action_stay_in_step(qtbot, window, tiny_model, dialogs):
    controller = install_autosegment(window)
    controller.panel.low_confidence_check.setChecked(True)
    assert window.low_conf_action.isChecked() and window.canvas.show_low_confidence
    window.low_conf_action.trigger()
    assert not controller.panel.low_confidence_check.isChecked() and not window.canvas.show_low_confidence
