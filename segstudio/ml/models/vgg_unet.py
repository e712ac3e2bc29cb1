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

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Runs the five stages; returns (the stride-32 pooled map, the five skips)."""
        skips = []
        start = 0
        for pool in self._pools:
            for layer in self.features[start:pool]:
                x = layer(x)
            skips.append(x)
            x = self.features[pool](x)
            start = pool + 1
        return x, skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, INPUT_MULTIPLE)
        x, skips = self.encode(x)
        x = run_decoder(self.decoders, self.bottleneck(x), skips)
        return self.head(x)[..., :h, :w]
