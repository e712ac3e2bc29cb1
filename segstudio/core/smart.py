"""The pixel work of the smart correction tools (Qt-free): regions, edges, superpixels, GrabCut.

Each function works on a rectangle of the image (a view, a tile, a box),
never on the whole of a big image per mouse move: the costly parts (edge
maps, superpixels, GrabCut) are computed once per tile or box, and the app
runs them on a worker thread (``core.smart_tools`` takes a runner).
Rects are ``(y0, x0, y1, x1)``, half-open, like ``core.paint``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.segmentation import slic

from segstudio.core.paint import Rect, clip_rect, flood_region

SUPERPIXEL_TILE = 512  # superpixels are computed per tile of this side (cut at tile borders)
LIVE_WIRE_TILE = 1024  # the live-wire's edge map covers this much around the first click


def connected_region(source: np.ndarray, seed_yx: Sequence[float]) -> tuple[Rect, np.ndarray] | None:
    """The 4-connected region of ``source`` (a mask or the model's mask) under the seed."""
    return flood_region(source, (int(seed_yx[0]), int(seed_yx[1])))


def class_region(source: np.ndarray, class_id: int, rect: Rect) -> tuple[Rect, np.ndarray] | None:
    """Every pixel of ``class_id`` in ``rect`` of ``source``, cropped to their bounding box."""
    y0, x0, y1, x1 = rect
    hit = source[y0:y1, x0:x1] == class_id
    rows, cols = np.flatnonzero(hit.any(axis=1)), np.flatnonzero(hit.any(axis=0))
    if rows.size == 0:
        return None
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return (y0 + r0, x0 + c0, y0 + r1, x0 + c1), hit[r0:r1, c0:c1]


def tile_rect(shape: tuple[int, ...], center_yx: Sequence[float], side: int) -> Rect:
    """A ``side`` x ``side`` rect around ``center_yx``, shifted to lie inside the image where it fits."""
    h, w = shape[:2]
    y0 = int(min(max(0, center_yx[0] - side // 2), max(0, h - side)))
    x0 = int(min(max(0, center_yx[1] - side // 2), max(0, w - side)))
    return (y0, x0, min(h, y0 + side), min(w, x0 + side))


# --- superpixels -------------------------------------------------------------------
def superpixel_labels(image: np.ndarray, size: int) -> np.ndarray:
    """SLIC superpixels of about ``size`` x ``size`` pixels each (int32 labels, 0..n-1)."""
    h, w = image.shape[:2]
    n = max(1, round(h * w / max(4, size) ** 2))
    return slic(image, n_segments=n, compactness=10.0, start_label=0, channel_axis=-1).astype(np.int32)


def superpixel_tile_key(yx: Sequence[float], size: int) -> tuple[int, int, int]:
    """Which tile (row, column, superpixel size) a point falls in."""
    return int(yx[0]) // SUPERPIXEL_TILE, int(yx[1]) // SUPERPIXEL_TILE, int(size)


def superpixel_tile(image: np.ndarray, key: tuple[int, int, int]) -> SuperpixelTile:
    """A tile's superpixels: the work a background job does once per tile."""
    ty, tx, size = key
    rect = clip_rect((ty * SUPERPIXEL_TILE, tx * SUPERPIXEL_TILE,
                      (ty + 1) * SUPERPIXEL_TILE, (tx + 1) * SUPERPIXEL_TILE), image.shape)
    y0, x0, y1, x1 = rect
    labels = superpixel_labels(image[y0:y1, x0:x1], size)
    # Each superpixel's bounding box, so a mouse move touches only the pixels it paints.
    n, flat = int(labels.max()) + 1, labels.ravel()
    rows, cols = np.indices(labels.shape).reshape(2, -1)
    boxes = np.empty((n, 4), np.int64)
    boxes[:, :2] = labels.shape
    boxes[:, 2:] = 0
    np.minimum.at(boxes[:, 0], flat, rows)
    np.minimum.at(boxes[:, 1], flat, cols)
    np.maximum.at(boxes[:, 2], flat, rows + 1)
    np.maximum.at(boxes[:, 3], flat, cols + 1)
    return SuperpixelTile(rect, labels, boxes)


@dataclass(frozen=True)
class SuperpixelTile:
    rect: Rect  # in the image
    labels: np.ndarray  # int32, the rect's shape
    boxes: np.ndarray  # (n, 4) each label's (y0, x0, y1, x1) inside the tile

    def region_under(self, points_yx) -> tuple[Rect, np.ndarray] | None:
        """The superpixels under ``points_yx`` (those inside the tile): their bounding rect
        in the image and a bool region over it."""
        y0, x0, y1, x1 = self.rect
        ids = sorted({int(self.labels[int(y) - y0, int(x) - x0]) for y, x in points_yx
                      if y0 <= y < y1 and x0 <= x < x1})
        if not ids:
            return None
        b = self.boxes[ids]
        ly0, lx0, ly1, lx1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        region = np.isin(self.labels[ly0:ly1, lx0:lx1], ids)
        return (y0 + int(ly0), x0 + int(lx0), y0 + int(ly1), x0 + int(lx1)), region


def points_along(p0_yx, p1_yx, step: float) -> list[tuple[float, float]]:
    """Points from p0 to p1 no further apart than ``step`` (so no superpixel is skipped)."""
    dy, dx = p1_yx[0] - p0_yx[0], p1_yx[1] - p0_yx[1]
    n = max(1, int(np.ceil(np.hypot(dy, dx) / max(step, 1.0))))
    return [(p0_yx[0] + dy * i / n, p0_yx[1] + dx * i / n) for i in range(n + 1)]


# --- GrabCut in a box -----------------------------------------------------------------
def grabcut_in_box(image: np.ndarray, box: Rect, iterations: int = 4, max_side: int = 600) -> tuple[Rect, np.ndarray] | None:
    """The foreground GrabCut finds in ``box``: its rect (the box) and a bool region.

    GrabCut sees the box plus a margin of context (its background model needs
    pixels outside the box); boxes larger than ``max_side`` are worked on
    downscaled and the result scaled back (nearest), so a box costs at most a
    few hundred milliseconds whatever its size.
    """
    box = clip_rect(box, image.shape)
    if box is None or box[2] - box[0] < 3 or box[3] - box[1] < 3:
        return None
    by0, bx0, by1, bx1 = box
    margin = max(8, (by1 - by0 + bx1 - bx0) // 10)
    y0, x0, y1, x1 = clip_rect((by0 - margin, bx0 - margin, by1 + margin, bx1 + margin), image.shape)
    crop = np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])  # OpenCV wants BGR
    scale = min(1.0, max_side / max(crop.shape[:2]))
    if scale < 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ch, cw = crop.shape[:2]
    gc = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    ry0, rx0 = int((by0 - y0) * scale), int((bx0 - x0) * scale)
    ry1, rx1 = max(ry0 + 2, int(np.ceil((by1 - y0) * scale))), max(rx0 + 2, int(np.ceil((bx1 - x0) * scale)))
    gc[ry0:ry1, rx0:rx1] = cv2.GC_PR_FGD
    if (gc == cv2.GC_BGD).sum() < 16:  # a box over the whole image: its border must serve as background
        gc[:2, :], gc[-2:, :], gc[:, :2], gc[:, -2:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(crop, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.uint8)
    if scale < 1.0:
        fg = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return box, fg[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0].astype(bool)


# --- the live-wire ---------------------------------------------------------------------
class LiveWire:
    """OpenCV's intelligent scissors on one tile of the image.

    ``LiveWire(image, rect)`` computes the edge features (slow, a worker's
    job); ``build_map(yx)`` the shortest paths from one anchor (slow too);
    ``path_to(yx)`` then traces the edge-following path from that anchor to
    any point of the tile in well under a millisecond per mouse move.
    """

    def __init__(self, image: np.ndarray, rect: Rect) -> None:
        self.rect = rect
        y0, x0, y1, x1 = rect
        self._scissors = cv2.segmentation.IntelligentScissorsMB()
        self._scissors.setEdgeFeatureCannyParameters(32, 100)
        self._scissors.setGradientMagnitudeMaxLimit(200)
        self._scissors.applyImage(np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]))
        self.anchor: tuple[int, int] | None = None

    def contains(self, yx) -> bool:
        y0, x0, y1, x1 = self.rect
        return y0 <= yx[0] < y1 and x0 <= yx[1] < x1

    def _local(self, yx) -> tuple[int, int]:  # OpenCV's (x, y) inside the tile
        return int(yx[1]) - self.rect[1], int(yx[0]) - self.rect[0]

    def build_map(self, yx) -> None:
        self._scissors.buildMap(self._local(yx))
        self.anchor = (int(yx[0]), int(yx[1]))

    def path_to(self, yx) -> list[tuple[float, float]] | None:
        """Pixel centres (row + 0.5, column + 0.5) from the anchor to ``yx``; None outside the tile."""
        if self.anchor is None or not self.contains(yx):
            return None
        contour = self._scissors.getContour(self._local(yx), backward=False).reshape(-1, 2)
        y0, x0 = self.rect[0], self.rect[1]
        return [(float(y) + y0 + 0.5, float(x) + x0 + 0.5) for x, y in contour]
