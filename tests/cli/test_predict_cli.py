"""``segstudio predict``: masks and confidence written, resumable, failures reported."""

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.core.labels import CAMVID
from segstudio.core.maskio import read_color_png, read_index_png
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "native"})
    return path


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 56), (33, 70), (90, 130)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_predict_writes_index_masks_and_confidence(cli, photos, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out,
                          "--confidence", "--device", "cpu", "--tile", "64", "--overlap", "16")
    assert code == 0, stdout
    for i, shape in enumerate([(40, 56), (33, 70), (90, 130)]):
        assert read_index_png(out / f"p{i}.png", CAMVID).shape == shape
        confidence = np.array(Image.open(out / "confidence" / f"p{i}.png"))
        assert confidence.shape == shape and confidence.dtype == np.uint8
    assert not list(out.glob("*.tmp*"))


def test_predict_writes_colour_masks(cli, photos, tiny_checkpoint, tmp_path):
    out = tmp_path / "colour"
    code, _, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out, "--format", "color")
    assert code == 0
    assert read_color_png(out / "p0.png", CAMVID).shape == (40, 56)


def test_predict_resumes_and_overwrites_only_when_asked(cli, photos, tiny_checkpoint, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.png").write_bytes(b"kept")  # "done" in an earlier run
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out)
    assert code == 0 and "1 of 3 already done" in stdout
    assert (out / "p1.png").read_bytes() == b"kept"
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out)
    assert "3 of 3 already done" in stdout
    code, _, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out, "--overwrite")
    assert code == 0 and read_index_png(out / "p1.png", CAMVID).shape == (33, 70)


def test_unreadable_images_are_reported_skipped_and_fail_the_run(cli, photos, tiny_checkpoint, tmp_path):
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", out)
    assert code == 1
    assert "broken.jpg" in stdout
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p1.png", "p2.png"]


def test_a_missing_default_model_is_a_clear_error(cli, photos, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGSTUDIO_DEFAULT_MODEL", str(tmp_path / "nowhere.safetensors"))
    code, _, err = cli("predict", "--images", photos, "--out", tmp_path / "out")
    assert code == 2 and "default model" in err and "--model" in err


def test_missing_folder_and_bad_model_are_errors(cli, photos, tiny_checkpoint, tmp_path):
    code, _, err = cli("predict", "--model", tiny_checkpoint, "--images", tmp_path / "nope", "--out", tmp_path / "o")
    assert code == 2 and "not a folder" in err
    (tmp_path / "junk.safetensors").write_text("junk")
    code, _, err = cli("predict", "--model", tmp_path / "junk.safetensors", "--images", photos, "--out", tmp_path / "o")
    assert code == 2 and "junk.safetensors" in err


def test_predict_survives_no_stderr(cli, photos, tiny_checkpoint, tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "stderr", None)
    code, _, _ = cli("predict", "--model", tiny_checkpoint, "--images", photos, "--out", tmp_path / "out")
    assert code == 0 and (tmp_path / "out" / "p2.png").exists()


def test_predict_names_masks_by_key_so_images_sharing_a_stem_keep_both(cli, tiny_checkpoint, tmp_path):
    from segstudio.core.project import Project

    folder = tmp_path / "same"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ("a.png", "a.jpg", "b.png"):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / name)
    out = tmp_path / "out"
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", folder, "--out", out, "--device", "cpu")
    assert code == 0, stdout
    assert sorted(p.name for p in out.glob("*.png")) == ["a.jpg.png", "a.png.png", "b.png"]
    project = Project.open(folder)  # the keys a project gives the same images
    assert sorted(f"{key}.png" for key in project.keys) == sorted(p.name for p in out.glob("*.png"))
    project.close()
