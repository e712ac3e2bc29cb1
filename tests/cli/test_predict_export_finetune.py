import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.core.labels import CAMVID
from segstudio.core.maskio import read_index_png, write_index_png
from segstudio.ml.checkpoint import load_checkpoint, save_checkpoint
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "native"})
    return path


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "segstudio", "--help"], capture_output=True, text=True).stdout
    for command in ("train", "eval", "reproduce", "predict", "finetune", "export", "import-masks"):
        assert command in out


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and "SegStudio" in out and "torch" in out


def test_predict_writes_masks_and_confidence_and_resumes(cli, scene_folder, tiny_checkpoint, tmp_path):
    (scene_folder / "images" / "broken.png").write_bytes(b"nope")
    out = tmp_path / "pred"
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", scene_folder / "images",
                          "--out", out, "--confidence", "--device", "cpu")
    assert code == 1  # one image could not be read: reported, the rest done
    assert "broken.png" in stdout
    masks = sorted(out.glob("*.png"))
    assert len(masks) == 6
    assert read_index_png(masks[0], CAMVID).shape == (40, 56)
    assert (out / "confidence" / "scene0.png").exists()
    code, stdout, _ = cli("predict", "--model", tiny_checkpoint, "--images", scene_folder / "images", "--out", out)
    assert "6 of 7 already done" in stdout


def test_predict_refuses_a_bad_model(cli, scene_folder, tmp_path):
    (tmp_path / "junk.safetensors").write_text("junk")
    code, _, err = cli("predict", "--model", tmp_path / "junk.safetensors", "--images", scene_folder / "images",
                       "--out", tmp_path / "o")
    assert code == 2 and "junk.safetensors" in err


def test_export_and_import_commands(cli, scene_folder, tmp_path):
    images = scene_folder / "images"
    code, out, _ = cli("import-masks", images, "--from", scene_folder / "labels")
    assert code == 0 and "imported 6" in out
    code, out, _ = cli("export", images, "--out", tmp_path / "exp", "--format", "index,color")
    assert code == 0 and "exported 6" in out
    exported = read_index_png(tmp_path / "exp" / "labels" / "scene0.png", CAMVID)
    original = np.array(Image.open(scene_folder / "labels" / "scene0.png"))
    assert np.array_equal(exported, original)
    assert (tmp_path / "exp" / "images" / "scene0.png").exists()
    code, out, _ = cli("export", images, "--out", tmp_path / "exp2", "--format", "jpeg")
    assert code == 2


def test_finetune_prints_before_after_and_writes_only_if_better(cli, scene_folder, tiny_checkpoint, tmp_path):
    out = tmp_path / "tuned.safetensors"
    code, stdout, _ = cli("finetune", "--model", tiny_checkpoint, "--images", scene_folder / "images",
                          "--labels", scene_folder / "labels", "--out", out, "--epochs", "20", "--crop", "40x48",
                          "--lr", "3e-3", "--holdout", "0.3", "--device", "cpu")
    assert "mean IoU" in stdout and "before" in stdout
    assert code == 0 and out.exists()
    assert load_checkpoint(out).record["metrics"]["mean_iou"] > load_checkpoint(out).record["before"]
