"""The editing session (Qt-free): the open project, its documents and the rules of editing.

The window and the tests drive this one object; the window only draws what it
is told. It is also the tools' context (``core.tools.ToolContext``): the
current image's mask and history, the current class, the brush radius, the
protected classes.

Every change to a mask goes through one of these doors, and each ends in
``_after_edit``, the one place for per-edit rules (status, autosave, and
later verified pixels or effort counts):

- an edit step (``begin_edit(tool)`` / ``with edit(tool) as step``,
  ``core.edit_step``): a tool's stroke, fill or polygon on the current image
  (one undo step); ``set_pixels(rect, values)`` for scripted edits;
- ``undo()`` / ``redo()`` on the current image;
- ``apply_prediction(key, mask, ...)``: a model's mask, one undo step, never
  over the user's work (EDITED or REVIEWED) unless ``force``;
- ``mark_reviewed()``.

Verified pixels (``core.verified``): every pixel a tool paints, fills or
erases is verified by its edit step (the tool's footprint, also where the
class did not change), in the same undo step as the edit; ``mark_reviewed`` verifies
every pixel as one step; a prediction fills unverified pixels only and
verifies nothing, nor does a class reassignment.

Status rules: an edit makes an image EDITED, except a REVIEWED one, which
stays REVIEWED; a prediction makes it PREDICTED.

The session tells the view through plain callbacks (no-ops until set):
``on_changed(MaskChange)`` after any of the doors, ``on_save_needed()`` to
schedule an autosave, ``on_region_changed(rect)`` while a stroke paints,
``on_preview(points, closed)`` for a tool's outline, ``on_class_changed(id)``,
``on_load_error(key, message)`` and ``cancel_stroke()`` (end the active
tool's stroke before a forced prediction replaces the mask under it).

Correction effort (``core.effort.EffortLog``, ``session.effort``) is counted
here too: pixel changes from the pre-fill in ``_after_edit`` and
``apply_prediction``, canvas presses through ``pointer(kind, yx)``, active
time against ``clock`` (injectable for tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from segstudio.core.documents import DocumentCache, ImageDocument
from segstudio.core.edit_step import EditStep
from segstudio.core.effort import EffortLog
from segstudio.core.imageio import ImageReadError, read_image, read_image_size
from segstudio.core.maskio import MaskFormatError
from segstudio.core.paint import Rect
from segstudio.core.project import ImageStatus, Project
from segstudio.core.reassign import ReassignEvent, check_classes, replace_class
from segstudio.core.saved_merge import SavedMerge, is_current
from segstudio.core.undo import UndoHistory, UndoStep
from segstudio.core.verified import (
    VerifiedFormatError, has_verified, legacy_verified, load_verified, merge_prediction,
)

log = logging.getLogger(__name__)

#: Statuses that mean "the user's work": a prediction never replaces them unless forced.
USER_STATUSES = (ImageStatus.EDITED, ImageStatus.REVIEWED)
DEFAULT_ERASER_ID = 11  # CamVid's Void, until a project says otherwise


@dataclass(frozen=True)
class MaskChange:
    """What changed: ``kind`` is "edit", "undo", "redo", "prediction" or "status".

    ``rect``: the changed pixels' bounding box (``None``: none, or an image
    that is not open); ``step``: the undo step of an edit or prediction.
    """

    key: str
    kind: str
    rect: Rect | None = None
    step: UndoStep | None = None


def _ignore(*_args) -> None:
    return None


class EditingSession:
    """The open project's editing state and rules; see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.project: Project | None = None
        self.clock = clock
        self.effort: EffortLog | None = None
        self.documents = DocumentCache()
        self.doc: ImageDocument | None = None
        self.current_class = 0
        self.protected: frozenset[int] = frozenset()
        self.brush_radius = 5.0
        self.on_changed: Callable[[MaskChange], None] = _ignore
        self.on_save_needed: Callable[[], None] = _ignore
        self.on_region_changed: Callable[[Rect], None] = _ignore
        self.on_preview: Callable[[list, bool], None] = _ignore
        self.on_class_changed: Callable[[int], None] = _ignore
        self.on_load_error: Callable[[str, str], None] = _ignore
        self.cancel_stroke: Callable[[], None] = _ignore
        self._open_step: EditStep | None = None

    # --- the project and its documents -------------------------------------------
    def open_project(self, project: Project) -> None:
        self.project = project
        self.effort = EffortLog(project, self.clock)
        self.reset_documents()

    def close_project(self) -> None:
        self.project = None
        self.effort = None
        self.doc = None

    def reset_documents(self) -> None:
        """Forgets every document (after masks were replaced on disk, e.g. an import)."""
        self.documents = DocumentCache()
        self.doc = None

    @property
    def current_key(self) -> str | None:
        return self.doc.key if self.doc is not None else None

    def status(self, key: str) -> ImageStatus:
        return self.project.status(key)

    def document(self, key: str) -> ImageDocument | None:
        """The document of ``key``, read from disk if not cached; ``None`` (and
        ``on_load_error``) when the image or its mask cannot be read."""
        doc = self.documents.get(key)
        if doc is not None:
            return doc
        try:
            image = read_image(self.project.image_path(key))
            mask = self.project.load_mask(key, image.shape[:2])
            legacy = mask is not None and not has_verified(self.project, key)
            if legacy:
                verified = legacy_verified(mask.shape, self.project.status(key) in USER_STATUSES)
            else:
                verified = load_verified(self.project, key, image.shape[:2])
        except (ImageReadError, MaskFormatError, VerifiedFormatError, OSError) as exc:
            self.on_load_error(key, str(exc))
            return None
        if mask is None:
            mask = np.full(image.shape[:2], self.project.labelset.eraser_id, np.uint8)
        doc = ImageDocument(key, image, mask, confidence=self.project.load_confidence(key),
                            prediction=self.project.load_prediction(key, mask.shape),
                            verified=verified, verified_legacy=legacy and bool(verified.any()))
        if doc.confidence is not None and doc.confidence.shape != mask.shape:
            doc.confidence = None
        self.documents.put(doc)
        return doc

    def open_image(self, key: str) -> ImageDocument | None:
        """Makes ``key`` the current image; ``None`` when it cannot be read: then no image is
        current (the user sees why, and no edit may land on the image shown before)."""
        doc = self.document(key)
        self.doc = doc
        if doc is not None:
            self.project.current = key
        return doc

    def mask_for(self, key: str) -> np.ndarray | None:
        """The live mask when the image is in memory, else the saved one, else ``None`` (do not modify)."""
        doc = self.documents.get(key)
        if doc is not None:
            return doc.mask
        try:
            return self.project.load_mask(key)
        except (MaskFormatError, OSError):
            return None

    def mask_snapshot(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Copies of the masks as they are now: a training job works on these."""
        out = {}
        for key in keys:
            mask = self.mask_for(key)
            if mask is not None:
                out[key] = mask.copy()
        return out

    # --- the tools' context (core.tools.ToolContext) -------------------------------
    @property
    def mask(self) -> np.ndarray:
        return self.doc.mask

    @property
    def history(self) -> UndoHistory:
        return self.doc.history

    @property
    def image(self) -> np.ndarray:
        return self.doc.image

    @property
    def verified(self) -> np.ndarray:
        """The current image's verified pixels (bool, edited in place like ``mask``)."""
        return self.doc.verified

    def begin_edit(self, tool: str) -> EditStep:
        """Opens the one undo step of a tool's edit on the current image (``core.edit_step``);
        an edit still open is closed first."""
        if self._open_step is not None:
            self._open_step.close()
        self._open_step = EditStep(self.doc, tool, self.protected, self.region_changed, self._edit_closed)
        return self._open_step

    def edit(self, tool: str) -> EditStep:
        """``with session.edit("fill") as step:`` -- ``begin_edit`` closed at the block's end."""
        return self.begin_edit(tool)

    @property
    def editing(self) -> bool:
        """Whether an edit step is open on the current image (a stroke in progress)."""
        return self.doc is not None and self.doc.history.in_stroke

    @property
    def prediction(self) -> np.ndarray | None:
        """The model's last mask of the current image (kept beside the edited one), or None."""
        return self.doc.prediction if self.doc is not None else None

    @property
    def eraser_id(self) -> int:
        return self.project.labelset.eraser_id if self.project else DEFAULT_ERASER_ID

    def region_changed(self, rect: Rect) -> None:
        self.on_region_changed(rect)

    def show_preview(self, points: list, closed: bool = False) -> None:
        self.on_preview(points, closed)

    def pick_class(self, class_id: int) -> None:
        """Makes ``class_id`` the painting class; ids outside the label set are ignored."""
        if self.project is not None and not 0 <= class_id < self.project.labelset.num_classes:
            return
        self.current_class = class_id
        self.on_class_changed(class_id)

    def set_protected(self, classes) -> None:
        self.protected = frozenset(classes)

    def void_only_classes(self) -> frozenset[int]:
        """Every class but the eraser's: protecting them paints over void only."""
        if self.project is None:
            return frozenset()
        return frozenset(range(self.project.labelset.num_classes)) - {self.eraser_id}

    # --- the doors through which masks change ---------------------------------------
    def _edit_closed(self, doc: ImageDocument, step: UndoStep | None) -> None:
        """An edit step ended (``step`` ``None``: it changed nothing): the after-edit rules."""
        if self._open_step is not None and self._open_step.doc is doc:
            self._open_step = None
        if step is None or doc is not self.documents.peek(doc.key):
            return  # nothing changed, or the document was forgotten meanwhile (a new project)
        doc.counts_step(step)
        step.status_before = self.project.status(doc.key).value
        self._after_edit(doc, MaskChange(doc.key, "edit", step.rect, step))
        step.status_after = self.project.status(doc.key).value

    def set_pixels(self, rect: Rect, values) -> None:
        """Writes ``values`` (a scalar or an array of the rect's shape) into ``rect`` of the
        current mask as one undo step, like a tool (scripts, smart tools)."""
        if self.doc is None:
            return
        y0, x0, y1, x1 = rect

        def write(mask: np.ndarray) -> Rect:
            mask[y0:y1, x0:x1] = values
            return rect

        with self.edit("set_pixels") as step:
            step.change(rect, write)

    def replace_class(self, key: str, source: int, target: int) -> int:
        """Class ``source`` -> ``target`` in the in-memory mask of ``key`` as one undo step
        (protected classes respected: ``core.reassign.ReassignError``); the pixels changed."""
        check_classes(source, target, self.project.labelset.num_classes, self.protected)
        doc = self.documents.peek(key)
        if doc is None or doc.history.in_stroke:
            return 0
        step = doc.history.apply_whole(doc.mask, replace_class(doc.mask, source, target))
        if step is None:
            return 0
        doc.counts_step(step)
        if doc is self.doc:
            self.region_changed(step.rect)
        self._after_edit(doc, MaskChange(key, "edit", step.rect, step))
        return int(np.count_nonzero(step.before != step.after))

    def saved_mask_rewritten(self, event: ReassignEvent) -> None:
        """A job rewrote ``event.key``'s saved mask (not in memory): its status, effort and view."""
        if self.project is None or event.key not in self.project.keys or not event.changed:
            return
        self.project.image_info(event.key)["saved_at"] = time.time()
        if self.project.status(event.key) != ImageStatus.REVIEWED:
            self.project.set_status(event.key, ImageStatus.EDITED)
        if event.effort_delta is not None:
            self.effort.add_changed(event.key, event.effort_delta)
        self.on_save_needed()
        self.on_changed(MaskChange(event.key, "edit"))

    def pointer(self, kind: str, yx=None) -> None:
        """Canvas input on the current image ("press", "move" while pressed, "release"): counts
        strokes, clicks and active time. Cheap: it runs on every mouse move."""
        if self.effort is not None and self.doc is not None:
            self.effort.pointer(self.doc.key, kind, yx)

    def undo(self) -> Rect | None:
        return self._step_history("undo")

    def redo(self) -> Rect | None:
        return self._step_history("redo")

    def _step_history(self, kind: str) -> Rect | None:
        doc = self.doc
        if doc is None or doc.history.in_stroke:
            return None
        step = doc.history.next_step(kind)
        rect = doc.history.undo(doc.mask, doc.verified) if kind == "undo" else doc.history.redo(doc.mask, doc.verified)
        if rect is None:
            return None
        doc.counts_changed()
        self.region_changed(rect)
        # The status the image had around this step: all edits undone = the earlier status again.
        status = step.status_before if kind == "undo" else step.status_after
        status = None if status is None else ImageStatus(status)
        self._after_edit(doc, MaskChange(doc.key, kind, rect, step), status)
        return rect

    def mark_reviewed(self) -> None:
        """Every pixel of the current image is verified (one undo step) and it becomes REVIEWED."""
        if self.doc is None or self.doc.history.in_stroke:
            return
        doc = self.doc
        status_before = self.project.status(doc.key).value
        step = doc.history.apply_whole(doc.mask, doc.mask, doc.verified, np.ones_like(doc.verified))
        if step is not None:
            step.status_before, step.status_after = status_before, ImageStatus.REVIEWED.value
        doc.verified_legacy = False
        self.project.set_status(self.doc.key, ImageStatus.REVIEWED)
        self.effort.reviewed(self.doc.key)
        self.doc.mark_edited()  # saves the mask too, so the reviewed state is on disk
        self.on_save_needed()
        self.on_changed(MaskChange(self.doc.key, "status", step.bounds if step is not None else None, step))

    def _after_edit(self, doc: ImageDocument, change: MaskChange, status: ImageStatus | None = None) -> None:
        """The rules after every user edit (tools, undo, redo): one place to add more.

        ``status``: the status an undo/redo returns the image to (default EDITED);
        a review is never taken back by an edit or an undo."""
        step = change.step if change.step is not None and change.step.rect is not None else None
        self.effort.mask_changed(doc.key, doc.mask, change.kind, step)  # None: only verified pixels changed
        doc.mark_edited()
        if self.project.status(doc.key) != ImageStatus.REVIEWED:
            self.project.set_status(doc.key, status or ImageStatus.EDITED)
        self.on_save_needed()
        self.on_changed(change)

    # --- predictions -----------------------------------------------------------------
    def apply_prediction(self, key: str, mask: np.ndarray, confidence: np.ndarray | None = None,
                         force: bool = False, encoded: tuple[bytes, bytes | None] | None = None,
                         model: str | None = None, merged: SavedMerge | None = None) -> bool:
        """Puts a model's mask on the unverified pixels of ``key`` as one undo step.

        Verified pixels are never overwritten (``core.verified.merge_prediction``),
        so images with verified pixels need no question. Refused (``False``) for
        an unknown key, a mask of the wrong size, one being painted on, or a
        legacy image of the user's (edited/reviewed, saved before verified
        pixels existed) unless ``force``: then the whole mask is replaced and
        nothing stays verified. The image becomes PREDICTED unless verified
        pixels remain (then it keeps its status). ``encoded`` = (mask PNG, confidence PNG) made by the
        worker: for an image that is not in memory only the files are written
        (no image decode, no PNG encode on the caller's thread). ``model``: the
        model version, recorded with the effort of correcting this pre-fill.
        ``merged``: the worker's merge of the saved mask and verified pixels
        (``core.saved_merge``); written as is while the image is not in memory
        and its files are the ones the worker read, else merged here again.
        """
        if self.project is None or key not in self.project.keys:
            return False
        in_memory = self.documents.get(key)
        legacy = self._is_legacy(key, in_memory)
        if legacy and not force:
            return False
        nothing_verified = legacy or (in_memory is None and not has_verified(self.project, key))
        if encoded is not None and in_memory is None and nothing_verified and self._write_prediction(key, mask, encoded):
            self.effort.prefilled(key, mask, model, encoded[0])
            return True
        if (encoded is not None and merged is not None and in_memory is None and not legacy and merged.key == key
                and is_current(self.project, merged) and self._write_prediction(key, mask, encoded, merged)):
            self.effort.prefilled(key, merged.mask, model, merged.mask_png)
            return True
        mask = np.asarray(mask)
        doc = self.document(key)
        if doc is None or doc.mask.shape != mask.shape:
            return False
        if doc.history.in_stroke:
            if not force:
                return False  # the user is painting on it right now
            self.cancel_stroke()  # the tool ends its stroke as its own step
            if self._open_step is not None and self._open_step.doc is doc:
                self._open_step.close()  # and without a tool (scripts, tests) the session does
        if confidence is not None and np.shape(confidence) != mask.shape:
            log.warning("confidence for %s has shape %s, mask %s; dropped", key, np.shape(confidence), mask.shape)
            confidence = None
        status_before = self.project.status(key)
        if legacy:  # forced over a legacy mask: all of it replaced, nothing verified any more
            new_mask, new_verified = mask, np.zeros_like(doc.verified)
            doc.verified_legacy = False
        else:
            new_mask, new_verified = merge_prediction(doc.mask, doc.verified, mask)[0], doc.verified
        status = status_before if new_verified.any() and status_before in USER_STATUSES else ImageStatus.PREDICTED
        # one undoable step (diff bbox only)
        step = doc.history.apply_whole(doc.mask, new_mask, doc.verified, new_verified)
        if step is not None:
            step.status_before, step.status_after = status_before.value, status.value
        doc.counts_step(step)
        doc.confidence = confidence
        doc.prediction = mask.copy()
        doc.mark_edited()
        self.project.set_status(key, status)
        # The worker's PNG is the raw prediction: it is the new mask only when nothing was kept.
        exact = encoded is not None and not new_verified.any()
        self.effort.prefilled(key, doc.mask, model, encoded[0] if exact else None)
        if confidence is not None:
            try:  # the worker's PNG when there is one: encoding 48 MP here would stall the window for seconds
                self.project.save_confidence(key, confidence, encoded=encoded[1] if encoded is not None else None)
            except OSError as exc:
                log.warning("could not save confidence for %s: %s", key, exc)
        self._keep_prediction(key, mask, encoded[0] if encoded is not None else None)
        self.on_save_needed()
        self.on_changed(MaskChange(key, "prediction", step.rect if step is not None else None, step))
        return True

    def _is_legacy(self, key: str, doc: ImageDocument | None) -> bool:
        """The user's mask saved before verified pixels existed: auto-segment asks before replacing it."""
        if doc is not None:
            return doc.verified_legacy
        return (self.project.status(key) in USER_STATUSES and self.project.mask_path(key).exists()
                and not has_verified(self.project, key))

    def needs_overwrite_question(self, key: str) -> bool:
        """Whether auto-segmenting ``key`` would replace the user's pixels (a legacy image only)."""
        return self.project is not None and self._is_legacy(key, self.documents.peek(key))

    def _write_prediction(self, key: str, mask: np.ndarray, encoded, merged: SavedMerge | None = None) -> bool:
        """Saves a model's mask (or ``merged``, its worker-made merge with the saved verified
        pixels) for an image that is not in memory; False to take the slow path."""
        try:
            width, height = read_image_size(self.project.image_path(key))
        except (ImageReadError, OSError):
            return False
        if np.shape(mask) != (height, width):
            return False
        mask_png, confidence_png = encoded
        status_before = self.project.status(key)
        try:  # verified pixels: as the in-memory merge, the file is not touched (they never change)
            if merged is not None:
                self.project.save_mask(key, merged.mask, encoded=merged.mask_png)
            else:
                self.project.save_mask(key, mask, encoded=mask_png)
            if confidence_png is not None:
                self.project.save_confidence(key, None, encoded=confidence_png)
        except OSError:
            return False  # kept in memory instead; the autosaver retries
        self._keep_prediction(key, mask, mask_png)  # the raw prediction, never the merge
        keeps_status = merged is not None and merged.keeps_verified and status_before in USER_STATUSES
        self.project.set_status(key, status_before if keeps_status else ImageStatus.PREDICTED)
        self.on_save_needed()  # the state (statuses) is saved with the next autosave
        self.on_changed(MaskChange(key, "prediction"))
        return True

    def _keep_prediction(self, key: str, mask: np.ndarray, encoded: bytes | None) -> None:
        """Saves the model's mask beside the user's (regions of it are picked and painted back later)."""
        try:
            self.project.save_prediction(key, mask, encoded=encoded)
        except OSError as exc:
            log.warning("could not keep the prediction of %s: %s", key, exc)
