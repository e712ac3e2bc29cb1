"""The model registry: architectures (``ARCHITECTURES``) and named configurations.

A configuration is a JSON-able dict; it is stored in every checkpoint so the
exact network can be rebuilt without guessing::

    {"name": "unet-bn", "arch": "unet", "num_classes": 12, "base_width": 64,
     "depth": 4, "batch_norm": true, "dropout": 0.0, "upsample": "transpose"}

``arch`` names an ``Architecture`` record (``models/contract.py``): its
options, validation, encoder, input normalisation, tiling geometry and
pretrained weights. A new architecture is one module and one line in
``ARCHITECTURES``. The study's six configurations are here by name, plus the
EfficientNet-Lite U-Nets (``lite0-unet`` ... ``lite2-unet``), whose
pretrained encoders make a strong model trainable on a CPU.

VGG16 configurations carry ``encoder_batch_norm`` (``vgg16_bn`` encoder) instead
of ``base_width``; their ``depth`` is VGG16's five poolings and cannot change.
The study's "+Dropout" rows use p = 0.5 (``STUDY_DROPOUT``), as Dropout2d
after the bottleneck and after each decoder block.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from segstudio.ml.models import lite_unet, unet, vgg_unet
from segstudio.ml.models.blocks import UPSAMPLE_MODES
from segstudio.ml.models.contract import Architecture

ARCHITECTURES: dict[str, Architecture] = {
    a.key: a for a in (unet.ARCHITECTURE, vgg_unet.ARCHITECTURE, lite_unet.ARCHITECTURE)
}
ARCHS = tuple(ARCHITECTURES)
STUDY_DROPOUT = 0.5
VGG_DEPTH = vgg_unet.VGG_DEPTH

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
    **{
        f"{variant}-unet": {"arch": "lite_unet", "encoder": variant,
                            "decoder_channels": list(lite_unet.DEFAULT_DECODER_CHANNELS), "dropout": 0.0}
        for variant in lite_unet.VARIANTS
    },
}
MODEL_NAMES: tuple[str, ...] = tuple(_BASE)
_DESCRIPTIVE = ("name", "arch")


def architecture(config_or_key: dict | str) -> Architecture:
    """The ``Architecture`` of a configuration (or an ``arch`` key); ``ValueError`` when unknown."""
    key = config_or_key.get("arch") if isinstance(config_or_key, dict) else config_or_key
    if key not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {key!r}; known: {', '.join(ARCHS)}")
    return ARCHITECTURES[key]


def model_config(name: str, **overrides) -> dict:
    """The configuration dict for a registry name, with overrides applied.

    Overrides whose value is ``None`` are skipped (so CLI defaults can pass
    through). An unknown name or option raises ``ValueError`` listing the valid ones.
    """
    if name not in _BASE:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    base = _BASE[name]
    config = {"name": name, "num_classes": 12, **({"upsample": "transpose"} if base["arch"] != "lite_unet" else {}),
              **base}
    options = architecture(config).options
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in options:
            raise ValueError(f"{name} has no option {key!r}; its options: {', '.join(options)}")
        config[key] = value
    validate_config(config)
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_config(config: dict) -> None:
    """Raises ``ValueError`` naming the first bad entry of a configuration."""
    if not isinstance(config, dict):
        raise ValueError(f"a model configuration is a dict, not {type(config).__name__}")
    arch = architecture(config)
    unknown = sorted(set(config) - set(arch.options) - set(_DESCRIPTIVE))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {arch.key}; its options: {', '.join(arch.options)}"
        )
    if "upsample" in arch.options and config.get("upsample", "transpose") not in UPSAMPLE_MODES:
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
    arch.validate(config)


def build_model(config: dict, encoder_weights: str | Path | None = None) -> nn.Module:
    """Builds the network a configuration describes (training mode, on the CPU).

    ``encoder_weights`` (architectures with a pretrained encoder): ``None``/``"none"``
    (random initialisation; the default, nothing is read), ``"imagenet"``, or a
    local ``.pth``/``.safetensors`` file (never unpickled).
    """
    validate_config(config)
    arch = architecture(config)
    model = arch.build(config)
    if encoder_weights is not None and str(encoder_weights) != "none":
        if not arch.pretrained:
            raise ValueError(
                f"encoder weights apply to models with a pretrained encoder "
                f"({', '.join(n for n in MODEL_NAMES if ARCHITECTURES[_BASE[n]['arch']].pretrained)}), not to {arch.key}"
            )
        arch.loader()(model, encoder_weights, config)
    return model


def normalization(config: dict) -> dict:
    """The input normalisation a configuration's encoder expects (stored in its checkpoints)."""
    return architecture(config).normalization(config)


def encoder_modules(model: nn.Module, config: dict) -> nn.Module:
    """The part of ``model`` trained at the encoder learning rate."""
    return architecture(config).encoder_modules(model)
