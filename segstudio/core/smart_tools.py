"""The smart correction tools (Qt-free), on ``core.smart``; each edit is one undo step.

- region pick (W): click a connected region of the mask (Ctrl: of the model's
  mask) and give it the current class; Shift: every region of that class in view;
- edge polygon (C): a polygon whose sides follow image edges (live-wire);
- superpixel brush (S): paints whole superpixels of about the Size box's size;
- refine in box (X): drag a box, GrabCut's foreground in it gets the current class;
- accept model (A): a brush that paints the model's own mask back.

Slow work (edge maps, superpixels, GrabCut) goes through ``SmartServices.run``:
``run(job, done)`` calls ``done(job())``, at once by default (tests, the
effort benchmark), on a worker thread in the app (``app/smart_tools.py``),
which calls ``done`` back on the GUI thread. Until then the tools still
answer the mouse (straight polygon sides; superpixel points wait and are
painted when their tile is ready).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from segstudio.core.paint import Rect, capsule_stamp, clip_rect, copy_region, paint_region
from segstudio.core.smart import (
    LIVE_WIRE_TILE, LiveWire, class_region, connected_region, grabcut_in_box, points_along,
    superpixel_tile, superpixel_tile_key, tile_rect,
)
from segstudio.core.edit_step import EditStep
from segstudio.core.tools import BrushTool, Tool, ToolContext, fill_shape, segment_rect


class SmartContext(ToolContext, Protocol):
    """What the smart tools read beyond ``ToolContext``; ``EditingSession`` provides it."""

    image: np.ndarray  # the current image, RGB
    prediction: np.ndarray | None  # the model's last mask of it, if any


MAX_CACHED_TILES = 64


def run_now(job: Callable[[], object], done: Callable[[object], None]) -> None:
    done(job())


@dataclass
class SmartServices:
    """What the app lends the smart tools: a background runner and the visible rect."""

    run: Callable[[Callable[[], object], Callable[[object], None]], None] = run_now
    view_rect: Callable[[], Rect | None] = lambda: None  # None: the whole image
    superpixel_cache: dict = field(default_factory=dict)  # (id(image), tile key) -> (image, SuperpixelTile)


def _paint(ctx: SmartContext, tool: str, rect: Rect, region: np.ndarray) -> None:
    """One undo step of ``tool``: ``region`` takes the current class."""
    with ctx.edit(tool) as step:
        _paint_class(ctx, step, rect, region)


def _paint_class(ctx: SmartContext, step: EditStep, rect: Rect, region: np.ndarray) -> None:
    cid, protected = ctx.current_class, ctx.protected
    step.change(rect, lambda mask: paint_region(mask, rect, region, cid, protected), region)


class SmartTool(Tool):
    def __init__(self, ctx: SmartContext, services: SmartServices | None = None) -> None:
        super().__init__(ctx)
        self.services = services or SmartServices()


class RegionPickTool(SmartTool):
    name, label, shortcut, cursor = "region", "Region pick", "W", "pointing"

    def press(self, yx, modifiers=None) -> None:
        mods = modifiers or frozenset()
        prediction = self.ctx.prediction
        source = prediction if "ctrl" in mods and prediction is not None else self.ctx.mask
        if not (0 <= yx[0] < source.shape[0] and 0 <= yx[1] < source.shape[1]):
            return
        if "shift" in mods:
            view = self.services.view_rect() or (0, 0, *source.shape[:2])
            found = class_region(source, int(source[int(yx[0]), int(yx[1])]), clip_rect(view, source.shape))
        else:
            found = connected_region(source, yx)
        if found is not None:
            _paint(self.ctx, self.name, *found)


class EdgePolygonTool(SmartTool):
    """Click anchors; each side follows image edges. Double-click or Enter fills, Esc cancels."""

    name, label, shortcut = "edge_polygon", "Edge polygon", "C"

    def __init__(self, ctx: SmartContext, services: SmartServices | None = None) -> None:
        super().__init__(ctx, services)
        self.anchors: list[tuple[float, float]] = []
        self.sides: list[list[tuple[float, float]]] = []  # sides[i]: anchor i -> anchor i+1
        self.wire: LiveWire | None = None
        self._wire_image: np.ndarray | None = None  # the image the edge map was made from
        self._busy = False

    def _side(self, yx) -> list[tuple[float, float]]:
        """The path from the last anchor to ``yx``: along edges when the map is ready, else straight."""
        wire = self.wire
        if wire is not None and not self._busy and self._wire_image is self.ctx.image and wire.anchor == self._anchor_px(-1):
            path = wire.path_to(yx)
            if path:
                return path
        return [self.anchors[-1], yx]

    def _anchor_px(self, i: int) -> tuple[int, int]:
        return int(self.anchors[i][0]), int(self.anchors[i][1])

    def _outline(self, tail=None) -> list[tuple[float, float]]:
        points = [p for side in self.sides for p in side]
        return points + (tail or [])

    def press(self, yx, modifiers=None) -> None:
        if self.anchors and (int(yx[0]), int(yx[1])) == self._anchor_px(-1):
            return  # the press of a double-click
        if self.anchors:
            self.sides.append(self._side(yx))
        self.anchors.append(yx)
        self._start_map()
        self.ctx.show_preview(self._outline([yx]))

    def _start_map(self) -> None:
        if self._busy:
            return  # one job at a time on the edge map: its result starts the next one
        image, anchor = self.ctx.image, self._anchor_px(-1)
        wire = self.wire if self._wire_image is image else None
        self._busy = True

        def job():
            # The edge features cover a tile around the first anchor; later anchors reuse them.
            w = wire if wire is not None and wire.contains(anchor) else LiveWire(image, tile_rect(image.shape, anchor, LIVE_WIRE_TILE))
            w.build_map(anchor)
            return w

        def done(result):
            self._busy = False
            self.wire, self._wire_image = (result, image) if self.ctx.image is image else (None, None)
            if self.anchors and (self.wire is None or self.wire.anchor != self._anchor_px(-1)):
                self._start_map()  # anchors were added (or the image changed) while it ran

        self.services.run(job, done)

    def hover(self, yx) -> None:
        if self.anchors:
            self.ctx.show_preview(self._outline(self._side(yx)), closed=True)

    def double_click(self, yx) -> None:
        self.finish()

    def finish(self) -> None:
        if len(self.anchors) >= 2:
            self.sides.append(self._side(self.anchors[0]))  # closes along edges too
        points = self._outline()
        self.cancel()
        fill_shape(self.ctx, points, self.name)

    def cancel(self) -> None:
        self.anchors, self.sides = [], []
        super().cancel()


class SuperpixelBrushTool(SmartTool):
    """Paints every superpixel the stroke passes over; their size is the Size box's."""

    name, label, shortcut, uses_brush = "superpixel", "Superpixel brush", "S", True

    def __init__(self, ctx: SmartContext, services: SmartServices | None = None) -> None:
        super().__init__(ctx, services)
        self._last = None
        self._step: EditStep | None = None
        self._pending: dict[tuple, list] = {}  # tile key -> points waiting for its superpixels
        self._requested: set = set()

    @property
    def size(self) -> int:
        return max(4, round(self.ctx.brush_radius * 2))

    def _tile(self, key):
        entry = self.services.superpixel_cache.get((id(self.ctx.image), key))
        return entry[1] if entry is not None and entry[0] is self.ctx.image else None  # ids are reused

    def _request(self, key) -> None:
        cache_key = (id(self.ctx.image), key)
        if cache_key in self._requested or self._tile(key) is not None:
            return
        self._requested.add(cache_key)
        image = self.ctx.image

        def done(result):
            self._requested.discard(cache_key)
            cache = self.services.superpixel_cache
            cache[cache_key] = (image, result)
            while len(cache) > MAX_CACHED_TILES:  # oldest first: ~1 MB per tile
                cache.pop(next(iter(cache)))
            waiting = self._pending.pop(key, [])
            if self._last is None and self.ctx.editing:
                return  # another tool is painting now: these late points are dropped
            if waiting and self.ctx.image is image:
                if self._last is not None:
                    self._paint_points(self._step, key, waiting)
                else:  # the stroke ended meanwhile: its late part is a step of its own
                    with self.ctx.edit(self.name) as step:
                        self._paint_points(step, key, waiting)

        self.services.run(lambda: superpixel_tile(image, key), done)

    def _paint_points(self, step: EditStep, key, points) -> None:
        found = self._tile(key).region_under(points)
        if found is not None:
            _paint_class(self.ctx, step, *found)

    def _stroke(self, points) -> None:
        shape = self.ctx.mask.shape
        by_tile: dict[tuple, list] = {}
        for p in points:
            if 0 <= p[0] < shape[0] and 0 <= p[1] < shape[1]:
                by_tile.setdefault(superpixel_tile_key(p, self.size), []).append(p)
        for key, pts in by_tile.items():
            if self._tile(key) is not None:
                self._paint_points(self._step, key, pts)
            else:
                self._pending.setdefault(key, []).extend(pts)
                self._request(key)

    def hover(self, yx) -> None:
        if 0 <= yx[0] < self.ctx.mask.shape[0] and 0 <= yx[1] < self.ctx.mask.shape[1]:
            self._request(superpixel_tile_key(yx, self.size))  # ready before the click

    def press(self, yx, modifiers=None) -> None:
        self._step = self.ctx.begin_edit(self.name)
        self._last = yx
        self._stroke([yx])

    def move(self, yx) -> None:
        if self._last is not None:
            self._stroke(points_along(self._last, yx, self.size / 3))
            self._last = yx

    def release(self, yx) -> None:
        if self._last is not None:
            self._last = None
            self._step.close()

    def cancel(self) -> None:
        if self._last is not None:
            self.release(self._last)


