"""Tiled inference equals whole-image inference with the shipped U-Net, not only a toy model.

Tiles start on the network's pooling grid and keep only what lies a receptive
radius inside the edges they share (``ml/inference.py``), so each kept pixel
saw what it sees in one whole-image pass. Only float rounding (another
convolution algorithm for another shape) may flip a near-tie.
"""

import cv2
import numpy as np
import pytest

from segstudio.core.imageio import read_image
from segstudio.core.resources import default_model_path, sample_folder
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.inference import Predictor, _layout

pytestmark = pytest.mark.skipif(not default_model_path().exists(), reason="the shipped model is not there")


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(default_model_path())


def scene(height, width):
    """A sample CamVid frame at 1920x1080, mirrored out to the size asked (natural content throughout)."""
    paths = sorted(sample_folder().glob("*.jpg"))
    frame = cv2.resize(read_image(paths[0]), (1920, 1080), interpolation=cv2.INTER_LINEAR)
    pad_h, pad_w = max(0, height - 1080), max(0, width - 1920)
    while pad_h or pad_w:
        step_h, step_w = min(pad_h, frame.shape[0] - 1), min(pad_w, frame.shape[1] - 1)
        frame = cv2.copyMakeBorder(frame, 0, step_h, 0, step_w, cv2.BORDER_REFLECT_101)
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return np.ascontiguousarray(frame[:height, :width])


def tile_count(predictor, height, width):
    rows = _layout(height, predictor.tile, predictor.margin, predictor.multiple)
    cols = _layout(width, predictor.tile, predictor.margin, predictor.multiple)
    return len(rows) * len(cols)


def assert_same(tiled, reference):
    agree = (tiled.mask == reference.mask).mean()
    assert agree >= 0.999, f"tiled and reference masks agree on {agree:.4%} of pixels"
    assert np.abs(tiled.confidence.astype(int) - reference.confidence).max() <= 2


def test_small_tiles_of_the_shipped_model_equal_one_whole_image_pass(shipped):
    height, width = 360, 480
    image = scene(height, width)
    tiled = Predictor(shipped, "cpu", tile=256)  # raised to what the receptive field needs (448)
    assert tiled.margin >= 107  # the shipped U-Net's receptive radius
    assert tile_count(tiled, height, width) > 1  # really tiled, with seams to get wrong
    whole = Predictor(shipped, "cpu", tile=4096)
    assert tile_count(whole, height, width) == 1
    assert_same(tiled.predict(image), whole.predict(image))


def test_the_default_tiles_at_1080p_equal_one_whole_image_pass(shipped):
    image = scene(1080, 1920)
    tiled = Predictor(shipped, "cpu")  # the defaults the app and the CLI use
    assert tile_count(tiled, 1080, 1920) > 1
    assert_same(tiled.predict(image), Predictor(shipped, "cpu", tile=4096).predict(image))


@pytest.mark.slow
def test_8000x6000_tiles_equal_a_pass_with_much_larger_tiles(shipped):
    """A whole-image pass at 8000x6000 needs ~15 GB of activations on the CPU, so the
    reference is a pass with 2048-pixel tiles: its seams lie elsewhere, so a seam in
    either shows as disagreement. (bench_tiling runs the same comparison.)"""
    image = scene(6000, 8000)
    tiled = Predictor(shipped, "cpu")
    reference = Predictor(shipped, "cpu", tile=2048)
    assert_same(tiled.predict(image), reference.predict(image))
