"""Checkpoints: safetensors tensors plus JSON metadata, and nothing that runs code.

A checkpoint is one ``.safetensors`` file whose header ``__metadata__`` holds
(each value a string, most of them JSON)::

    format            "segstudio-checkpoint"
    format_version    "1"
    config            the registry configuration (segstudio.ml.models.registry)
    labels            LabelSet.to_dict(): class names, colours, ignore id
    normalization     {"mean": [...], "std": [...], "input": "RGB, 0..1"}
    train_size        e.g. {"mode": "resize", "size": 224} or null
    record            the training record (data folders, epochs, seed, metrics...)
    segstudio_version

Loading checks the header before any tensor is read, rebuilds the network
from the configuration and compares every key and shape before a single
weight is copied, so a mismatch is a ``CheckpointError`` that says what does
not fit, not a traceback.

Files from elsewhere (``.pt``/``.pth``) are read only with
``torch.load(weights_only=True)``; anything needing arbitrary unpickling is
refused and never retried unsafely. The file reading and the key/shape check
live in ``ml.state_files`` (shared with ``ml.encoder_weights``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save as st_save
from torch import nn

import segstudio
from segstudio.core.atomic import atomic_write_bytes
from segstudio.core.labels import LabelSet, LabelSetError
from segstudio.ml import state_files
from segstudio.ml.models.registry import build_model, validate_config

FORMAT = "segstudio-checkpoint"
FORMAT_VERSION = "1"
NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "input": "RGB, 0..1"}


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message says why."""


@dataclass
class LoadedCheckpoint:
    """A loaded model (eval mode) with everything needed to use it as it was trained."""

    model: nn.Module
    config: dict
    labelset: LabelSet
    normalization: dict = field(default_factory=lambda: dict(NORMALIZATION))
    train_size: dict | None = None
    record: dict = field(default_factory=dict)
    path: Path | None = None


# ---------------------------------------------------------------- saving


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config: dict,
    labelset: LabelSet,
    *,
    normalization: dict | None = None,
    train_size: dict | None = None,
    record: dict | None = None,
    half: bool = False,
) -> None:
    """Writes the model's weights and the metadata atomically (temp file + fsync + replace).

    ``half=True`` stores floating-point tensors as fp16 (half the size; loading
    casts them back to float32).
    """
    try:
        validate_config(config)
    except ValueError as exc:
        raise CheckpointError(f"cannot save {path}: {exc}") from None
    if int(config.get("num_classes", -1)) != labelset.num_classes:
        raise CheckpointError(
            f"cannot save {path}: the model has {config.get('num_classes')} classes but the label set "
            f"{labelset.num_classes}"
        )
    model = model.module if hasattr(model, "module") else model  # DataParallel / DDP
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value.contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(config),
        "labels": json.dumps(labelset.to_dict()),
        "normalization": json.dumps(normalization or NORMALIZATION),
        "train_size": json.dumps(train_size),
        "record": json.dumps(record or {}, default=str),
        "segstudio_version": segstudio.__version__,
    }
    atomic_write_bytes(Path(path), st_save(tensors, metadata=metadata))


# ---------------------------------------------------------------- reading the header


def _read_header(path: Path) -> dict:
    """The checked safetensors header (``state_files``), its problems as ``CheckpointError``."""
    try:
        return state_files.read_safetensors_header(path)
    except state_files.StateFileError as exc:
        raise CheckpointError(str(exc)) from None


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata, decoded, from the header alone (no tensor is read).

    Returns ``{"config", "labels", "normalization", "train_size", "record",
    "segstudio_version", "format_version"}``.
    """
    path = Path(path)
    meta = _read_header(path).get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a SegStudio checkpoint (no architecture "
            "metadata); load it as a state dict with an explicit architecture (--arch) instead"
        )
    if str(meta.get("format_version")) != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is a SegStudio checkpoint of format version {meta.get('format_version')!r}; "
            f"this SegStudio reads version {FORMAT_VERSION} (update SegStudio)"
        )
    try:
        return {
            "config": json.loads(meta["config"]),
            "labels": json.loads(meta["labels"]),
            "normalization": json.loads(meta.get("normalization") or "null") or dict(NORMALIZATION),
            "train_size": json.loads(meta.get("train_size") or "null"),
            "record": json.loads(meta.get("record") or "{}") or {},
            "segstudio_version": meta.get("segstudio_version"),
            "format_version": meta.get("format_version"),
        }
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} has broken SegStudio metadata (missing or bad {exc})") from None


def checkpoint_summary(meta: dict) -> str:
    """One line for a UI: model name, classes, training size, epochs, validation mean IoU if known."""
    config = meta.get("config") or {}
    record = meta.get("record") or {}
    train_size = meta.get("train_size") or {}
    metrics = record.get("best_metrics") or record.get("metrics") or {}
    parts = [str(config.get("name") or config.get("arch", "?")), f"{config.get('num_classes', '?')} classes"]
    if config.get("arch") == "unet" and config.get("base_width") not in (None, 64):
        parts.append(f"width {config['base_width']}")
    if train_size.get("mode") == "resize" and train_size.get("size"):
        parts.append(f"trained at {train_size['size']}")
    if record.get("epochs") is not None:
        parts.append(f"{record['epochs']} epochs")
    miou = metrics.get("mean_iou") if isinstance(metrics, dict) else None
    if isinstance(miou, (int, float)):
        parts.append(f"val mIoU {miou:.3f}")
    return ", ".join(parts)


# ---------------------------------------------------------------- loading


def _check_and_load(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copies ``state`` into ``model`` after checking every key and shape."""
    try:
        state_files.load_checked(model, state, f"{source} does not match the architecture")
    except state_files.StateFileError as exc:
        raise CheckpointError(str(exc)) from None


