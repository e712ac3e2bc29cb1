"""One edit step (Qt-free): the one way a tool changes a mask.

A tool opens a step on the current image, changes pixels through it and
closes it; the step does the rest, so no tool touches the undo history, the
verified pixels or the status itself::

    with session.edit("fill") as step:          # one click: one step
        step.change(rect, paint, footprint)

    step = session.begin_edit("brush")          # a stroke over many mouse events
    step.change(rect, paint, footprint)         # on each move
    step.close()                                # on release

``change(rect, paint, footprint)``:

1. records ``rect``'s pixels (mask and verified pixels) before the change,
   so the whole stroke is one undo step holding only the tiles it touched;
2. runs ``paint(mask)``, which edits the mask inside ``rect`` in place and
   returns the rect it changed (or ``None``);
3. verifies the footprint (``footprint``: bool of ``rect``'s shape, ``None``
   = all of ``rect``): a person painted there, also where the class stayed;
   protected classes' pixels are left unverified, as the tool left them;
4. asks for one overlay refresh covering both the changed class pixels and
   the newly verified ones.

``close()`` pushes the step (nothing when nothing changed) and hands it to
the session's after-edit rules: status, dirty mark, effort, autosave.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from segstudio.core.paint import Rect, clip_rect, union_rect
from segstudio.core.verified import mark_verified

if TYPE_CHECKING:
    from segstudio.core.documents import ImageDocument
    from segstudio.core.undo import UndoStep


class EditStep:
    """An open undo step on one document; made by ``EditingSession.begin_edit``."""

    def __init__(self, doc: ImageDocument, tool: str, protected: frozenset[int],
                 refresh: Callable[[Rect], None], closed: Callable[[ImageDocument, UndoStep | None], None]) -> None:
        self.doc = doc
        self.tool = tool  # who made the step: "brush", "fill", "set_pixels", ...
        self._protected = protected
        self._refresh = refresh
        self._closed = closed
        self.is_open = True
        doc.history.begin(doc.mask, doc.verified)

    @property
    def mask(self) -> np.ndarray:
        """The mask being edited (read it; change it through ``change``)."""
        return self.doc.mask

    def change(self, rect: Rect, paint: Callable[[np.ndarray], Rect | None],
               footprint: np.ndarray | None = None) -> Rect | None:
        """One change inside ``rect``; see the module docstring. Returns the changed rect."""
        if not self.is_open:
            return None  # the step was ended under the tool (a forced pre-fill): no unrecorded change
        self.doc.history.record_before(rect)
        changed = paint(self.doc.mask)
        newly_verified = self._verify(rect, footprint)
        dirty = union_rect(changed, newly_verified)
        if dirty is not None:
            self._refresh(dirty)
        return changed

    def _verify(self, rect: Rect, region: np.ndarray | None) -> Rect | None:
        doc = self.doc
        if self._protected:
            clipped = clip_rect(rect, doc.mask.shape)
            if clipped is None:
                return None
            y0, x0, y1, x1 = clipped
            keep = ~np.isin(doc.mask[y0:y1, x0:x1], list(self._protected))
            if region is not None:
                ry0, rx0 = y0 - rect[0], x0 - rect[1]
                keep &= region[ry0 : ry0 + (y1 - y0), rx0 : rx0 + (x1 - x0)]
            rect, region = clipped, keep
        return mark_verified(doc.verified, rect, region)

    def close(self) -> UndoStep | None:
        """Ends the step (again: nothing); returns the undo step pushed, ``None`` when nothing changed."""
        if not self.is_open:
            return None
        self.is_open = False
        step = self.doc.history.end()
        self._closed(self.doc, step)
        return step

    def __enter__(self) -> EditStep:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
