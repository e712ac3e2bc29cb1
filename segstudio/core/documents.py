"""Per-image editing state, kept while the user moves between images (Qt-free).

An ``ImageDocument`` holds one image's pixels, its mask, its undo history,
its per-class pixel counts and whether it has unsaved edits.
``DocumentCache`` keeps the recently visited ones, so undo history survives
switching images; it evicts the least recently used clean documents beyond a
count and a byte budget (a document with unsaved edits is never dropped).

Class counts feed the palette's "share" column. ``np.bincount`` on an
8000x6000 mask takes ~0.75 s (it widens uint8 to intp), far too slow to run
after every stroke, so counts are kept incrementally from each undo step's
before/after patches, and a full recount uses OpenCV's histogram (~40 ms).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from segstudio.core.project import ImageStatus
from segstudio.core.undo import UndoHistory, UndoStep
from segstudio.core.verified import store_verified

# float32 histogram bins are exact up to 2**24; count in blocks below that.
_BLOCK_PIXELS = 1 << 23


def class_counts(mask: np.ndarray) -> np.ndarray:
    """Exact pixel count per id (256 int64) of a uint8 mask, fast on big masks."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    if mask.size < 1 << 16:
        return np.bincount(mask.ravel(), minlength=256).astype(np.int64)
    rows = max(1, _BLOCK_PIXELS // max(1, mask.shape[1]))
    counts = np.zeros(256, np.int64)
    for y in range(0, mask.shape[0], rows):
        hist = cv2.calcHist([mask[y : y + rows]], [0], None, [256], [0, 256])
        counts += np.rint(hist.ravel()).astype(np.int64)
    return counts


@dataclass
class ImageDocument:
    key: str
    image: np.ndarray
    mask: np.ndarray
    history: UndoHistory = field(default_factory=lambda: UndoHistory(max_steps=200))
    confidence: np.ndarray | None = None
    prediction: np.ndarray | None = None  # the model's last mask of this image (smart tools)
    # The pixels a person confirmed (bool, the mask's shape; ``core.verified``). ``verified_legacy``:
    # a mask of the user's saved before verified pixels existed (no file): all of it counts as
    # verified, and auto-segment still asks before replacing it.
    verified: np.ndarray | None = None
    verified_legacy: bool = False
    dirty: bool = False
    edit_generation: int = 0  # bumps on every edit; a save records which one it wrote
    saved_generation: int = 0
    _counts: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.verified is None:
            self.verified = np.zeros(self.mask.shape, bool)

    def mark_edited(self) -> None:
        self.edit_generation += 1
        self.dirty = True

    def mark_saved(self, generation: int) -> None:
        self.saved_generation = max(self.saved_generation, generation)
        self.dirty = self.edit_generation != self.saved_generation

    # --- class counts ------------------------------------------------------------
    def class_counts(self) -> np.ndarray:
        """Pixels per class id (256 entries); cached, kept up to date by the callers below."""
        if self._counts is None:
            self._counts = class_counts(self.mask)
        return self._counts

    def counts_step(self, step: UndoStep | None) -> None:
        """Updates the counts for a step just applied (before -> after), from its patches only."""
        if step is None or step.rect is None:  # nothing changed, or only the verified pixels
            return
        if self._counts is None:
            return  # computed on the next read
        self._counts -= class_counts(step.before)
        self._counts += class_counts(step.after)

    def counts_changed(self) -> None:
        """The mask changed in an unknown way: recount on the next read."""
        self._counts = None

    @property
    def nbytes(self) -> int:
        extra = self.confidence.nbytes if self.confidence is not None else 0
        return self.image.nbytes + self.mask.nbytes + self.verified.nbytes + self.history.nbytes + extra


def mask_fingerprint(mask: np.ndarray) -> tuple:
    """Identifies a mask's content (shape + CRC-32), to tell whether a kept undo
    history still fits the mask loaded from disk."""
    return mask.shape, zlib.crc32(np.ascontiguousarray(mask).data)


def document_fingerprint(doc: ImageDocument) -> tuple:
    """The mask's and the verified pixels' fingerprints: a kept history restores both."""
    return mask_fingerprint(doc.mask), zlib.crc32(np.ascontiguousarray(doc.verified).data)


class DocumentCache:
    """Recently visited documents, least recently used first out (never a dirty one).

    An evicted document's undo history is kept (up to ``max_history_bytes``
    for all of them, oldest dropped first) with its mask's fingerprint, and
    given back by ``put`` when the document is loaded again with the same
    mask: undo survives moving between images even in a long session.
    """

    def __init__(self, max_documents: int = 20, max_bytes: int = 2 * 1024**3,
                 max_history_bytes: int = 256 * 1024**2) -> None:
        self.max_documents = max_documents
        self.max_bytes = max_bytes
        self.max_history_bytes = max_history_bytes
        self._docs: OrderedDict[str, ImageDocument] = OrderedDict()
        self._kept: OrderedDict[str, tuple[tuple, UndoHistory]] = OrderedDict()

    def get(self, key: str) -> ImageDocument | None:
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
        return doc

    def peek(self, key: str) -> ImageDocument | None:
        """Like ``get`` without counting as a use."""
        return self._docs.get(key)

    def put(self, doc: ImageDocument) -> None:
        kept = self._kept.pop(doc.key, None)
        if kept is not None and not doc.history.can_undo and kept[0] == document_fingerprint(doc):
            doc.history = kept[1]
        self._docs[doc.key] = doc
        self._docs.move_to_end(doc.key)
        self._evict(keep=doc.key)

    def _evict(self, keep: str) -> None:
        total = sum(d.nbytes for d in self._docs.values())
        for key in list(self._docs):
            if len(self._docs) <= self.max_documents and total <= self.max_bytes:
                break
            doc = self._docs[key]
            if key != keep and not doc.dirty:
                total -= doc.nbytes
                del self._docs[key]
                self._keep_history(doc)

    def _keep_history(self, doc: ImageDocument) -> None:
        if not (doc.history.can_undo or doc.history.can_redo):
            return
        self._kept[doc.key] = (document_fingerprint(doc), doc.history)
        total = sum(h.nbytes for _, h in self._kept.values())
        while total > self.max_history_bytes and self._kept:
            _, (_, dropped) = self._kept.popitem(last=False)
            total -= dropped.nbytes

    def __contains__(self, key: str) -> bool:
        return key in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def dirty(self) -> list[ImageDocument]:
        return [d for d in self._docs.values() if d.dirty]

    def all(self) -> list[ImageDocument]:
        return list(self._docs.values())

    def clear(self) -> None:
        self._docs.clear()
        self._kept.clear()


def save_document(project, doc: ImageDocument) -> None:
    """Writes one document as the folder keeps it and marks it saved: its mask and, beside it,
    its verified pixels (both atomic); a mask whose every edit was undone (NO_MASK) is deleted
    instead. Raises ``OSError`` (``SaveError``) and leaves the document dirty on failure."""
    generation = doc.edit_generation
    status = project.status(doc.key)
    if status == ImageStatus.NO_MASK:
        project.delete_mask(doc.key)
    else:
        project.save_mask(doc.key, doc.mask)
        store_verified(project, doc.key, doc.verified, status in (ImageStatus.EDITED, ImageStatus.REVIEWED))
    doc.mark_saved(generation)
