"""Flip test-time augmentation in the Predictor: the mean of the image's and its mirror's logits."""

import numpy as np
import torch
from torch import nn

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.inference import Predictor

torch.set_num_threads(1)


def test_flip_tta_predicts_from_the_mean_of_the_image_and_its_mirror():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1)).eval()
    checkpoint = LoadedCheckpoint(model=model, config={"num_classes": 12}, labelset=CAMVID)
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    plain = Predictor(checkpoint, "cpu").predict_logits(image)
    mirrored = Predictor(checkpoint, "cpu").predict_logits(image[:, ::-1].copy())
    tta = Predictor(checkpoint, "cpu", flip_tta=True)
    logits = tta.predict_logits(image)
    expected = (plain + mirrored.flip(-1)) / 2
    real = torch.isfinite(expected)
    assert torch.allclose(logits[real], expected[real], atol=1e-5) and not torch.isfinite(logits[~real]).any()
    assert np.array_equal(tta.predict(image).mask, expected[0].argmax(0).numpy().astype(np.uint8))
