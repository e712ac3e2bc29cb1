"""Canvas and tools driven by real mouse/key events on the viewport (offscreen)."""

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication

from segstudio.core.tools import TOOL_CLASSES
from tests.app.conftest import LEFT, click, drag, view_point

VOID = 11


def test_a_fast_stroke_leaves_no_gaps_and_is_one_undo_step(qtbot, opened):
    w = opened
    w.pick_class(3)
    w.size_spin.setValue(4)
    drag(qtbot, w, [(60, 10), (60, 150)])  # one move event across 140 px
    assert (w.doc.mask[60, 10:151] == 3).all()
    assert w.doc.mask[30, 80] == VOID
    assert w.doc.history.undo_count == 1
    w.undo()
    assert (w.doc.mask == VOID).all() and w.doc.history.can_redo


def test_overlay_updates_only_the_touched_rect(qtbot, opened, monkeypatch):
    w = opened
    rects = []
    real = w.canvas.refresh_overlay
    monkeypatch.setattr(w.canvas, "refresh_overlay", lambda rect=None: (rects.append(rect), real(rect)))
    w.pick_class(8)
    w.size_spin.setValue(6)
    drag(qtbot, w, [(40, 40), (42, 45), (44, 50)])
    assert rects and all(r is not None for r in rects)
    for y0, x0, y1, x1 in rects:
        assert (y1 - y0) * (x1 - x0) < 400  # a brush-sized patch, never the whole 160x120
    overlay = w.canvas._overlay.buffer.array
    colour = w.project.labelset.colors[8]
    assert tuple(overlay[42, 45, :3]) == colour and overlay[42, 45, 3] > 0
    assert overlay[100, 140, 3] == 0  # void stays see-through


def test_eraser_writes_void_and_fill_stops_at_other_classes(qtbot, opened):
    w = opened
    w.pick_class(2)
    w.set_tool("fill")
    click(qtbot, w, 5, 5)
    assert (w.doc.mask == 2).all()
    w.set_tool("eraser")
    w.size_spin.setValue(4)
    drag(qtbot, w, [(60, 0), (60, 159)])  # a void line splits the image
    assert (w.doc.mask[60] == VOID).all()
    w.pick_class(5)
    w.set_tool("fill")
    click(qtbot, w, 10, 10)
    assert (w.doc.mask[:55] == 5).all() and (w.doc.mask[66:] == 2).all()


def test_polygon_closes_on_double_click_and_escape_cancels(qtbot, opened):
    w = opened
    w.pick_class(6)
    w.set_tool("polygon")
    for p in [(20, 20), (20, 80), (80, 80)]:
        click(qtbot, w, *p)
    # Qt sends press, release, double-click, release: the last corner is clicked first.
    qtbot.mouseDClick(w.canvas.viewport(), LEFT, pos=view_point(w, 80, 80))
    assert w.doc.mask[30, 60] == 6 and w.doc.mask[70, 30] == VOID
    assert w.doc.history.undo_count == 1
    for p in [(90, 100), (90, 150), (110, 150)]:
        click(qtbot, w, *p)
    assert not w.canvas.preview_item.path().isEmpty()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    assert w.canvas.preview_item.path().isEmpty()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)
    assert (w.doc.mask[90:111, 100:151] == VOID).all() and w.doc.history.undo_count == 1


def test_lasso_fills_inside_as_one_step(qtbot, opened):
    w = opened
    w.pick_class(9)
    w.set_tool("lasso")
    drag(qtbot, w, [(30, 30), (30, 90), (90, 90), (90, 30)])
    assert w.doc.mask[60, 60] == 9 and w.doc.mask[10, 10] == VOID
    assert w.doc.history.undo_count == 1


def test_paint_only_over_void_protects_every_class(qtbot, opened):
    w = opened
    w.pick_class(3)
    w.set_tool("lasso")
    drag(qtbot, w, [(0, 0), (0, 80), (119, 80), (119, 0)])
    before = w.doc.mask.copy()
    w.void_only_action.trigger()
    assert w.protected == frozenset(range(12)) - {VOID}
    w.pick_class(7)
    w.set_tool("brush")
    w.size_spin.setValue(10)
    drag(qtbot, w, [(60, 20), (60, 140)])
    road = before == 3
    assert (w.doc.mask[road] == 3).all()
    assert (w.doc.mask[60, 100:141] == 7).all()
    w.void_only_action.trigger()
    assert w.protected == frozenset()


def test_tool_class_and_size_hotkeys(qtbot, opened):
    w = opened
    w.activateWindow()
    w.canvas.setFocus()
    for key, cid in ((Qt.Key.Key_3, 2), (Qt.Key.Key_0, 9), (Qt.Key.Key_Equal, 11), (Qt.Key.Key_1, 0)):
        qtbot.keyClick(w.canvas, key)
        assert w.current_class == cid
    for tool in TOOL_CLASSES:
        qtbot.keyClick(w.canvas, getattr(Qt.Key, f"Key_{tool.shortcut}"))
        assert w.tool_name == tool.name
    w.set_tool("brush")
    size = w.size_spin.value()
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketRight)
    assert w.size_spin.value() > size
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketLeft)
    assert w.size_spin.value() < size


def test_eyedropper_picks_the_class_under_the_cursor(qtbot, opened):
    w = opened
    w.doc.mask[50:70, 50:70] = 4
    w.canvas.refresh_overlay()
    w.set_tool("eyedropper")
    click(qtbot, w, 60, 60)
    assert w.current_class == 4
    assert w.doc.history.undo_count == 0


