"""The training generator on tiny generated data: events, checkpoint, resume, cancel."""

import os

import pytest
import torch

from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.train import (
    EpochEnd, EpochStart, StepProgress, TrainConfig, TrainDone, load_resume_state, train,
)

from pathlib import Path

CAMVID = Path(__file__).resolve().parents[3] / "shared" / "data" / "camvid"


def _config(folder, out, **kw):
    settings = dict(
        train_images=str(folder / "images"), train_labels=str(folder / "labels"),
        val_images=str(folder / "images"), val_labels=str(folder / "labels"),
        out=str(out), model="unet-bn", width=4, epochs=2, batch_size=3, lr=1e-2,
        device="cpu", threads=1, seed=0, aug=("flip",), class_weights="auto",
    )
    settings.update(kw)
    return TrainConfig(**settings)


def test_train_yields_events_and_writes_loadable_checkpoint(scene_folder, tmp_path):
    out = tmp_path / "m.safetensors"
    events = list(train(_config(scene_folder, out)))
    kinds = [type(e) for e in events]
    assert kinds[0] is EpochStart and kinds[-1] is TrainDone
    assert kinds.count(EpochStart) == 2 and kinds.count(EpochEnd) == 2
    steps = [e for e in events if isinstance(e, StepProgress)]
    assert len(steps) == 4 and steps[0].steps == 2 and steps[-1].eta_s == pytest.approx(0.0, abs=1e-6)
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert ends[0].is_best and set(ends[-1].metrics) >= {"pixel_accuracy", "mean_iou", "per_class_iou"}
    done = events[-1]
    assert done.checkpoint_path == str(out) and done.epochs_run == 2
    assert done.best_metrics["mean_iou"] == max(e.metrics["mean_iou"] for e in ends)
    loaded = load_checkpoint(out)
    assert loaded.config["base_width"] == 4 and loaded.labelset.num_classes == 12
    assert loaded.record["seed"] == 0 and loaded.record["epochs"] == 2
    assert loaded.train_size == {"mode": "native", "image_size": [40, 56]}  # the frames' median size
    with torch.no_grad():
        assert loaded.model(torch.zeros(1, 3, 40, 56)).shape == (1, 12, 40, 56)
    state = load_resume_state(out.with_name("m.resume.pt"))  # weights_only=True inside
    assert state["epoch"] == 2


def test_resume_continues_from_saved_epoch(scene_folder, tmp_path):
    out = tmp_path / "r.safetensors"
    list(train(_config(scene_folder, out, epochs=1, size=32)))
    resume = tmp_path / "r.resume.pt"
    assert load_resume_state(resume)["epoch"] == 1
    events = list(train(_config(scene_folder, out, epochs=3, size=32, resume=str(resume))))
    assert [e.epoch for e in events if isinstance(e, EpochStart)] == [2, 3]
    assert load_resume_state(resume)["epoch"] == 3
    assert events[-1].epochs_run == 3 and events[-1].best_metrics is not None
    with pytest.raises(ValueError, match="unet-bn"):
        list(train(_config(scene_folder, out, model="unet", epochs=4, resume=str(resume))))


def test_crop_training_cancel_and_time_budget(scene_folder, tmp_path):
    out = tmp_path / "c.safetensors"
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 1

    events = list(train(_config(scene_folder, out, crop=(24, 32), aug=("scale", "rotate")), should_stop=stop))
    assert events[-1].stopped_early == "cancelled"
    assert not any(isinstance(e, EpochEnd) for e in events)
    events = list(train(_config(scene_folder, out, crop=(24, 32), epochs=5, minutes=0.0)))
    assert events[-1].stopped_early == "time budget reached"
    assert sum(isinstance(e, EpochEnd) for e in events) == 1 and os.path.exists(out)


def test_explicit_class_weights_are_checked(scene_folder, tmp_path):
    with pytest.raises(ValueError, match="12"):
        list(train(_config(scene_folder, tmp_path / "w.safetensors", class_weights=(1.0, 2.0))))


@pytest.mark.camvid
def test_one_step_on_real_camvid(tmp_path):
    if not (CAMVID / "train").is_dir():
        pytest.skip("CamVid is not in ../shared/data/camvid")
    names = sorted(os.listdir(CAMVID / "train"))[:2]
    for sub, src in (("img", "train"), ("lab", "trainannot")):
        (tmp_path / sub).mkdir()
        for name in names:
            os.symlink(CAMVID / src / name, tmp_path / sub / name)
    config = TrainConfig(
        train_images=str(tmp_path / "img"), train_labels=str(tmp_path / "lab"),
        val_images=str(tmp_path / "img"), val_labels=str(tmp_path / "lab"),
        out=str(tmp_path / "cv.safetensors"), model="unet", width=4, size=64, epochs=1, batch_size=2,
        device="cpu", threads=1, class_weights="auto", aug=("bright", "rotate"),
    )
    events = list(train(config))
    assert sum(isinstance(e, StepProgress) for e in events) == 1
    end = next(e for e in events if isinstance(e, EpochEnd))
    assert 0.0 <= end.metrics["pixel_accuracy"] <= 1.0 and len(end.metrics["class_ids"]) == 11
    assert load_checkpoint(config.out).record["train_images"] == str(tmp_path / "img")
