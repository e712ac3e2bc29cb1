"""Verified pixels in the editing session: tool footprints, one undo step, reopening, auto-segment."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.documents import save_document
from segstudio.core.project import ImageStatus, Project
from segstudio.core.session import EditingSession
from segstudio.core.smart_tools import RegionPickTool
from segstudio.core.tools import BrushTool, EraserTool, FillTool, PolygonTool
from segstudio.core.verified import has_verified, load_verified, verified_path

H, W = 30, 40


def make_session(folder):
    s = EditingSession()
    s.open_project(Project.open(folder))
    return s


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def session(folder):
    s = make_session(folder)
    yield s
    s.project.close()


def save_all(session):
    """What the autosaver does for every dirty document."""
    for doc in session.documents.dirty():
        save_document(session.project, doc)
    session.project.save_state()


def test_a_brush_stroke_verifies_its_footprint_even_where_the_class_did_not_change(session):
    doc = session.open_image("img0")
    session.current_class = 11  # the void mask's own class: nothing changes but the pixels are confirmed
    session.brush_radius = 2
    tool = BrushTool(session)
    tool.press((10, 10))
    tool.move((10, 20))
    tool.release((10, 20))
    assert doc.verified[10, 10:21].all() and doc.verified.sum() < 80
    assert not doc.verified[0, 0] and (doc.mask == 11).all()
    assert doc.history.undo_count == 1
    session.undo()
    assert not doc.verified.any()


def test_undo_and_redo_restore_mask_and_verified_pixels_exactly(session):
    doc = session.open_image("img0")
    session.current_class, session.brush_radius = 3, 3
    states = [(doc.mask.copy(), doc.verified.copy())]
    for tool, points in ((BrushTool, [(5, 5), (5, 30)]), (EraserTool, [(5, 10), (6, 12)])):
        t = tool(session)
        t.press(points[0])
        t.move(points[1])
        t.release(points[1])
        states.append((doc.mask.copy(), doc.verified.copy()))
    poly = PolygonTool(session)
    for p in ((15, 5), (15, 25), (28, 15)):
        poly.press(p)
    poly.finish()
    states.append((doc.mask.copy(), doc.verified.copy()))
    session.mark_reviewed()
    assert doc.verified.all()
    states.append((doc.mask.copy(), doc.verified.copy()))
    for i in range(len(states) - 1, 0, -1):
        session.undo()
        assert np.array_equal(doc.mask, states[i - 1][0]) and np.array_equal(doc.verified, states[i - 1][1])
    for i in range(1, len(states)):
        session.redo()
        assert np.array_equal(doc.mask, states[i][0]) and np.array_equal(doc.verified, states[i][1])


def test_fill_and_smart_tools_verify_the_filled_region(session):
    doc = session.open_image("img0")
    session.set_pixels((0, 0, 10, 40), 2)
    doc.verified[:] = False  # look at the fill alone
    session.current_class = 5
    FillTool(session).press((20, 20))  # the void part below row 10
    assert doc.verified[10:].all() and not doc.verified[:10].any()
    doc.verified[:] = False
    RegionPickTool(session).press((2, 2))
    assert doc.verified[:10].all() and not doc.verified[10:].any()


def test_protected_classes_are_not_verified_by_a_stroke(session):
    doc = session.open_image("img0")
    session.set_pixels((0, 0, 30, 20), 2)
    doc.verified[:] = False
    session.set_protected({2})
    session.current_class, session.brush_radius = 4, 4
    tool = BrushTool(session)
    tool.press((15, 18))
    tool.release((15, 18))
    assert doc.verified[15, 21] and not doc.verified[15, 18] and doc.mask[15, 18] == 2


def test_predictions_and_class_reassignment_verify_nothing(session):
    doc = session.open_image("img0")
    assert session.apply_prediction("img0", np.full((H, W), 3, np.uint8))
    assert session.replace_class("img0", 3, 4) > 0
    assert not doc.verified.any()


def test_verified_pixels_survive_reopening_and_auto_segment(folder, session):
    doc = session.open_image("img0")
    session.set_pixels((2, 3, 9, 17), 6)
    expected_mask, expected_verified = doc.mask.copy(), doc.verified.copy()
    save_all(session)
    assert has_verified(session.project, "img0")
    session.project.close()

    again = make_session(folder)
    doc = again.open_image("img0")
    assert np.array_equal(doc.verified, expected_verified) and np.array_equal(doc.mask, expected_mask)
    predicted = np.full((H, W), 1, np.uint8)
    assert again.apply_prediction("img0", predicted)  # no question: the user's pixels are verified
    assert np.array_equal(doc.mask, np.where(expected_verified, expected_mask, predicted))
    assert np.array_equal(doc.verified, expected_verified)
    # Not in memory: the saved verified file is honoured too.
    save_all(again)
    again.reset_documents()
    assert again.apply_prediction("img0", np.full((H, W), 2, np.uint8), encoded=(b"x", None))
    assert np.array_equal(again.mask_for("img0"), np.where(expected_verified, expected_mask, 2))
    again.project.close()


def test_a_legacy_mask_without_a_verified_file_still_needs_a_yes(session):
    session.project.save_mask("img1", np.full((H, W), 4, np.uint8))
    session.project.set_status("img1", ImageStatus.EDITED)
    predicted = np.full((H, W), 1, np.uint8)
    assert session.needs_overwrite_question("img1")
    assert not session.apply_prediction("img1", predicted)
    assert session.apply_prediction("img1", predicted, force=True)
    assert (session.mask_for("img1") == 1).all() and not session.document("img1").verified.any()
    assert not session.needs_overwrite_question("img1")


def test_mark_reviewed_is_one_undo_step_and_deleting_the_mask_removes_its_verified_file(session):
    doc = session.open_image("img0")
    session.mark_reviewed()
    assert doc.verified.all() and doc.history.undo_count == 1
    save_all(session)
    assert load_verified(session.project, "img0", (H, W)).all()
    session.project.delete_mask("img0")
    assert not verified_path(session.project, "img0").exists()