def _build(config: dict, labelset: LabelSet, source: Path) -> nn.Module:
    try:
        validate_config(config)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    if int(config.get("num_classes", -1)) != labelset.num_classes:
        raise CheckpointError(
            f"{source}: the model has {config.get('num_classes')} classes but its label set has "
            f"{labelset.num_classes}"
        )
    return build_model(config)


def _read(reader, path: Path):
    """``reader(path)`` from ``state_files``, its problems as ``CheckpointError``."""
    try:
        return reader(path)
    except state_files.StateFileError as exc:
        raise CheckpointError(str(exc)) from None


def read_pt_file(path: str | Path):
    """``torch.load(path, map_location="cpu", weights_only=True)`` and nothing else; never retried unsafely."""
    return _read(state_files.read_pt_file, Path(path))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Loads a SegStudio checkpoint; every problem is a ``CheckpointError`` that names it.

    ``.safetensors``: the SegStudio format above. ``.pt``/``.pth``: read with
    ``weights_only=True`` only; accepted when it is a dict carrying ``config``,
    ``labels`` and ``state_dict`` (what ``torch.save`` of plain data gives);
    a bare state dict has no architecture and needs ``load_state_dict_file``
    (``--arch`` on the command line).
    """
    path = Path(path)
    if path.suffix.lower() in state_files.PT_SUFFIXES:
        obj = read_pt_file(path)
        if not (isinstance(obj, dict) and isinstance(obj.get("config"), dict) and isinstance(obj.get("labels"), dict)):
            raise CheckpointError(
                f"{path} is a PyTorch state dict without SegStudio metadata (architecture, classes); "
                "give its architecture (--arch NAME) so it can be loaded with load_state_dict_file"
            )
        meta = {
            "config": obj["config"], "labels": obj["labels"],
            "normalization": obj.get("normalization") or dict(NORMALIZATION),
            "train_size": obj.get("train_size"), "record": obj.get("record") or {},
        }
        state = _read(lambda p: state_files.as_state_dict(obj, p), path)
    else:
        meta = read_metadata(path)
        state = None
    try:
        labelset = LabelSet.from_dict(meta["labels"])
    except (LabelSetError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: its label set is broken: {exc}") from None
    config = meta["config"]
    model = _build(config, labelset, path)
    if state is None:
        state = _read(state_files.read_safetensors, path)
    _check_and_load(model, state, path)
    model.to(map_location).eval()
    return LoadedCheckpoint(
        model=model,
        config=config,
        labelset=labelset,
        normalization=meta["normalization"],
        train_size=meta["train_size"],
        record=meta["record"],
        path=path,
    )


def load_state_dict_file(
    path: str | Path, config: dict, labelset: LabelSet, map_location: str | torch.device = "cpu"
) -> LoadedCheckpoint:
    """Loads a bare state dict (``.pt``/``.pth``/``.safetensors``) into the architecture ``config`` names.

    For weights from elsewhere: the caller supplies the architecture (``--arch``)
    and the label set; keys and shapes are checked as for a checkpoint.
    Normalisation is assumed to be ``NORMALIZATION``.
    """
    path = Path(path)
    model = _build(config, labelset, path)
    state = _read(state_files.read_state_dict, path)
    _check_and_load(model, state, path)
    model.to(map_location).eval()
    return LoadedCheckpoint(model=model, config=config, labelset=labelset, path=path)
