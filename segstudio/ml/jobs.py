"""The background jobs of the app, with no Qt: plain generator functions.

Each ``*_job(...)`` returns ``job(should_stop)``, a generator that
``app/worker.py``'s ``Worker`` runs on a thread: what it yields becomes the
worker's ``progress`` signal, what it returns its ``result``. Nothing here
touches Qt, so each job also runs in a test or a script as is.

- ``load_model_job``: a ``LoadedModel`` (a ``Predictor`` on its device) for a model choice;
- ``segment_job``: predicts images one by one, yielding a ``SegmentEvent`` each;
- ``retrain_job``: fine-tunes on the user's masks (``ml.finetune``), returns a ``FinetuneResult``;
- ``thumbnail_job``: decodes file-list thumbnails as they are asked for.

Torch is imported inside the jobs, never at import time: the app imports this
module on its start-up path.

Model choices: ``DEFAULT_CHOICE`` (the shipped model), ``"registry:<name>"``
(a registry configuration with untrained weights) or a checkpoint path.
"""

from __future__ import annotations

import os
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.imageio import ImageReadError, read_image, thumbnail

DEFAULT_CHOICE = "default"
REGISTRY_PREFIX = "registry:"


_RETRAINED_NAME = re.compile(r"model-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})\d{2}\.safetensors")


def choice_label(choice: str) -> str:
    """How a model choice is shown: the shipped model, "<name> (untrained)", or a file name."""
    if choice == DEFAULT_CHOICE:
        return "Shipped CamVid model"
    if choice.startswith(REGISTRY_PREFIX):
        return f"{choice[len(REGISTRY_PREFIX):]} (untrained)"
    retrained = _RETRAINED_NAME.fullmatch(Path(choice).name)
    if retrained:  # a version "Retrain on my labels" saved (app/retrain.py names them so)
        y, mo, d, h, mi = retrained.groups()
        return f"Retrained {y}-{mo}-{d} {h}:{mi}"
    return Path(choice).name


@dataclass
class LoadedModel:
    predictor: object  # segstudio.ml.inference.Predictor
    choice: str
    device_text: str  # "cpu — CUDA not available (...); using CPU (2 threads)"
    summary: str  # "unet-bn, 12 classes, val mIoU 0.581" (+ "untrained" for registry models)


@dataclass
class SegmentEvent:
    kind: str  # "result" | "error"
    key: str
    index: int  # 1-based position in the run
    total: int
    elapsed_s: float
    mask: np.ndarray | None = None
    confidence: np.ndarray | None = None
    mean_uncertainty: float | None = None
    error: str | None = None
    mask_png: bytes | None = None  # encoded here, off the GUI thread
    confidence_png: bytes | None = None
    merged: object | None = None  # core.saved_merge.SavedMerge: the prediction merged into the saved files


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


def segment_job(predictor, items: list[tuple[str, Path]], cpu_threads: int | None = None, labelset=None,
                project=None, open_keys: frozenset[str] = frozenset()) -> Callable:
    """Job: predicts ``(key, image path)`` items one by one, yielding a ``SegmentEvent`` per image.

    It checks ``should_stop`` before every image (Cancel stops within one
    image). On the CPU it caps torch's threads at all cores but one while it
    runs, so the GUI thread keeps a core. The PNGs are encoded here, so the
    GUI thread only writes files. With ``project``, an image with saved
    verified pixels that is not in ``open_keys`` (the GUI's documents in
    memory) also gets its merge made here (``core.saved_merge.merge_saved``).
    """

    def job(should_stop):
        import torch

        from segstudio.core.maskio import encode_grey_png, encode_index_png
        from segstudio.core.saved_merge import merge_saved

        previous = torch.get_num_threads()
        if predictor.device.type == "cpu":
            torch.set_num_threads(max(1, cpu_threads or (os.cpu_count() or 2) - 1))
        started = time.monotonic()
        total = len(items)
        try:
            for i, (key, path) in enumerate(items, start=1):
                if should_stop():
                    return i - 1
                try:
                    image = read_image(path)
                except ImageReadError as exc:
                    yield SegmentEvent("error", key, i, total, time.monotonic() - started, error=str(exc))
                    continue
                try:
                    prediction = predictor.predict(image)
                except MemoryError as exc:  # even the smallest tile did not fit: skip this image only
                    yield SegmentEvent("error", key, i, total, time.monotonic() - started,
                                       error=f"{path.name}: out of memory ({exc})")
                    continue
                finally:
                    del image
                labels = labelset or predictor.checkpoint.labelset
                merged = merge_saved(project, key, prediction.mask) if project is not None and key not in open_keys else None
                yield SegmentEvent("result", key, i, total, time.monotonic() - started, prediction.mask,
                                   prediction.confidence, prediction.mean_uncertainty,
                                   mask_png=encode_index_png(prediction.mask, labels),
                                   confidence_png=encode_grey_png(prediction.confidence), merged=merged)
            return total
        finally:
            torch.set_num_threads(previous)

    return job


