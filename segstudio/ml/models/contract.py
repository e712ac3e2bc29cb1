"""The architecture contract: what every registered network declares about itself.

A new architecture is one module that builds its network and exports one
``Architecture`` record, plus one line in ``registry.ARCHITECTURES`` (the
pattern of segmentation_models_pytorch's encoder table). Everything that used
to be keyed on architecture strings across the package asks the record
instead:

- ``options``: the constructor arguments a configuration may set, with
  ``validate`` checking their values;
- ``encoder_modules(model)``: the part trained at the encoder learning rate
  (and frozen by ``freeze_encoder``);
- ``normalization(config)``: the input normalisation the encoder expects,
  written into every checkpoint (ImageNet mean/std for torchvision encoders,
  TF's ``(x - 127) / 128`` for the EfficientNet-Lite weights);
- ``input_multiple(config)`` and ``receptive_radius(config)``: what tiled
  inference needs to equal a whole-image pass (``ml/inference.py``); there is
  no fallback, so a new architecture cannot silently tile wrong;
- ``load_encoder_weights(model, source, config)``: ``"imagenet"`` or a local
  ``.pth``/``.safetensors`` file, always read without unpickling code.

Every registered network also splits into ``encode(x) -> features`` and
``decode(features, (h, w)) -> logits`` with ``forward(x) ==
decode(encode(pad(x)), (h, w))``: fine-tuning on cached encoder features
relies on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "input": "RGB, 0..1"}
# TensorFlow's EfficientNet-Lite preprocessing, (x - 127) / 128 on 0..255, written for inputs in 0..1.
TF_NORMALIZATION = {"mean": [127 / 255] * 3, "std": [128 / 255] * 3, "input": "RGB, 0..1"}


def _no_pretrained_weights(name: str):
    def load(model: nn.Module, source: str | Path, config: dict) -> None:
        raise ValueError(f"encoder weights apply to models with a pretrained encoder, not to {name}")

    return load


@dataclass(frozen=True)
class Architecture:
    """One registered architecture (``config["arch"]`` is its ``key``)."""

    key: str
    options: tuple[str, ...]
    build: Callable[[dict], nn.Module]
    validate: Callable[[dict], None]
    encoder_modules: Callable[[nn.Module], nn.Module]
    normalization: Callable[[dict], dict]
    input_multiple: Callable[[dict], int]
    receptive_radius: Callable[[dict], int]
    load_encoder_weights: Callable[[nn.Module, "str | Path", dict], None] | None = None
    pretrained: bool = False  # whether "imagenet" weights exist for its encoder
    description: str = ""

    def loader(self) -> Callable[[nn.Module, "str | Path", dict], None]:
        return self.load_encoder_weights or _no_pretrained_weights(self.key)


def imagenet_normalization(config: dict) -> dict:
    return dict(IMAGENET_NORMALIZATION)


__all__ = ["IMAGENET_NORMALIZATION", "TF_NORMALIZATION", "Architecture", "imagenet_normalization"]
