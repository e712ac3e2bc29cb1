"""Joint transforms: shapes, nearest-neighbour masks, ignore-filled borders."""

import numpy as np
import pytest
import torch

from segstudio.ml.checkpoint import NORMALIZATION
from segstudio.ml.transforms import build_eval_transform, build_train_transform, parse_aug, to_tv

IGNORE = 11
MEAN = torch.tensor(NORMALIZATION["mean"]).view(3, 1, 1)
STD = torch.tensor(NORMALIZATION["std"]).view(3, 1, 1)


def _sample(h=48, w=64, ids=(0, 10)):
    """Blocks of two far-apart ids (interpolation would invent ids between them);
    the image's red channel encodes the id so alignment can be checked."""
    mask = np.full((h, w), ids[0], np.uint8)
    mask[(np.arange(h)[:, None] // 6 + np.arange(w)[None, :] // 6) % 2 == 1] = ids[1]
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = mask * 20 + 30
    image[..., 1] = 200
    return to_tv(image, mask)


def _unnormalise(x):
    return ((x * STD + MEAN) * 255).round()


def test_rotation_fills_corners_with_ignore_never_a_class():
    torch.manual_seed(0)
    image, mask = to_tv(np.full((40, 40, 3), 200, np.uint8), np.full((40, 40), 3, np.uint8))
    t = build_train_transform(aug={"rotate"}, ignore_index=IGNORE, rotation_degrees=(40.0, 40.0))
    x, y = t(image, mask)
    assert y.dtype == torch.int64 and set(y.unique().tolist()) == {3, IGNORE}
    for corner in (y[0, 0], y[0, -1], y[-1, 0], y[-1, -1]):
        assert corner == IGNORE
    raw = _unnormalise(x)
    assert (raw[:, 0, 0] == 0).all()  # image corners filled black
    assert (raw[:, 20, 20] == 200).all()


@pytest.mark.parametrize("aug", [{"rotate"}, {"scale"}, {"rotate", "scale", "flip", "bright"}])
def test_masks_never_hold_interpolated_ids(aug):
    image, mask = _sample()
    t = build_train_transform(crop=(32, 40), aug=aug, ignore_index=IGNORE)
    for seed in range(8):
        torch.manual_seed(seed)
        x, y = t(image, mask)
        assert x.shape == (3, 32, 40) and y.shape == (32, 40)
        assert set(y.unique().tolist()) <= {0, 10, IGNORE}


def test_flip_and_crop_keep_image_and_mask_aligned():
    image, mask = _sample()
    t = build_train_transform(crop=(24, 24), aug={"flip"}, ignore_index=IGNORE)
    for seed in range(6):
        torch.manual_seed(seed)
        x, y = t(image, mask)
        red = _unnormalise(x)[0]
        assert torch.equal(((red - 30) / 20).long(), y)


def test_scale_zoom_out_fills_with_ignore():
    image, mask = to_tv(np.full((32, 32, 3), 90, np.uint8), np.full((32, 32), 2, np.uint8))
    t = build_train_transform(aug={"scale"}, ignore_index=IGNORE, scale_range=(0.5, 0.5))
    _, y = t(image, mask)
    assert y[0, 0] == IGNORE and y[16, 16] == 2
    assert set(y.unique().tolist()) == {2, IGNORE}


def test_brightness_changes_the_image_only():
    image, mask = _sample()
    torch.manual_seed(1)
    x, y = build_train_transform(aug={"bright"})(image, mask)
    x0, y0 = build_eval_transform()(image, mask)
    assert torch.equal(y, y0) and not torch.equal(x, x0)


def test_square_resize_and_eval_shapes():
    image, mask = _sample(36, 50)
    x, y = build_train_transform(size=24)(image, mask)
    assert x.shape == (3, 24, 24) and y.shape == (24, 24) and x.dtype == torch.float32
    assert set(y.unique().tolist()) <= {0, 10}
    x, y = build_eval_transform()(image, mask)
    assert x.shape == (3, 36, 50) and y.shape == (36, 50)
    x, y = build_eval_transform(size=16)(image, mask)
    assert y.shape == (16, 16)


def test_parse_aug():
    assert parse_aug("flip, bright") == {"flip", "bright"}
    assert parse_aug("") == set() and parse_aug("none") == set()
    with pytest.raises(ValueError, match="blur"):
        parse_aug("flip,blur")
