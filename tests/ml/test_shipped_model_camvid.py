"""The shipped model on 10 fixed CamVid val frames stays within 0.01 of its model card.

The expected figures are read from MODEL_CARD.md (its "CI check" table), so a
replaced model is checked against its own card, not a number frozen here.
"""

import re
from pathlib import Path

import pytest

from segstudio.core.imageio import read_image
from segstudio.core.maskio import read_label_map
from segstudio.core.resources import default_model_path
from segstudio.ml.checkpoint import load_checkpoint
from segstudio.ml.inference import Predictor
from segstudio.ml.metrics import ConfusionMatrix

CAMVID = Path(__file__).resolve().parents[3] / "shared" / "data" / "camvid"
TOLERANCE = 0.01

pytestmark = [
    pytest.mark.camvid,
    pytest.mark.skipif(not (CAMVID / "valannot").is_dir(), reason=f"CamVid is not at {CAMVID}"),
    pytest.mark.skipif(not default_model_path().exists(), reason="the shipped model is not there"),
]


def card_figures() -> dict[str, float]:
    """``{"pixel accuracy": 0.881, "mean IoU": 0.596}`` from the card's CI-check table."""
    card = (default_model_path().parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\|\s*ci ([^|]+?)\s*\|\s*\**([0-9.]+)\**\s*\|", card, re.MULTILINE))
    assert {"pixel accuracy", "mean IoU"} <= set(rows), "MODEL_CARD.md has no CI-check table"
    return {name: float(value) for name, value in rows.items()}


def ci_frames() -> list[str]:
    """Every 10th frame of the sorted val list, the first ten: fixed, and spread over the sequence."""
    return sorted(p.name for p in (CAMVID / "val").glob("*.png"))[::10][:10]


def test_the_shipped_model_matches_its_card_on_10_val_frames():
    expected = card_figures()
    predictor = Predictor(load_checkpoint(default_model_path()), "cpu")
    checkpoint = predictor.checkpoint
    matrix = ConfusionMatrix(predictor.num_classes, checkpoint.labelset.ignore_index)
    frames = ci_frames()
    assert len(frames) == 10
    for name in frames:
        target = read_label_map(CAMVID / "valannot" / name, checkpoint.labelset)
        matrix.update(predictor.predict(read_image(CAMVID / "val" / name)).mask, target)
    metrics = matrix.compute()
    measured = {"pixel accuracy": metrics["pixel_accuracy"], "mean IoU": metrics["mean_iou"]}
    for name, value in measured.items():
        assert abs(value - expected[name]) <= TOLERANCE, f"{name}: {value:.4f}, the card says {expected[name]}"
