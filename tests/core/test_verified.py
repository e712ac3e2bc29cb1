"""Verified pixels: lossless storage, one undo step with the edit, auto-segment never overwrites them."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.paint import flood_region, paint_disk, paint_segment
from segstudio.core.project import Project
from segstudio.core.undo import UndoHistory
from segstudio.core.verified import (
    VerifiedFormatError,
    as_paintable,
    load_verified,
    mark_reviewed,
    mark_verified,
    merge_prediction,
    save_verified,
    verified_path,
)


@pytest.fixture
def project(tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "a.png")
    return Project.open(tmp_path)


def test_verified_pixels_survive_save_and_reopen_bit_for_bit(project, tmp_path):
    verified = np.random.default_rng(0).random((40, 60)) < 0.3
    save_verified(project, "a", verified)
    again = Project.open(tmp_path)
    assert np.array_equal(load_verified(again, "a", (40, 60)), verified)
    with Image.open(verified_path(again, "a")) as png:
        assert png.mode == "1"  # one bit per pixel


def test_no_file_means_nothing_verified_and_a_wrong_size_is_named(project):
    assert not load_verified(project, "a", (40, 60)).any()
    save_verified(project, "a", np.ones((10, 10), bool))
    with pytest.raises(VerifiedFormatError, match="a.png.*10x10.*60x40"):
        load_verified(project, "a", (40, 60))


def test_mark_reviewed_verifies_every_pixel_once():
    verified = np.zeros((5, 7), bool)
    assert mark_reviewed(verified) == (0, 0, 5, 7)
    assert verified.all()
    assert mark_reviewed(verified) is None


def test_a_stroke_and_its_verified_pixels_are_one_undo_step():
    mask = np.zeros((300, 300), np.uint8)
    verified = np.zeros((300, 300), bool)
    history = UndoHistory()
    history.begin(mask, verified)
    for p0, p1 in (((10, 10), (10, 200)), ((10, 200), (250, 200))):
        rect = (0, 0, 300, 300)  # record before painting, as the tools do
        history.record_before(rect)
        paint_segment(mask, p0, p1, 5, 3)
        paint_segment(as_paintable(verified), p0, p1, 5, 1)
    step = history.end()
    assert step is not None and step.verified_rect is not None
    painted, painted_verified = mask.copy(), verified.copy()
    assert np.array_equal(painted_verified, painted == 3)
    assert history.undo_count == 1
    history.undo(mask, verified)
    assert not mask.any() and not verified.any()
    history.redo(mask, verified)
    assert np.array_equal(mask, painted) and np.array_equal(verified, painted_verified)


def test_painting_the_same_class_again_still_verifies_and_is_undoable():
    mask = np.full((50, 50), 3, np.uint8)
    verified = np.zeros((50, 50), bool)
    history = UndoHistory()
    history.begin(mask, verified)
    history.record_before((15, 15, 36, 36))
    paint_disk(mask, (25, 25), 10, 3)  # the mask does not change: the person confirmed it
    paint_disk(as_paintable(verified), (25, 25), 10, 1)
    step = history.end()
    assert step.rect is None and verified.sum() > 250
    history.undo(mask, verified)
    assert not verified.any()


def test_flood_region_marks_only_the_filled_component():
    mask = np.zeros((20, 20), np.uint8)
    mask[:, 10:] = 1
    verified = np.zeros((20, 20), bool)
    rect, region = flood_region(mask, (5, 5))
    assert mark_verified(verified, rect, region) is not None
    assert verified[:, :10].all() and not verified[:, 10:].any()


def test_whole_edit_with_verified_pixels_undoes_both():
    mask = np.zeros((8, 8), np.uint8)
    verified = np.zeros((8, 8), bool)
    history = UndoHistory()
    new_verified = verified.copy()
    mark_reviewed(new_verified)
    assert history.apply_whole(mask, mask.copy(), verified, new_verified).bounds == (0, 0, 8, 8)
    assert verified.all()
    history.undo(mask, verified)
    assert not verified.any()


def test_merge_prediction_never_touches_verified_pixels():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 11, (30, 40)).astype(np.uint8)
    verified = rng.random((30, 40)) < 0.5
    predicted = rng.integers(0, 11, (30, 40)).astype(np.uint8)
    original = mask.copy()
    new, rect = merge_prediction(mask, verified, predicted)
    assert np.array_equal(new[verified], original[verified])
    assert np.array_equal(new[~verified], predicted[~verified])
    assert np.array_equal(mask, original)  # inputs untouched
    y0, x0, y1, x1 = rect
    changed = np.argwhere(new != original)
    assert changed[:, 0].min() == y0 and changed[:, 0].max() == y1 - 1
    assert changed[:, 1].min() == x0 and changed[:, 1].max() == x1 - 1


def test_merge_prediction_on_a_fully_verified_mask_changes_nothing():
    mask = np.zeros((5, 5), np.uint8)
    new, rect = merge_prediction(mask, np.ones((5, 5), bool), np.full((5, 5), 4, np.uint8))
    assert rect is None and not new.any()
    new, rect = merge_prediction(None, None, np.full((5, 5), 4, np.uint8))
    assert rect == (0, 0, 5, 5) and (new == 4).all()
