"""The pixel work of every painting tool, on numpy masks, Qt-free.

Each operation works on the bounding rectangle it touches (a view of the
mask), never on the whole image, so a brush stroke on an 8000x6000 mask
costs the same as on a small one. Each returns the changed rect
``(y0, x0, y1, x1)`` (half-open) or ``None`` when nothing could change.
``protected`` class ids are never overwritten by any operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

Rect = tuple[int, int, int, int]


def clip_rect(rect: Rect, shape: tuple[int, ...]) -> Rect | None:
    y0, x0, y1, x1 = rect
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(shape[0], y1), min(shape[1], x1)
    return (y0, x0, y1, x1) if y0 < y1 and x0 < x1 else None


def union_rect(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _writable(sub: np.ndarray, protected: Iterable[int]) -> np.ndarray | None:
    """Boolean mask of pixels that may change, or None when all may."""
    protected = tuple(protected)
    if not protected:
        return None
    lut = np.ones(256, dtype=bool)
    lut[list(protected)] = False
    return lut[sub]


def _apply(mask: np.ndarray, rect: Rect, shape_mask: np.ndarray, class_id: int, protected) -> Rect | None:
    """Writes ``class_id`` where ``shape_mask`` is set and the pixel is not protected;
    returns ``rect`` if a pixel changed, else None."""
    y0, x0, y1, x1 = rect
    sub = mask[y0:y1, x0:x1]
    allowed = _writable(sub, protected)
    target = shape_mask & (sub != class_id)
    if allowed is not None:
        target &= allowed
    if not target.any():
        return None
    sub[target] = class_id
    return rect


def paint_region(
    mask: np.ndarray, rect: Rect, region: np.ndarray, class_id: int, protected: Iterable[int] = frozenset()
) -> Rect | None:
    """Writes ``class_id`` where the bool ``region`` (the shape of ``rect``) is set, protected classes kept."""
    return _apply(mask, rect, region, class_id, protected)


def copy_region(
    mask: np.ndarray, source: np.ndarray, rect: Rect, region: np.ndarray, protected: Iterable[int] = frozenset()
) -> Rect | None:
    """Copies ``source``'s ids into ``mask`` where ``region`` is set (e.g. the model's mask
    back into a brushed region), protected classes kept; returns ``rect`` if a pixel changed."""
    y0, x0, y1, x1 = rect
    sub, src = mask[y0:y1, x0:x1], source[y0:y1, x0:x1]
    target = region & (sub != src)
    allowed = _writable(sub, protected)
    if allowed is not None:
        target &= allowed
    if not target.any():
        return None
    sub[target] = src[target]
    return rect


def capsule_stamp(rect: Rect, p0_yx: Sequence[float], p1_yx: Sequence[float], radius: float) -> np.ndarray:
    """Bool array over ``rect``: pixels whose centre lies within ``radius`` of segment p0-p1.

    Pixel (i, j) covers [i, i+1) x [j, j+1) in the coordinates the canvas
    reports, so its centre is (i + 0.5, j + 0.5): the painted disk is the one
    the round brush cursor shows. The radius is at least sqrt(1/2), so the
    pixel under every point of the segment is painted (no gaps, whatever the
    speed of the mouse).
    """
    y0, x0, y1, x1 = rect
    r = max(float(radius), 0.7072)
    ay, ax = float(p0_yx[0]) - y0 - 0.5, float(p0_yx[1]) - x0 - 0.5
    dy, dx = float(p1_yx[0]) - float(p0_yx[0]), float(p1_yx[1]) - float(p0_yx[1])
    ys = np.arange(y1 - y0, dtype=np.float32)[:, None] - ay
    xs = np.arange(x1 - x0, dtype=np.float32)[None, :] - ax
    length2 = dy * dy + dx * dx
    if length2 > 0:
        t = np.clip((ys * dy + xs * dx) / length2, 0.0, 1.0)
        ys = ys - t * dy
        xs = xs - t * dx
    return ys * ys + xs * xs <= r * r


def paint_segment(
    mask: np.ndarray,
    p0_yx: Sequence[float],
    p1_yx: Sequence[float],
    radius: float,
    class_id: int,
    protected: Iterable[int] = frozenset(),
) -> Rect | None:
    """A round-capped thick line from p0 to p1 (a brush stroke between two mouse events).

    Works on the segment's bounding rect only; returns that rect when a pixel
    changed, else None.
    """
    r = max(float(radius), 0.7072)
    ys, xs = (float(p0_yx[0]), float(p1_yx[0])), (float(p0_yx[1]), float(p1_yx[1]))
    rect = clip_rect(
        (int(np.floor(min(ys) - r)), int(np.floor(min(xs) - r)),
         int(np.ceil(max(ys) + r)) + 1, int(np.ceil(max(xs) + r)) + 1),
        mask.shape,
    )
    if rect is None:
        return None
    stamp = capsule_stamp(rect, p0_yx, p1_yx, r)
    return _apply(mask, rect, stamp, class_id, protected)


def paint_disk(
    mask: np.ndarray, center_yx: Sequence[float], radius: float, class_id: int, protected: Iterable[int] = frozenset()
) -> Rect | None:
    """A filled disk (one brush dab) of ``radius`` pixels around ``center_yx``."""
    return paint_segment(mask, center_yx, center_yx, radius, class_id, protected)


def flood_region(mask: np.ndarray, seed_yx: Sequence[int]) -> tuple[Rect, np.ndarray] | None:
    """The 4-connected region of the seed's class: its rect and a bool mask inside it.

    ``cv2.floodFill`` in mask-only mode on the mask itself (exact equality to
    the seed value, ``loDiff = upDiff = 0``): the mask is not modified, and the
    work is proportional to the region, not the image (the zeroed fill mask is
    allocated lazily by the OS).
    """
    y, x = int(seed_yx[0]), int(seed_yx[1])
    if not (0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]):
        return None
    image = mask if mask.flags.c_contiguous else np.ascontiguousarray(mask)
    ff_mask = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    _, _, _, (rx, ry, rw, rh) = cv2.floodFill(image, ff_mask, (x, y), 0, 0, 0, flags)
    region = ff_mask[ry + 1 : ry + rh + 1, rx + 1 : rx + rw + 1] == 1
    return (ry, rx, ry + rh, rx + rw), region


def flood_fill(
    mask: np.ndarray, seed_yx: Sequence[int], class_id: int, protected: Iterable[int] = frozenset()
) -> Rect | None:
    """Fills the 4-connected region of the seed's class with ``class_id``."""
    old = pick_class(mask, seed_yx)
    if old is None or old == class_id or old in set(protected):
        return None
    rect, region = flood_region(mask, seed_yx)
    y0, x0, y1, x1 = rect
    mask[y0:y1, x0:x1][region] = class_id
    return rect


