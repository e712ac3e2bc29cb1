"""U-Net with torchvision's VGG16 (or VGG16-BN) feature stages as the encoder.

Encoder contract: five stages at strides 1, 2, 4, 8, 16 with 64, 128, 256,
512, 512 channels (VGG16's blocks before each max-pool); a bottleneck double
convolution after the fifth pool (stride 32); the decoder climbs back through
the five skips as in ``UNet``. Encoder weights are never fetched unless asked
(see ``segstudio.ml.encoder_weights``).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import vgg16, vgg16_bn

from segstudio.ml.models.blocks import UpBlock, double_conv, init_weights, pad_to_multiple

ENCODER_CHANNELS = (64, 128, 256, 512, 512)


def _split_stages(features: nn.Sequential) -> list[nn.Sequential]:
    """Cuts VGG's ``features`` at its max-pools into the five conv stages."""
    stages: list[nn.Sequential] = []
    current: list[nn.Module] = []
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
        else:
            current.append(layer)
    return stages


class VGG16UNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 12,
        encoder_batch_norm: bool = False,
        batch_norm: bool = False,
        dropout: float = 0.0,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        # weights=None: building a model never touches the network.
        backbone = (vgg16_bn if encoder_batch_norm else vgg16)(weights=None)
        self.encoder_batch_norm = encoder_batch_norm
        # Keep torchvision's layer numbering inside ``features`` so that a
        # torchvision state dict maps onto ours key for key.
        self.features = backbone.features
        self._stage_ends = [i for i, m in enumerate(self.features) if isinstance(m, nn.MaxPool2d)]
        self.bottleneck = double_conv(512, 1024, batch_norm, dropout)
        widths = list(ENCODER_CHANNELS)
        decoder_in = [1024, 512, 512, 256, 128]
        self.decoders = nn.ModuleList(
            UpBlock(decoder_in[k], widths[4 - k], widths[4 - k], batch_norm=batch_norm, dropout=dropout, upsample=upsample)
            for k in range(5)
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        init_weights(self.bottleneck)
        init_weights(self.decoders)
        init_weights(self.head)

    def encoder_parameters(self):
        return self.features.parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        skips = []
        start = 0
        for end in self._stage_ends:
            for layer in self.features[start:end]:
                x = layer(x)
            skips.append(x)
            x = self.features[end](x)  # the max-pool
            start = end + 1
        x = self.bottleneck(x)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(x, skip)
        return self.head(x)[..., :h, :w]