def retrain_job(checkpoint, paths: dict, masks: dict, settings, device_preference: str,
                verified: dict | None = None) -> Callable:
    """Job: fine-tunes ``checkpoint`` on ``masks`` (key -> mask; ``paths`` key -> image path).

    ``verified`` (key -> bool array, or the path of a verified-pixels PNG read
    here, off the GUI thread; a key absent = every pixel verified): only
    verified pixels are targets; an image with none is left out. Yields
    ``ml.finetune``'s progress events; returns its ``FinetuneResult``
    (``None`` when cancelled). Unreadable images are left out. On the CPU one
    core stays with the GUI.
    """

    def job(should_stop):
        from segstudio.ml.device import choose_device, limit_cpu_threads
        from segstudio.ml.finetune import finetune

        device, _ = choose_device(device_preference)
        if device.type == "cpu":
            limit_cpu_threads(leave_free=1)
        from segstudio.core.verified import VerifiedFormatError, read_verified_png

        images, targets = {}, {}
        for key, path in paths.items():
            try:
                images[key] = read_image(path)
                if verified is not None and key in verified:
                    value = verified[key]
                    targets[key] = value if isinstance(value, np.ndarray) else read_verified_png(value, images[key].shape[:2])
            except (ImageReadError, VerifiedFormatError):
                images.pop(key, None)
                masks.pop(key, None)
                continue
            if key in targets and not targets[key].any():  # nothing confirmed on it: nothing to learn
                del images[key], targets[key]
                masks.pop(key, None)
        result = yield from finetune(checkpoint, images, masks, settings, device, should_stop,
                                     verified=targets if verified is not None else None)
        return result

    return job


def continuous_job(checkpoint, list_corrections: Callable, settings, device_preference: str,
                   check_every_s: float = 60.0) -> Callable:
    """Job: ``ml.continuous.continuous_training`` (keep training while the person annotates).

    ``list_corrections()`` is called on the worker thread and must give
    key -> ``ml.continuous.Correction`` from files or snapshots, never from
    widgets. Yields the generator's events (``CandidateBetter`` carries the
    better weights); returns None when stopped. On the CPU one core stays with the GUI.
    """

    def job(should_stop):
        from segstudio.ml.continuous import continuous_training
        from segstudio.ml.device import choose_device, limit_cpu_threads

        device, _ = choose_device(device_preference)
        if device.type == "cpu":
            limit_cpu_threads(leave_free=1)
        yield from continuous_training(checkpoint, list_corrections, settings, device, should_stop,
                                       check_every_s=check_every_s)
        return None

    return job


def thumbnail_job(requests: "queue.Queue[tuple[str, Path]]", side: int) -> Callable:
    """Job: decodes thumbnails (longest side ``side``) as they are asked for, until cancelled.

    Yields ``(key, rgb or None, error or None)``.
    """

    def job(should_stop):
        while not should_stop():
            try:
                key, path = requests.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                yield key, thumbnail(path, side), None
            except (ImageReadError, OSError) as exc:
                yield key, None, str(exc)

    return job
