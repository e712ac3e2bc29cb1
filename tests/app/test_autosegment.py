"""AutoSegmentController with a tiny model, in the real main window."""

import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QItemSelectionModel, QSettings
from PySide6.QtWidgets import QMessageBox

from segstudio.app.autosegment import AutoSegmentController, SegmentReport, install_autosegment
from segstudio.app.file_list import KeyRole
from segstudio.app.main_window import MainWindow
from segstudio.app.settings import Settings
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.project import ImageStatus
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.jobs import choice_label
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)
TIMEOUT = 30000


class AppliedPredictions:
    """Records the session's ``apply_prediction`` calls (a spy: the real method decides)."""

    def __init__(self, session):
        self.calls, self.masks = [], {}
        real = session.apply_prediction

        def spy(key, mask, confidence=None, force=False, encoded=None, model=None, merged=None):
            self.calls.append((key, force))
            applied = real(key, mask, confidence, force=force, encoded=encoded, model=model, merged=merged)
            if applied:
                self.masks[key] = (mask.copy(), None if confidence is None else confidence.copy())
            return applied

        session.apply_prediction = spy


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
    """A real window on a new folder of ``count`` images, its controller, and a spy on its predictions."""
    made = []

    def make(count=4, size=(48, 64)):
        settings = Settings(QSettings(str(tmp_path / f"s{len(made)}.ini"), QSettings.Format.IniFormat))
        settings.device = "cpu"
        window = MainWindow(settings=settings)
        qtbot.addWidget(window)
        assert window.open_folder(make_folder(tmp_path / f"photos{len(made)}", count, size))
        controller = AutoSegmentController(window)
        controller.model_choice = str(tiny_model)
        applied = AppliedPredictions(window.session)
        made.append(window)
        return window, controller, applied

    yield make
    for window in made:
        window.workers.stop_all()
        window.close()


def select(window, keys):
    """Selects ``keys`` in the file list, as the user would."""
    view, proxy = window.file_list.view, window.file_list.proxy
    view.selectionModel().clearSelection()
    for row in range(proxy.rowCount()):
        if proxy.index(row, 0).data(KeyRole) in keys:
            view.selectionModel().select(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select)


def run_to_end(qtbot, controller, scope="folder", **kwargs):
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        assert controller.segment(scope, **kwargs)
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)
    return blocker.args[0]


def test_folder_run_emits_progress_and_finished_and_applies_every_mask(qtbot, make_controller):
    window, controller, applied = make_controller(count=4)
    progress = []
    controller.progress.connect(lambda done, total: progress.append((done, total)))
    report = run_to_end(qtbot, controller)
    assert isinstance(report, SegmentReport) and not report.cancelled
    assert sorted(report.applied) == window.project.keys
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for key in window.project.keys:
        mask, confidence = applied.masks[key]
        assert mask.shape == (48, 64) and mask.dtype == np.uint8 and confidence.shape == (48, 64)
        assert 0.0 <= window.file_list.model.uncertainty[key] <= 1.0
        assert window.session.effort.record(key).model == choice_label(controller.model_choice)  # for the effort dock
    assert "val mIoU 0.123" in controller.panel.summary_label.text()
    assert not window.progress.isVisible()


def test_the_model_stays_loaded_between_runs(qtbot, make_controller):
    window, controller, applied = make_controller(count=2)
    run_to_end(qtbot, controller)
    predictor = controller.predictor
    assert predictor is not None
    window.show_image(window.project.keys[1])
    report = run_to_end(qtbot, controller, "image")
    assert report.applied == [window.project.keys[1]] and controller.predictor is predictor


def test_selection_scope(qtbot, make_controller):
    window, controller, applied = make_controller(count=4)
    selected = [window.project.keys[1], window.project.keys[3]]
    select(window, selected)
    report = run_to_end(qtbot, controller, "selection")
    assert report.applied == selected


def test_cancel_stops_within_one_image(qtbot, make_controller):
    window, controller, applied = make_controller(count=30)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    predicted = []
    real = controller.predictor.predict
    # A real model takes longer per image than the GUI thread takes to apply one;
    # the 48x64 stand-in would let the worker run ahead of the window's file writes.
    controller.predictor.predict = lambda image: predicted.append(1) or time.sleep(0.2) or real(image)
    controller.progress.connect(lambda done, total: controller.cancel())
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    report = blocker.args[0]
    assert report.cancelled
    assert 1 <= len(report.applied) <= 2
    assert len(predicted) <= 3  # the image in hand when Cancel came, at most one more
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)


def test_a_failing_model_is_a_failed_signal_and_a_message_not_a_crash(qtbot, make_controller, dialogs):
    window, controller, applied = make_controller(count=3)
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
    assert not applied.masks and window.isVisible() is not None
    assert controller.panel.buttons["folder"].isEnabled()


