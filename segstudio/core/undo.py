"""Undo/redo that stores changed rectangles, never whole masks (napari's lesson).

A step (``UndoStep``) holds one rectangle and the mask's pixels inside it
before and after the edit (two uint8 patches). Two deques hold the history,
bounded by ``max_steps`` and ``max_bytes`` (the oldest steps go first; the
newest step is always kept); a new step clears redo.

The stroke protocol (a whole brush stroke, many mouse events, is one step)::

    history.begin(mask)              # on mouse press: keeps a reference to mask
    for each mouse event:
        history.record_before(rect)  # BEFORE painting rect  (alias: record)
        paint_segment(mask, ...)     # changes pixels inside rect only
    step = history.end()             # on release: pushes and returns one step

``record_before`` snapshots the fixed 128 x 128 tiles of the mask that
``rect`` touches and that this stroke has not touched yet, so each event
copies at most a few small tiles (no whole-image work, no buffer that grows
with the stroke). Painting outside recorded rects breaks the protocol: those
pixels would not be restored by undo. ``end`` rebuilds the union rect's
"before" from the tiles (pixels outside every tile never changed), shrinks it
to the bounding box of the pixels that really changed, and pushes the step;
a stroke that changed nothing returns ``None`` and pushes nothing.
``cancel_stroke`` drops an open stroke without a step (the mask is not
restored: call ``end`` then ``undo`` for that).

Whole-mask edits (a model pre-fill) are one step too: ``push_whole(before,
after)`` when both masks exist, or ``apply_whole(mask, new_mask)`` (also the
module function ``apply_patch_step``) to write ``new_mask`` into ``mask`` and
record it without copying the whole mask. Either stores only the bounding
box of the differences.

``undo(mask)`` / ``redo(mask)`` write a step's patch back and return its rect
(for a partial repaint) or ``None`` when there is nothing to undo/redo.

Verified pixels (``core.verified``) travel in the same step: pass the bool
verified mask as ``begin(mask, verified)`` (the stroke then snapshots its
tiles too, and the step gets ``verified_rect/before/after``), to
``apply_whole(..., verified=, new_verified=)``, and to ``undo(mask,
verified)`` / ``redo(mask, verified)``; the returned rect then covers both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from segstudio.core.paint import Rect, clip_rect, union_rect

TILE = 128


@dataclass
class UndoStep:
    """One undoable edit: ``rect`` (y0, x0, y1, x1) and its before/after patches."""

    rect: Rect | None
    before: np.ndarray | None
    after: np.ndarray | None
    # The verified pixels' patches, when the edit changed them (None otherwise).
    verified_rect: Rect | None = None
    verified_before: np.ndarray | None = None
    verified_after: np.ndarray | None = None
    # The image's status (``ImageStatus`` value) before and after the step, set by the
    # editing session: undoing every edit gives the image its earlier status back.
    status_before: str | None = None
    status_after: str | None = None

    @property
    def nbytes(self) -> int:
        arrays = (self.before, self.after, self.verified_before, self.verified_after)
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def bounds(self) -> Rect | None:
        """The rect covering both the mask's and the verified pixels' changes."""
        return union_rect(self.rect, self.verified_rect)


def _diff_bbox(before: np.ndarray, after: np.ndarray) -> Rect | None:
    changed = before != after
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(changed[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


class UndoHistory:
    """Per-mask undo/redo of rectangle patches (see the module docstring)."""

    def __init__(self, max_steps: int = 200, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: deque[UndoStep] = deque()
        self._redo: deque[UndoStep] = deque()
        self._bytes = 0
        self._mask: np.ndarray | None = None
        self._union: Rect | None = None
        self._tiles: dict[tuple[int, int], np.ndarray] = {}
        self._verified: np.ndarray | None = None
        self._verified_tiles: dict[tuple[int, int], np.ndarray] = {}

    # --- stroke grouping ---------------------------------------------------
    def begin(self, mask: np.ndarray, verified: np.ndarray | None = None) -> None:
        """Starts a stroke on ``mask`` (and its bool ``verified`` pixels); an open stroke is closed first."""
        if self._mask is not None:
            self.end()
        if verified is not None and verified.shape != mask.shape:
            raise ValueError(f"verified pixels are {verified.shape} but the mask is {mask.shape}")
        self._mask = mask
        self._union = None
        self._tiles = {}
        self._verified = verified
        self._verified_tiles = {}

    @property
    def in_stroke(self) -> bool:
        return self._mask is not None

    def record_before(self, rect: Rect | None) -> None:
        """Call before painting ``rect``: keeps the original pixels first seen there."""
        if self._mask is None or rect is None:
            return
        rect = clip_rect(rect, self._mask.shape)
        if rect is None:
            return
        self._union = union_rect(self._union, rect)
        _snapshot_tiles(self._mask, rect, self._tiles)
        if self._verified is not None:
            _snapshot_tiles(self._verified, rect, self._verified_tiles)

    record = record_before  # the name DEVELOPERS.md uses; same protocol

    def cancel_stroke(self) -> None:
        """Forgets an open stroke without recording a step."""
        self._mask, self._union, self._tiles = None, None, {}
        self._verified, self._verified_tiles = None, {}

    def end(self) -> UndoStep | None:
        """Closes the stroke; pushes and returns its step (None if nothing changed)."""
        mask, union, tiles = self._mask, self._union, self._tiles
        verified, verified_tiles = self._verified, self._verified_tiles
        self.cancel_stroke()
        if mask is None or union is None:
            return None
        rect, before, after = _patches_from_tiles(mask, union, tiles) or (None, None, None)
        v_rect = v_before = v_after = None
        if verified is not None:
            v_rect, v_before, v_after = _patches_from_tiles(verified, union, verified_tiles) or (None, None, None)
        if rect is None and v_rect is None:
            return None
        step = UndoStep(rect, before, after, v_rect, v_before, v_after)
        self.push(step)
        return step

    # --- whole edits ---------------------------------------------------------
    def push_whole(self, mask_before: np.ndarray, mask_after: np.ndarray) -> UndoStep | None:
        """One step for a whole-mask change (a model pre-fill): the diff's bounding box only."""
        if mask_before.shape != mask_after.shape:
            raise ValueError(
                f"before and after masks differ in shape: {mask_before.shape} vs {mask_after.shape}"
            )
        rect = _diff_bbox(mask_before, mask_after)
        if rect is None:
            return None
        y0, x0, y1, x1 = rect
        step = UndoStep(rect, mask_before[y0:y1, x0:x1].copy(), mask_after[y0:y1, x0:x1].copy())
        self.push(step)
        return step

    def apply_whole(
        self,
        mask: np.ndarray,
        new_mask: np.ndarray,
        verified: np.ndarray | None = None,
        new_verified: np.ndarray | None = None,
    ) -> UndoStep | None:
        """Writes ``new_mask`` into ``mask`` (and ``new_verified`` into ``verified``) in place
        as one undoable step; returns the step (``None`` when nothing differs)."""
        if mask.shape != new_mask.shape:
            raise ValueError(f"mask is {mask.shape} but the new mask is {new_mask.shape}")
        rect = _diff_bbox(mask, new_mask)
        before = after = v_before = v_after = v_rect = None
        if rect is not None:
            y0, x0, y1, x1 = rect
            before, after = mask[y0:y1, x0:x1].copy(), np.array(new_mask[y0:y1, x0:x1], np.uint8)
        if verified is not None and new_verified is not None:
            if verified.shape != new_verified.shape:
                raise ValueError(f"verified is {verified.shape} but the new one is {new_verified.shape}")
            v_rect = _diff_bbox(verified, new_verified)
            if v_rect is not None:
                y0, x0, y1, x1 = v_rect
                v_before, v_after = verified[y0:y1, x0:x1].copy(), np.array(new_verified[y0:y1, x0:x1], bool)
        if rect is None and v_rect is None:
            return None
        step = UndoStep(rect, before, after, v_rect, v_before, v_after)
        _write(mask, verified, step, "after")
        self.push(step)
        return step

    def push(self, step: UndoStep) -> None:
        """Adds a finished step; clears redo; drops the oldest steps over the limits."""
        self._undo.append(step)
        self._bytes += step.nbytes
        while self._redo:
            self._bytes -= self._redo.pop().nbytes
        self._trim()

    def _trim(self) -> None:
        while len(self._undo) > 1 and (
            len(self._undo) > self.max_steps or self._bytes > self.max_bytes
        ):
            self._bytes -= self._undo.popleft().nbytes
        while len(self._undo) > self.max_steps:  # max_steps == 0
            self._bytes -= self._undo.popleft().nbytes

    def clear(self) -> None:
        self.cancel_stroke()
        self._undo.clear()
        self._redo.clear()
        self._bytes = 0

    # --- undo / redo ---------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def next_step(self, kind: str) -> UndoStep | None:
        """The step ``undo`` ("undo") or ``redo`` ("redo") would apply next, or None."""
        steps = self._undo if kind == "undo" else self._redo
        return steps[-1] if steps else None

    def undo(self, mask: np.ndarray, verified: np.ndarray | None = None) -> Rect | None:
        """Restores the last step's "before" patches; returns their rect or None."""
        if not self._undo:
            return None
        step = self._undo.pop()
        _write(mask, verified, step, "before")
        self._redo.append(step)
        return step.bounds

    def redo(self, mask: np.ndarray, verified: np.ndarray | None = None) -> Rect | None:
        """Re-applies the last undone step; returns its rect or None."""
        if not self._redo:
            return None
        step = self._redo.pop()
        _write(mask, verified, step, "after")
        self._undo.append(step)
        return step.bounds

    @property
    def nbytes(self) -> int:
        """Bytes held by the patches of every undo and redo step."""
        return self._bytes

    @property
    def undo_count(self) -> int:
        return len(self._undo)

    @property
    def redo_count(self) -> int:
        return len(self._redo)

    def __len__(self) -> int:
        return len(self._undo)


