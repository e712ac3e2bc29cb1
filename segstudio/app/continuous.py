"""Continuous mode: "Keep training while I annotate" (a check box in the model dock's retrain section).

``ml.jobs.continuous_job`` (``ml.continuous.continuous_training``) runs in the
one ``Worker`` pattern. It learns from the corrections as saved on disk: the
GUI thread hands over a snapshot of their file paths (``CorrectionFiles.update``,
refreshed after each autosave), and the worker thread reads the files
(atomic writes: never half a file), caching what did not change. No widget is
touched off the GUI thread.

On a ``CandidateBetter`` event (the guard found it better than the best so
far on the held-out corrections) the model in use takes the new weights
(``RetrainController.use_weights``: ``load_state_dict``,
``Predictor.reload_weights``, a saved model version the Model box names), so
the next auto-segment uses it. Unticking, opening another folder or closing
the window stops and joins the worker.

The worker does not take the model dock's busy slot: auto-segment and the
editors stay usable while it trains (one CPU core is left to the GUI).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from segstudio.app.worker import Worker
from segstudio.core.imageio import ImageReadError, read_image
from segstudio.core.maskio import MaskFormatError, read_index_png
from segstudio.core.verified import (
    VerifiedFormatError, corrected_keys, has_verified, previous_holdout, read_verified_png, remember_holdout,
    verified_path,
)
from segstudio.ml.jobs import continuous_job

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0  # training seconds between two checks on the held-out corrections
REFRESH_MS = 500  # autosaves within this are listed once


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime_ns if path is not None else None
    except OSError:
        return None


class CorrectionFiles:
    """The corrections as files, listed on the GUI thread and read on the worker thread.

    ``update(entries)`` (GUI thread) replaces the tuple of ``(key, image path,
    mask path, verified path or None, labelset)`` in one assignment; calling
    the object (worker thread) reads them into ``ml.continuous.Correction``s,
    decoding again only files whose modification time changed. A verified
    path of None is a legacy mask: all of it verified.
    """

    def __init__(self) -> None:
        self._entries: tuple = ()
        self._cache: dict = {}  # worker thread only: key -> (stamps, Correction)

    def update(self, entries) -> None:
        self._entries = tuple(entries)

    def __call__(self) -> dict:
        from segstudio.ml.continuous import Correction

        out = {}
        for key, image_path, mask_path, v_path, labelset in self._entries:
            stamps = (_mtime(image_path), _mtime(mask_path), _mtime(v_path))
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamps:
                if cached[1] is not None:
                    out[key] = cached[1]
                continue
            correction = None
            try:
                image = cached[1].image if cached is not None and cached[1] is not None and cached[0][0] == stamps[0] \
                    else read_image(image_path)
                mask = read_index_png(mask_path, labelset, image.shape[:2])
                verified = read_verified_png(v_path, image.shape[:2]) if v_path is not None else None
                if verified is None or verified.any():
                    correction = Correction(image, mask, verified)
            except (ImageReadError, MaskFormatError, VerifiedFormatError, OSError) as exc:
                log.info("continuous training skips %s: %s", key, exc)
            self._cache[key] = (stamps, correction)
            if correction is not None:
                out[key] = correction
        return out


class ContinuousController(QObject):
    """The check box and the worker of continuous mode; see the module docstring."""

    swapped = Signal(object)  # the saved model version (Path) now in use
    stopped = Signal()

    def __init__(self, window, retrain, check_every_s: float = CHECK_EVERY_S) -> None:
        super().__init__(window)
        self.window, self.retrain, self.autoseg = window, retrain, retrain.autoseg
        self.check_every_s = check_every_s
        self.files = CorrectionFiles()
        self.worker: Worker | None = None
        self._project = None
        self.check = QCheckBox("Keep training while I annotate")
        self.check.setToolTip("Trains on your saved corrections in the background and switches to a new model "
                              "only when it is better on the held-out ones")
        self.label = QLabel()
        self.label.setWordWrap(True)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.label)
        retrain.panel.add_section(box)
        self.check.toggled.connect(self._toggled)
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self.refresh_files)
        window.autosaver.saved.connect(lambda _key: self._refresh.start())
        window.project_opened.connect(lambda _project: self.check.setChecked(False))
        window.installEventFilter(self)  # closing the window stops and joins the worker first

    # --- on / off ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        if self.window.project is None:
            self.check.setChecked(False)
            self.label.setText("Open a folder first.")
            return
        self.autoseg.with_model(self._start)

    def _start(self) -> None:
        from segstudio.ml.finetune import FinetuneSettings

        if not self.check.isChecked() or self.worker is not None or self.autoseg.predictor is None:
            return
        self._project = self.window.project
        self.refresh_files()
        settings = FinetuneSettings(minutes=None, previous_holdout=tuple(previous_holdout(self._project)))
        worker = Worker(continuous_job(self.autoseg.predictor.checkpoint, self.files, settings,
                                       self.autoseg.device_preference, self.check_every_s), name="continuous training")
        worker.progress.connect(self._on_event)
        worker.failed.connect(lambda message: self.label.setText(f"Continuous training stopped: {message}"))
        worker.finished.connect(lambda w=worker: self._finished(w))
        self.worker = worker
        self.label.setText("Waiting for corrections…")
        worker.start()

    def stop(self) -> None:
        """Stops and joins the worker (it returns within one training step)."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        worker.cancel()
        worker.wait()
        self.label.setText("Stopped.")
        blocked = self.check.blockSignals(True)
        self.check.setChecked(False)
        self.check.blockSignals(blocked)
        self.stopped.emit()

    def _finished(self, worker: Worker) -> None:
        if self.worker is worker:  # ended by itself (a failure)
            self.worker = None
            blocked = self.check.blockSignals(True)
            self.check.setChecked(False)
            self.check.blockSignals(blocked)
            self.stopped.emit()
        worker.deleteLater()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.stop()
        return False

    # --- what it learns from ------------------------------------------------------------------
    def refresh_files(self) -> None:
        """GUI thread: the saved corrections' paths for the worker."""
        project = self.window.project
        if project is None or project is not self._project:
            return
        self.files.update(
            (key, project.image_path(key), project.mask_path(key),
             verified_path(project, key) if has_verified(project, key) else None, project.labelset)
            for key in corrected_keys(project))

    # --- events (GUI thread) ------------------------------------------------------------------
    def _on_event(self, event) -> None:
        from segstudio.ml.continuous import CandidateBetter, CheckResult, ContinuousProgress, WaitingForCorrections

        if self.worker is None or self.window.project is not self._project:
            return
        if isinstance(event, ContinuousProgress):
            best = "" if event.best_miou is None else f", best held-out mIoU {event.best_miou:.3f}"
            self.label.setText(f"Training on {event.train_images} image(s), checking on {event.holdout_images}: "
                               f"round {event.round}, step {event.step}{best}")
        elif isinstance(event, WaitingForCorrections):
            self.label.setText(f"Waiting for corrections ({event.corrected} saved; 2 needed).")
        elif isinstance(event, CheckResult):
            self.label.setText(f"Round {event.round}: kept the model in use ({event.verdict.message}).")
        elif isinstance(event, CandidateBetter):
            self._swap(event)

    def _swap(self, event) -> None:
        remember_holdout(self._project, list(event.holdout_keys))
        record = {
            "images_used": event.train_keys,
            "held_out": event.holdout_keys,
            "steps": event.step,
            "continuous_round": event.round,
            "metrics": {k: event.metrics[k] for k in ("pixel_accuracy", "mean_iou", "per_class_iou")},
            "improved": True,
        }
        summary = f"continuous: {event.verdict.message}"
        path = self.retrain.use_weights(event.state_dict, record, summary)
        if path is None:
            return
        self.window.autosaver.edited()  # the held-out keys are saved with the folder's state
        self.label.setText(f"Round {event.round}: switched to {path.name} ({event.verdict.message}).")
        self.window.show_message(f"Continuous training: a better model is in use ({path.name})", 8000)
        self.swapped.emit(path)


def install_continuous(window, retrain, **kwargs) -> ContinuousController:
    return ContinuousController(window, retrain, **kwargs)
