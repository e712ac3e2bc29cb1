"""The smart tools without Qt, on a real EditingSession: exact masks, protected classes, one undo step each."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.project import Project
from segstudio.core.session import EditingSession
from segstudio.core.smart import grabcut_in_box, superpixel_labels
from segstudio.core.smart_tools import (
    AcceptModelTool, EdgePolygonTool, RefineBoxTool, RegionPickTool, SmartServices, SuperpixelBrushTool,
)

VOID = 11
H, W = 60, 80


def scene() -> np.ndarray:
    """Grey background with a bright square (rows 15..44, columns 20..59): clear edges."""
    image = np.full((H, W, 3), 40, np.uint8)
    image[15:45, 20:60] = (220, 200, 30)
    return image


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(scene()).save(folder / "a.png")
    s = EditingSession()
    s.open_project(Project.open(folder))
    s.open_image("a")
    yield s
    s.project.close()


def predicted(session, mask):
    assert session.apply_prediction("a", mask)
    return session.mask.copy()


def test_region_pick_gives_one_connected_region_the_class_in_one_undo_step(session):
    mask = np.zeros((H, W), np.uint8)
    mask[:, 40:] = 1
    mask[10:20, 5:15] = 1  # a second region of class 1, not connected
    before = predicted(session, mask)
    session.pick_class(4)
    RegionPickTool(session).press((30, 50))
    expected = before.copy()
    expected[:, 40:] = 4
    np.testing.assert_array_equal(session.mask, expected)
    session.undo()
    np.testing.assert_array_equal(session.mask, before)


def test_region_pick_with_shift_takes_every_region_of_that_class_in_the_view(session):
    mask = np.zeros((H, W), np.uint8)
    mask[:, 40:] = 1
    mask[10:20, 5:15] = 1
    predicted(session, mask)
    session.pick_class(4)
    RegionPickTool(session, SmartServices(view_rect=lambda: (0, 0, H, 60))).press((30, 50), frozenset({"shift"}))
    expected = mask.copy()
    expected[:, 40:60] = 4
    expected[10:20, 5:15] = 4
    np.testing.assert_array_equal(session.mask, expected)
    assert session.history.undo_count == 2  # the prediction, the pick


def test_region_pick_with_ctrl_uses_the_models_regions_and_keeps_protected_pixels(session):
    prediction = np.zeros((H, W), np.uint8)
    prediction[15:45, 20:60] = 2
    predicted(session, prediction)
    session.pick_class(0)
    RegionPickTool(session).press((5, 5))  # the user paints the whole image class 0
    session.set_pixels((20, 25, 30, 35), 7)  # and some class 7 inside the square
    session.pick_class(5)
    session.set_protected({7})
    RegionPickTool(session).press((30, 40), frozenset({"ctrl"}))
    expected = np.zeros((H, W), np.uint8)
    expected[15:45, 20:60] = 5
    expected[20:30, 25:35] = 7
    np.testing.assert_array_equal(session.mask, expected)


def test_accept_model_paints_the_prediction_back_under_the_brush_only(session):
    prediction = np.zeros((H, W), np.uint8)
    prediction[:, 40:] = 3
    predicted(session, prediction)
    session.set_pixels((0, 0, H, W), VOID)  # the user wiped everything
    session.set_pixels((28, 45, 33, 48), 9)
    session.set_protected({9})
    session.brush_radius = 2.0
    tool = AcceptModelTool(session)
    tool.press((30.5, 30.5))
    tool.move((30.5, 50.5))
    tool.release((30.5, 50.5))
    ys, xs = np.mgrid[0:H, 0:W] + 0.5  # pixel centres
    under_brush = np.hypot(ys - 30.5, xs - np.clip(xs, 30.5, 50.5)) <= 2.0
    expected = np.full((H, W), VOID, np.uint8)
    expected[under_brush] = prediction[under_brush]
    expected[28:33, 45:48] = 9  # protected
    np.testing.assert_array_equal(session.mask, expected)
    assert session.history.undo_count == 4
    session.undo()
    assert (session.mask[:, :45] == VOID).all()


def test_edge_polygon_follows_the_squares_edges_from_four_rough_clicks(session):
    session.pick_class(6)
    tool = EdgePolygonTool(session)
    for yx in ((18, 23), (18, 56), (41, 56), (41, 23)):  # three pixels inside the corners
        tool.press(yx)
    tool.double_click((41, 23))
    painted = session.mask == 6
    # The sides snapped out to the edges (straight ones would stop three pixels short).
    assert painted[16:44, 28:52].all() and painted[24:36, 21:59].all()
    assert not painted[:14].any() and not painted[46:].any() and not painted[:, :19].any() and not painted[:, 61:].any()
    assert session.history.undo_count == 1


def test_edge_polygon_with_background_maps_still_draws_straight_sides(session):
    jobs = []
    services = SmartServices(run=lambda job, done: jobs.append((job, done)))  # never finishes
    session.pick_class(6)
    tool = EdgePolygonTool(session, services)
    for yx in ((10.5, 10.5), (10.5, 30.5), (30.5, 30.5), (30.5, 10.5)):
        tool.press(yx)
    tool.finish()
    assert len(jobs) == 1  # one map at a time
    assert (session.mask[12:29, 12:29] == 6).all() and (session.mask[35:, :] == VOID).all()


def test_superpixel_brush_paints_whole_superpixels_and_respects_protection(session):
    session.pick_class(2)
    session.brush_radius = 5.0
    session.set_pixels((28, 38, 33, 43), 9)  # under the stroke
    session.set_protected({9})
    tool = SuperpixelBrushTool(session)
    tool.press((30, 43))
    tool.move((30, 44))
    tool.release((30, 44))
    labels = superpixel_labels(scene(), 10)
    expected = np.full((H, W), VOID, np.uint8)
    expected[(labels == labels[30, 43]) | (labels == labels[30, 44])] = 2
    expected[28:33, 38:43] = 9
    np.testing.assert_array_equal(session.mask, expected)
    assert session.history.undo_count == 2


def test_superpixel_points_wait_for_their_tile_and_paint_as_one_step(session):
    jobs = []
    session.pick_class(2)
    session.brush_radius = 5.0
    tool = SuperpixelBrushTool(session, SmartServices(run=lambda job, done: jobs.append((job, done))))
    tool.press((30, 40))
    tool.move((30, 45))
    assert (session.mask == VOID).all() and len(jobs) == 1
    job, done = jobs.pop()
    done(job())  # the tile arrives during the stroke
    tool.release((30, 45))
    assert (session.mask[30, 40:46] == 2).all()
    assert session.history.undo_count == 1


def test_refine_box_paints_grabcuts_foreground(session):
    session.pick_class(8)
    tool = RefineBoxTool(session)
    tool.press((10, 14))
    tool.move((30, 40))
    tool.release((50, 66))
    square = np.zeros((H, W), bool)
    square[15:45, 20:60] = True
    painted = session.mask == 8
    assert (painted & square).sum() >= 0.95 * square.sum()
    assert not (painted & ~square).any()
    assert session.history.undo_count == 1


def test_grabcut_downscales_big_boxes_and_refuses_tiny_ones():
    image = np.full((1200, 1600, 3), 30, np.uint8)
    image[300:900, 400:1200] = 230
    rect, region = grabcut_in_box(image, (200, 300, 1000, 1300), max_side=300)
    assert rect == (200, 300, 1000, 1300) and region.shape == (800, 1000)
    assert region[100:700, 100:900].mean() > 0.95 and region[:90].mean() < 0.05
    assert grabcut_in_box(image, (5, 5, 6, 60)) is None
