"""Undo/redo that stores changed rectangles, never whole masks (napari's lesson).

A step holds one rectangle and the mask's pixels inside it before and after
the edit. A whole brush stroke (many mouse events) is one step:

    history.begin(mask)            # on mouse press
    history.record_before(rect)    # before painting each rect (first touch kept)
    paint...(mask, ...)
    step = history.end()           # on release: one step over the union rect

``record_before`` copies only the part of ``rect`` not already saved in this
stroke, into a stroke-local "before" buffer covering the running union, so a
long stroke costs memory proportional to the area it touched. Two bounded
deques (steps and bytes) hold the history; a new step clears redo.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from segstudio.core.paint import Rect, union_rect


@dataclass
class UndoStep:
    rect: Rect
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


class UndoHistory:
    def __init__(self, max_steps: int = 200, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: deque[UndoStep] = deque()
        self._redo: deque[UndoStep] = deque()
        self._mask: np.ndarray | None = None
        self._union: Rect | None = None
        self._before: np.ndarray | None = None  # the union rect's original pixels
        self._saved: np.ndarray | None = None  # which pixels of the union are in _before

    # --- stroke grouping ---------------------------------------------------
    def begin(self, mask: np.ndarray) -> None:
        self._mask = mask
        self._union = None
        self._before = None
        self._saved = None

    @property
    def in_stroke(self) -> bool:
        return self._mask is not None

    def record_before(self, rect: Rect | None) -> None:
        """Call before painting ``rect``: keeps the original pixels first seen there."""
        if self._mask is None or rect is None:
            return
        new_union = union_rect(self._union, rect)
        if new_union != self._union:
            self._grow(new_union)
        uy0, ux0 = self._union[0], self._union[1]
        y0, x0, y1, x1 = rect
        sl = (slice(y0 - uy0, y1 - uy0), slice(x0 - ux0, x1 - ux0))
        fresh = ~self._saved[sl]
        if fresh.any():
            self._before[sl][fresh] = self._mask[y0:y1, x0:x1][fresh]
            self._saved[sl] = True

    def _grow(self, new_union: Rect) -> None:
        ny0, nx0, ny1, nx1 = new_union
        before = np.zeros((ny1 - ny0, nx1 - nx0), np.uint8)
        saved = np.zeros(before.shape, bool)
        if self._union is not None:
            oy0, ox0, oy1, ox1 = self._union
            sl = (slice(oy0 - ny0, oy1 - ny0), slice(ox0 - nx0, ox1 - nx0))
            before[sl] = self._before
            saved[sl] = self._saved
        self._union, self._before, self._saved = new_union, before, saved

    def end(self) -> UndoStep | None:
        """Closes the stroke; pushes and returns its step (None if nothing changed)."""
        mask, union = self._mask, self._union
        self._mask = None
        if mask is None or union is None:
            return None
        y0, x0, y1, x1 = union
        after = mask[y0:y1, x0:x1].copy()
        # Pixels never recorded did not change: take them from the mask.
        before = np.where(self._saved, self._before, after)
        self._before = self._saved = self._union = None
        changed = before != after
        if not changed.any():
            return None
        ys, xs = np.nonzero(changed)
        tight = (y0 + int(ys.min()), x0 + int(xs.min()), y0 + int(ys.max()) + 1, x0 + int(xs.max()) + 1)
        ty0, tx0, ty1, tx1 = tight
        sl = (slice(ty0 - y0, ty1 - y0), slice(tx0 - x0, tx1 - x0))
        step = UndoStep(tight, np.ascontiguousarray(before[sl]), np.ascontiguousarray(after[sl]))
        self.push(step)
        return step

    # --- whole edits ---------------------------------------------------------
    def push_whole(self, mask_before: np.ndarray, mask_after: np.ndarray) -> UndoStep | None:
        """One step for a whole-mask change (a model pre-fill): the diff's bounding box only."""
        if mask_before.shape != mask_after.shape:
            raise ValueError("before and after masks differ in shape")
        changed = mask_before != mask_after
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        if rows.size == 0:
            return None
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        step = UndoStep((y0, x0, y1, x1), mask_before[y0:y1, x0:x1].copy(), mask_after[y0:y1, x0:x1].copy())
        self.push(step)
        return step

    def push(self, step: UndoStep) -> None:
        self._undo.append(step)
        self._redo.clear()
        self._trim()

    def _trim(self) -> None:
        while len(self._undo) > self.max_steps or (len(self._undo) > 1 and self.nbytes > self.max_bytes):
            self._undo.popleft()

    # --- undo / redo ---------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self, mask: np.ndarray) -> Rect | None:
        if not self._undo:
            return None
        step = self._undo.pop()
        y0, x0, y1, x1 = step.rect
        mask[y0:y1, x0:x1] = step.before
        self._redo.append(step)
        return step.rect

    def redo(self, mask: np.ndarray) -> Rect | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        y0, x0, y1, x1 = step.rect
        mask[y0:y1, x0:x1] = step.after
        self._undo.append(step)
        return step.rect

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)

    def __len__(self) -> int:
        return len(self._undo)
