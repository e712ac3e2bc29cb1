"""U-Net with torchvision's VGG16 (or VGG16-BN) feature stages as the encoder.

Encoder contract: ``features`` is torchvision's ``vgg16(_bn)().features``
with torchvision's own layer numbering (so a torchvision state dict's
``features.N...`` keys map onto ours key for key), cut at its five max-pools
into five stages at strides 1, 2, 4, 8, 16 with 64, 128, 256, 512, 512
channels (``ENCODER_STRIDES`` / ``ENCODER_CHANNELS``). Each stage's output is a
skip connection; after the fifth pool (stride 32) a bottleneck double
convolution (1024 channels, Dropout2d if asked) feeds the decoder, which climbs
back through the five skips as in ``UNet`` (BatchNorm in the decoder when
``batch_norm``); a 1x1 convolution gives the logits. Inputs are padded to a
multiple of 32 and the logits cropped back.

Only the conv stages are built (not VGG's 120M-parameter classifier), with
torchvision's initialisation. Encoder weights are never fetched unless asked
(see ``segstudio.ml.encoder_weights``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from segstudio.ml.models.blocks import decoder_blocks, double_conv, init_weights, pad_to_multiple, run_decoder
from segstudio.ml.models.contract import Architecture, imagenet_normalization

ENCODER_CHANNELS = (64, 128, 256, 512, 512)
ENCODER_STRIDES = (1, 2, 4, 8, 16)
BOTTLENECK_CHANNELS = 1024
INPUT_MULTIPLE = 32


class VGG16UNet(nn.Module):
    """``N x 3 x H x W`` (ImageNet-normalised) to ``N x num_classes x H x W`` logits, any H, W."""

    def __init__(
        self,
        num_classes: int = 12,
        encoder_batch_norm: bool = False,
        batch_norm: bool = False,
        dropout: float = 0.0,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        self.encoder_batch_norm = encoder_batch_norm
        # torchvision's "D" configuration is VGG16; make_layers is what vgg16() uses.
        self.features = make_layers(cfgs["D"], batch_norm=encoder_batch_norm)
        self._pools = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        assert len(self._pools) == len(ENCODER_CHANNELS)
        self.bottleneck = double_conv(ENCODER_CHANNELS[-1], BOTTLENECK_CHANNELS, batch_norm, dropout)
        self.decoders = decoder_blocks(
            BOTTLENECK_CHANNELS, ENCODER_CHANNELS, batch_norm=batch_norm, dropout=dropout, upsample=upsample
        )
        self.head = nn.Conv2d(ENCODER_CHANNELS[0], num_classes, 1)
        init_weights(self)  # the same kaiming(fan_out) init torchvision gives VGG's convs

    def encoder_modules(self) -> nn.Module:
        """The VGG feature stages (what ``freeze_encoder`` freezes)."""
        return self.features

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five skips (strides 1..16) and the stride-32 pooled map, of an input padded to 32."""
        skips = []
        start = 0
        for pool in self._pools:
            for layer in self.features[start:pool]:
                x = layer(x)
            skips.append(x)
            x = self.features[pool](x)
            start = pool + 1
        return [*skips, x]

    def decode(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = run_decoder(self.decoders, self.bottleneck(features[-1]), features[:-1])
        return self.head(x)[..., : size[0], : size[1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, hw = pad_to_multiple(x, INPUT_MULTIPLE)
        return self.decode(self.encode(x), hw)


# ---------------------------------------------------------------- the contract

OPTIONS = ("num_classes", "depth", "encoder_batch_norm", "batch_norm", "dropout", "upsample")
VGG_DEPTH = 5
# VGG16's five stages at strides 1, 2, 4, 8, 16: convolutions per stage.
_CONVS_PER_STAGE = (2, 2, 3, 3, 3)


def _validate(config: dict) -> None:
    if config.get("depth", VGG_DEPTH) != VGG_DEPTH:
        raise ValueError(f"a VGG16 encoder has {VGG_DEPTH} poolings; depth cannot be {config.get('depth')!r}")


def _radius(config: dict) -> int:
    """The deepest path, summed by hand (``ml/receptive_field.py`` explains the rule)."""
    bilinear = config.get("upsample", "transpose") == "bilinear"
    strides = [2**level for level in range(len(_CONVS_PER_STAGE))]
    encoder = sum(n * s for n, s in zip(_CONVS_PER_STAGE, strides))
    bottleneck = 2 * (2 * strides[-1])
    pools = sum(strides)
    decoder = sum(2 * s for s in strides)
    upsampling = sum(2 * s for s in strides) if bilinear else 0
    return encoder + pools + bottleneck + decoder + upsampling


def _load_weights(model: nn.Module, source, config: dict) -> None:
    from segstudio.ml.encoder_weights import load_encoder_weights

    load_encoder_weights(model, source)


ARCHITECTURE = Architecture(
    key="vgg16_unet",
    options=OPTIONS,
    build=lambda config: VGG16UNet(**{k: config[k] for k in OPTIONS if k in config and k != "depth"}),
    validate=_validate,
    encoder_modules=lambda model: model.features,
    normalization=imagenet_normalization,
    input_multiple=lambda config: INPUT_MULTIPLE,
    receptive_radius=_radius,
    load_encoder_weights=_load_weights,
    pretrained=True,
    description="U-Net on torchvision's VGG16 (or VGG16-BN) feature stages",
)
