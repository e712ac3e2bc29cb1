import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("SEGSTUDIO_NO_CRASH_DIALOG", "1")

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


def make_scene(rng, h, w):
    """A synthetic road scene: sky on top, road below, a 'car' box; learnable colours."""
    mask = np.full((h, w), 0, np.uint8)
    mask[h // 2 :] = 3
    y0, x0 = rng.integers(h // 2, max(h // 2 + 1, h - 8)), rng.integers(0, max(1, w - 12))
    mask[y0 : y0 + 8, x0 : x0 + 12] = 8
    palette = {0: (120, 160, 230), 3: (90, 80, 90), 8: (200, 30, 30)}
    image = np.zeros((h, w, 3), np.uint8)
    for cid, colour in palette.items():
        image[mask == cid] = colour
    noise = rng.integers(-20, 21, image.shape)
    image = np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)
    return image, mask


@pytest.fixture
def scene_folder(tmp_path):
    """images/ + labels/ of 6 small synthetic scenes."""
    rng = np.random.default_rng(0)
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for i in range(6):
        image, mask = make_scene(rng, 40, 56)
        Image.fromarray(image).save(images / f"scene{i}.png")
        Image.fromarray(mask, mode="L").save(labels / f"scene{i}.png")
    return tmp_path
