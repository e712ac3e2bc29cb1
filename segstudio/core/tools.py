"""Annotation tools (Qt-free): one interface, pixel work delegated to ``core.paint``.

A tool receives image coordinates (row, column) from the canvas: ``press``,
``move`` (while pressed), ``release``, ``hover``, ``double_click``, ``finish``
(Enter) and ``cancel`` (Esc). It changes the mask only through an edit step
(``core.edit_step``): ``with ctx.edit(name) as step`` for one click,
``ctx.begin_edit(name)`` ... ``step.close()`` for a stroke, and
``step.change(rect, paint, footprint)`` for each change. The step records the
undo tiles, verifies the footprint (every pixel painted, filled or erased,
also where the class did not change: confirming a correct pixel counts),
refreshes the view once and, on close, applies the after-edit rules. A tool
never touches the undo history, the verified pixels or the status itself.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from segstudio.core.paint import (
    Rect, capsule_stamp, clip_rect, fill_polygon, flood_region, paint_segment, pick_class,
)
from segstudio.core.edit_step import EditStep


class ToolContext(Protocol):
    """What a tool reads and calls; ``core.session.EditingSession`` is the one implementation."""

    mask: np.ndarray  # the current image's mask: read it, change it through an edit step
    current_class: int
    brush_radius: float
    protected: frozenset[int]  # class ids never overwritten
    eraser_id: int
    editing: bool  # an edit step is open (a stroke in progress)

    def begin_edit(self, tool: str) -> EditStep: ...  # opens a stroke's one undo step
    def edit(self, tool: str) -> EditStep: ...  # the same, as a ``with`` block
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
        self._step: EditStep | None = None

    def paint_class(self) -> int:
        return self.ctx.current_class

    def _stamp(self, a, b) -> None:
        r = self.ctx.brush_radius
        rect = segment_rect(a, b, r, self.ctx.mask.shape)
        if rect is None:
            return
        cid, protected = self.paint_class(), self.ctx.protected
        self._step.change(rect, lambda mask: paint_segment(mask, a, b, r, cid, protected),
                          capsule_stamp(rect, a, b, r))

    def press(self, yx, modifiers=None) -> None:
        self._step = self.ctx.begin_edit(self.name)
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
        self._step.close()

    def cancel(self) -> None:
        if self._last is not None:
            self.release(self._last)


def segment_rect(a, b, radius: float, shape) -> Rect | None:
    """The rect a brush segment from ``a`` to ``b`` can touch (clipped; ``None``: off the image)."""
    pad = math.ceil(radius) + 2
    return clip_rect((int(min(a[0], b[0])) - pad, int(min(a[1], b[1])) - pad,
                      int(max(a[0], b[0])) + pad + 1, int(max(a[1], b[1])) + pad + 1), shape)


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
        y0, x0, y1, x1 = rect

        def fill(mask: np.ndarray) -> Rect:
            mask[y0:y1, x0:x1][region] = cid  # filling with its own class confirms the region
            return rect

        with self.ctx.edit(self.name) as step:
            step.change(rect, fill, region)


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
        fill_shape(self.ctx, unique, self.name)

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
        fill_shape(self.ctx, points, self.name)

    def cancel(self) -> None:
        self.points = []
        super().cancel()


class EyedropperTool(Tool):
    name, label, shortcut, cursor = "eyedropper", "Pick class", "I", "pointing"

    def press(self, yx, modifiers=None) -> None:
        cid = pick_class(self.ctx.mask, yx)
        if cid is not None:
            self.ctx.pick_class(cid)


def fill_shape(ctx: ToolContext, points, tool: str) -> None:
    """Fills a polygon as one undo step of ``tool``."""
    if len(points) < 3:
        return
    ys = [p[0] for p in points]
    xs = [p[1] for p in points]
    rect = clip_rect((int(min(ys)) - 1, int(min(xs)) - 1, int(max(ys)) + 2, int(max(xs)) + 2), ctx.mask.shape)
    if rect is None:
        return
    cid, protected = ctx.current_class, ctx.protected
    # The footprint: the same polygon drawn on a scratch of the rect's size.
    footprint = np.zeros((rect[2] - rect[0], rect[3] - rect[1]), np.uint8)
    fill_polygon(footprint, [(y - rect[0], x - rect[1]) for y, x in points], 1)
    with ctx.edit(tool) as step:
        step.change(rect, lambda mask: fill_polygon(mask, points, cid, protected), footprint.astype(bool))


TOOL_CLASSES = (BrushTool, EraserTool, FillTool, PolygonTool, LassoTool, EyedropperTool)
