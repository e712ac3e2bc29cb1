"""A hostile ``--resume`` file (a pickle that runs code when unpickled) is refused, its payload never run.

``torch.load(weights_only=False)`` would run the payload; the resume file must
be read with ``weights_only=True``. Tried through the command line and the
public ``train`` generator, in torch's zip format and as a bare pickle.
"""

import os
import pickle

import pytest
import torch

from segstudio.ml.train import TrainConfig, train


class MkdirPayload:
    """Unpickling this calls ``os.mkdir(marker)``: proof that the payload ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def hostile_resume_files(tmp_path, marker):
    zipped = tmp_path / "zipped.resume.pt"
    torch.save({"epoch": 1, "model": {"head.weight": MkdirPayload(str(marker))}}, zipped)
    bare = tmp_path / "bare.resume.pt"
    with open(bare, "wb") as handle:
        pickle.dump({"epoch": MkdirPayload(str(marker))}, handle, protocol=2)
    return [zipped, bare]


def _train_args(folder, out, resume):
    return (
        "train", "--train-images", folder / "images", "--train-labels", folder / "labels",
        "--val-images", folder / "images", "--val-labels", folder / "labels",
        "--model", "unet-bn", "--width", "4", "--out", out, "--epochs", "1", "--batch-size", "3",
        "--size", "32", "--device", "cpu", "--threads", "1", "--resume", resume,
    )


def test_the_cli_refuses_a_hostile_resume_file_without_running_it(cli, scene_folder, tmp_path):
    marker = tmp_path / "pwned"
    for resume in hostile_resume_files(tmp_path, marker):
        out = tmp_path / "m.safetensors"
        code, _, err = cli(*_train_args(scene_folder, out, resume))
        assert code == 2, err
        assert resume.name in err and "Traceback" not in err
        assert not marker.exists(), f"{resume.name}: the payload ran"
        assert not out.exists()  # nothing trained from it


def test_the_train_generator_refuses_a_hostile_resume_file(scene_folder, tmp_path):
    marker = tmp_path / "pwned"
    for resume in hostile_resume_files(tmp_path, marker):
        config = TrainConfig(
            train_images=str(scene_folder / "images"), train_labels=str(scene_folder / "labels"),
            val_images=str(scene_folder / "images"), val_labels=str(scene_folder / "labels"),
            out=str(tmp_path / "g.safetensors"), model="unet-bn", width=4, epochs=1, batch_size=3,
            size=32, device="cpu", threads=1, resume=str(resume),
        )
        with pytest.raises(ValueError, match="resume"):
            list(train(config))
        assert not marker.exists(), f"{resume.name}: the payload ran"
