"""ImageNet (or local) weights for the VGG16 encoders, with offline in mind.

``"imagenet"`` goes through torchvision's weights API, which downloads into the
torch hub cache once and reads it from there afterwards. Offline users without
that cache get a message that names the file to download and where to put it,
or they pass a local file (``.pth`` read with ``weights_only=True``, or
``.safetensors``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_BN_Weights, VGG16_Weights


class EncoderWeightsError(ValueError):
    """Encoder weights that cannot be had or do not fit; the message says what to do."""


def _imagenet_weights(encoder_batch_norm: bool):
    return VGG16_BN_Weights.IMAGENET1K_V1 if encoder_batch_norm else VGG16_Weights.IMAGENET1K_V1


def _cache_path(weights) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def fetch_imagenet_state_dict(encoder_batch_norm: bool) -> dict[str, torch.Tensor]:
    weights = _imagenet_weights(encoder_batch_norm)
    target = _cache_path(weights)
    try:
        return weights.get_state_dict(progress=False, check_hash=False)
    except Exception as exc:  # URLError, socket errors, SSL errors, hash errors...
        raise EncoderWeightsError(
            f"cannot get the ImageNet weights for the VGG16{'-BN' if encoder_batch_norm else ''} "
            f"encoder ({type(exc).__name__}: {exc}). Download {weights.url} on a machine with "
            f"internet and put it at {target}, or pass the file with --encoder-weights FILE."
        ) from exc


def read_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a state dict without ever unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise EncoderWeightsError(f"encoder weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:
            raise EncoderWeightsError(f"{path} is not a readable safetensors file: {exc}") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EncoderWeightsError(
            f"{path} cannot be read as plain tensors ({type(exc).__name__}); SegStudio never "
            "unpickles code. Save it as a state dict or as .safetensors."
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EncoderWeightsError(f"{path} does not hold a state dict of tensors")
    return state


def load_encoder_weights(model: nn.Module, source: str | Path) -> None:
    """Loads ``"imagenet"`` or a file into ``model.features`` (a VGG16UNet)."""
    encoder_bn = bool(getattr(model, "encoder_batch_norm", False))
    if str(source) == "imagenet":
        state = fetch_imagenet_state_dict(encoder_bn)
    else:
        state = read_state_dict_file(source)
    # Accept a whole torchvision VGG (features.N.*, classifier.*) or features only.
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    own = model.features.state_dict()
    missing = sorted(set(own) - set(state))
    mismatched = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or mismatched:
        raise EncoderWeightsError(
            f"the weights do not fit the VGG16{'-BN' if encoder_bn else ''} encoder: "
            f"missing {missing[:4]}, wrong shapes {mismatched[:4]}"
        )
    model.features.load_state_dict({k: state[k] for k in own})


def freeze_encoder(model: nn.Module, frozen: bool = True) -> None:
    """Stops (or restarts) gradient updates of a VGG encoder, for fast fine-tuning."""
    features = getattr(model, "features", None)
    if features is None:
        return
    for p in features.parameters():
        p.requires_grad_(not frozen)
