"""torchrun on the CPU (gloo, two processes): training and sharded prediction."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="gloo multi-process on Linux/macOS")


def torchrun(nproc, *args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "segstudio", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def train_args(data, out, batch):
    # No BatchNorm (its batch statistics would differ between 2 and 4 images), no
    # augmentation or crops (drawn per rank), SGD (Adam's first step is lr x sign(g),
    # which turns float rounding in a near-zero gradient into a whole step).
    return ["train", "--train-images", data / "images", "--train-labels", data / "labels",
            "--val-images", data / "images", "--val-labels", data / "labels", "--model", "unet",
            "--width", "4", "--epochs", "3", "--batch-size", batch, "--lr", "0.05", "--optimizer", "sgd",
            "--device", "cpu", "--threads", "1", "--seed", "0", "--out", out]


@pytest.fixture
def four_scenes(tmp_path):
    """4 scenes of 32x48 with no void pixel: one global batch of 4 per step, the same
    pixel count on each rank, so the mean loss of 1 x 4 equals the mean of 2 x 2."""
    import numpy as np
    from PIL import Image

    from tests.conftest import make_scene

    rng = np.random.default_rng(0)
    for sub in ("images", "labels"):
        (tmp_path / "data" / sub).mkdir(parents=True)
    for i in range(4):
        image, mask = make_scene(rng, 32, 48)
        Image.fromarray(image).save(tmp_path / "data" / "images" / f"scene{i}.png")
        Image.fromarray(mask, mode="L").save(tmp_path / "data" / "labels" / f"scene{i}.png")
    return tmp_path / "data"


def metrics_of(path):
    from segstudio.ml.checkpoint import read_metadata

    return read_metadata(path)["record"]["metrics"]


def final_weights(out):
    from segstudio.ml.train import load_resume_state

    return load_resume_state(out.with_name(out.stem + ".resume.pt"))["model"]


def test_two_ranks_of_batch_2_train_the_same_weights_as_one_of_batch_4(four_scenes, tmp_path):
    """DDP averages the ranks' gradients: after 3 steps the weights match a single process to 1e-5.
    (Without the DDP wrap each rank trains on its own half and rank 0's weights drift away.)"""
    one = torchrun(1, *train_args(four_scenes, tmp_path / "one.safetensors", 4))
    assert one.returncode == 0, one.stderr[-2000:]
    two = torchrun(2, *train_args(four_scenes, tmp_path / "two.safetensors", 2))
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = final_weights(tmp_path / "one.safetensors"), final_weights(tmp_path / "two.safetensors")
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    assert worst < 1e-5, f"weights differ by up to {worst:g}"
    # Only rank 0 prints the per-epoch lines and writes the checkpoint.
    assert two.stdout.count("epoch   3/3") == 1
    assert json.dumps(metrics_of(tmp_path / "two.safetensors"))


def test_two_rank_prediction_writes_every_image_once_and_resumes(scene_folder, tmp_path):
    from segstudio.core.labels import CAMVID
    from segstudio.ml.checkpoint import save_checkpoint
    from segstudio.ml.models.registry import build_model, model_config

    config = model_config("unet", base_width=4, depth=2)
    model = tmp_path / "m.safetensors"
    save_checkpoint(model, build_model(config), config, CAMVID)
    out = tmp_path / "pred"
    first = torchrun(2, "predict", "--model", model, "--images", scene_folder / "images", "--out", out, "--device", "cpu")
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(p.stem for p in out.glob("*.png")) == [f"scene{i}" for i in range(6)]
    (out / "scene3.png").unlink()  # as if the rank writing it had died
    again = torchrun(2, "predict", "--model", model, "--images", scene_folder / "images", "--out", out, "--device", "cpu")
    assert again.returncode == 0
    assert "already done" in again.stdout
    assert (out / "scene3.png").exists() and not list(out.glob(".*.tmp"))
