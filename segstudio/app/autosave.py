"""Saves edits within 2 seconds, retries failed saves, never marks unsaved work saved.

Each edit restarts a short timer (save 1.5 s after the last edit), capped so
that continuous painting still saves 2 s after the first unsaved edit. Masks
are written by ``Project.save_mask`` (atomic: temp file, fsync, rename), their verified pixels
beside them by ``core.verified.store_verified`` on the same path. A
failure (disk full, read-only, a file locked for a moment) keeps the edits
in memory, reports it, and retries with growing delays.

Big masks (more than ``BACKGROUND_PIXELS``) are saved off the GUI thread: the
GUI thread copies the mask (~10 ms for 8000x6000) and a ``Worker`` encodes the
PNG (0.2-0.7 s at that size) and writes it, so painting does not stall every
2 s. Each save records the document's edit generation; only that generation
is marked saved, so edits made while the file is written stay unsaved. The
cap on the delay is shortened by the last background save's duration, so the
file still lands about 2 s after the first unsaved edit.

``save_now()`` (the default ``block=True``) returns only when everything is on
disk or has failed: closing, exporting and the model features rely on that.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from segstudio.app.worker import Worker
from segstudio.core.documents import save_document
from segstudio.core.project import ImageStatus
from segstudio.core.verified import encode_verified_png, store_verified

log = logging.getLogger(__name__)

IDLE_DELAY_MS = 1500
MAX_DELAY_S = 2.0
RETRY_DELAYS_S = (1, 2, 5, 10, 30)
BACKGROUND_PIXELS = 4_000_000  # 1080p (2 MP) encodes in ~15 ms: fine on the GUI thread


@dataclass
class _BackgroundSave:
    key: str
    generation: int
    worker: Worker | None = None
    error: str | None = None
    done: bool = False
    handled: bool = False
    started: float = 0.0
    seconds: float = 0.0


class Autosaver(QObject):
    state_changed = Signal(str)  # "saved", "unsaved", "saving…", or "save failed: …"
    saved = Signal(str)  # key

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self.documents = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(lambda: self.save_now(block=False))
        self._first_unsaved: float | None = None
        self._failures = 0
        self._pending: dict[str, _BackgroundSave] = {}
        self._last_background_s = 0.0
        self.last_error: str | None = None

    def attach(self, project, documents) -> None:
        """Switches to another project; finishes the previous one's saves first."""
        self._join_background()
        self.project = project
        self.documents = documents
        self._failures = 0
        self._first_unsaved = None
        self.last_error = None
        self._timer.stop()

    # --- scheduling --------------------------------------------------------------
    def edited(self) -> None:
        now = time.monotonic()
        if self._first_unsaved is None:
            self._first_unsaved = now
        budget = MAX_DELAY_S - min(1.0, self._last_background_s)
        remaining = budget - (now - self._first_unsaved)
        delay = max(0, min(IDLE_DELAY_MS, int(remaining * 1000)))
        if self._failures == 0 or not self._timer.isActive():
            self._timer.start(delay)
        self.state_changed.emit("unsaved")

    def has_unsaved(self) -> bool:
        return bool(self.documents and self.documents.dirty())

    def is_saving(self) -> bool:
        return bool(self._pending)

    # --- saving --------------------------------------------------------------------
    def save_now(self, block: bool = True) -> bool:
        """Saves every dirty mask and the project state.

        ``block=True``: returns once all is on disk; True when every save succeeded.
        ``block=False`` (the timer, image switches): big masks go to a worker;
        returns False only for a failure known now.
        """
        if self.project is None or self.documents is None:
            return True
        if block:
            self._join_background()
        failed = None
        for doc in self.documents.dirty():
            if doc.key in self._pending:
                continue  # being written; saved again afterwards if edited meanwhile
            big = doc.mask.size > BACKGROUND_PIXELS and self.project.status(doc.key) != ImageStatus.NO_MASK
            if not block and big:
                self._start_background(doc)
                continue
            try:
                save_document(self.project, doc)  # or deletes the mask once every edit is undone
            except OSError as exc:  # SaveError is an OSError
                failed = str(exc)
                continue
            self.saved.emit(doc.key)
        return self._finish_pass(failed)

    def _finish_pass(self, failed: str | None) -> bool:
        if failed is None:
            try:
                self.project.save_state()
            except OSError as exc:
                failed = str(exc)
        if failed:
            self._report_failure(failed)
            return False
        if self._pending:
            self.state_changed.emit("saving…")
            return True
        if self.documents.dirty():  # edited while a background save ran
            self.edited()
            return True
        self._failures = 0
        self.last_error = None
        self._first_unsaved = None
        self.state_changed.emit("saved")
        return True

    def _report_failure(self, message: str) -> None:
        self.last_error = message
        delay = RETRY_DELAYS_S[min(self._failures, len(RETRY_DELAYS_S) - 1)]
        self._failures += 1
        log.warning("save failed (%s); retrying in %s s", message, delay)
        self.state_changed.emit(f"save failed: {message} — retrying in {delay} s")
        self._timer.start(delay * 1000)

    def _user_work(self, key: str) -> bool:
        return self.project.status(key) in (ImageStatus.EDITED, ImageStatus.REVIEWED)

    # --- background saves of big masks --------------------------------------------
    def _start_background(self, doc) -> None:
        project, key = self.project, doc.key
        record = _BackgroundSave(key, doc.edit_generation, started=time.monotonic())
        mask = doc.mask.copy()  # the worker never sees the live mask
        verified, user_work = doc.verified.copy(), self._user_work(key)
        # The worker's save_mask sets this entry's "saved_at"; creating it here
        # means the worker never adds a key to a dict the GUI thread may dump.
        project.image_info(key).setdefault("saved_at", None)

        def job(should_stop):
            try:
                from segstudio.core.maskio import encode_index_png

                project.save_mask(key, mask, encoded=encode_index_png(mask, project.labelset))
                store_verified(project, key, verified, user_work,
                               encoded=encode_verified_png(verified) if verified.any() or user_work else None)
            except (OSError, ValueError) as exc:
                record.error = str(exc) or type(exc).__name__
            record.seconds = time.monotonic() - record.started
            record.done = True
            return record
            yield  # a generator, as Worker expects

        worker = Worker(job, name="autosave", parent=self)
        record.worker = worker
        worker.result.connect(lambda _r, rec=record: self._background_done(rec))
        worker.failed.connect(lambda msg, rec=record: self._background_crashed(rec, msg))
        self._pending[key] = record
        worker.start()

    def _background_crashed(self, record: _BackgroundSave, message: str) -> None:
        record.error, record.done = message, True
        self._background_done(record)

    def _background_done(self, record: _BackgroundSave) -> None:
        """GUI thread: applies a finished background save's outcome (once)."""
        if record.handled:
            return
        record.handled = True
        if self._pending.get(record.key) is record:
            del self._pending[record.key]
        if record.worker is not None:
            record.worker.wait()
            record.worker.deleteLater()
            record.worker = None
        self._last_background_s = record.seconds
        if self.documents is None:
            return
        doc = self.documents.peek(record.key)
        if record.error is None:
            if doc is not None:
                doc.mark_saved(record.generation)
            self.saved.emit(record.key)
            if not self._pending:
                self._finish_pass(None)
        else:
            self._report_failure(record.error)

    def _join_background(self) -> None:
        """Waits for every background save and applies its outcome now."""
        for record in list(self._pending.values()):
            if record.worker is not None:
                record.worker.wait()
            if not record.done:  # the thread died without reporting
                record.error, record.done = record.error or "the save was interrupted", True
            self._background_done(record)

