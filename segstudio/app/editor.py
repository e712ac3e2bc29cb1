"""Per-image editing state, kept while the user moves between images.

An ``ImageDocument`` holds one image's pixels, its mask, its undo history and
whether it has unsaved edits. ``DocumentCache`` keeps the recently visited
ones, so undo history survives switching images; it evicts the least
recently used clean documents beyond a count and a byte budget (a document
with unsaved edits is never dropped).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from segstudio.core.undo import UndoHistory


@dataclass
class ImageDocument:
    key: str
    image: np.ndarray
    mask: np.ndarray
    history: UndoHistory = field(default_factory=lambda: UndoHistory(max_steps=200))
    confidence: np.ndarray | None = None
    dirty: bool = False
    edit_generation: int = 0  # bumps on every edit; a save records which one it wrote
    saved_generation: int = 0

    def mark_edited(self) -> None:
        self.edit_generation += 1
        self.dirty = True

    def mark_saved(self, generation: int) -> None:
        self.saved_generation = max(self.saved_generation, generation)
        self.dirty = self.edit_generation != self.saved_generation

    @property
    def nbytes(self) -> int:
        extra = self.confidence.nbytes if self.confidence is not None else 0
        return self.image.nbytes + self.mask.nbytes + self.history.nbytes + extra


class DocumentCache:
    def __init__(self, max_documents: int = 20, max_bytes: int = 2 * 1024**3) -> None:
        self.max_documents = max_documents
        self.max_bytes = max_bytes
        self._docs: OrderedDict[str, ImageDocument] = OrderedDict()

    def get(self, key: str) -> ImageDocument | None:
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
        return doc

    def put(self, doc: ImageDocument) -> None:
        self._docs[doc.key] = doc
        self._docs.move_to_end(doc.key)
        self._evict(keep=doc.key)

    def _evict(self, keep: str) -> None:
        def too_big() -> bool:
            return len(self._docs) > self.max_documents or sum(d.nbytes for d in self._docs.values()) > self.max_bytes

        for key in list(self._docs):
            if not too_big():
                break
            if key != keep and not self._docs[key].dirty:
                del self._docs[key]

    def dirty(self) -> list[ImageDocument]:
        return [d for d in self._docs.values() if d.dirty]

    def all(self) -> list[ImageDocument]:
        return list(self._docs.values())

    def clear(self) -> None:
        self._docs.clear()
