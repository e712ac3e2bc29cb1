import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from segstudio.app.retrain import install_model_features
from segstudio.core.labels import CAMVID
from segstudio.core.project import ImageStatus
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.finetune import FinetuneSettings
from segstudio.ml.models.registry import build_model, model_config
from tests.conftest import make_scene

torch.set_num_threads(1)


@pytest.fixture
def tiny_model(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    torch.manual_seed(1)  # a fixed start: whether a retrain passes the per-class guard must not depend on the draw
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "native"})
    return path


@pytest.fixture
def controller(window, tiny_model, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: QMessageBox.StandardButton.Ok)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    features = install_model_features(window)
    features.autoseg.model_choice = str(tiny_model)
    return features


def idle(features):
    return features.autoseg.busy is None


def test_folder_autosegment_fills_masks_and_keeps_verified_pixels(qtbot, window, controller, image_folder):
    window.open_folder(image_folder)
    window.session.set_pixels((0, 0, 5, 5), 4)  # img0 now holds the user's edit
    controller.autoseg.segment("folder")
    qtbot.waitUntil(lambda: idle(controller), timeout=20000)
    assert window.project.status("img1") == ImageStatus.PREDICTED
    assert window.project.status("img2") == ImageStatus.PREDICTED
    assert window.project.status("img0") == ImageStatus.EDITED
    assert (window.doc.mask[:5, :5] == 4).all() and window.doc.verified[:5, :5].all()  # verified: kept
    assert not window.doc.verified[5:, 5:].any() and (window.doc.mask[5:, 5:] != 11).any()  # the rest: predicted
    assert window.session.mask_for("img1").shape == (120, 160)
    assert "img1" in window.file_list.model.uncertainty
    assert window.project.load_confidence("img1").shape == (120, 160)
    # "Most uncertain first" still knows the predicted images after the folder is reopened.
    known = dict(window.file_list.model.uncertainty)
    window.close_project()
    window.open_folder(image_folder)
    assert window.file_list.model.uncertainty == pytest.approx(known, abs=1e-4)
    window.file_list.sort_combo.setCurrentIndex(1)
    order = window.file_list.keys_in_view_order()
    assert order[: len(known)] == sorted(known, key=known.get, reverse=True)


def scene_folder_with_masks(window, tmp_path, n=8):
    folder = tmp_path / "scenes"
    folder.mkdir()
    rng = np.random.default_rng(3)
    truth = {}
    for i in range(n):
        image, mask = make_scene(rng, 48, 64)
        Image.fromarray(image).save(folder / f"s{i}.png")
        truth[f"s{i}"] = mask
    window.open_folder(folder)
    for key, mask in truth.items():
        window.project.save_mask(key, mask)
        window.project.set_status(key, ImageStatus.EDITED)
    return folder


def test_retrain_accepts_a_better_model_and_keeps_a_version(qtbot, window, controller, tmp_path):
    scene_folder_with_masks(window, tmp_path)
    results = []
    controller.retrain.retrain(FinetuneSettings(minutes=None, epochs=30, crop=(48, 48), lr=3e-3),
                       decide=lambda r: results.append(r) or r.improved)
    qtbot.waitUntil(lambda: idle(controller) and bool(results), timeout=120000)
    assert results[0].improved
    versions = list(window.project.models_dir.glob("*.safetensors"))
    assert len(versions) == 1
    predictor = controller.autoseg.predictor
    assert predictor.checkpoint.path == versions[0]
    assert controller.autoseg.panel.versions.count() == 1
    # Inference runs the accepted weights, not the ones from before the retrain.
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        expected = predictor.checkpoint.model.eval()(x)
        torch.testing.assert_close(predictor.model(x.contiguous(memory_format=torch.channels_last)), expected,
                                   rtol=1e-4, atol=1e-4)


def test_a_worse_model_is_not_swapped_in(qtbot, window, controller, tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path)
    first = []
    controller.retrain.retrain(FinetuneSettings(minutes=None, epochs=30, crop=(48, 48), lr=3e-3),
                       decide=lambda r: first.append(r) or True)  # a good model to start from
    qtbot.waitUntil(lambda: idle(controller) and bool(first), timeout=120000)
    weights = {k: v.clone() for k, v in controller.autoseg.predictor.checkpoint.model.state_dict().items()}
    versions = sorted(window.project.models_dir.glob("*.safetensors"))
    results = []
    # A learning rate this large wrecks the weights: the result is worse on the held-out images.
    import segstudio.app.retrain_dialog as dialog

    monkeypatch.setattr(dialog, "ask_accept", lambda parent, r, labels: results.append(r) or r.improved)
    controller.retrain.retrain(FinetuneSettings(minutes=None, epochs=2, crop=(48, 48), lr=100.0))
    qtbot.waitUntil(lambda: idle(controller) and bool(results), timeout=60000)
    assert not results[0].improved
    state = controller.autoseg.predictor.checkpoint.model.state_dict()
    assert all(torch.equal(weights[k], state[k]) for k in weights)
    assert sorted(window.project.models_dir.glob("*.safetensors")) == versions


def test_training_uses_a_snapshot_of_the_masks(qtbot, window, controller, tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path, n=4)
    seen = {}
    import segstudio.app.retrain as features

    real = features.retrain_job

    def spy(checkpoint, paths, masks, settings, device, verified=None):
        seen["masks"] = masks
        return real(checkpoint, paths, masks, settings, device, verified=verified)

    monkeypatch.setattr(features, "retrain_job", spy)
    controller.retrain.retrain(FinetuneSettings(minutes=None, epochs=2, crop=(48, 48)), decide=lambda r: False)
    qtbot.waitUntil(lambda: "masks" in seen, timeout=20000)
    window.show_image("s0")
    window.doc.mask[:] = 9  # a "stroke" during training
    qtbot.waitUntil(lambda: idle(controller), timeout=60000)
    assert not (seen["masks"]["s0"] == 9).all()


def test_closing_during_training_stops_and_joins_cleanly(qtbot, window, controller, tmp_path, monkeypatch):
    scene_folder_with_masks(window, tmp_path, n=4)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    controller.retrain.retrain(FinetuneSettings(minutes=10, crop=(48, 48)), decide=lambda r: True)
    qtbot.waitUntil(lambda: controller.autoseg.busy is not None and controller.autoseg.busy.name == "training", timeout=20000)
    worker = controller.autoseg.busy
    models_dir = window.project.models_dir
    weights = {k: v.clone() for k, v in controller.autoseg.predictor.checkpoint.model.state_dict().items()}
    window.close()
    assert not worker.is_running() and window.project is None
    # Cancelled: no version saved (whole or half-written), no temp file, the model unchanged.
    assert list(models_dir.iterdir()) == []
    state = controller.autoseg.predictor.checkpoint.model.state_dict()
    assert all(torch.equal(weights[k], state[k]) for k in weights)