def test_brush_cursor_shows_the_size_in_image_pixels_and_status_bar_follows(qtbot, opened):
    w = opened
    w.size_spin.setValue(20)
    qtbot.mouseMove(w.canvas.viewport(), pos=view_point(w, 50, 70))
    item = w.canvas.cursor_item
    assert item.isVisible()
    assert abs(item.rect().width() - 20) < 1e-6
    assert abs(item.rect().center().x() - 70.5) < 1 and abs(item.rect().center().y() - 50.5) < 1
    assert w.position_label.text() == "x 70, y 50"
    assert w.class_label.text() == "Void"
    w.set_tool("fill")
    qtbot.mouseMove(w.canvas.viewport(), pos=view_point(w, 51, 70))
    assert not w.canvas.cursor_item.isVisible()


def test_boundaries_only_and_overlay_toggle(qtbot, opened):
    w = opened
    w.doc.mask[20:100, 20:140] = 3
    w.canvas.refresh_overlay()
    alpha = w.canvas._overlay.buffer.array[..., 3]
    assert alpha[60, 80] > 0
    w.canvas.set_boundaries_only(True)
    alpha = w.canvas._overlay.buffer.array[..., 3]
    assert alpha[60, 80] == 0 and alpha[99, 80] > 0  # interior hidden, edge drawn
    w.canvas.set_boundaries_only(False)
    w.overlay_action.trigger()  # O: hide the overlay
    assert (w.canvas._overlay.buffer.array[..., 3] == 0).all()
    w.overlay_action.trigger()
    assert w.canvas._overlay.buffer.array[60, 80, 3] > 0


def test_boundaries_only_redraws_the_edges_just_outside_an_edited_rect(qtbot, opened):
    w = opened
    w.doc.mask[:] = 11
    w.canvas.set_boundaries_only(True)
    w.doc.mask[40:60, 50:70] = 3  # an edit, then a refresh of exactly its rect
    w.canvas.refresh_overlay((40, 50, 60, 70))
    partial = w.canvas._overlay.buffer.array[..., 3].copy()
    w.canvas.refresh_overlay()
    assert np.array_equal(partial, w.canvas._overlay.buffer.array[..., 3])
    assert partial[39, 60] > 0 and partial[50, 49] > 0  # the edges above and left of the rect


def test_wheel_zoom_space_and_middle_drag_pan_do_not_paint(qtbot, opened):
    w = opened
    canvas = w.canvas
    zoom = canvas.zoom()
    canvas.set_zoom(zoom * 1.25)
    assert abs(canvas.zoom() - zoom * 1.25) < 1e-6
    canvas.set_zoom(6.0)
    canvas.centerOn(QPointF(80, 60))
    viewport = canvas.viewport()
    h0 = canvas.horizontalScrollBar().value()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(viewport, pos=QPoint(250, 300))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(250, 300))
    assert canvas.horizontalScrollBar().value() != h0
    canvas.setFocus()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    h1 = canvas.horizontalScrollBar().value()
    qtbot.mousePress(viewport, LEFT, pos=QPoint(300, 300))
    qtbot.mouseMove(viewport, pos=QPoint(340, 300))
    qtbot.mouseRelease(viewport, LEFT, pos=QPoint(340, 300))
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert canvas.horizontalScrollBar().value() != h1
    assert (w.doc.mask == VOID).all() and w.doc.history.undo_count == 0
    w.canvas.fit()
    assert w.zoom_label.text().endswith("%")


def test_clicks_outside_the_image_change_nothing(qtbot, opened):
    w = opened
    w.canvas.fit()
    QApplication.processEvents()
    w.set_tool("fill")
    qtbot.mouseClick(w.canvas.viewport(), LEFT, pos=QPoint(2, 2))
    w.set_tool("eyedropper")
    qtbot.mouseClick(w.canvas.viewport(), LEFT, pos=QPoint(2, 2))
    assert (w.doc.mask == VOID).all() and w.current_class == 0
    qtbot.mouseMove(w.canvas.viewport(), pos=QPoint(2, 2))
    assert w.position_label.text() == ""


def test_every_tool_has_the_interface():
    for tool in TOOL_CLASSES:
        for method in ("press", "move", "release", "hover", "cancel", "double_click", "finish"):
            assert callable(getattr(tool, method))
        assert tool.name and tool.shortcut and tool.cursor
    assert len({t.shortcut for t in TOOL_CLASSES}) == len(TOOL_CLASSES)


def test_undo_redo_restore_exact_arrays_across_tools(qtbot, opened):
    w = opened
    states = [w.doc.mask.copy()]
    w.pick_class(1)
    drag(qtbot, w, [(10, 10), (50, 120)])
    states.append(w.doc.mask.copy())
    w.set_tool("lasso")
    w.pick_class(4)
    drag(qtbot, w, [(40, 40), (40, 100), (100, 100)])
    states.append(w.doc.mask.copy())
    w.set_tool("fill")
    w.pick_class(10)
    click(qtbot, w, 110, 5)
    states.append(w.doc.mask.copy())
    for expected in reversed(states[:-1]):
        w.undo()
        assert np.array_equal(w.doc.mask, expected)
    for expected in states[1:]:
        w.redo()
        assert np.array_equal(w.doc.mask, expected)
    # The overlay follows undo exactly too.
    lut = w.canvas._lut
    assert np.array_equal(w.canvas._overlay.buffer.array, lut[w.doc.mask])
