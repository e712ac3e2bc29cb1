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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 2**self.depth)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = run_decoder(self.decoders, self.bottleneck(x), skips)
        return self.head(x)[..., :h, :w]