class RefineBoxTool(SmartTool):
    """Drag a box around an object: GrabCut's foreground in it takes the current class."""

    name, label, shortcut = "refine_box", "Refine in box", "X"

    def __init__(self, ctx: SmartContext, services: SmartServices | None = None) -> None:
        super().__init__(ctx, services)
        self._start = None

    def _box(self, yx) -> Rect:
        (ay, ax), (by, bx) = self._start, yx
        return int(min(ay, by)), int(min(ax, bx)), int(max(ay, by)) + 1, int(max(ax, bx)) + 1

    def press(self, yx, modifiers=None) -> None:
        self._start = yx

    def move(self, yx) -> None:
        if self._start is not None:
            y0, x0, y1, x1 = self._box(yx)
            self.ctx.show_preview([(y0, x0), (y0, x1), (y1, x1), (y1, x0)], closed=True)

    def release(self, yx) -> None:
        if self._start is None:
            return
        box, self._start = self._box(yx), None
        self.ctx.show_preview([])
        image, mask = self.ctx.image, self.ctx.mask

        def done(found):
            # Still the same image, and no other tool in the middle of a stroke.
            if found is not None and self.ctx.mask is mask and not self.ctx.editing:
                _paint(self.ctx, self.name, *found)

        self.services.run(lambda: grabcut_in_box(image, box), done)

    def cancel(self) -> None:
        self._start = None
        super().cancel()


class AcceptModelTool(BrushTool):
    """A brush that paints the model's own mask back (undoes corrections where the model was right)."""

    name, label, shortcut = "accept_model", "Accept model here", "A"

    def __init__(self, ctx: SmartContext, services: SmartServices | None = None) -> None:
        super().__init__(ctx)
        self.services = services or SmartServices()

    def _stamp(self, a, b) -> None:
        prediction = self.ctx.prediction
        if prediction is None or prediction.shape != self.ctx.mask.shape:
            return
        rect = segment_rect(a, b, self.ctx.brush_radius, self.ctx.mask.shape)
        if rect is None:
            return
        stamp, protected = capsule_stamp(rect, a, b, self.ctx.brush_radius), self.ctx.protected
        # Verified: the person accepted the model's class here.
        self._step.change(rect, lambda mask: copy_region(mask, prediction, rect, stamp, protected), stamp)


SMART_TOOL_CLASSES = (RegionPickTool, EdgePolygonTool, SuperpixelBrushTool, RefineBoxTool, AcceptModelTool)
