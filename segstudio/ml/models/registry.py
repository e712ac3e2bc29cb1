"""The model registry: the study's six configurations by name, buildable with overrides.

A configuration is a JSON-able dict; it is stored in every checkpoint so the
exact network can be rebuilt without guessing::

    {"name": "unet-bn", "arch": "unet", "num_classes": 12, "base_width": 64,
     "depth": 4, "batch_norm": true, "dropout": 0.0, "upsample": "transpose"}

VGG16 configurations carry ``encoder_batch_norm`` (``vgg16_bn`` encoder) instead
of ``base_width``; their ``depth`` is VGG16's five poolings and cannot change.
``vgg16-unet-bn`` is the VGG16-BN encoder with a BatchNorm decoder.

The study's "+Dropout" rows use p = 0.5 (``STUDY_DROPOUT``), as Dropout2d
after the bottleneck and after each decoder block.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from segstudio.ml.models.blocks import UPSAMPLE_MODES
from segstudio.ml.models.unet import UNet
from segstudio.ml.models.vgg_unet import VGG16UNet

STUDY_DROPOUT = 0.5
VGG_DEPTH = 5

_BASE: dict[str, dict] = {
    "unet": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": False, "dropout": 0.0},
    "unet-bn": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": True, "dropout": 0.0},
    "unet-bn-dropout": {"arch": "unet", "base_width": 64, "depth": 4, "batch_norm": True, "dropout": STUDY_DROPOUT},
    "vgg16-unet": {
        "arch": "vgg16_unet", "depth": VGG_DEPTH, "encoder_batch_norm": False, "batch_norm": False, "dropout": 0.0,
    },
    "vgg16-unet-bn": {
        "arch": "vgg16_unet", "depth": VGG_DEPTH, "encoder_batch_norm": True, "batch_norm": True, "dropout": 0.0,
    },
    "vgg16-unet-bn-dropout": {
        "arch": "vgg16_unet", "depth": VGG_DEPTH, "encoder_batch_norm": True, "batch_norm": True,
        "dropout": STUDY_DROPOUT,
    },
}
MODEL_NAMES: tuple[str, ...] = tuple(_BASE)
ARCHS = ("unet", "vgg16_unet")

# Options per architecture (constructor arguments); "depth" is fixed for VGG.
_OPTIONS = {
    "unet": ("num_classes", "base_width", "depth", "batch_norm", "dropout", "upsample"),
    "vgg16_unet": ("num_classes", "depth", "encoder_batch_norm", "batch_norm", "dropout", "upsample"),
}
_DESCRIPTIVE = ("name", "arch")


def model_config(name: str, **overrides) -> dict:
    """The configuration dict for a registry name, with overrides applied.

    Overrides whose value is ``None`` are skipped (so CLI defaults can pass
    through). An unknown name or option raises ``ValueError`` listing the valid ones.
    """
    if name not in _BASE:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    config = {"name": name, "num_classes": 12, "upsample": "transpose", **_BASE[name]}
    arch = config["arch"]
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in _OPTIONS[arch]:
            raise ValueError(f"{name} has no option {key!r}; its options: {', '.join(_OPTIONS[arch])}")
        config[key] = value
    validate_config(config)
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_config(config: dict) -> None:
    """Raises ``ValueError`` naming the first bad entry of a configuration."""
    if not isinstance(config, dict):
        raise ValueError(f"a model configuration is a dict, not {type(config).__name__}")
    arch = config.get("arch")
    if arch not in _OPTIONS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    unknown = sorted(set(config) - set(_OPTIONS[arch]) - set(_DESCRIPTIVE))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {arch}; its options: {', '.join(_OPTIONS[arch])}"
        )
    if config.get("upsample", "transpose") not in UPSAMPLE_MODES:
        raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}; got {config.get('upsample')!r}")
    dropout = config.get("dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1); got {dropout!r}")
    for key in ("batch_norm", "encoder_batch_norm"):
        if key in config and not isinstance(config[key], bool):
            raise ValueError(f"{key} must be true or false; got {config[key]!r}")
    num_classes = config.get("num_classes", 12)
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")
    depth = config.get("depth", 4 if arch == "unet" else VGG_DEPTH)
    if arch == "unet":
        width = config.get("base_width", 64)
        if not _is_int(width) or width < 1:
            raise ValueError(f"base_width must be a positive integer; got {width!r}")
        if not _is_int(depth) or not 1 <= depth <= 6:
            raise ValueError(f"depth must be an integer from 1 to 6; got {depth!r}")
    elif depth != VGG_DEPTH:
        raise ValueError(f"a VGG16 encoder has {VGG_DEPTH} poolings; depth cannot be {depth!r}")


def build_model(config: dict, encoder_weights: str | Path | None = None) -> nn.Module:
    """Builds the network a configuration describes (training mode, on the CPU).

    ``encoder_weights`` (VGG16 models only): ``None``/``"none"`` (random
    initialisation; the default, nothing is downloaded), ``"imagenet"``, or a
    local ``.pth``/``.safetensors`` file. See ``segstudio.ml.encoder_weights``.
    """
    validate_config(config)
    options = {k: config[k] for k in _OPTIONS[config["arch"]] if k in config}
    wants_weights = encoder_weights is not None and str(encoder_weights) != "none"
    if config["arch"] == "unet":
        if wants_weights:
            raise ValueError("encoder weights apply to the VGG16 models only (vgg16-unet...), not to unet")
        return UNet(**options)
    options.pop("depth", None)
    model = VGG16UNet(**options)
    if wants_weights:
        from segstudio.ml.encoder_weights import load_encoder_weights

        load_encoder_weights(model, encoder_weights)
    return model
