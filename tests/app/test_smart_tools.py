"""The smart tools in the real window: mouse events on the viewport, work on worker threads, exact masks."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from segstudio.core.smart import superpixel_labels
from tests.app.conftest import LEFT, click, drag, view_point

VOID = 11
H, W = 120, 160


def scene() -> np.ndarray:
    image = np.full((H, W, 3), 40, np.uint8)
    image[30:90, 40:120] = (220, 200, 30)  # a bright box with clear edges
    return image


@pytest.fixture
def win(window, tmp_path):
    folder = tmp_path / "scene"
    folder.mkdir()
    Image.fromarray(scene()).save(folder / "a.png")
    assert window.open_folder(folder)
    window.canvas.set_zoom(2.0)
    window.canvas.centerOn(QPointF(W / 2, H / 2))
    return window


def idle(qtbot, w):
    qtbot.waitUntil(lambda: not [x for x in w.workers.running() if x.name == "smart tool"], timeout=10000)
    qtbot.wait(20)  # the result signal's queued call


def test_every_smart_tool_has_a_key_and_a_tool_bar_action(win):
    keys = {name: action.shortcut().toString() for name, action in win.actions.tools.items()}
    assert {keys[n] for n in ("region", "edge_polygon", "superpixel", "refine_box", "accept_model")} == set("WCSXA")
    assert len(set(keys.values())) == len(keys)


def test_region_pick_click_and_shift_click(qtbot, win):
    prediction = np.zeros((H, W), np.uint8)
    prediction[:, 80:] = 1
    prediction[10:20, 10:20] = 1
    assert win.session.apply_prediction("a", prediction)
    win.set_tool("region")
    win.pick_class(4)
    click(qtbot, win, 60, 100)
    expected = prediction.copy()
    expected[:, 80:] = 4
    np.testing.assert_array_equal(win.doc.mask, expected)
    win.pick_class(5)
    qtbot.mouseClick(win.canvas.viewport(), LEFT, Qt.KeyboardModifier.ShiftModifier, view_point(win, 60, 40))
    expected[expected == 0] = 5  # every class-0 region in view (the whole image is in view)
    np.testing.assert_array_equal(win.doc.mask, expected)
    win.undo()
    win.undo()
    np.testing.assert_array_equal(win.doc.mask, prediction)


def test_edge_polygon_snaps_to_the_box_with_the_map_built_in_the_background(qtbot, win):
    win.set_tool("edge_polygon")
    win.pick_class(6)
    for yx in ((33, 43), (33, 116), (86, 116), (86, 43)):  # three pixels inside the corners
        click(qtbot, win, *yx)
        idle(qtbot, win)
    qtbot.mouseMove(win.canvas.viewport(), pos=view_point(win, 40, 43))
    assert not win.canvas.preview_item.path().isEmpty()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return)
    painted = win.doc.mask == 6
    assert painted[31:89, 48:112].all() and painted[40:80, 41:119].all()
    assert not painted[:28].any() and not painted[92:].any() and not painted[:, :38].any()
    assert win.doc.history.undo_count == 1


def test_superpixel_brush_paints_whole_superpixels_outside_protected_classes(qtbot, win):
    win.session.set_pixels((60, 60, 63, 66), 9)  # under the stroke
    win.palette.set_protected(frozenset({9}))
    win.set_tool("superpixel")
    win.size_spin.setValue(12)
    win.pick_class(2)
    qtbot.mouseMove(win.canvas.viewport(), pos=view_point(win, 60, 60))  # hover: the tile is computed
    idle(qtbot, win)
    drag(qtbot, win, [(61, 61), (61, 64)])
    labels = superpixel_labels(scene(), 12)
    expected = np.full((H, W), VOID, np.uint8)
    expected[np.isin(labels, np.unique(labels[61, 61:65]))] = 2
    expected[60:63, 60:66] = 9
    np.testing.assert_array_equal(win.doc.mask, expected)
    win.undo()
    assert (win.doc.mask == VOID).sum() == H * W - 18


def test_refine_box_paints_grabcuts_foreground_when_the_worker_returns(qtbot, win):
    win.set_tool("refine_box")
    win.pick_class(8)
    drag(qtbot, win, [(22, 30), (60, 80), (98, 130)])
    idle(qtbot, win)
    painted = win.doc.mask == 8
    assert painted[31:89, 41:119].all() and not painted[:29].any() and not painted[:, 122:].any()
    assert win.doc.history.undo_count == 1


def test_accept_model_brushes_the_prediction_back(qtbot, win):
    prediction = np.full((H, W), 3, np.uint8)
    assert win.session.apply_prediction("a", prediction)
    win.session.set_pixels((0, 0, H, W), 0)
    win.set_tool("accept_model")
    win.size_spin.setValue(10)
    drag(qtbot, win, [(60, 20), (60, 140)])
    assert (win.doc.mask[57:64, 20:141] == 3).all() and (win.doc.mask[:50] == 0).all()
    win.undo()
    assert (win.doc.mask == 0).all()


def test_the_prediction_is_kept_on_disk_for_the_next_session(qtbot, win):
    prediction = np.full((H, W), 3, np.uint8)
    assert win.session.apply_prediction("a", prediction)
    win.session.reset_documents()
    win.session.open_image("a")
    np.testing.assert_array_equal(win.session.prediction, prediction)
