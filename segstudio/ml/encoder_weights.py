"""ImageNet (or local) weights for the VGG16 encoders, with offline users in mind.

Sources:

- ``"imagenet"``: torchvision's weights API (``VGG16_Weights.IMAGENET1K_V1`` or
  ``VGG16_BN_Weights.IMAGENET1K_V1``), which downloads into the torch hub cache
  (``torch.hub.get_dir()/checkpoints/``) once and reads it from there
  afterwards, always with ``weights_only=True``. Offline with no cache, the
  ``EncoderWeightsError`` names the file to download and where to put it.
- a local file: ``.safetensors``, or a ``.pth``/``.pt`` state dict read with
  ``torch.load(weights_only=True)`` (never arbitrary unpickling), both through
  ``ml.state_files``, as checkpoints are.

Either a whole torchvision VGG state dict (``features.N...``; ``classifier.*``
is ignored) or a features-only one (``N.weight``...) is accepted.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_BN_Weights, VGG16_Weights

from segstudio.ml import state_files


class EncoderWeightsError(ValueError):
    """Encoder weights that cannot be had or do not fit; the message says what to do."""


def imagenet_weights(encoder_batch_norm: bool):
    """torchvision's ImageNet weights entry for the VGG16 (or VGG16-BN) encoder."""
    return VGG16_BN_Weights.IMAGENET1K_V1 if encoder_batch_norm else VGG16_Weights.IMAGENET1K_V1


def imagenet_cache_path(encoder_batch_norm: bool) -> Path:
    """Where torch hub keeps (or would keep) the ImageNet file."""
    weights = imagenet_weights(encoder_batch_norm)
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def fetch_imagenet_state_dict(encoder_batch_norm: bool) -> dict[str, torch.Tensor]:
    """The ImageNet state dict from the hub cache, downloading it once if needed."""
    weights = imagenet_weights(encoder_batch_norm)
    target = imagenet_cache_path(encoder_batch_norm)
    name = f"VGG16{'-BN' if encoder_batch_norm else ''}"
    cached = target.is_file()
    try:
        # check_hash=True: a half-downloaded or tampered file is not used silently.
        return weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
    except Exception as exc:  # URLError, socket/SSL errors, hash mismatch, corrupt zip...
        if cached:
            raise EncoderWeightsError(
                f"the cached ImageNet weights for the {name} encoder at {target} cannot be read "
                f"({type(exc).__name__}: {exc}); delete that file and download {weights.url} again, "
                "or pass a file with --encoder-weights FILE."
            ) from None
        raise EncoderWeightsError(
            f"cannot download the ImageNet weights for the {name} encoder "
            f"({type(exc).__name__}: {exc}). On a machine with internet, download {weights.url} "
            f"and put it at {target} (torch hub's cache: torch.hub.get_dir()/checkpoints/"
            f"{target.name}), or pass the file with --encoder-weights FILE, or train with "
            "--encoder-weights none (from scratch)."
        ) from None


def read_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a state dict (``.safetensors`` or ``.pth``/``.pt``) without ever unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise EncoderWeightsError(f"encoder weights file {path} does not exist")
    try:
        return state_files.read_state_dict(path)
    except state_files.StateFileError as exc:
        raise EncoderWeightsError(str(exc)) from None


def _features_only(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys relative to VGG's ``features``: strips ``features.`` (and a ``module.`` prefix)."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("features.") for k in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return state


def load_encoder_weights(model: nn.Module, source: str | Path) -> None:
    """Loads ``"imagenet"`` or a local file into ``model.features`` (a ``VGG16UNet``)."""
    features = getattr(model, "features", None)
    if features is None:
        raise EncoderWeightsError(f"{type(model).__name__} has no VGG encoder to load weights into")
    encoder_bn = bool(getattr(model, "encoder_batch_norm", False))
    name = f"VGG16{'-BN' if encoder_bn else ''}"
    if str(source) == "imagenet":
        state = fetch_imagenet_state_dict(encoder_bn)
    else:
        state = read_state_dict_file(source)
    state = _features_only(state)
    own = features.state_dict()
    mismatch = state_files.compare_state(own, state)
    if mismatch:
        hint = (
            " (a VGG16-BN file for a plain VGG16 encoder, or the reverse?)"
            if mismatch.missing and mismatch.unexpected
            else ""
        )
        raise EncoderWeightsError(f"the weights in {source} do not fit the {name} encoder{hint}: {mismatch}")
    features.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


def freeze_encoder(model: nn.Module, frozen: bool = True) -> int:
    """Stops (or restarts) gradient updates of the encoder, for fast fine-tuning.

    The encoder is ``model.encoder_modules()`` (VGG's ``features``, or U-Net's
    contracting path). Only gradients are frozen: in ``train()`` mode the
    encoder's BatchNorm running statistics still update (call ``.eval()`` on
    ``model.encoder_modules()`` after ``model.train()`` to freeze those too).
    Returns how many parameter tensors were changed.
    """
    encoder = model.encoder_modules() if hasattr(model, "encoder_modules") else getattr(model, "features", None)
    if encoder is None:
        raise ValueError(f"{type(model).__name__} has no encoder to freeze")
    params = list(encoder.parameters())
    for p in params:
        p.requires_grad_(not frozen)
    return len(params)
