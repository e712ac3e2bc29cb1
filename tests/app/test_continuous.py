"""Continuous mode in the real window: swaps only on CandidateBetter, stops cleanly, keeps the GUI responsive."""

import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QMessageBox

import segstudio.app.continuous as continuous_module
from segstudio.app.retrain import install_model_features
from segstudio.core.verified import previous_holdout
from segstudio.ml.continuous import CandidateBetter, CheckResult, Correction
from segstudio.ml.holdout import Uncertainty, Verdict
from tests.app.test_retrain import scene_folder_with_masks, tiny_model  # noqa: F401 (fixture)

torch.set_num_threads(1)


@pytest.fixture
def features(window, tiny_model, monkeypatch):  # noqa: F811
    for name in ("warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, **k: QMessageBox.StandardButton.No)
    features = install_model_features(window)
    features.autoseg.model_choice = str(tiny_model)
    return features


def verdict(better):
    return Verdict(better, 0.4, 0.5 if better else 0.3, [], "held-out mean IoU 0.400 -> 0.500" if better else "worse")


def fake_job(events, seen):
    """A stand-in for ml.jobs.continuous_job: yields ``events(checkpoint)`` then waits for the stop flag."""

    def make(checkpoint, list_corrections, settings, device_preference, check_every_s=60.0):
        def job(should_stop):
            seen["corrections"] = list_corrections()  # called on the worker thread, as the real one does
            seen["settings"] = settings
            yield from events(checkpoint)
            while not should_stop():
                time.sleep(0.01)
            seen["stopped"] = True

        return job

    return make


def test_only_a_better_model_is_swapped_in_and_named(qtbot, window, features, tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path, n=4)
    seen = {}

    def events(checkpoint):
        worse = {k: v + 5.0 if v.is_floating_point() else v for k, v in checkpoint.model.state_dict().items()}
        yield CheckResult(1, 10, verdict(False))
        better = {k: v + 0.01 if v.is_floating_point() else v for k, v in checkpoint.model.state_dict().items()}
        seen["better"], seen["worse"] = better, worse
        yield CandidateBetter(2, 20, better, {"pixel_accuracy": 0.9, "mean_iou": 0.5, "per_class_iou": []},
                              verdict(True), Uncertainty(2, None, []), ["s0", "s1"], ["s2", "s3"])

    monkeypatch.setattr(continuous_module, "continuous_job", fake_job(events, seen))
    continuous = features.continuous
    with qtbot.waitSignal(continuous.swapped, timeout=90000) as swapped:
        continuous.check.setChecked(True)
    version = swapped.args[0]
    assert list(window.project.models_dir.glob("*.safetensors")) == [version]
    state = features.autoseg.predictor.checkpoint.model.state_dict()
    assert all(torch.equal(seen["better"][k], state[k]) for k in state)
    assert features.autoseg.predictor.checkpoint.path == version
    assert features.autoseg.panel.model_combo.currentText().startswith("Retrained")
    assert previous_holdout(window.project) == ["s2", "s3"]
    # The worker listed the saved corrections itself (legacy masks: verified = None = all).
    assert sorted(seen["corrections"]) == ["s0", "s1", "s2", "s3"]
    assert all(isinstance(c, Correction) and c.verified is None for c in seen["corrections"].values())
    # Inference runs the new weights.
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(features.autoseg.predictor.model(x.contiguous(memory_format=torch.channels_last)),
                                   features.autoseg.predictor.checkpoint.model.eval()(x), rtol=1e-4, atol=1e-4)
    continuous.check.setChecked(False)  # unticking stops and joins
    assert not continuous.running and seen.get("stopped")


def test_no_swap_without_a_better_model_and_closing_stops_and_joins(qtbot, window, features, tiny_model,  # noqa: F811
                                                                    tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path, n=4)
    seen = {}
    # Only checks that found no better model: nothing is swapped in or saved.
    events = lambda checkpoint: iter([CheckResult(1, 5, verdict(False)), CheckResult(2, 9, verdict(False))])  # noqa: E731
    monkeypatch.setattr(continuous_module, "continuous_job", fake_job(events, seen))
    continuous = features.continuous
    swaps = []
    continuous.swapped.connect(swaps.append)
    continuous.check.setChecked(True)
    qtbot.waitUntil(lambda: continuous.running and "Round 2" in continuous.label.text(), timeout=90000)
    models_dir = window.project.models_dir
    assert features.autoseg.predictor.checkpoint.path == tiny_model  # still the model it started with
    worker = continuous.worker
    window.close()
    assert seen.get("stopped") and not worker.is_running() and not continuous.running
    assert not swaps and not list(models_dir.glob("*.safetensors"))


def test_verified_pixels_are_what_it_learns_from(qtbot, window, features, tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path, n=4)
    window.project.delete_mask("s1")  # not a legacy mask: only what a tool paints is verified
    window.show_image("s1")
    window.session.set_pixels((0, 0, 6, 6), 3)
    window.autosaver.save_now()
    seen = {}
    monkeypatch.setattr(continuous_module, "continuous_job", fake_job(lambda checkpoint: iter(()), seen))
    features.continuous.check.setChecked(True)
    qtbot.waitUntil(lambda: "corrections" in seen, timeout=90000)
    verified = seen["corrections"]["s1"].verified
    assert verified is not None and verified[:6, :6].all() and verified.sum() == 36
    features.continuous.stop()


def test_the_window_stays_responsive_while_it_trains(qtbot, window, features, tmp_path, monkeypatch):
    """The real generator on a tiny model: the longest gap between 5 ms heartbeats is printed."""
    scene_folder_with_masks(window, tmp_path, n=6)
    monkeypatch.setattr(continuous_module, "CHECK_EVERY_S", 1.0)
    features.continuous.check_every_s = 1.0
    gaps, clock = [], QElapsedTimer()
    heartbeat = QTimer()
    heartbeat.setInterval(5)

    def beat():
        if clock.isValid():
            gaps.append(clock.restart())
        else:
            clock.start()

    heartbeat.timeout.connect(beat)
    features.continuous.check.setChecked(True)
    qtbot.waitUntil(lambda: features.continuous.running, timeout=90000)
    heartbeat.start()
    qtbot.wait(4000)
    heartbeat.stop()
    label = features.continuous.label.text()
    features.continuous.stop()
    assert not features.continuous.running
    assert "round" in label.lower() or "kept" in label.lower() or "switched" in label.lower(), label
    print(f"\nlongest GUI stall while continuous training runs: {max(gaps)} ms over {len(gaps)} beats")
    assert gaps and max(gaps) < 1000  # the target (< 50 ms) is measured and reported, not timed here
