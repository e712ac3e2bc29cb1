"""Retraining on the user's labels, and the install point of the model features.

The model, the device and auto-segmentation belong to
``AutoSegmentController`` (``app/autosegment.py``); this module adds
"Retrain on my labels" on top of it, through the controller's public
methods (``with_model``, ``start_job``, ``segment_keys``, ``warn``): the
fine-tuning job (``ml.jobs.retrain_job``) in the same worker pattern, the
before/after decision, the model versions of the folder, and re-predicting
the untouched images with an accepted model.

It learns from verified pixels only (``core.verified``): the corrected
images are ``corrected_keys``; their verified pixels are copied from the
open documents or, for the others, read from their files on the worker
thread; a legacy mask (no verified file) counts as all verified. The held-out
keys are kept with the folder (``remember_holdout``), so the next retrain
checks on the same images.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from segstudio.app.autosegment import AutoSegmentController, install_autosegment
from segstudio.app.continuous import ContinuousController
from segstudio.app.plot import LivePlot
from segstudio.app.remembered import remember_retrain_budget
from segstudio.app.worker import Worker
from segstudio.core.project import ImageStatus
from segstudio.core.verified import corrected_keys, has_verified, previous_holdout, remember_holdout, verified_path
from segstudio.ml.jobs import retrain_job

log = logging.getLogger(__name__)


# --- the controller (GUI thread) -------------------------------------------------------
class RetrainController(QObject):
    retrained = Signal(object)  # the FinetuneResult, accepted or not

    def __init__(self, window, autoseg: AutoSegmentController) -> None:
        super().__init__(window)
        self.window = window
        self.autoseg = autoseg
        self.panel = autoseg.panel
        self.plot = LivePlot()
        self.plot.setVisible(False)
        self.panel.add_section(self.plot)
        self.panel.retrain_requested.connect(self.retrain)
        self.panel.version_chosen.connect(autoseg.choose_model)
        autoseg.model_loaded.connect(lambda _summary: self._refresh_versions())
        window.project_opened.connect(lambda _project: self._refresh_versions())
        window.add_menu_action("Model", "Retrain on My Labels", self.retrain, "Ctrl+Shift+R")

    @property
    def predictor(self):
        return self.autoseg.predictor

    # --- retrain ----------------------------------------------------------------------------
    def corrected_keys(self) -> list[str]:
        """Images a person worked on (edited, reviewed, or with verified pixels), saved first."""
        return corrected_keys(self.window.project)

    def verified_snapshot(self, keys) -> dict:
        """key -> verified pixels: the saved file's path (read by the job off the GUI thread), or a
        copy from a document whose save failed; a legacy mask (no file) is left out: all verified."""
        session, project, out = self.window.session, self.window.project, {}
        for key in keys:
            doc = session.documents.peek(key)
            if doc is not None and doc.dirty and not doc.verified_legacy:
                out[key] = doc.verified.copy()
            elif has_verified(project, key):
                out[key] = verified_path(project, key)
        return out

    def retrain(self, settings=None, decide=None) -> None:
        """Fine-tunes on the corrected images; ``decide(result) -> bool`` replaces the dialog in tests."""
        project = self.window.project
        if project is None or self.autoseg.is_busy():
            return
        keys = self.corrected_keys()
        if not keys:
            self.autoseg.warn("Retrain", "Edit or review some masks first: the model learns from them.")
            return
        self.window.autosaver.save_now()
        keys = self.corrected_keys()  # saving may have written the first verified files
        self.autoseg.with_model(lambda: self._run_retrain(keys, settings, decide))

    def _run_retrain(self, keys, settings, decide) -> None:
        from segstudio.ml.finetune import FinetuneSettings

        settings = settings or FinetuneSettings(minutes=float(self.panel.minutes_spin.value()),
                                                epochs=self.panel.epochs_spin.value() or None)
        project = self.window.project
        settings = dataclasses.replace(settings, previous_holdout=tuple(previous_holdout(project)))
        masks = self.window.session.mask_snapshot(keys)  # training never sees strokes made after this
        paths = {k: project.image_path(k) for k in masks}
        verified = self.verified_snapshot(masks)
        worker = Worker(retrain_job(self.predictor.checkpoint, paths, masks, settings, self.autoseg.device_preference,
                                    verified=verified), name="training")
        self.plot.clear()
        self.plot.setVisible(True)
        worker.progress.connect(self._retrain_progress)
        worker.result.connect(lambda result: self._retrain_done(result, decide))
        worker.cancelled.connect(lambda: self.window.show_message("Retraining cancelled; the model is unchanged", 8000))
        self.autoseg.start_job(worker, f"Retraining on {len(masks)} image(s)")

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
        if self.window.project is not None:  # the same images stay held out next time
            remember_holdout(self.window.project, list(result.holdout_keys))
            self.window.autosaver.edited()
        self.retrained.emit(result)
        accept = decide(result) if decide is not None else ask_accept(self.window, result, self.predictor.checkpoint.labelset)
        if not accept:
            self.window.show_message("Kept the current model", 8000)
            return
        self._accept(result)

    def _accept(self, result) -> None:
        record = {
            "images_used": result.train_keys,
            "held_out": result.holdout_keys,
            "steps": result.steps,
            "elapsed_s": round(result.elapsed_s, 1),
            "before": {k: result.before[k] for k in ("pixel_accuracy", "mean_iou", "per_class_iou")},
            "metrics": {k: result.after[k] for k in ("pixel_accuracy", "mean_iou", "per_class_iou")},
            "improved": result.improved,
        }
        summary = f"held-out mIoU {result.before['mean_iou']:.3f} → {result.after['mean_iou']:.3f}"
        if self.use_weights(result.state_dict, record, summary) is None:
            return
        project = self.window.project
        untouched = [k for k in project.keys if project.status(k) in (ImageStatus.NO_MASK, ImageStatus.PREDICTED)]
        if untouched and self.autoseg.interactive and QMessageBox.question(
            self.window, "Re-predict?",
            f"Re-predict the {len(untouched)} image(s) nobody edited or reviewed with the new model?",
        ) == QMessageBox.StandardButton.Yes:
            self.autoseg.segment_keys(untouched, force=False)

    def use_weights(self, state_dict, record: dict, summary: str):
        """Makes ``state_dict`` the model in use and keeps it as a model version of the folder
        (named in the Model box); returns its path, or None when it could not be saved."""
        from segstudio.ml.checkpoint import save_checkpoint

        old = self.predictor.checkpoint
        old.model.load_state_dict(state_dict)  # the live model object becomes the new one
        self.predictor.reload_weights()  # inference runs a folded copy: rebuild it from the new weights
        project = self.window.project
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = project.models_dir / f"model-{stamp}.safetensors"
        n = 1
        while path.exists():  # two versions within one second (continuous mode)
            n += 1
            path = project.models_dir / f"model-{stamp}-{n}.safetensors"
        record = {"date": stamp, "base_model": str(old.path or self.autoseg.model_choice), **record}
        try:
            save_checkpoint(path, old.model, old.config, old.labelset, normalization=old.normalization,
                            train_size=old.train_size, record=record)
        except OSError as exc:
            QMessageBox.warning(self.window, "Retrain", f"The new model is in use but could not be saved: {exc}")
            return None
        old.path = path
        old.record = record
        self.autoseg.model_choice = str(path)
        self.window.settings.model_path = str(path)
        self.panel.set_model(str(path))  # the Model box names the version in use, with its date
        log.info("retrained model accepted and saved as %s", path)
        self.panel.set_summary(f"{path.name}\n{summary}")
        self._refresh_versions()
        return path

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


@dataclass
class ModelFeatures:
    autoseg: AutoSegmentController
    retrain: RetrainController
    continuous: ContinuousController


def install_model_features(window, interactive: bool = True) -> ModelFeatures:
    """The model dock with auto-segmentation and retraining, wired into the window."""
    autoseg = install_autosegment(window, interactive=interactive)
    retrain = RetrainController(window, autoseg)
    features = ModelFeatures(autoseg, retrain, ContinuousController(window, retrain))
    window.model_features = features
    remember_retrain_budget(window.settings, autoseg.panel)
    return features
