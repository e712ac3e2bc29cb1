"""State dicts in files: reading them without running code, and checking them against a model.

The one place that opens weight files. Checkpoints (``ml.checkpoint``) and
encoder weights (``ml.encoder_weights``) both read through here and turn a
``StateFileError`` into their own error, so the safety rules live once:

- ``.safetensors``: the header's length and tensor offsets are checked
  against the file's size before any tensor is read (a truncated or hostile
  file is an error that says so, not a crash or a huge allocation);
- ``.pt``/``.pth``: ``torch.load(weights_only=True)`` and nothing else; a
  file that needs arbitrary unpickling is refused and never retried unsafely.

A leaf: it imports torch and safetensors, nothing of SegStudio.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as st_load

# A safetensors header is a few kB; anything near this is a hostile or broken file.
MAX_HEADER_BYTES = 100 * 1024 * 1024
PT_SUFFIXES = (".pt", ".pth")
_SHOW = 3  # how many offending keys a mismatch message names


class StateFileError(ValueError):
    """A weights file that cannot be read safely, or does not fit; the message says why."""


# ---------------------------------------------------------------- safetensors


def read_safetensors_header(path: str | Path) -> dict:
    """The safetensors JSON header (``__metadata__`` included), after checking it against the file's size."""
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path} does not exist")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            raw_len = handle.read(8)
            if len(raw_len) < 8:
                raise StateFileError(f"{path} is too short to be a safetensors file ({size} bytes)")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > MAX_HEADER_BYTES or header_len + 8 > size:
                raise StateFileError(
                    f"{path} is not a valid safetensors file: its header claims {header_len} bytes "
                    f"but the file has {size} (truncated or corrupt, or not a safetensors file)"
                )
            header = json.loads(handle.read(header_len))
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path} has a corrupt safetensors header: {exc}") from None
    if not isinstance(header, dict):
        raise StateFileError(f"{path} has a corrupt safetensors header")
    try:
        data_end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise StateFileError(f"{path} has a corrupt safetensors header (bad tensor entries)") from None
    if 8 + header_len + data_end != size:
        raise StateFileError(
            f"{path} is truncated or corrupt: its header describes {8 + header_len + data_end} bytes "
            f"but the file has {size}"
        )
    return header


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a ``.safetensors`` file (on the CPU), after the header check."""
    path = Path(path)
    read_safetensors_header(path)
    try:
        return st_load(path.read_bytes())
    except Exception as exc:  # safetensors raises its own SafetensorError on bad data
        raise StateFileError(f"{path} has corrupt tensor data: {exc}") from None


# ---------------------------------------------------------------- .pt / .pth


def describe_unpickling_error(exc: Exception, path: str | Path) -> tuple[bool, str]:
    """Why ``torch.load(weights_only=True)`` refused a file: (needs pickle code?, the detail).

    ``True`` when the file asks for a Python callable or class (the global's
    name is given), or is a pickle / torch zip that the restricted unpickler
    cannot follow (protocol 4+ payloads fail at their first opcode): what a
    pickle payload looks like. ``False`` when it is not a PyTorch file at all.
    """
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return True, f"it asks for {found.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in reversed(lines) if not line.startswith("Check the documentation")), text)[:200]
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
    except OSError:
        magic = b""
    looks_pickled = magic[:1] == b"\x80" or magic == b"PK"
    return looks_pickled, detail


def read_pt_file(path: str | Path):
    """``torch.load(path, map_location="cpu", weights_only=True)`` and nothing else; never retried unsafely."""
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about protocol 4 before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needs_code, detail = describe_unpickling_error(exc, path)
        if needs_code:
            raise StateFileError(
                f"{path} needs arbitrary pickle code to load ({detail}); SegStudio never runs "
                "that. Convert it to safetensors in an environment you trust "
                "(safetensors.torch.save_file(model.state_dict(), ...)) or save a plain state dict of tensors."
            ) from None
        raise StateFileError(f"{path} is not a readable PyTorch file of plain tensors ({detail})") from None
    except Exception as exc:
        raise StateFileError(f"{path} is not a readable PyTorch file ({type(exc).__name__}: {exc})") from None


def as_state_dict(obj, path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a loaded ``.pt`` object: ``{"state_dict": ...}`` and the like unwrapped,
    a ``module.`` prefix (DataParallel / DDP) stripped."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StateFileError(f"{path} does not hold a state dict of tensors")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or ``.pt``/``.pth`` (by suffix), never unpickling code."""
    path = Path(path)
    if path.suffix.lower() in PT_SUFFIXES:
        return as_state_dict(read_pt_file(path), path)
    return read_safetensors(path)


# ---------------------------------------------------------------- checking against a model


def _natural(key: str) -> list:
    """Sort key that puts ``encoders.2`` before ``encoders.10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


@dataclass(frozen=True)
class StateMismatch:
    """How a state dict differs from a module's: keys missing, unexpected, or of the wrong shape."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    wrong_shapes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.wrong_shapes)

    def __str__(self) -> str:
        """How many of each, with a few examples, e.g. ``2 missing keys (e.g. a, b); ...``."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing keys (e.g. {', '.join(self.missing[:_SHOW])})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected keys (e.g. {', '.join(self.unexpected[:_SHOW])})")
        if self.wrong_shapes:
            parts.append(f"{len(self.wrong_shapes)} wrong shapes (e.g. {'; '.join(self.wrong_shapes[:_SHOW])})")
        return "; ".join(parts)


def compare_state(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> StateMismatch:
    """What keeps ``state`` from loading into a module whose state dict is ``own`` (falsy when it fits)."""
    return StateMismatch(
        missing=tuple(k for k in own if k not in state),
        unexpected=tuple(sorted((k for k in state if k not in own), key=_natural)),
        wrong_shapes=tuple(
            f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
            for k in own
            if k in state and tuple(state[k].shape) != tuple(own[k].shape)
        ),
    )


def load_checked(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Copies ``state`` into ``module`` (cast to its dtypes) after checking every key and shape.

    ``what`` starts the error message, e.g. ``"x.safetensors does not match the architecture"``.
    """
    own = module.state_dict()
    mismatch = compare_state(own, state)
    if mismatch:
        raise StateFileError(f"{what}: {mismatch}")
    module.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


__all__ = [
    "MAX_HEADER_BYTES", "PT_SUFFIXES", "StateFileError", "StateMismatch", "as_state_dict", "compare_state",
    "describe_unpickling_error", "load_checked", "read_pt_file", "read_safetensors", "read_safetensors_header",
    "read_state_dict",
]