def _snapshot_tiles(array: np.ndarray, rect: Rect, tiles: dict) -> None:
    """Copies the TILE x TILE tiles of ``array`` that ``rect`` touches and ``tiles`` lacks."""
    y0, x0, y1, x1 = rect
    h, w = array.shape[:2]
    for ty in range(y0 // TILE, (y1 - 1) // TILE + 1):
        for tx in range(x0 // TILE, (x1 - 1) // TILE + 1):
            if (ty, tx) not in tiles:
                tiles[(ty, tx)] = array[ty * TILE : min(h, (ty + 1) * TILE), tx * TILE : min(w, (tx + 1) * TILE)].copy()


def _patches_from_tiles(array: np.ndarray, union: Rect, tiles: dict):
    """(rect, before, after) of what changed inside ``union`` since the tiles were taken, or None."""
    y0, x0, y1, x1 = union
    after = array[y0:y1, x0:x1].copy()
    before = after.copy()
    for (ty, tx), patch in tiles.items():
        ty0, tx0 = ty * TILE, tx * TILE
        iy0, ix0 = max(y0, ty0), max(x0, tx0)
        iy1, ix1 = min(y1, ty0 + patch.shape[0]), min(x1, tx0 + patch.shape[1])
        if iy0 < iy1 and ix0 < ix1:
            before[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = patch[iy0 - ty0 : iy1 - ty0, ix0 - tx0 : ix1 - tx0]
    tight = _diff_bbox(before, after)
    if tight is None:
        return None
    ty0, tx0, ty1, tx1 = tight
    return (
        (y0 + ty0, x0 + tx0, y0 + ty1, x0 + tx1),
        np.ascontiguousarray(before[ty0:ty1, tx0:tx1]),
        np.ascontiguousarray(after[ty0:ty1, tx0:tx1]),
    )


def _write(mask: np.ndarray, verified: np.ndarray | None, step: UndoStep, which: str) -> None:
    """Writes a step's "before" or "after" patches into the mask (and the verified pixels)."""
    if step.rect is not None:
        y0, x0, y1, x1 = step.rect
        mask[y0:y1, x0:x1] = getattr(step, which)
    if verified is not None and step.verified_rect is not None:
        y0, x0, y1, x1 = step.verified_rect
        verified[y0:y1, x0:x1] = getattr(step, "verified_" + which)


def apply_patch_step(history: UndoHistory, mask: np.ndarray, new_mask: np.ndarray) -> Rect | None:
    """Replaces ``mask``'s content by ``new_mask`` (e.g. a model pre-fill) as one step."""
    step = history.apply_whole(mask, new_mask)
    return step.bounds if step is not None else None


__all__ = ["TILE", "UndoHistory", "UndoStep", "apply_patch_step"]