def fill_polygon(
    mask: np.ndarray, points_yx: Sequence[Sequence[float]], class_id: int, protected: Iterable[int] = frozenset()
) -> Rect | None:
    """Fills the inside of a polygon (also a freehand lasso's outline)."""
    pts = np.asarray(points_yx, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return None
    rect = clip_rect(
        (int(np.floor(pts[:, 0].min())), int(np.floor(pts[:, 1].min())),
         int(np.ceil(pts[:, 0].max())) + 1, int(np.ceil(pts[:, 1].max())) + 1),
        mask.shape,
    )
    if rect is None:
        return None
    y0, x0, y1, x1 = rect
    stamp = np.zeros((y1 - y0, x1 - x0), np.uint8)
    # cv2 puts pixel centres on integer coordinates; ours are at i + 0.5.
    poly = np.round(np.stack([pts[:, 1] - x0 - 0.5, pts[:, 0] - y0 - 0.5], axis=1) * 16).astype(np.int32)
    cv2.fillPoly(stamp, [poly], 1, cv2.LINE_8, 4)
    return _apply(mask, rect, stamp.astype(bool), class_id, protected)


def pick_class(mask: np.ndarray, yx: Sequence[int]) -> int | None:
    """The class id at ``yx`` (the eyedropper), or None outside the mask."""
    y, x = int(yx[0]), int(yx[1])
    if 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]:
        return int(mask[y, x])
    return None


def boundaries(mask_sub: np.ndarray) -> np.ndarray:
    """Pixels whose right or lower 4-neighbour has another class.

    One-pixel region outlines for the boundary-only view (marking both sides
    of an edge would draw two-pixel lines). Pass a sub-view with one pixel of
    context beyond the rect to be drawn; the last row/column of ``mask_sub``
    only sees neighbours inside it.
    """
    edge = np.zeros(mask_sub.shape, bool)
    edge[:, :-1] |= mask_sub[:, :-1] != mask_sub[:, 1:]
    edge[:-1, :] |= mask_sub[:-1, :] != mask_sub[1:, :]
    return edge
