"""The study's U-Net (Ronneberger et al. 2015), with the study's options.

Contracting path: per level two 3x3 convolutions + ReLU, then 2x2 max-pooling
with stride 2 (``depth`` poolings, 4 by default). Expanding path: 2x2
up-convolution (or bilinear upsampling + 3x3 convolution), skip concatenation,
two 3x3 convolutions; a 1x1 convolution gives the class logits. Convolutions
are padded ("same"), so the output has the input's size; inputs of any size are
padded (reflection) to a multiple of ``2**depth`` inside ``forward`` and the
logits are cropped back.

Dropout (the study's "+Dropout" rows) is ``Dropout2d`` after the bottleneck
block and after each decoder block: the original U-Net puts drop-out "at the
end of the contracting path"; the decoder blocks add the regularisation where
the study's decoder has it. The registry uses p = 0.5.
"""

from __future__ import annotations

import torch
from torch import nn

from segstudio.ml.models.blocks import decoder_blocks, double_conv, init_weights, pad_to_multiple, run_decoder
from segstudio.ml.models.contract import Architecture, imagenet_normalization


class UNet(nn.Module):
    """``N x in_channels x H x W`` (normalised) to ``N x num_classes x H x W`` logits, any H, W."""

    def __init__(
        self,
        num_classes: int = 12,
        base_width: int = 64,
        depth: int = 4,
        batch_norm: bool = False,
        dropout: float = 0.0,
        upsample: str = "transpose",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        ch = in_channels
        for w in widths[:-1]:
            self.encoders.append(double_conv(ch, w, batch_norm))
            ch = w
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck = double_conv(ch, widths[-1], batch_norm, dropout)
        self.decoders = decoder_blocks(
            widths[-1], widths[:-1], batch_norm=batch_norm, dropout=dropout, upsample=upsample
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        init_weights(self)

    def encoder_modules(self) -> nn.Module:
        """The contracting path (what ``freeze_encoder`` freezes)."""
        return self.encoders

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The skips (shallowest first) and the pooled deepest map, of an input padded to ``2**depth``."""
        features = []
        for encoder in self.encoders:
            x = encoder(x)
            features.append(x)
            x = self.pool(x)
        return [*features, x]

    def decode(self, features: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = run_decoder(self.decoders, self.bottleneck(features[-1]), features[:-1])
        return self.head(x)[..., : size[0], : size[1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, hw = pad_to_multiple(x, 2**self.depth)
        return self.decode(self.encode(x), hw)


# ---------------------------------------------------------------- the contract

OPTIONS = ("num_classes", "base_width", "depth", "batch_norm", "dropout", "upsample")


def _validate(config: dict) -> None:
    width = config.get("base_width", 64)
    depth = config.get("depth", 4)
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"base_width must be a positive integer; got {width!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= 6:
        raise ValueError(f"depth must be an integer from 1 to 6; got {depth!r}")


def _radius(config: dict) -> int:
    """The deepest path, summed by hand (``ml/receptive_field.py`` explains the rule)."""
    bilinear = config.get("upsample", "transpose") == "bilinear"
    strides = [2**level for level in range(int(config.get("depth", 4)))]
    encoder = sum(2 * s for s in strides)
    bottleneck = 2 * (2 * strides[-1])  # two convolutions below the last pool
    pools = sum(strides)
    decoder = sum(2 * s for s in strides)
    upsampling = sum(2 * s for s in strides) if bilinear else 0
    return encoder + pools + bottleneck + decoder + upsampling


ARCHITECTURE = Architecture(
    key="unet",
    options=OPTIONS,
    build=lambda config: UNet(**{k: config[k] for k in OPTIONS if k in config}),
    validate=_validate,
    encoder_modules=lambda model: model.encoders,
    normalization=imagenet_normalization,
    input_multiple=lambda config: 2 ** int(config.get("depth", 4)),
    receptive_radius=_radius,
    description="the study's U-Net, trained from scratch",
)
