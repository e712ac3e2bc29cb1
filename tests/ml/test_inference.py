"""Predictor: tiles equal the whole image, OOM backoff, the training scale, bounded memory."""

import numpy as np
import pytest
import torch
from torch import nn

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import LoadedCheckpoint, load_checkpoint, read_metadata, save_checkpoint
from segstudio.ml.inference import MIN_TILE, Predictor, _layout, inference_scale
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)


def local_model(seed=0):
    """Two 3x3 convolutions: a 5x5 receptive field, well inside a 32-pixel overlap."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1)).eval()


def checkpoint_of(model, train_size=None):
    return LoadedCheckpoint(model=model, config={"num_classes": 12}, labelset=CAMVID, train_size=train_size)


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def whole_image_probabilities(predictor, image):
    return torch.softmax(predictor.predict_logits(image), dim=1)[0].numpy()


def test_tiled_inference_equals_whole_image_inference():
    image = random_image(300, 410)
    model = local_model()
    whole = Predictor(checkpoint_of(model), "cpu", tile=1024).predict(image)
    tiled_predictor = Predictor(checkpoint_of(model), "cpu", tile=128, overlap=32, batch_size=3)
    tiled = tiled_predictor.predict(image)
    probs = whole_image_probabilities(tiled_predictor, image)
    assert tiled.mask.shape == (300, 410) and tiled.mask.dtype == np.uint8
    assert tiled.confidence.shape == (300, 410) and tiled.confidence.dtype == np.uint8
    # Only pixels where two classes tie to within the blending error may differ.
    assert (tiled.mask == whole.mask).mean() > 0.999
    assert (tiled.mask == probs.argmax(0)).mean() > 0.999
    assert np.abs(tiled.confidence.astype(int) - whole.confidence).max() <= 2
    assert abs(tiled.mean_uncertainty - whole.mean_uncertainty) < 1e-3


def test_one_tile_is_exactly_the_whole_image():
    image = random_image(90, 130, seed=1)
    predictor = Predictor(checkpoint_of(local_model()), "cpu", tile=512)
    prediction = predictor.predict(image)
    probs = whole_image_probabilities(predictor, image)
    assert np.array_equal(prediction.mask, probs.argmax(0))
    expected = np.clip(probs.max(0) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(prediction.confidence.astype(int) - expected).max() <= 1
    assert prediction.mean_uncertainty == pytest.approx(1 - prediction.confidence.mean() / 255)


@pytest.mark.parametrize("tile, margin, multiple", [(512, 112, 16), (512, 32, 32), (1024, 256, 32), (128, 0, 1)])
def test_tile_layout_keeps_each_pixel_once_and_far_from_shared_edges(tile, margin, multiple):
    for length in (100, 512, 513, 1080, 1920, 6000, 8000):
        spans = _layout(length, tile, margin, multiple)
        kept = [k for _, _, k0, k1 in spans for k in range(k0, k1)]
        assert kept == list(range(length))  # every pixel from exactly one tile
        for i, (in0, in1, keep0, keep1) in enumerate(spans):
            assert in1 - in0 <= tile and in0 % multiple == 0  # on the network's pooling grid
            assert keep0 - in0 >= (margin if i > 0 else 0)  # the kept part is a margin inside shared edges
            assert in1 - keep1 >= (margin if i < len(spans) - 1 else 0)
        assert spans[0][0] == 0 and spans[-1][1] == length


def test_void_is_never_predicted():
    model = local_model()
    with torch.no_grad():
        model[2].bias[11] = 100.0  # an untrained void logit that would win everywhere
    prediction = Predictor(checkpoint_of(model), "cpu").predict(np.zeros((20, 30, 3), np.uint8))
    assert not (prediction.mask == 11).any()


class ExplodesAboveSize(nn.Module):
    """Raises an out-of-memory error for batches above ``limit`` pixels, then works."""

    def __init__(self, limit, error=lambda: torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")):
        super().__init__()
        self.inner, self.limit, self.error, self.calls = local_model(), limit, error, []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[2] * x.shape[3] > self.limit:
            raise self.error()
        return self.inner(x)


@pytest.mark.parametrize(
    "error",
    [
        lambda: torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)"),
        lambda: RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: not enough memory: out of memory"),
        lambda: MemoryError(),
    ],
    ids=["cuda", "cpu-runtime", "memoryerror"],
)
def test_out_of_memory_halves_batch_then_tile_and_goes_on(error):
    image = random_image(200, 700, seed=2)  # wide enough for a batch of equal tiles
    model = ExplodesAboveSize(limit=128 * 128, error=error)
    predictor = Predictor(checkpoint_of(model), "cpu", tile=256, overlap=16, batch_size=4)
    prediction = predictor.predict(image)
    assert prediction.mask.shape == (200, 700)
    assert predictor.batch_size == 1 and predictor.tile == 128
    shapes = list(predictor.model.calls)  # the calls reach the inference copy, not `model`
    assert shapes[0][0] > 1 and shapes[-1][0] == 1  # first the batch shrank...
    assert max(s[2] for s in shapes[-3:]) <= 128  # ...then the tile
    # The result is the same as a model with no limit, tiled the same way.
    reference = Predictor(checkpoint_of(model.inner), "cpu", tile=128, overlap=16).predict(image)
    assert np.array_equal(prediction.mask, reference.mask)


def test_out_of_memory_at_the_smallest_tile_is_an_error():
    predictor = Predictor(checkpoint_of(ExplodesAboveSize(limit=10)), "cpu", tile=MIN_TILE, batch_size=1)
    with pytest.raises(MemoryError, match="out of memory"):
        predictor.predict(np.zeros((64, 64, 3), np.uint8))


def test_other_errors_are_not_swallowed():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch, nothing to do with memory")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        Predictor(checkpoint_of(Broken()), "cpu").predict(np.zeros((8, 8, 3), np.uint8))


def test_bad_input_is_refused():
    predictor = Predictor(checkpoint_of(local_model()), "cpu")
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        predictor.predict(np.zeros((8, 8, 3), np.float32))


@pytest.mark.parametrize(
    "train_size, expected",
    [
        (None, (360, 480)),
        ({}, (360, 480)),
        ({"mode": "native"}, (360, 480)),
        ({"mode": "crop", "crop": [256, 256]}, (360, 480)),
        ({"mode": "resize", "size": [224, 300]}, (224, 300)),
        ({"mode": "resize", "size": 224}, (224, 224)),
        ({"mode": "native", "scale": 0.5}, (180, 240)),
        ({"mode": "something new"}, (360, 480)),
    ],
)
def test_inference_scale_reads_train_size(train_size, expected):
    assert inference_scale(train_size, 360, 480) == expected


def test_resize_mode_returns_a_full_size_mask_from_the_resized_prediction():
    image = random_image(123, 217, seed=3)
    predictor = Predictor(checkpoint_of(local_model(), {"mode": "resize", "size": [64, 64]}), "cpu")
    seen = []
    real_forward = predictor.model.forward
    predictor.model.forward = lambda x: seen.append(tuple(x.shape[2:])) or real_forward(x)
    prediction = predictor.predict(image)
    assert seen == [(64, 64)]
    assert prediction.mask.shape == (123, 217) and prediction.confidence.shape == (123, 217)


def test_resize_mode_upsampling_matches_interpolate():
    import cv2

    image = random_image(100, 150, seed=4)
    predictor = Predictor(checkpoint_of(local_model(), {"mode": "resize", "size": 48}), "cpu")
    prediction = predictor.predict(image)
    small = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
    probs = torch.softmax(predictor.predict_logits(small), dim=1)
    up = torch.nn.functional.interpolate(probs, size=(100, 150), mode="bilinear", align_corners=False)[0]
    assert (prediction.mask == up.argmax(0).numpy()).mean() > 0.995


def test_scale_mode_predicts_at_the_scale_and_returns_full_size():
    predictor = Predictor(checkpoint_of(local_model(), {"mode": "native", "scale": 0.5}), "cpu", tile=64, overlap=16)
    prediction = predictor.predict(random_image(200, 260, seed=5))
    assert prediction.mask.shape == (200, 260)


def test_a_large_image_never_holds_the_whole_images_probabilities(monkeypatch):
    """Probabilities exist one batch of tiles at a time (torch), and nothing of
    C x H x W is ever allocated on the numpy side either."""
    import tracemalloc

    h, w, c = 900, 700, 12
    sizes = []
    real_softmax = torch.softmax

    def spy(x, *args, **kwargs):
        out = real_softmax(x, *args, **kwargs)
        sizes.append(out.numel() * 4)
        return out

    monkeypatch.setattr(torch, "softmax", spy)
    predictor = Predictor(checkpoint_of(local_model()), "cpu", tile=128, overlap=32)
    image = random_image(h, w, seed=6)
    tracemalloc.start()
    try:
        predictor.predict(image)
        _, numpy_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = c * h * w * 4
    assert sizes and max(sizes) <= c * 128 * 128 * 4  # one 128-pixel tile at a time (batch 1 on the CPU)
    assert numpy_peak < whole / 5, f"numpy peak {numpy_peak} B against {whole} B for the whole image"


def test_predict_many_is_lazy_and_stops():
    predictor = Predictor(checkpoint_of(local_model()), "cpu")
    made = []

    def images():
        for i in range(5):
            made.append(i)
            yield f"k{i}", random_image(16, 16, seed=i)

    out = []
    for key, prediction in predictor.predict_many(images(), should_stop=lambda: len(out) >= 2):
        out.append(key)
    assert out == ["k0", "k1"] and len(made) == 3


def test_a_registry_model_through_a_checkpoint(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID, train_size={"mode": "resize", "size": [32, 48]})
    predictor = Predictor(load_checkpoint(path), "cpu")
    prediction = predictor.predict(random_image(75, 101, seed=7))
    assert prediction.mask.shape == (75, 101) and prediction.mask.max() < 11


def test_normalisation_comes_from_the_checkpoint():
    class Echo(nn.Module):  # class 0's logit is the first input channel's mean: shows what the net saw
        def forward(self, x):
            out = torch.zeros(x.shape[0], 12, *x.shape[2:])
            out[:, 0] = x[:, 0].mean()
            return out

    checkpoint = checkpoint_of(Echo())
    checkpoint.normalization = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    logits = Predictor(checkpoint, "cpu").predict_logits(np.full((4, 4, 3), 255, np.uint8))
    assert logits[0, 0, 0, 0].item() == pytest.approx(1.0)


@pytest.mark.skipif(not __import__("segstudio.core.resources", fromlist=["x"]).default_model_path().exists(),
                    reason="resources/models/default.safetensors is not there")
def test_the_default_model_loads_and_names_12_classes():
    from segstudio.core.resources import default_model_path

    path = default_model_path()
    meta = read_metadata(path)
    assert len(meta["labels"]["classes"]) == 12 and meta["config"]["num_classes"] == 12
    checkpoint = load_checkpoint(path)
    assert checkpoint.labelset.num_classes == 12
    prediction = Predictor(checkpoint, "cpu").predict(random_image(360, 480))
    assert prediction.mask.shape == (360, 480)
