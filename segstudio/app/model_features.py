"""Model features of the window: load a model, auto-segment, retrain on the user's labels.

All model work runs in ``Worker`` jobs (core/ml generators) on QThreads; the
slots here run on the GUI thread and only apply results: masks through
``MainWindow.apply_model_mask`` (never over the user's edits unless they
confirm), progress through the shared progress area.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox

from segstudio.app.plot import LivePlot
from segstudio.app.model_panel import DEFAULT_CHOICE, ModelPanel
from segstudio.app.worker import Worker
from segstudio.core.imageio import ImageReadError, read_image
from segstudio.core.project import ImageStatus

log = logging.getLogger(__name__)


# --- jobs (run on worker threads; no Qt) --------------------------------------------
def load_model_job(choice: str, device_preference: str, labelset):
    def job(should_stop):
        from segstudio.core.resources import default_model_path
        from segstudio.ml.checkpoint import LoadedCheckpoint, load_checkpoint
        from segstudio.ml.device import choose_device
        from segstudio.ml.inference import Predictor
        from segstudio.ml.models.registry import build_model, model_config

        device, reason = choose_device(device_preference)
        yield f"loading on {device}"
        if choice.startswith("registry:"):
            config = model_config(choice.split(":", 1)[1], num_classes=labelset.num_classes)
            checkpoint = LoadedCheckpoint(build_model(config).eval(), config, labelset)
            source = f"{config['name']} (untrained: predictions will be noise until it is trained)"
        elif choice.endswith((".pt", ".pth")):
            raise ValueError(
                f"{Path(choice).name} is a bare PyTorch file without architecture metadata; convert it "
                "with `segstudio` tooling or load a SegStudio .safetensors checkpoint"
            )
        else:
            path = default_model_path() if choice == DEFAULT_CHOICE else Path(choice)
            if not path.exists():
                raise FileNotFoundError(f"the model file {path} is missing")
            checkpoint = load_checkpoint(path)
            source = path.name
        return Predictor(checkpoint, device), f"{device} — {reason}", source

    return job


def segment_job(predictor, items: list[tuple[str, Path]]):
    def job(should_stop):
        started = time.monotonic()
        done = 0
        for i, (key, path) in enumerate(items):
            if should_stop():
                return done
            try:
                image = read_image(path)
            except ImageReadError as exc:
                yield ("error", key, str(exc), i + 1, len(items), started)
                continue
            prediction = predictor.predict(image)
            done += 1
            yield ("result", key, prediction, i + 1, len(items), started)
        return done

    return job


def retrain_job(checkpoint, paths: dict, masks: dict, settings, device_preference: str):
    def job(should_stop):
        from segstudio.ml.device import choose_device, limit_cpu_threads
        from segstudio.ml.finetune import finetune

        device, _ = choose_device(device_preference)
        if device.type == "cpu":
            limit_cpu_threads(leave_free=1)  # one core stays with the GUI
        images = {}
        for key, path in paths.items():
            try:
                images[key] = read_image(path)
            except ImageReadError:
                masks.pop(key, None)
        result = yield from finetune(checkpoint, images, masks, settings, device, should_stop)
        return result

    return job


# --- the controller (GUI thread) ----------------------------------------------------
class ModelController(QObject):
    job_failed = Signal(str)

    def __init__(self, window, interactive: bool = True) -> None:
        super().__init__(window)
        self.interactive = interactive  # False: no dialogs (self-test, scripted use)
        from segstudio.ml.models.registry import MODEL_NAMES

        self.window = window
        self.panel = ModelPanel(MODEL_NAMES, window)
        self.plot = LivePlot()
        self.plot.setVisible(False)
        self.panel.widget().layout().insertWidget(self.panel.widget().layout().count() - 1, self.plot)
        window.add_dock(self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.predictor = None
        self.model_choice = window.settings.model_path or DEFAULT_CHOICE
        self.device_preference = window.settings.device or "auto"
        self.busy: Worker | None = None
        self.panel.model_chosen.connect(self.choose_model)
        self.panel.version_chosen.connect(self.choose_model)
        self.panel.device_chosen.connect(self.choose_device)
        self.panel.segment_requested.connect(self.segment)
        self.panel.retrain_requested.connect(self.retrain)
        window.project_opened.connect(lambda _p: self._refresh_versions())
        menu = window.menu("Model")
        window._action(menu, "Auto-segment Image", lambda: self.segment("image"), "Ctrl+Shift+I")
        window._action(menu, "Auto-segment Selection", lambda: self.segment("selection"))
        window._action(menu, "Auto-segment Folder", lambda: self.segment("folder"), "Ctrl+Shift+F")
        window._action(menu, "Retrain on My Labels", self.retrain, "Ctrl+Shift+R")
        from segstudio.ml.device import choose_device

        try:
            _, reason = choose_device(self.device_preference)
        except ValueError as exc:
            reason = str(exc)
        self.panel.set_device(self.device_preference, reason)

    # --- model loading -----------------------------------------------------------------
    def _start(self, worker: Worker, title: str, cancellable: bool = True) -> None:
        self.busy = worker
        self.panel.set_busy(True)
        self.window.progress.begin(title, worker.cancel if cancellable else None)
        worker.failed.connect(self._failed)
        worker.finished.connect(lambda w=worker: self._finished(w))
        self.window.workers.start(worker)

    def _finished(self, worker: Worker) -> None:
        # A job's result may already have started the next job (load, then
        # segment): only the job in charge may clear the busy state.
        if self.busy is not worker:
            return
        self.busy = None
        self.panel.set_busy(False)
        self.window.progress.end()

    def _failed(self, message: str) -> None:
        self.job_failed.emit(message)
        if self.interactive:
            QMessageBox.warning(self.window, "SegStudio", message)

    def with_model(self, then) -> None:
        """Runs ``then()`` once a model is loaded (loading it in the background first)."""
        if self.predictor is not None:
            then()
            return
        self._load(self.model_choice, then)

    def _load(self, choice: str, then=None) -> None:
        labelset = self.window.project.labelset if self.window.project else None
        if labelset is None:
            from segstudio.core.labels import CAMVID

            labelset = CAMVID
        worker = Worker(load_model_job(choice, self.device_preference, labelset), name="model loading")
        worker.result.connect(lambda res: self._loaded(choice, res, then))
        self._start(worker, "Loading model", cancellable=False)

    def _loaded(self, choice: str, result, then) -> None:
        predictor, device_text, source = result
        project = self.window.project
        labels = predictor.checkpoint.labelset
        if project is not None and labels.names != project.labelset.names:
            QMessageBox.warning(
                self.window, "Model refused",
                f"This model's classes ({', '.join(labels.names)}) differ from this folder's label set "
                f"({', '.join(project.labelset.names)}). The current model stays.",
            )
            return
        self.predictor = predictor
        self.model_choice = choice
        self.window.settings.model_path = choice
        self.panel.set_device(self.device_preference, device_text)
        from segstudio.ml.checkpoint import checkpoint_summary

        meta = {"config": predictor.checkpoint.config, "record": predictor.checkpoint.record}
        self.panel.set_summary(f"{source}\n{checkpoint_summary(meta)}")
        self._refresh_versions()
        if then is not None:
            then()

    def choose_model(self, choice: str) -> None:
        if self.busy is None:
            self._load(choice)

    def choose_device(self, preference: str) -> None:
        from segstudio.ml.device import choose_device

        try:
            _, reason = choose_device(preference)
        except ValueError as exc:
            QMessageBox.warning(self.window, "Device", str(exc))
            self.panel.set_device(self.device_preference, "")
            return
        self.device_preference = preference
        self.window.settings.device = preference
        self.panel.set_device(preference, reason)
        if self.predictor is not None and self.busy is None:
            self._load(self.model_choice)

    # --- auto-segment ---------------------------------------------------------------------
    def segment(self, scope: str = "folder", confirm_overwrite=None) -> None:
        project = self.window.project
        if project is None or self.busy is not None:
            return
        if scope == "image":
            keys = [self.window.current_key()] if self.window.current_key() else []
        elif scope == "selection":
            keys = self.window.selected_keys()
        else:
            keys = list(project.keys)
        keys = [k for k in keys if k not in self.window.file_list.model.errors]
        protected = [k for k in keys if project.status(k) in (ImageStatus.EDITED, ImageStatus.REVIEWED)]
        force = False
        if protected:
            if confirm_overwrite is None:
                answer = QMessageBox.question(
                    self.window, "Keep your edits?",
                    f"{len(protected)} of these images have your edits. Re-predict them too (your edits "
                    "would be replaced; undo can bring them back while the app is open)?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
                )
                force = answer == QMessageBox.StandardButton.Yes
            else:
                force = bool(confirm_overwrite)
            if not force:
                keys = [k for k in keys if k not in protected]
        if not keys:
            self.window.statusBar().showMessage("Nothing to auto-segment: every image has your edits", 8000)
            return
        self.with_model(lambda: self._run_segment(keys, force))

    def _run_segment(self, keys: list[str], force: bool) -> None:
        items = [(k, self.window.project.image_path(k)) for k in keys]
        worker = Worker(segment_job(self.predictor, items), name="auto-segment")
        worker.progress.connect(lambda event: self._segment_progress(event, force))
        self._start(worker, f"Auto-segmenting {len(items)} image(s)")

    def _segment_progress(self, event, force: bool) -> None:
        kind, key, payload, index, total, started = event
        if kind == "error":
            self.window.file_list.set_error(key, payload)
        elif self.window.project is not None and key in self.window.project.keys:
            self.window.apply_model_mask(key, payload.mask, payload.confidence, force=force)
            self.window.file_list.set_uncertainty(key, payload.mean_uncertainty)
        elapsed = time.monotonic() - started
        self.window.progress.update(index / total, f"{index}/{total}", elapsed / index * (total - index))

    # --- retrain ----------------------------------------------------------------------------
    def corrected_keys(self) -> list[str]:
        project = self.window.project
        return [k for k in project.keys if project.status(k) in (ImageStatus.EDITED, ImageStatus.REVIEWED)]

    def retrain(self, settings=None, decide=None) -> None:
        """Fine-tunes on the corrected images; ``decide(result) -> bool`` replaces the dialog in tests."""
        project = self.window.project
        if project is None or self.busy is not None:
            return
        keys = self.corrected_keys()
        if not keys:
            QMessageBox.information(self.window, "Retrain", "Edit or review some masks first: the model learns from them.")
            return
        self.window.autosaver.save_now()
        self.with_model(lambda: self._run_retrain(keys, settings, decide))

    def _run_retrain(self, keys, settings, decide) -> None:
        from segstudio.ml.finetune import FinetuneSettings

        settings = settings or FinetuneSettings(minutes=float(self.panel.minutes_spin.value()))
        masks = self.window.mask_snapshot(keys)  # training never sees strokes made after this
        paths = {k: self.window.project.image_path(k) for k in masks}
        worker = Worker(retrain_job(self.predictor.checkpoint, paths, masks, settings, self.device_preference),
                        name="training")
        self.plot.clear()
        self.plot.setVisible(True)
        worker.progress.connect(self._retrain_progress)
        worker.result.connect(lambda result: self._retrain_done(result, decide))
        worker.cancelled.connect(lambda: self.window.statusBar().showMessage("Retraining cancelled; the model is unchanged", 8000))
        self._start(worker, f"Retraining on {len(masks)} image(s)")

    def _retrain_progress(self, event) -> None:
        if event.loss is not None and event.phase == "training":
            self.plot.add_loss(event.step, event.loss)
        if event.val_miou is not None:
            self.plot.add_metric(event.step, event.val_miou)
        text = {"baseline": "measuring the current model", "validating": "checking"}.get(
            event.phase, f"epoch {event.epoch}, step {event.step}, loss {event.loss:.3f}" if event.loss else "")
        self.window.progress.update(event.fraction, text, event.eta_s)

    def _retrain_done(self, result, decide) -> None:
        from segstudio.app.retrain_dialog import ask_accept

        if result is None:
            return
        accept = decide(result) if decide is not None else ask_accept(self.window, result, self.predictor.checkpoint.labelset)
        if not accept:
            self.window.statusBar().showMessage("Kept the current model", 8000)
            return
        self._accept(result)

    def _accept(self, result) -> None:
        from segstudio.ml.checkpoint import save_checkpoint

        old = self.predictor.checkpoint
        old.model.load_state_dict(result.state_dict)  # the live model object becomes the new one
        project = self.window.project
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = project.models_dir / f"model-{stamp}.safetensors"
        record = {
            "date": stamp,
            "base_model": str(old.path or self.model_choice),
            "images_used": result.train_keys,
            "held_out": result.holdout_keys,
            "steps": result.steps,
            "elapsed_s": round(result.elapsed_s, 1),
            "before": {k: result.before[k] for k in ("pixel_accuracy", "mean_iou", "per_class_iou")},
            "metrics": {k: result.after[k] for k in ("pixel_accuracy", "mean_iou", "per_class_iou")},
            "improved": result.improved,
        }
        try:
            save_checkpoint(path, old.model, old.config, old.labelset, normalization=old.normalization,
                            train_size=old.train_size, record=record)
        except OSError as exc:
            QMessageBox.warning(self.window, "Retrain", f"The new model is in use but could not be saved: {exc}")
            return
        old.path = path
        old.record = record
        self.model_choice = str(path)
        self.window.settings.model_path = str(path)
        self.panel.set_summary(f"{path.name}\nheld-out mIoU {result.before['mean_iou']:.3f} → {result.after['mean_iou']:.3f}")
        self._refresh_versions()
        untouched = [k for k in project.keys if project.status(k) in (ImageStatus.NO_MASK, ImageStatus.PREDICTED)]
        if untouched and QMessageBox.question(
            self.window, "Re-predict?",
            f"Re-predict the {len(untouched)} image(s) nobody edited or reviewed with the new model?",
        ) == QMessageBox.StandardButton.Yes:
            self._run_segment(untouched, force=False)

    def _refresh_versions(self) -> None:
        project = self.window.project
        if project is None:
            return
        from segstudio.ml.checkpoint import CheckpointError, read_metadata

        versions = []
        for path in sorted(project.models_dir.glob("*.safetensors"), reverse=True):
            try:
                record = read_metadata(path)["record"]
                miou = (record.get("metrics") or {}).get("mean_iou")
                label = f"{record.get('date', path.stem)}  mIoU {miou:.3f}" if miou is not None else path.stem
            except (CheckpointError, json.JSONDecodeError, OSError):
                continue
            versions.append((label, path))
        current = self.predictor.checkpoint.path if self.predictor else None
        self.panel.set_versions(versions, current)


def install_model_features(window, interactive: bool = True) -> ModelController:
    window.model_controller = ModelController(window, interactive)
    return window.model_controller
