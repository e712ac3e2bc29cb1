"""The real "Retrain finished" dialog, driven by keys and clicks (issue 15, rows 3 and 4).

Enter and Escape keep the current model when the new one is worse (the
default button must never take a worse model); "Keep the current model" on a
better one keeps the old weights, through the controller, with no stand-in
for the dialog. Class ids in its table are the Classes dock's (0..N-1).
"""

import pytest
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QPushButton, QTableWidget

import segstudio.app.retrain as retrain_module
from segstudio.app.retrain import install_model_features
from segstudio.app.retrain_dialog import ask_accept
from segstudio.core.labels import CAMVID
from segstudio.ml.finetune import FinetuneResult
from tests.app.test_retrain import scene_folder_with_masks, tiny_model  # noqa: F401 (fixture)

torch.set_num_threads(1)


def fake_result(improved: bool, state_dict=None) -> FinetuneResult:
    ids = [0, 3, 8]
    before = {"mean_iou": 0.50, "pixel_accuracy": 0.8, "class_ids": ids, "per_class_iou": [0.4, 0.6, 0.5]}
    gain = 0.1 if improved else -0.1
    after = {"mean_iou": 0.50 + gain, "pixel_accuracy": 0.8 + gain, "class_ids": ids,
             "per_class_iou": [0.4 + gain, 0.6 + gain, 0.5 + gain]}
    return FinetuneResult(state_dict=state_dict or {}, before=before, after=after, train_keys=["a", "b"],
                          holdout_keys=["c"], improved=improved, per_class_delta=[gain] * 3, steps=5, elapsed_s=1.0)


def answer_dialog(qtbot, action, seen=None):
    """When the dialog is up: ``action(dialog)`` (a key press or a click), as a user would."""

    def act():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QDialog) or not dialog.isVisible():
            QTimer.singleShot(20, act)
            return
        if seen is not None:
            seen.append(dialog)
        action(dialog)

    QTimer.singleShot(0, act)


def press(key):
    """The key goes where the user's would: the dialog's focused widget (the table, a button)."""
    return lambda dialog: QTest.keyClick(dialog.focusWidget() or dialog, key)


def click(text):
    return lambda dialog: next(b for b in dialog.findChildren(QPushButton) if b.text() == text).click()


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape])
def test_enter_and_escape_keep_the_current_model_when_the_new_one_is_worse(qtbot, key):
    answer_dialog(qtbot, press(key))
    assert ask_accept(None, fake_result(improved=False), CAMVID) is False


def test_enter_takes_a_better_model_and_escape_or_keep_refuse_it(qtbot):
    answer_dialog(qtbot, press(Qt.Key.Key_Return))
    assert ask_accept(None, fake_result(improved=True), CAMVID) is True
    answer_dialog(qtbot, press(Qt.Key.Key_Escape))
    assert ask_accept(None, fake_result(improved=True), CAMVID) is False
    answer_dialog(qtbot, click("Keep the current model"))
    assert ask_accept(None, fake_result(improved=True), CAMVID) is False


def test_the_table_numbers_classes_as_the_classes_dock_does(qtbot):
    seen = []
    answer_dialog(qtbot, press(Qt.Key.Key_Escape), seen)
    ask_accept(None, fake_result(improved=True), CAMVID)
    table = seen[0].findChild(QTableWidget)
    assert [table.item(r, 0).text() for r in range(3)] == ["0  Sky", "3  Road", "8  Car"]
    assert not table.verticalHeader().isVisible()


@pytest.fixture
def features(window, tiny_model, monkeypatch):  # noqa: F811
    features = install_model_features(window)
    features.autoseg.model_choice = str(tiny_model)

    def instant_retrain_job(checkpoint, paths, masks, settings, device_preference, verified=None):
        better = {k: v + 0.01 if v.is_floating_point() else v for k, v in checkpoint.model.state_dict().items()}

        def job(should_stop):
            if False:
                yield  # a generator, like the real job
            return fake_result(improved=True, state_dict=better)

        return job

    monkeypatch.setattr(retrain_module, "retrain_job", instant_retrain_job)
    return features


def run_retrain_answering(qtbot, window, features, action):
    shown = []
    answer_dialog(qtbot, action, shown)
    features.retrain.retrain()
    qtbot.waitUntil(lambda: bool(shown) and features.autoseg.busy is None, timeout=90000)
    qtbot.waitUntil(lambda: not shown[0].isVisible(), timeout=5000)


def test_no_to_a_better_model_keeps_the_old_one(qtbot, window, features, tmp_path):
    scene_folder_with_masks(window, tmp_path, n=4)
    features.autoseg.with_model(lambda: None)
    qtbot.waitUntil(lambda: features.autoseg.predictor is not None, timeout=90000)
    weights = {k: v.clone() for k, v in features.autoseg.predictor.checkpoint.model.state_dict().items()}
    shown_before = features.autoseg.panel.model_combo.currentText()
    run_retrain_answering(qtbot, window, features, click("Keep the current model"))
    state = features.autoseg.predictor.checkpoint.model.state_dict()
    assert all(torch.equal(weights[k], state[k]) for k in weights)
    assert not list(window.project.models_dir.glob("*.safetensors"))
    assert features.autoseg.panel.model_combo.currentText() == shown_before


def test_yes_to_a_better_model_swaps_it_in_and_the_model_box_names_it(qtbot, window, features, tmp_path):
    scene_folder_with_masks(window, tmp_path, n=4)
    run_retrain_answering(qtbot, window, features, click("Use the new model"))
    (version,) = window.project.models_dir.glob("*.safetensors")
    assert features.autoseg.predictor.checkpoint.path == version
    shown = features.autoseg.panel.model_combo.currentText()
    date = version.stem.split("-")[1]
    assert shown.startswith(f"Retrained {date[:4]}-{date[4:6]}-{date[6:]} "), shown
