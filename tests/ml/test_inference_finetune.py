import numpy as np
import pytest
import torch
from torch import nn

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import LoadedCheckpoint, save_checkpoint
from segstudio.ml.finetune import FinetuneSettings, finetune
from segstudio.ml.inference import Predictor
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


def local_model():
    """Two 3x3 convolutions: a 5x5 receptive field, well inside a 32-pixel overlap."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1)).eval()


def checkpoint_of(model, train_size=None):
    return LoadedCheckpoint(model=model, config={"num_classes": 12}, labelset=CAMVID, train_size=train_size)


def test_tiled_inference_equals_whole_image_inference():
    image = np.random.default_rng(0).integers(0, 255, (300, 410, 3), dtype=np.uint8)
    whole = Predictor(checkpoint_of(local_model()), tile=1024).predict(image)
    tiled = Predictor(checkpoint_of(local_model()), tile=128, overlap=32, batch_size=3).predict(image)
    assert tiled.mask.shape == (300, 410)
    assert (tiled.mask == whole.mask).mean() > 0.999
    assert np.abs(tiled.confidence.astype(int) - whole.confidence).max() <= 2


def test_void_is_never_predicted():
    model = local_model()
    with torch.no_grad():
        model[2].bias[11] = 100.0  # an untrained void logit that would win everywhere
    prediction = Predictor(checkpoint_of(model)).predict(np.zeros((20, 30, 3), np.uint8))
    assert not (prediction.mask == 11).any()


class ExplodesAboveSize(nn.Module):
    def __init__(self, limit):
        super().__init__()
        self.inner, self.limit, self.calls = local_model(), limit, []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[2] * x.shape[3] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_out_of_memory_halves_batch_then_tile_and_goes_on():
    model = ExplodesAboveSize(limit=128 * 128)
    predictor = Predictor(checkpoint_of(model), tile=256, overlap=16, batch_size=4)
    prediction = predictor.predict(np.zeros((200, 300, 3), np.uint8))
    assert prediction.mask.shape == (200, 300)
    assert predictor.batch_size == 1 and predictor.tile == 128


def test_resize_mode_returns_a_full_size_mask():
    predictor = Predictor(checkpoint_of(local_model(), {"mode": "resize", "size": [64, 64]}))
    prediction = predictor.predict(np.zeros((123, 217, 3), np.uint8))
    assert prediction.mask.shape == (123, 217) and prediction.confidence.shape == (123, 217)


def scenes(seed: int, count: int, height: int, width: int):
    """``count`` generated scenes (image, mask), keyed s0, s1, ..."""
    from tests.conftest import make_scene

    rng = np.random.default_rng(seed)
    pairs = {f"s{i}": make_scene(rng, height, width) for i in range(count)}
    return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}


def test_finetune_raises_held_out_iou_and_leaves_the_model_untouched(tmp_path):
    images, masks = scenes(seed=1, count=10, height=48, width=64)
    config = model_config("unet-bn", base_width=8, depth=2)
    model = build_model(config).eval()
    checkpoint = LoadedCheckpoint(model, config, CAMVID, train_size={"mode": "native"})
    before_weights = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    events = finetune(checkpoint, images, masks, FinetuneSettings(minutes=None, epochs=25, crop=(48, 48),
                                                                  batch_size=4, lr=3e-3), torch.device("cpu"))
    result = None
    while True:
        try:
            next(events)
        except StopIteration as stop:
            result = stop.value
            break
    assert result.after["mean_iou"] > result.before["mean_iou"] + 0.1
    assert result.improved
    assert all(torch.equal(before_weights[k], v) for k, v in model.state_dict().items())


def test_cancelled_finetune_returns_nothing():
    images, masks = scenes(seed=2, count=4, height=32, width=32)
    config = model_config("unet-bn", base_width=4, depth=2)
    checkpoint = LoadedCheckpoint(build_model(config).eval(), config, CAMVID)
    before = {k: v.clone() for k, v in checkpoint.model.state_dict().items()}
    steps = []
    events = finetune(checkpoint, images, masks, FinetuneSettings(minutes=None, epochs=50, crop=(32, 32)),
                      torch.device("cpu"), should_stop=lambda: len(steps) >= 2)
    with pytest.raises(StopIteration) as stop:
        while True:
            steps.append(next(events))
    assert stop.value.value is None
    # Weights and BatchNorm statistics of the current model are exactly as they were.
    assert all(torch.equal(before[k], v) for k, v in checkpoint.model.state_dict().items())


def _run_to_end(events):
    progress = []
    while True:
        try:
            progress.append(next(events))
        except StopIteration as stop:
            return progress, stop.value


@pytest.mark.parametrize("minutes, epochs, stops_by", [(60.0, 2, "epochs"), (0.0005, 10_000, "time")])
def test_the_first_of_the_time_budget_and_the_epoch_limit_ends_it(minutes, epochs, stops_by):
    images, masks = scenes(seed=3, count=6, height=32, width=32)
    config = model_config("unet", base_width=4, depth=2)
    checkpoint = LoadedCheckpoint(build_model(config).eval(), config, CAMVID)
    settings = FinetuneSettings(minutes=minutes, epochs=epochs, crop=(32, 32), batch_size=2)
    progress, result = _run_to_end(finetune(checkpoint, images, masks, settings, torch.device("cpu")))
    assert result is not None
    training = [e for e in progress if e.phase == "training"]
    last_epoch = training[-1].epoch
    if stops_by == "epochs":
        assert last_epoch == 2 and training[-1].fraction == pytest.approx(1.0)
    else:
        assert last_epoch < 10 and training[-1].elapsed_s >= 0.03
    fractions = [e.fraction for e in training]
    assert fractions == sorted(fractions) and 0.0 < fractions[0] <= 1.0
