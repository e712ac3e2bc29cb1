"""Auto-segment: the model pre-fills masks in the background, results appear as they come.

The jobs (``load_model_job``: a ``Predictor`` kept loaded between runs;
``segment_job``: one ``SegmentEvent`` per image) live in ``ml/jobs.py`` and
run in the one ``Worker`` pattern (``app/worker.py``).

``AutoSegmentController`` (GUI thread) wires the ``ModelPanel`` and the Model
menu to those jobs and applies each event as it arrives with the session's
``apply_prediction`` (which fills unverified pixels only, and refuses a
legacy mask of the user's unless ``force``) and ``file_list.set_uncertainty``. The GUI thread only
copies arrays into documents; inference never runs on it. The retrain
controller (``app/retrain.py``) shares the model and the busy state through
``with_model``, ``start_job``, ``segment_keys`` and ``warn``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from segstudio.app.model_panel import ModelPanel
from segstudio.app.worker import Worker
from segstudio.core.labels import CAMVID
from segstudio.ml.jobs import DEFAULT_CHOICE, LoadedModel, SegmentEvent, choice_label, load_model_job, segment_job

log = logging.getLogger(__name__)

SHORTCUTS = {"image": "Ctrl+Shift+I", "selection": "Ctrl+Shift+E", "folder": "Ctrl+Shift+A"}


@dataclass
class SegmentReport:
    requested: int
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # apply_prediction said no (edited meanwhile)
    errors: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    elapsed_s: float = 0.0


class AutoSegmentController(QObject):
    """Loads the model in the background and auto-segments the image, the selection or the folder.

    Signals: ``model_loaded(str summary)``, ``progress(int done, int total)``,
    ``image_done(str key)``, ``finished(object SegmentReport)`` (also after
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
            effort = getattr(main_window, "effort_dock", None)
            if effort is not None:  # one tab each: the Classes dock keeps room for all 12 classes
                main_window.tabifyDockWidget(effort, panel)
                panel.raise_()
        self.panel = panel
        self.loaded: LoadedModel | None = None
        self.model_choice: str = main_window.settings.model_path or DEFAULT_CHOICE
        self.device_preference: str = main_window.settings.device or "auto"
        self.busy: Worker | None = None
        self._report: SegmentReport | None = None
        self._force = False
        self._started = 0.0
        panel.model_chosen.connect(self.choose_model)
        panel.device_chosen.connect(self.choose_device)
        panel.segment_requested.connect(lambda scope: self.segment(scope))
        panel.low_confidence_toggled.connect(self.set_low_confidence)
        panel.set_model(self.model_choice)
        low_conf_action = main_window.low_conf_action  # the window's View toggle (U)
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

    def warn(self, title: str, text: str) -> None:
        """Tells the user: the status bar, and a message box unless scripted (``interactive=False``)."""
        self.window.show_message(text, 10000)
        if self.interactive:
            QMessageBox.warning(self.window, title, text)

    def start_job(self, worker: Worker, title: str, cancellable: bool = True) -> None:
        """Runs ``worker`` as the model's one job: busy until it finishes, shown in the progress area."""
        self.busy = worker
        self.panel.set_busy(True)
        self.window.progress.begin(title, worker.cancel if cancellable else None)
        log.info("job started: %s", title)  # the log tells what ran when, for a report of a problem
        worker.result.connect(lambda _r, t=title: log.info("job finished: %s", t))
        worker.cancelled.connect(lambda t=title: log.info("job cancelled: %s", t))
        worker.failed.connect(lambda message, t=title: log.error("job failed: %s: %s", t, message))
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
        self.warn("Auto-segment", message)

    # --- the model --------------------------------------------------------------------------
    def _labelset(self):
        project = self.window.project
        return project.labelset if project is not None else CAMVID

    def load_model(self, choice: str | None = None, then: Callable[[], None] | None = None) -> bool:
        """Loads ``choice`` (default: the current choice) in a worker; ``then()`` runs once it is in use."""
        if self.busy is not None:
            return False
        choice = choice or self.model_choice
        worker = Worker(load_model_job(choice, self.device_preference, self._labelset()), name="model loading")
        worker.result.connect(lambda loaded: self._on_loaded(loaded, then))
        self.start_job(worker, f"Loading {choice_label(choice)}", cancellable=False)
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
        project = self.window.project
        theirs = loaded.predictor.checkpoint.labelset
        if project is not None and tuple(theirs.names) != tuple(project.labelset.names):
            self.warn(
                "Model refused",
                f"This model's classes ({', '.join(theirs.names)}) differ from this folder's label set "
                f"({', '.join(project.labelset.names)}). The current model stays.",
            )
            self.panel.set_model(self.model_choice)
            return
        self.loaded = loaded
        self.model_choice = loaded.choice
        self.window.settings.model_path = loaded.choice
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
            message = self.panel.device_label.toolTip()  # the whole reason
            self._show_device(self.device_preference)
            self.warn("Device", message)
            return
        self.device_preference = preference
        self.window.settings.device = preference
        if self.loaded is not None:  # move the model: reload it on the new device
            self.loaded = None
            self.load_model(self.model_choice)

    def set_low_confidence(self, on: bool) -> None:
        action = self.window.low_conf_action
        if action.isChecked() != on:
            action.trigger()  # the window's own toggle: keeps its menu in step

    # --- auto-segment -----------------------------------------------------------------------
    def keys_for(self, scope: str) -> list[str]:
        """The images of ``scope``: "image" (the current one), "selection" or "folder"."""
        project = self.window.project
        if project is None:
            return []
        if scope == "image":
            current = self.window.current_key()
            return [current] if current else []
        if scope == "selection":
            return self.window.selected_keys()
        return list(project.keys)

    def segment(self, scope: str = "folder", confirm_overwrite: bool | None = None) -> bool:
        """Auto-segments ``scope`` ("image", "selection", "folder"); False if nothing was started.

        The prediction fills unverified pixels only, with no question. Legacy
        masks of the user's (no verified pixels recorded) are skipped unless the
        user says yes to re-predicting them (``confirm_overwrite`` answers for
        the dialog in scripts and tests).
        """
        project = self.window.project
        if project is None or self.busy is not None:
            return False
        errors = self.window.file_list.model.errors  # unreadable images
        keys = [k for k in self.keys_for(scope) if k not in errors]
        # Verified pixels are never overwritten, so only legacy masks of the user's
        # (saved before verified pixels were recorded) need the question.
        protected = [k for k in keys if self.window.session.needs_overwrite_question(k)]
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
                keys = [k for k in keys if k not in protected]
        if not keys:
            self.window.show_message("Nothing to auto-segment" + (": every image has your edits" if protected else ""), 8000)
            return False
        self.with_model(lambda: self.segment_keys(keys, force))
        return True

    def segment_keys(self, keys: list[str], force: bool = False) -> None:
        """Starts auto-segmenting ``keys`` with the loaded model (no questions asked)."""
        project = self.window.project
        items = [(k, project.image_path(k)) for k in keys]
        self._force = force
        self._report = SegmentReport(requested=len(items))
        self._started = time.monotonic()
        open_keys = frozenset(d.key for d in self.window.session.documents.all())  # merged on the GUI thread, from memory
        worker = Worker(segment_job(self.predictor, items, labelset=self._labelset(), project=project,
                                    open_keys=open_keys), name="auto-segment")
        worker.progress.connect(self._on_event)
        worker.result.connect(lambda _done: self._on_run_end(False))
        worker.cancelled.connect(lambda: self._on_run_end(True))
        self.start_job(worker, f"Auto-segmenting {len(items)} image{'s' if len(items) != 1 else ''}")

    def _on_event(self, event) -> None:
        if not isinstance(event, SegmentEvent) or self._report is None:
            return
        report = self._report
        if event.kind == "error":
            report.errors[event.key] = event.error or "unreadable"
            self.window.file_list.set_error(event.key, report.errors[event.key])
        else:
            encoded = (event.mask_png, event.confidence_png) if event.mask_png is not None else None
            applied = self.window.session.apply_prediction(event.key, event.mask, event.confidence, force=self._force,
                                                           encoded=encoded, model=choice_label(self.model_choice),
                                                           merged=event.merged)
            (report.applied if applied else report.refused).append(event.key)
            if applied:
                self.window.file_list.set_uncertainty(event.key, float(event.mean_uncertainty))
                self.image_done.emit(event.key)
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
        text = f"Auto-segmented {len(report.applied)} of {report.requested} image(s)"
        if report.errors:
            text += f"; {len(report.errors)} could not be read"
        if cancelled:
            text += " (cancelled)"
        self.window.show_message(text, 10000)
        self.finished.emit(report)


def install_autosegment(main_window, **kwargs) -> AutoSegmentController:
    """Adds the model dock and the Model menu's auto-segment actions to ``main_window``."""
    controller = AutoSegmentController(main_window, **kwargs)
    main_window.autosegment = controller
    return controller