def test_a_missing_model_file_is_a_message(qtbot, make_controller, dialogs, tmp_path):
    window, controller, applied = make_controller(count=1)
    controller.model_choice = str(tmp_path / "gone.safetensors")
    with qtbot.waitSignal(controller.failed, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    assert "gone.safetensors" in blocker.args[0] and dialogs.warnings


def test_legacy_edited_and_reviewed_masks_are_never_overwritten_without_a_yes(qtbot, make_controller, dialogs):
    """Masks of the user's saved before verified pixels existed (no verified file): the old question."""
    window, controller, applied = make_controller(count=4)
    edited, reviewed = window.project.keys[1], window.project.keys[2]  # not the image shown
    for key, status in ((edited, ImageStatus.EDITED), (reviewed, ImageStatus.REVIEWED)):
        window.project.save_mask(key, np.full((48, 64), 4, np.uint8))
        window.project.set_status(key, status)
    report = run_to_end(qtbot, controller)  # the dialog says No (the default)
    assert len(dialogs.questions) == 1 and "2 images have your edits" in dialogs.questions[0]
    assert sorted(report.applied) == [window.project.keys[0], window.project.keys[3]]
    assert edited not in applied.masks and reviewed not in applied.masks
    assert all(not force for _, force in applied.calls)
    assert window.project.status(edited) == ImageStatus.EDITED

    dialogs.answer = QMessageBox.StandardButton.Yes
    report = run_to_end(qtbot, controller)
    assert edited in report.applied and reviewed in report.applied
    assert (edited, True) in applied.calls


def test_verified_pixels_survive_auto_segment_with_no_question(qtbot, make_controller, dialogs):
    window, controller, applied = make_controller(count=3)
    edited = window.project.keys[0]
    window.show_image(edited)
    window.session.set_pixels((0, 0, 6, 6), 4)
    verified = window.doc.verified.copy()
    mask_before = window.doc.mask.copy()
    report = run_to_end(qtbot, controller)
    assert not dialogs.questions and edited in report.applied
    mask = window.session.mask_for(edited)
    assert np.array_equal(mask[verified], mask_before[verified])  # exactly the verified pixels kept
    assert np.array_equal(mask[~verified], applied.masks[edited][0][~verified])
    assert np.array_equal(window.doc.verified, verified)
    assert window.project.status(edited) == ImageStatus.EDITED


def test_an_edit_made_during_the_run_is_kept(qtbot, make_controller):
    window, controller, applied = make_controller(count=3)
    last = window.project.keys[-1]
    window.show_image(last)
    edit = lambda done, total: done == 1 and window.session.set_pixels((0, 0, 5, 5), 7)  # noqa: E731
    controller.progress.connect(edit)
    report = run_to_end(qtbot, controller)
    assert last in report.applied and (window.session.mask_for(last)[:5, :5] == 7).all()


def test_unreadable_images_are_reported_and_skipped(qtbot, make_controller):
    window, controller, applied = make_controller(count=2)
    (window.project.folder / "zzz.png").write_bytes(b"not a png")
    assert window.open_folder(window.project.folder)  # reopened: the broken file is listed
    report = run_to_end(qtbot, controller)
    assert "zzz" in report.errors and "zzz" in window.file_list.model.errors
    assert len(report.applied) == 2


def test_cpu_threads_are_limited_while_it_runs(qtbot, make_controller):
    window, controller, applied = make_controller(count=2)
    controller.with_model(lambda: None)
    qtbot.waitUntil(lambda: controller.predictor is not None and not controller.is_busy(), timeout=TIMEOUT)
    seen = []
    real = controller.predictor.predict
    controller.predictor.predict = lambda image: seen.append(torch.get_num_threads()) or real(image)
    run_to_end(qtbot, controller)
    assert seen and set(seen) == {max(1, (os.cpu_count() or 2) - 1)}


def test_an_image_too_big_even_for_the_smallest_tile_is_skipped_not_the_run(qtbot, make_controller):
    window, controller, applied = make_controller(count=3)
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
    window, controller, applied = make_controller(count=1)
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
    window, controller, applied = make_controller(count=1)
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
    window, controller, applied = make_controller(count=1)
    controller.choose_device("cuda")
    assert controller.device_preference == "cpu"
    assert any("CUDA" in text for text in dialogs.warnings)
    controller.choose_device("auto")
    assert controller.device_preference == "auto"
    assert "CUDA not available" in controller.panel.device_label.text()
    # One short line in the dock (the whole reason ran to three clipped lines); all of it on hover.
    label = controller.panel.device_label
    assert "\n" not in label.text() and len(label.text()) < len(label.toolTip())
    assert label.toolTip().startswith(label.text())


def test_the_low_confidence_toggle_reaches_the_canvas(qtbot, make_controller):
    window, controller, applied = make_controller(count=1)
    assert not window.canvas.show_low_confidence
    controller.panel.low_confidence_check.setChecked(True)
    assert window.canvas.show_low_confidence


def test_menu_actions_are_installed(qtbot, make_controller):
    window, controller, applied = make_controller(count=1)
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
    window.session.set_pixels((0, 0, 4, 4), 4)  # the user's edit on the first image
    with qtbot.waitSignal(controller.finished, timeout=TIMEOUT) as blocker:
        controller.segment("folder")
    report = blocker.args[0]
    assert sorted(report.applied) == window.project.keys  # verified pixels kept, no question
    assert window.project.status(first) == ImageStatus.EDITED and (window.doc.mask[:4, :4] == 4).all()
    assert window.project.status(window.project.keys[1]) == ImageStatus.PREDICTED
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=TIMEOUT)


def test_the_panel_toggle_and_the_windows_view_action_stay_in_step(qtbot, window, tiny_model, dialogs):
    controller = install_autosegment(window)
    controller.panel.low_confidence_check.setChecked(True)
    assert window.low_conf_action.isChecked() and window.canvas.show_low_confidence
    window.low_conf_action.trigger()
    assert not controller.panel.low_confidence_check.isChecked() and not window.canvas.show_low_confidence
