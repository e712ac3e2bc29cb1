"""Checkpoints: safetensors tensors plus JSON metadata, and nothing that runs code.

A checkpoint is one ``.safetensors`` file whose header metadata holds the
architecture configuration, the label set (names, colours, ignore id), the
input normalisation, the training size and the training record. Loading
rebuilds the network from the configuration and checks every key and shape
before a single weight is copied, so a mismatch is a message, not a crash.

Files from elsewhere (``.pt``/``.pth``) are read only with
``torch.load(weights_only=True)``; anything needing arbitrary unpickling is
refused and never retried unsafely.
"""

from __future__ import annotations

import json
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

import segstudio
from segstudio.core.atomic import atomic_write_bytes
from segstudio.core.labels import LabelSet, LabelSetError
from segstudio.ml.models.registry import build_model, validate_config

FORMAT = "segstudio-checkpoint"
FORMAT_VERSION = "1"
NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "input": "RGB, 0..1"}
# A safetensors header is a few kB; anything near this is a hostile or broken file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint; the message says why."""


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    config: dict
    labelset: LabelSet
    normalization: dict = field(default_factory=lambda: dict(NORMALIZATION))
    train_size: dict | None = None
    record: dict = field(default_factory=dict)
    path: Path | None = None


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
    """Writes model weights and metadata atomically; ``half`` stores fp16 tensors."""
    if int(config.get("num_classes", labelset.num_classes)) != labelset.num_classes:
        raise CheckpointError(
            f"the model has {config.get('num_classes')} classes but the label set {labelset.num_classes}"
        )
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


def _read_header(path: Path) -> dict:
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw_len = handle.read(8)
            if len(raw_len) < 8:
                raise CheckpointError(f"{path} is too short to be a safetensors file ({size} bytes)")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > MAX_HEADER_BYTES or header_len + 8 > size:
                raise CheckpointError(
                    f"{path} is not a valid safetensors file: its header claims {header_len} bytes "
                    f"but the file has {size} (truncated or corrupt)"
                )
            header = json.loads(handle.read(header_len))
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} has a corrupt safetensors header: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has a corrupt safetensors header")
    return header


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata, decoded, from the header alone (no tensors read)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    meta = _read_header(path).get("__metadata__") or {}
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a SegStudio checkpoint (no architecture "
            "metadata); load its state dict with an explicit architecture instead"
        )
    try:
        return {
            "config": json.loads(meta["config"]),
            "labels": json.loads(meta["labels"]),
            "normalization": json.loads(meta.get("normalization") or "null") or dict(NORMALIZATION),
            "train_size": json.loads(meta.get("train_size") or "null"),
            "record": json.loads(meta.get("record") or "{}"),
            "segstudio_version": meta.get("segstudio_version"),
        }
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} has broken SegStudio metadata ({exc})") from exc


def _check_and_load(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} wrong shapes (e.g. {'; '.join(mismatched[:3])})")
        raise CheckpointError(f"{source} does not match the architecture: " + "; ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Loads a SegStudio safetensors checkpoint; every problem is a CheckpointError."""
    path = Path(path)
    if path.suffix.lower() in (".pt", ".pth"):
        raise CheckpointError(
            f"{path} is a PyTorch pickle file without architecture metadata; load it with "
            "load_state_dict_file(path, config, labelset) (read with weights_only=True)"
        )
    meta = read_metadata(path)
    try:
        labelset = LabelSet.from_dict(meta["labels"])
        config = meta["config"]
        validate_config(config)
    except (LabelSetError, ValueError) as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    if int(config.get("num_classes", -1)) != labelset.num_classes:
        raise CheckpointError(
            f"{path}: the model has {config.get('num_classes')} classes but its label set has "
            f"{labelset.num_classes}"
        )
    try:
        state = st_load(path.read_bytes())
    except Exception as exc:
        raise CheckpointError(f"{path} has corrupt tensor data: {exc}") from exc
    model = build_model(config)
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


def read_pt_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a ``.pt``/``.pth`` state dict with ``weights_only=True`` and nothing else."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} needs arbitrary pickle code to load; SegStudio never runs that. Convert it "
            "to safetensors in a trusted environment (safetensors.torch.save_file)."
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable PyTorch file: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    return state


def load_state_dict_file(path: str | Path, config: dict, labelset: LabelSet) -> LoadedCheckpoint:
    """Loads a bare state dict (``.pt``/``.pth``/``.safetensors``) into a given architecture."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        _read_header(path)
        try:
            state = st_load(path.read_bytes())
        except Exception as exc:
            raise CheckpointError(f"{path} has corrupt tensor data: {exc}") from exc
    else:
        state = read_pt_state_dict(path)
    model = build_model(config)
    _check_and_load(model, state, path)
    return LoadedCheckpoint(model=model.eval(), config=config, labelset=labelset, path=path)


def checkpoint_summary(meta: dict) -> str:
    """One line for the UI: architecture, classes, and validation mean IoU if known."""
    config = meta.get("config", {})
    record = meta.get("record") or {}
    metrics = record.get("best_metrics") or record.get("metrics") or {}
    miou = metrics.get("mean_iou")
    parts = [config.get("name") or config.get("arch", "?"), f"{config.get('num_classes', '?')} classes"]
    if miou is not None:
        parts.append(f"val mIoU {miou:.3f}")
    return ", ".join(parts)
