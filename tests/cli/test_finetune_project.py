"""``segstudio finetune --project``: verified pixels of a SegStudio folder, and a held-out set that stays."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.labels import CAMVID
from segstudio.core.project import ImageStatus, Project
from segstudio.core.verified import previous_holdout, save_verified
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.models.registry import build_model, model_config


@pytest.fixture
def tiny_checkpoint(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "native"})
    return path


def test_finetune_learns_from_a_projects_verified_pixels_and_keeps_its_held_out_images(cli, scene_folder,
                                                                                      tiny_checkpoint, tmp_path):
    folder = scene_folder / "images"
    project = Project.open(folder)
    rng = np.random.default_rng(0)
    for key in project.keys:
        truth = np.array(Image.open(scene_folder / "labels" / f"{key}.png"))
        project.save_mask(key, truth)
        project.set_status(key, ImageStatus.EDITED)
        save_verified(project, key, rng.random(truth.shape) < 0.6)  # partly corrected
    project.save_state()
    project.close()
    out = tmp_path / "tuned.safetensors"
    code, stdout, _ = cli("finetune", "--model", tiny_checkpoint, "--project", folder, "--out", out,
                          "--epochs", "2", "--crop", "40x48", "--device", "cpu", "--keep-worse")
    assert code == 0 and out.exists()
    assert "trained on 4 image(s), checked on 2 held out" in stdout  # the floor: 2 of 6
    held = previous_holdout(Project.open(folder))
    assert len(held) == 2
    cli("finetune", "--model", tiny_checkpoint, "--project", folder, "--out", out, "--epochs", "1",
        "--crop", "40x48", "--device", "cpu")
    assert previous_holdout(Project.open(folder)) == held


def test_finetune_needs_one_source_and_corrected_images(cli, scene_folder, tiny_checkpoint, tmp_path):
    code, _, err = cli("finetune", "--model", tiny_checkpoint, "--out", tmp_path / "x.safetensors")
    assert code == 2 and "--project" in err
    code, _, err = cli("finetune", "--model", tiny_checkpoint, "--project", scene_folder / "images",
                       "--out", tmp_path / "x.safetensors")
    assert code == 2 and "no corrected image" in err
