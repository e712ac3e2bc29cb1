"""Saves edits within 2 seconds, retries failed saves, never marks unsaved work saved.

Each edit restarts a short timer (save 1.5 s after the last edit), capped so
that continuous painting still saves 2 s after the first unsaved edit. Masks
are written by ``Project.save_mask`` (atomic: temp file, fsync, rename). A
failure (disk full, read-only, a file locked for a moment) keeps the edits
in memory, reports it, and retries with growing delays.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

IDLE_DELAY_MS = 1500
MAX_DELAY_S = 2.0
RETRY_DELAYS_S = (1, 2, 5, 10, 30)


class Autosaver(QObject):
    state_changed = Signal(str)  # "saved", "unsaved", or "save failed: …"
    saved = Signal(str)  # key

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self.documents = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.save_now)
        self._first_unsaved: float | None = None
        self._failures = 0
        self.last_error: str | None = None

    def attach(self, project, documents) -> None:
        self.project = project
        self.documents = documents
        self._failures = 0
        self.last_error = None

    def edited(self) -> None:
        now = time.monotonic()
        if self._first_unsaved is None:
            self._first_unsaved = now
        remaining = MAX_DELAY_S - (now - self._first_unsaved)
        delay = max(0, min(IDLE_DELAY_MS, int(remaining * 1000)))
        if self._failures == 0 or not self._timer.isActive():
            self._timer.start(delay)
        self.state_changed.emit("unsaved")

    def has_unsaved(self) -> bool:
        return bool(self.documents and self.documents.dirty())

    def save_now(self) -> bool:
        """Writes every dirty mask and the project state; True when all succeeded."""
        if self.project is None or self.documents is None:
            return True
        failed = None
        for doc in self.documents.dirty():
            generation = doc.edit_generation
            try:
                self.project.save_mask(doc.key, doc.mask)
            except OSError as exc:
                failed = str(exc)
                continue
            doc.mark_saved(generation)
            self.saved.emit(doc.key)
        try:
            self.project.save_state()
        except OSError as exc:
            failed = failed or str(exc)
        if failed:
            self.last_error = failed
            delay = RETRY_DELAYS_S[min(self._failures, len(RETRY_DELAYS_S) - 1)]
            self._failures += 1
            log.warning("save failed (%s); retrying in %s s", failed, delay)
            self.state_changed.emit(f"save failed: {failed} (retrying in {delay} s)")
            self._timer.start(delay * 1000)
            return False
        self._failures = 0
        self.last_error = None
        self._first_unsaved = None
        self.state_changed.emit("saved")
        return True
