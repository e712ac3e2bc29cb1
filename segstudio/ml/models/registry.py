"""The model registry: the study's six configurations by name, buildable with overrides.

A configuration is a JSON-able dict; it is stored in every checkpoint so the
exact network can be rebuilt without guessing.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from segstudio.ml.models.blocks import UPSAMPLE_MODES
from segstudio.ml.models.unet import UNet
from segstudio.ml.models.vgg_unet import VGG16UNet

# The study's dropout rows; 0.5 after the bottleneck and decoder blocks.
STUDY_DROPOUT = 0.5

_BASE = {
    "unet": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": False, "dropout": 0.0},
    "unet-bn": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": True, "dropout": 0.0},
    "unet-bn-dropout": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": True, "dropout": STUDY_DROPOUT},
    "vgg16-unet": {"arch": "vgg16_unet", "encoder_batch_norm": False, "batch_norm": False, "dropout": 0.0},
    "vgg16-unet-bn": {"arch": "vgg16_unet", "encoder_batch_norm": True, "batch_norm": True, "dropout": 0.0},
    "vgg16-unet-bn-dropout": {
        "arch": "vgg16_unet", "encoder_batch_norm": True, "batch_norm": True, "dropout": STUDY_DROPOUT,
    },
}
MODEL_NAMES: tuple[str, ...] = tuple(_BASE)

_OPTIONS = {
    "unet": {"num_classes", "base_width", "depth", "batch_norm", "dropout", "upsample"},
    "vgg16_unet": {"num_classes", "encoder_batch_norm", "batch_norm", "dropout", "upsample"},
}


def model_config(name: str, **overrides) -> dict:
    """The configuration dict for a registry name, with overrides applied."""
    if name not in _BASE:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    config = {"name": name, "num_classes": 12, "upsample": "transpose", **_BASE[name]}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in _OPTIONS[config["arch"]]:
            raise ValueError(
                f"{name} has no option {key!r}; options: {', '.join(sorted(_OPTIONS[config['arch']]))}"
            )
        config[key] = value
    validate_config(config)
    return config


def validate_config(config: dict) -> None:
    arch = config.get("arch")
    if arch not in _OPTIONS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(_OPTIONS)}")
    if config.get("upsample", "transpose") not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}")
    if not 0.0 <= float(config.get("dropout", 0.0)) < 1.0:
        raise ValueError("dropout must be in [0, 1)")
    if int(config.get("num_classes", 12)) < 1:
        raise ValueError("num_classes must be positive")
    if arch == "unet" and int(config.get("base_width", 64)) < 1:
        raise ValueError("base_width must be positive")


def build_model(config: dict, encoder_weights: str | Path | None = None) -> nn.Module:
    """Builds the network a configuration describes; weights load only when asked."""
    validate_config(config)
    options = {k: v for k, v in config.items() if k in _OPTIONS[config["arch"]]}
    if config["arch"] == "unet":
        if encoder_weights not in (None, "none"):
            raise ValueError("encoder weights apply to the VGG16 models only")
        return UNet(**options)
    model = VGG16UNet(**options)
    if encoder_weights not in (None, "none"):
        from segstudio.ml.encoder_weights import load_encoder_weights

        load_encoder_weights(model, encoder_weights)
    return model
