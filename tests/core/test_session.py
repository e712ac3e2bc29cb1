"""The editing session without Qt: statuses, predictions, undo, tools, snapshots, callbacks."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.project import ImageStatus, Project
from segstudio.core.session import EditingSession
from segstudio.core.tools import TOOL_CLASSES

VOID = 11
H, W = 30, 40


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    s = EditingSession()
    s.open_project(Project.open(folder))
    s.changes, s.saves = [], []
    s.on_changed = s.changes.append
    s.on_save_needed = lambda: s.saves.append(1)
    yield s
    s.project.close()


def test_opening_an_image_gives_a_void_mask_and_makes_it_current(session):
    doc = session.open_image("img1")
    assert session.current_key == "img1" and session.project.current == "img1"
    assert doc.mask.shape == (H, W) and (doc.mask == VOID).all()
    assert session.status("img1") == ImageStatus.NO_MASK


def test_an_unreadable_image_is_reported_and_stays_unopened(session):
    (session.project.folder / "img1.png").write_bytes(b"not a png")
    errors = []
    session.on_load_error = lambda key, message: errors.append(key)
    session.open_image("img0")
    assert session.open_image("img1") is None
    assert errors == ["img1"] and session.current_key is None  # never the image shown before
    session.set_pixels((0, 0, 2, 2), 3)  # no current image: nothing to edit
    assert session.mask_for("img0").max() != 3 and session.project.status("img0") == ImageStatus.NO_MASK


def test_a_tool_edit_is_one_undo_step_and_makes_the_image_edited(session):
    session.open_image("img0")
    brush = {cls.name: cls for cls in TOOL_CLASSES}["brush"](session)
    session.pick_class(3)
    session.brush_radius = 2.0
    brush.press((10, 5))
    brush.move((10, 30))
    brush.release((10, 30))
    assert (session.mask[10, 5:31] == 3).all()
    assert session.history.undo_count == 1
    assert session.status("img0") == ImageStatus.EDITED and session.doc.dirty
    assert [c.kind for c in session.changes] == ["edit"] and session.saves
    assert session.doc.class_counts()[3] == int((session.mask == 3).sum())
    assert session.undo() is not None
    assert (session.mask == VOID).all() and session.doc.class_counts()[3] == 0
    assert session.redo() is not None and (session.mask[10, 5:31] == 3).all()
    assert [c.kind for c in session.changes] == ["edit", "undo", "redo"]


def test_protected_classes_are_never_painted(session):
    session.open_image("img0")
    session.set_pixels((0, 0, H, 20), 2)
    session.set_protected(session.void_only_classes())
    session.pick_class(5)
    fill = {cls.name: cls for cls in TOOL_CLASSES}["fill"](session)
    fill.press((5, 30))  # the void half
    assert (session.mask[:, :20] == 2).all() and (session.mask[:, 20:] == 5).all()


def test_a_reviewed_image_stays_reviewed_after_an_edit(session):
    session.open_image("img0")
    session.mark_reviewed()
    session.set_pixels((0, 0, 4, 4), 7)
    assert session.status("img0") == ImageStatus.REVIEWED
    assert session.changes[0].kind == "status"


def test_pick_class_ignores_ids_outside_the_label_set(session):
    picked = []
    session.on_class_changed = picked.append
    session.pick_class(4)
    session.pick_class(99)
    assert session.current_class == 4 and picked == [4]


def test_a_prediction_fills_unverified_pixels_only_and_asks_nothing(session):
    predicted = np.full((H, W), 3, np.uint8)
    session.open_image("img0")
    session.set_pixels((0, 0, 5, 5), 4)  # edited: those pixels are verified
    session.open_image("img1")
    session.mark_reviewed()
    before_reviewed = session.mask_for("img1").copy()
    assert session.apply_prediction("img0", predicted)
    assert session.apply_prediction("img1", predicted)
    mask0 = session.mask_for("img0")
    assert session.status("img0") == ImageStatus.EDITED and (mask0[:5, :5] == 4).all()
    assert (mask0[5:] == 3).all() and (mask0[:, 5:] == 3).all()
    assert np.array_equal(session.mask_for("img1"), before_reviewed)  # all verified: nothing changes
    assert session.status("img1") == ImageStatus.REVIEWED
    assert not session.apply_prediction("img2", np.zeros((5, 5), np.uint8))  # wrong size
    assert not session.apply_prediction("nope", predicted)


def test_a_prediction_is_one_undo_step_with_its_confidence(session):
    doc = session.open_image("img0")
    predicted = np.full((H, W), 3, np.uint8)
    predicted[0, 0] = VOID
    confidence = np.full((H, W), 200, np.uint8)
    assert session.apply_prediction("img0", predicted, confidence)
    assert doc.history.undo_count == 1 and doc.confidence is confidence
    assert session.project.load_confidence("img0").shape == (H, W)
    change = session.changes[-1]
    assert change.kind == "prediction" and change.step is not None and change.rect == change.step.rect
    assert doc.class_counts()[3] == H * W - 1
    session.undo()
    assert (doc.mask == VOID).all()


def test_a_prediction_waits_for_the_stroke_in_progress_unless_forced(session):
    session.open_image("img0")
    brush = {cls.name: cls for cls in TOOL_CLASSES}["brush"](session)
    session.cancel_stroke = brush.cancel
    session.pick_class(1)
    brush.press((5, 5))
    predicted = np.full((H, W), 3, np.uint8)
    assert not session.apply_prediction("img0", predicted)
    assert session.apply_prediction("img0", predicted, force=True)
    assert not session.history.in_stroke and session.history.undo_count == 2  # the stroke, then the prediction


def test_a_prediction_for_an_image_not_in_memory_writes_the_files_only(session):
    from segstudio.core.maskio import encode_grey_png, encode_index_png

    predicted = np.full((H, W), 6, np.uint8)
    confidence = np.full((H, W), 99, np.uint8)
    encoded = (encode_index_png(predicted, session.project.labelset), encode_grey_png(confidence))
    assert session.apply_prediction("img2", predicted, confidence, encoded=encoded)
    assert "img2" not in session.documents
    assert (session.project.load_mask("img2") == 6).all()
    assert session.status("img2") == ImageStatus.PREDICTED and session.changes[-1].rect is None


def test_mask_snapshots_are_copies(session):
    session.open_image("img0")
    session.set_pixels((0, 0, 2, 2), 8)
    snap = session.mask_snapshot(["img0", "img1"])
    assert set(snap) == {"img0"}  # img1 has no mask yet
    session.set_pixels((0, 0, 2, 2), 9)
    assert (snap["img0"][:2, :2] == 8).all()


def test_reset_documents_forgets_the_open_image(session):
    session.open_image("img0")
    session.reset_documents()
    assert session.doc is None and len(session.documents) == 0


def test_undoing_every_edit_gives_the_image_its_earlier_status_back(session):
    session.open_image("img0")
    assert session.status("img0") == ImageStatus.NO_MASK
    session.set_pixels((0, 0, 2, 2), 3)
    session.set_pixels((2, 2, 4, 4), 4)
    session.undo()
    assert session.status("img0") == ImageStatus.EDITED  # one edit left
    session.undo()
    assert session.status("img0") == ImageStatus.NO_MASK
    session.redo()
    assert session.status("img0") == ImageStatus.EDITED
    session.undo()
    predicted = np.full(session.mask.shape, 5, np.uint8)
    assert session.apply_prediction("img0", predicted)
    session.set_pixels((0, 0, 2, 2), 3)
    session.undo()
    assert session.status("img0") == ImageStatus.PREDICTED  # back to the model's mask
    session.set_pixels((0, 0, 2, 2), 3)
    session.mark_reviewed()
    session.undo()
    assert session.status("img0") == ImageStatus.REVIEWED  # a review is not taken back by undo
