"""Annotation tools (Qt-free): one interface, pixel work delegated to ``core.paint``.

A tool receives image coordinates (row, column) from the canvas: ``press``,
``move`` (while pressed), ``release``, ``hover``, ``double_click``, ``finish``
(Enter) and ``cancel`` (Esc). It edits ``ctx.mask`` through ``core.paint``,
records the touched rects in the undo history before changing them, and
tells the context which rect changed so only that part is redrawn. Every
stroke, fill or polygon is one undo step, handed to ``ctx.edit_finished``:
the context (``core.session.EditingSession``) applies the after-edit rules.

Verified pixels: a tool opens its step with ``ctx.begin_stroke()`` (the mask
and its verified pixels in one undo step) and reports each footprint with
``ctx.verify(rect, region)``: every pixel it painted, filled or erased, also
where the class did not change (confirming a correct pixel counts).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from segstudio.core.paint import (
    Rect, capsule_stamp, clip_rect, fill_polygon, flood_region, paint_segment, pick_class,
)
from segstudio.core.undo import UndoHistory, UndoStep


class ToolContext(Protocol):
    """What a tool reads and calls; ``core.session.EditingSession`` is the one implementation."""

    mask: np.ndarray  # the current image's mask, edited in place
    verified: np.ndarray  # its verified pixels (bool), marked through verify()
    history: UndoHistory  # its undo history
    current_class: int
    brush_radius: float
    protected: frozenset[int]  # class ids never overwritten
    eraser_id: int

    def region_changed(self, rect: Rect) -> None: ...  # pixels in rect changed: redraw them
    def begin_stroke(self) -> None: ...  # opens the undo step (mask + verified pixels)
    def verify(self, rect: Rect, region: np.ndarray | None = None) -> None: ...  # a footprint: verified
    def edit_finished(self, step: UndoStep | None) -> None: ...  # a stroke/fill/polygon ended
    def pick_class(self, class_id: int) -> None: ...
    def show_preview(self, points: list, closed: bool = False) -> None: ...  # outline while drawing


class Tool:
    name = "tool"
    label = "Tool"
    shortcut = ""
    cursor = "cross"  # the canvas maps it to a Qt cursor shape: cross | pointing | arrow
    uses_brush = False  # shows the brush-size circle

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx

    def press(self, yx, modifiers=None) -> None: ...
    def move(self, yx) -> None: ...
    def release(self, yx) -> None: ...
    def hover(self, yx) -> None: ...
    def double_click(self, yx) -> None: ...
    def finish(self) -> None: ...

    def cancel(self) -> None:
        self.ctx.show_preview([])

    def deactivate(self) -> None:
        self.cancel()


class BrushTool(Tool):
    name, label, shortcut, uses_brush = "brush", "Brush", "B", True

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self._last = None

    def paint_class(self) -> int:
        return self.ctx.current_class

    def _stamp(self, a, b) -> None:
        mask, r = self.ctx.mask, self.ctx.brush_radius
        pad = math.ceil(r) + 2
        rect = clip_rect(
            (int(min(a[0], b[0])) - pad, int(min(a[1], b[1])) - pad,
             int(max(a[0], b[0])) + pad + 1, int(max(a[1], b[1])) + pad + 1),
            mask.shape,
        )
        if rect is None:
            return
        self.ctx.history.record_before(rect)
        changed = paint_segment(mask, a, b, r, self.paint_class(), self.ctx.protected)
        self.ctx.verify(rect, capsule_stamp(rect, a, b, r))
        if changed is not None:
            self.ctx.region_changed(changed)

    def press(self, yx, modifiers=None) -> None:
        self.ctx.begin_stroke()
        self._last = yx
        self._stamp(yx, yx)

    def move(self, yx) -> None:
        if self._last is None:
            return
        self._stamp(self._last, yx)  # a segment, so fast moves leave no gaps
        self._last = yx

    def release(self, yx) -> None:
        if self._last is None:
            return
        self._last = None
        self.ctx.edit_finished(self.ctx.history.end())

    def cancel(self) -> None:
        if self._last is not None:
            self.release(self._last)


class EraserTool(BrushTool):
    name, label, shortcut = "eraser", "Eraser", "E"

    def paint_class(self) -> int:
        return self.ctx.eraser_id


class FillTool(Tool):
    name, label, shortcut = "fill", "Fill", "G"

    def press(self, yx, modifiers=None) -> None:
        mask = self.ctx.mask
        old = pick_class(mask, yx)
        cid = self.ctx.current_class
        if old is None or old in self.ctx.protected:
            return
        rect, region = flood_region(mask, yx)
        self.ctx.begin_stroke()
        self.ctx.history.record_before(rect)
        y0, x0, y1, x1 = rect
        mask[y0:y1, x0:x1][region] = cid  # filling with its own class confirms the region
        self.ctx.verify(rect, region)
        self.ctx.region_changed(rect)
        self.ctx.edit_finished(self.ctx.history.end())


class PolygonTool(Tool):
    """Click the corners; double-click or Enter fills, Esc cancels."""

    name, label, shortcut = "polygon", "Polygon", "P"

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self.points: list[tuple[float, float]] = []

    def press(self, yx, modifiers=None) -> None:
        self.points.append(yx)
        self.ctx.show_preview(self.points)

    def hover(self, yx) -> None:
        if self.points:
            self.ctx.show_preview(self.points + [yx], closed=True)

    def double_click(self, yx) -> None:
        self.finish()

    def finish(self) -> None:
        points, self.points = self.points, []
        self.ctx.show_preview([])
        # A double-click also delivers a press at the same spot: drop duplicates.
        unique = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        fill_shape(self.ctx, unique)

    def cancel(self) -> None:
        self.points = []
        super().cancel()


class LassoTool(Tool):
    """Drag a freehand outline; releasing fills its inside."""

    name, label, shortcut = "lasso", "Lasso", "L"

    def __init__(self, ctx: ToolContext) -> None:
        super().__init__(ctx)
        self.points: list[tuple[float, float]] = []

    def press(self, yx, modifiers=None) -> None:
        self.points = [yx]

    def move(self, yx) -> None:
        self.points.append(yx)
        self.ctx.show_preview(self.points, closed=True)

    def release(self, yx) -> None:
        points, self.points = self.points + [yx], []
        self.ctx.show_preview([])
        fill_shape(self.ctx, points)

    def cancel(self) -> None:
        self.points = []
        super().cancel()


class EyedropperTool(Tool):
    name, label, shortcut, cursor = "eyedropper", "Pick class", "I", "pointing"

    def press(self, yx, modifiers=None) -> None:
        cid = pick_class(self.ctx.mask, yx)
        if cid is not None:
            self.ctx.pick_class(cid)


def fill_shape(ctx: ToolContext, points) -> None:
    """Fills a polygon as one undo step."""
    if len(points) < 3:
        return
    ys = [p[0] for p in points]
    xs = [p[1] for p in points]
    rect = clip_rect((int(min(ys)) - 1, int(min(xs)) - 1, int(max(ys)) + 2, int(max(xs)) + 2), ctx.mask.shape)
    if rect is None:
        return
    ctx.begin_stroke()
    ctx.history.record_before(rect)
    changed = fill_polygon(ctx.mask, points, ctx.current_class, ctx.protected)
    # The footprint: the same polygon drawn on a scratch of the rect's size.
    footprint = np.zeros((rect[2] - rect[0], rect[3] - rect[1]), np.uint8)
    fill_polygon(footprint, [(y - rect[0], x - rect[1]) for y, x in points], 1)
    ctx.verify(rect, footprint.astype(bool))
    if changed is not None:
        ctx.region_changed(changed)
    ctx.edit_finished(ctx.history.end())


TOOL_CLASSES = (BrushTool, EraserTool, FillTool, PolygonTool, LassoTool, EyedropperTool)
