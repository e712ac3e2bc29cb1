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
    return ["train", "--train-images", data / "images", "--train-labels", data / "labels",
            "--val-images", data / "images", "--val-labels", data / "labels", "--model", "unet-bn",
            "--width", "4", "--epochs", "6", "--batch-size", batch, "--lr", "0.01", "--crop", "32x48",
            "--device", "cpu", "--threads", "1", "--seed", "0", "--out", out]


def metrics_of(path):
    from segstudio.ml.checkpoint import read_metadata

    return read_metadata(path)["record"]["metrics"]


def test_two_ranks_train_like_one_for_the_same_global_batch(scene_folder, tmp_path):
    one = torchrun(1, *train_args(scene_folder, tmp_path / "one.safetensors", 4))
    assert one.returncode == 0, one.stderr[-2000:]
    two = torchrun(2, *train_args(scene_folder, tmp_path / "two.safetensors", 2))
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = metrics_of(tmp_path / "one.safetensors"), metrics_of(tmp_path / "two.safetensors")
    assert abs(a["pixel_accuracy"] - b["pixel_accuracy"]) < 0.1
    # Only rank 0 prints the per-epoch lines and writes the checkpoint.
    assert two.stdout.count("epoch   6/6") == 1
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
