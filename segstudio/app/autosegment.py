"""Auto-segment: the model pre-fills masks in the background, results appear as they come.

Two jobs, both plain generators run by the one ``Worker`` pattern
(``app/worker.py``) on a QThread, never touching Qt:

- ``load_model_job``: builds a ``Predictor`` (the model on its device, kept
  loaded between runs) from the shipped model, a checkpoint file or an
  untrained registry configuration.
- ``segment_job``: for each image, reads it (``core.imageio.read_image``),
  predicts, and yields a ``SegmentEvent`` carrying the mask, the confidence
  and the mean uncertainty. It checks ``should_stop`` before every image,
  so Cancel stops within one image. On the CPU it caps torch's threads at
  all cores but one while it runs, so the GUI thread keeps a core.

``AutoSegmentController`` (GUI thread) wires the ``ModelPanel`` and the Model
menu to those jobs and applies each event as it arrives with
``main_window.apply_model_mask`` (which refuses images the user edited or
reviewed unless ``force``) and ``main_window.file_list.set_uncertainty``.
The GUI thread only copies arrays into documents; inference never runs on it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from segstudio.app.model_panel import DEFAULT_CHOICE, REGISTRY_PREFIX, ModelPanel, choice_label
from segstudio.app.worker import Worker
from segstudio.core.imageio import ImageReadError, read_image
from segstudio.core.project import ImageStatus

log = logging.getLogger(__name__)

PROTECTED_STATUSES = (ImageStatus.EDITED, ImageStatus.REVIEWED)
SHORTCUTS = {"image": "Ctrl+Shift+I", "selection": "Ctrl+Shift+E", "folder": "Ctrl+Shift+A"}


# --- jobs (worker thread; no Qt) ------------------------------------------------------------
@dataclass
class LoadedModel:
    predictor: object  # segstudio.ml.inference.Predictor
    choice: str
    device_text: str  # "cpu — CUDA not available (...); using CPU (2 threads)"
    summary: str  # "unet-bn, 12 classes, val mIoU 0.581" (+ "untrained" for registry models)


@dataclass
class SegmentEvent:
    kind: str  # "result" | "error"
    stem: str
    index: int  # 1-based position in the run
    total: int
    elapsed_s: float
    mask: np.ndarray | None = None
    confidence: np.ndarray | None = None
    mean_uncertainty: float | None = None
    error: str | None = None
    mask_png: bytes | None = None  # encoded here, off the GUI thread
    confidence_png: bytes | None = None


@dataclass
class SegmentReport:
    requested: int
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # apply_model_mask said no (edited meanwhile)
    errors: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    elapsed_s: float = 0.0


def load_model_job(choice: str, device_preference: str, labelset) -> Callable:
    """Job: a ``LoadedModel`` for ``choice`` on the preferred device (the generator's return value)."""

    def job(should_stop):
        from segstudio.core.resources import default_model_path
        from segstudio.ml.checkpoint import LoadedCheckpoint, checkpoint_summary, load_checkpoint
        from segstudio.ml.device import choose_device
        from segstudio.ml.inference import Predictor
        from segstudio.ml.models.registry import build_model, model_config

        device, reason = choose_device(device_preference)
        yield f"loading {choice_label(choice)} on {device}"
        if choice.startswith(REGISTRY_PREFIX):
            config = model_config(choice[len(REGISTRY_PREFIX):], num_classes=labelset.num_classes)
            checkpoint = LoadedCheckpoint(build_model(config).eval(), config, labelset)
            summary = f"{config['name']}, {config['num_classes']} classes — untrained: predictions are noise until it is trained"
        else:
            path = default_model_path() if choice == DEFAULT_CHOICE else Path(choice)
            if not path.exists():
                what = "the shipped model" if choice == DEFAULT_CHOICE else "the model file"
                raise FileNotFoundError(f"{what} {path} is missing")
            checkpoint = load_checkpoint(path)
            meta = {"config": checkpoint.config, "record": checkpoint.record, "train_size": checkpoint.train_size}
            summary = f"{path.name}: {checkpoint_summary(meta)}"
        if should_stop():
            return None
        return LoadedModel(Predictor(checkpoint, device), choice, f"{device} — {reason}", summary)

    return job


def segment_job(predictor, items: list[tuple[str, Path]], cpu_threads: int | None = None, labelset=None) -> Callable:
    """Job: predicts ``(stem, image path)`` items one by one, yielding a ``SegmentEvent`` per image."""

    def job(should_stop):
        import torch

        previous = torch.get_num_threads()
        if predictor.device.type == "cpu":
            torch.set_num_threads(max(1, cpu_threads or (os.cpu_count() or 2) - 1))
        started = time.monotonic()
        total = len(items)
        try:
            for i, (stem, path) in enumerate(items, start=1):
                if should_stop():
                    return i - 1
                try:
                    image = read_image(path)
                except ImageReadError as exc:
                    yield SegmentEvent("error", stem, i, total, time.monotonic() - started, error=str(exc))
                    continue
                try:
                    prediction = predictor.predict(image)
                except MemoryError as exc:  # even the smallest tile did not fit: skip this image only
                    yield SegmentEvent("error", stem, i, total, time.monotonic() - started,
                                       error=f"{path.name}: out of memory ({exc})")
                    continue
                finally:
                    del image
                from segstudio.core.maskio import encode_grey_png, encode_index_png

                labels = labelset or predictor.checkpoint.labelset
                yield SegmentEvent("result", stem, i, total, time.monotonic() - started, prediction.mask,
                                   prediction.confidence, prediction.mean_uncertainty,
                                   mask_png=encode_index_png(prediction.mask, labels),
                                   confidence_png=encode_grey_png(prediction.confidence))
            return total
        finally:
            torch.set_num_threads(previous)

    return job


# --- the controller (GUI thread) ---------------------------------------------------------
def _call(obj, *names, default=None):
    """The first of ``names`` that ``obj`` has, called (the window's API has had two spellings)."""
    for name in names:
        method = getattr(obj, name, None)
        if callable(method):
            return method()
    return default


class AutoSegmentController(QObject):
    """Loads the model in the background and auto-segments the image, the selection or the folder.

    Signals: ``model_loaded(str summary)``, ``progress(int done, int total)``,
    ``image_done(str stem)``, ``finished(object SegmentReport)`` (also after
    a cancel), ``failed(str message)`` (a failed load or run; also shown in
    a message box when ``interactive``).
    """

    model_loaded = Signal(str)
    progress = Signal(int, int)
    image_done = Signal(str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, main_window, panel: ModelPanel | None = None, *, interactive: bool = True,
                 install_menu: bool = True) -> None:
        super().__init__(main_window)
        self.window = main_window
        self.interactive = interactive  # False: no dialogs (scripted use, benchmarks)
        if panel is None:
            panel = ModelPanel(parent=main_window)
            main_window.add_dock(panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.panel = panel
        self.loaded: LoadedModel | None = None
        settings = getattr(main_window, "settings", None)
        self.model_choice: str = (getattr(settings, "model_path", "") or DEFAULT_CHOICE) if settings else DEFAULT_CHOICE
        self.device_preference: str = (getattr(settings, "device", "") or "auto") if settings else "auto"
        self.busy: Worker | None = None
        self._report: SegmentReport | None = None
        self._force = False
        self._started = 0.0
        panel.model_chosen.connect(self.choose_model)
        panel.device_chosen.connect(self.choose_device)
        panel.segment_requested.connect(lambda scope: self.segment(scope))
        panel.low_confidence_toggled.connect(self.set_low_confidence)
        panel.set_model(self.model_choice)
        low_conf_action = getattr(main_window, "low_conf_action", None)  # the window's View toggle (U)
        if low_conf_action is not None:
            low_conf_action.toggled.connect(panel.set_low_confidence)
            panel.set_low_confidence(low_conf_action.isChecked())
        self.actions: dict[str, QAction] = {}
        if install_menu:
            self._install_menu()
        self._show_device(self.device_preference)

    # --- set-up ---------------------------------------------------------------------------
    def _install_menu(self) -> None:
        menu = self.window.menu("Model")
        for scope, text in (("image", "Auto-segment Image"), ("selection", "Auto-segment Selection"),
                            ("folder", "Auto-segment Folder")):
            action = QAction(text, self.window)
            action.setShortcut(QKeySequence(SHORTCUTS[scope]))
            action.triggered.connect(lambda _=False, s=scope: self.segment(s))
            menu.addAction(action)
            self.actions[scope] = action
        cancel = QAction("Cancel Auto-segment", self.window)
        cancel.triggered.connect(self.cancel)
        menu.addAction(cancel)
        self.actions["cancel"] = cancel

    def _show_device(self, preference: str) -> bool:
        from segstudio.ml.device import choose_device

        try:
            device, reason = choose_device(preference)
        except ValueError as exc:
            self.panel.set_device(preference, str(exc))
            return False
        loaded_here = self.loaded is not None and preference == self.device_preference
        in_use = self.loaded.device_text if loaded_here else f"{device} — {reason}"
        self.panel.set_device(preference, in_use)
        return True

    # --- state ----------------------------------------------------------------------------
    @property
    def predictor(self):
        return self.loaded.predictor if self.loaded is not None else None

    def is_busy(self) -> bool:
        return self.busy is not None

    def cancel(self) -> None:
        if self.busy is not None:
            self.busy.cancel()

    def _message(self, title: str, text: str) -> None:
        status = getattr(self.window, "statusBar", None)
        if callable(status):
            status().showMessage(text, 10000)
        if self.interactive:
            QMessageBox.warning(self.window, title, text)

    def _start(self, worker: Worker, title: str, cancellable: bool = True) -> None:
        self.busy = worker
        self.panel.set_busy(True)
        self.window.progress.begin(title, worker.cancel if cancellable else None)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(lambda w=worker: self._on_worker_finished(w))
        self.window.workers.start(worker)

    def _on_worker_finished(self, worker: Worker) -> None:
        # A load's result may already have started the segmenting run: only
        # the worker in charge clears the busy state.
        if self.busy is not worker:
            return
        self.busy = None
        self.panel.set_busy(False)
        self.window.progress.end()

    def _on_failed(self, message: str) -> None:
        self._report = None  # a failed run ends with this signal, not with ``finished``
        self.failed.emit(message)
        self._message("Auto-segment", message)

    # --- the model --------------------------------------------------------------------------
    def _labelset(self):
        project = getattr(self.window, "project", None)
        if project is not None:
            return project.labelset
        from segstudio.core.labels import CAMVID

        return CAMVID

    def load_model(self, choice: str | None = None, then: Callable[[], None] | None = None) -> bool:
        """Loads ``choice`` (default: the current choice) in a worker; ``then()`` runs once it is in use."""
        if self.busy is not None:
            return False
        choice = choice or self.model_choice
        worker = Worker(load_model_job(choice, self.device_preference, self._labelset()), name="model loading")
        worker.result.connect(lambda loaded: self._on_loaded(loaded, then))
        self._start(worker, f"Loading {choice_label(choice)}", cancellable=False)
        return True

    def with_model(self, then: Callable[[], None]) -> None:
        """Runs ``then()`` now if a model is loaded, else after loading it in the background."""
        if self.loaded is not None:
            then()
        else:
            self.load_model(self.model_choice, then)

    def _on_loaded(self, loaded: LoadedModel | None, then) -> None:
        if loaded is None:
            return
        project = getattr(self.window, "project", None)
        theirs = loaded.predictor.checkpoint.labelset
        if project is not None and tuple(theirs.names) != tuple(project.labelset.names):
            self._message(
                "Model refused",
                f"This model's classes ({', '.join(theirs.names)}) differ from this folder's label set "
                f"({', '.join(project.labelset.names)}). The current model stays.",
            )
            self.panel.set_model(self.model_choice)
            return
        self.loaded = loaded
        self.model_choice = loaded.choice
        settings = getattr(self.window, "settings", None)
        if settings is not None:
            settings.model_path = loaded.choice
        self.panel.set_model(loaded.choice)
        self.panel.set_summary(loaded.summary)
        self.panel.set_device(self.device_preference, loaded.device_text)
        self.model_loaded.emit(loaded.summary)
        if then is not None:
            then()

    def choose_model(self, choice: str) -> None:
        if not self.load_model(choice):
            self.panel.set_model(self.model_choice)

    def choose_device(self, preference: str) -> None:
        if self.busy is not None:  # the panel is disabled while busy; a scripted call is ignored
            self._show_device(self.device_preference)
            return
        if not self._show_device(preference):
            message = self.panel.device_label.text()
            self._show_device(self.device_preference)
            self._message("Device", message)
            return
        self.device_preference = preference
        settings = getattr(self.window, "settings", None)
        if settings is not None:
            settings.device = preference
        if self.loaded is not None:  # move the model: reload it on the new device
            self.loaded = None
            self.load_model(self.model_choice)

    def set_low_confidence(self, on: bool) -> None:
        action = getattr(self.window, "low_conf_action", None)
        if action is not None:
            if action.isChecked() != on:
                action.trigger()  # the window's own toggle: keeps its menu in step
            return
        canvas = getattr(self.window, "canvas", None)
        if canvas is not None and hasattr(canvas, "set_show_low_confidence"):
            canvas.set_show_low_confidence(on)

    # --- auto-segment -----------------------------------------------------------------------
    def stems_for(self, scope: str) -> list[str]:
        project = getattr(self.window, "project", None)
        if project is None:
            return []
        if scope == "image":
            current = _call(self.window, "current_stem", "current_key")
            return [current] if current else []
        if scope == "selection":
            return list(_call(self.window, "selected_stems", "selected_keys", default=[]) or [])
        return list(project.keys)

    def segment(self, scope: str = "folder", confirm_overwrite: bool | None = None) -> bool:
        """Auto-segments ``scope`` ("image", "selection", "folder"); False if nothing was started.

        Images with the user's edits (EDITED, REVIEWED) are skipped unless the
        user says yes to re-predicting them (``confirm_overwrite`` answers for
        the dialog in scripts and tests).
        """
        project = getattr(self.window, "project", None)
        if project is None or self.busy is not None:
            return False
        stems = self.stems_for(scope)
        errors = getattr(getattr(getattr(self.window, "file_list", None), "model", None), "errors", {}) or {}
        stems = [s for s in stems if s not in errors]
        protected = [s for s in stems if project.status(s) in PROTECTED_STATUSES]
        force = False
        if protected:
            if confirm_overwrite is None:
                if not self.interactive:
                    confirm_overwrite = False
                else:
                    n = len(protected)
                    answer = QMessageBox.question(
                        self.window, "Keep your edits?",
                        f"{n} image{'s' if n != 1 else ''} {'have' if n != 1 else 'has'} your edits; "
                        "re-predict them too? (Your edits would be replaced; undo brings them back while the "
                        "app is open.)",
                        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                        QMessageBox.StandardButton.No,
                    )
                    confirm_overwrite = answer == QMessageBox.StandardButton.Yes
            force = bool(confirm_overwrite)
            if not force:
                stems = [s for s in stems if s not in protected]
        if not stems:
            status = getattr(self.window, "statusBar", None)
            if callable(status):
                status().showMessage("Nothing to auto-segment" + (": every image has your edits" if protected else ""), 8000)
            return False
        self.with_model(lambda: self._run(stems, force))
        return True

    def _run(self, stems: list[str], force: bool) -> None:
        project = self.window.project
        items = [(s, project.image_path(s)) for s in stems]
        self._force = force
        self._report = SegmentReport(requested=len(items))
        self._started = time.monotonic()
        worker = Worker(segment_job(self.predictor, items, labelset=self._labelset()), name="auto-segment")
        worker.progress.connect(self._on_event)
        worker.result.connect(lambda _done: self._on_run_end(False))
        worker.cancelled.connect(lambda: self._on_run_end(True))
        self._start(worker, f"Auto-segmenting {len(items)} image{'s' if len(items) != 1 else ''}")

    def _on_event(self, event) -> None:
        if not isinstance(event, SegmentEvent) or self._report is None:
            return
        report = self._report
        if event.kind == "error":
            report.errors[event.stem] = event.error or "unreadable"
            file_list = getattr(self.window, "file_list", None)
            if file_list is not None and hasattr(file_list, "set_error"):
                file_list.set_error(event.stem, report.errors[event.stem])
        else:
            encoded = (event.mask_png, event.confidence_png) if event.mask_png is not None else None
            try:
                applied = self.window.apply_model_mask(event.stem, event.mask, event.confidence, force=self._force,
                                                       encoded=encoded)
            except TypeError:  # a window without the pre-encoded path
                applied = self.window.apply_model_mask(event.stem, event.mask, event.confidence, force=self._force)
            (report.applied if applied else report.refused).append(event.stem)
            if applied:
                self.window.file_list.set_uncertainty(event.stem, float(event.mean_uncertainty))
                self.image_done.emit(event.stem)
        fraction = event.index / max(1, event.total)
        eta = event.elapsed_s / event.index * (event.total - event.index) if event.index else None
        self.window.progress.update(fraction, f"{event.index}/{event.total}", eta)
        self.progress.emit(event.index, event.total)

    def _on_run_end(self, cancelled: bool) -> None:
        report, self._report = self._report, None
        if report is None:
            return
        report.cancelled = cancelled
        report.elapsed_s = time.monotonic() - self._started
        status = getattr(self.window, "statusBar", None)
        if callable(status):
            text = f"Auto-segmented {len(report.applied)} of {report.requested} image(s)"
            if report.errors:
                text += f"; {len(report.errors)} could not be read"
            if cancelled:
                text += " (cancelled)"
            status().showMessage(text, 10000)
        self.finished.emit(report)


def install_autosegment(main_window, **kwargs) -> AutoSegmentController:
    """Adds the model dock and the Model menu's auto-segment actions to ``main_window``."""
    controller = AutoSegmentController(main_window, **kwargs)
    main_window.autosegment = controller
    return controller
