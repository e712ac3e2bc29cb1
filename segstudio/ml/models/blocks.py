"""Building blocks shared by the U-Net variants: conv blocks, the decoder, padding.

The decoder is the study's expanding path: at each level upsample (2x2
transposed convolution, or bilinear interpolation + 3x3 convolution), concatenate
the encoder's skip feature map, then two 3x3 convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

UPSAMPLE_MODES = ("transpose", "bilinear")


def double_conv(in_ch: int, out_ch: int, batch_norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """Two 3x3 convolutions, each + (BatchNorm) + ReLU; Dropout2d after them if ``dropout``."""
    layers: list[nn.Module] = []
    for i in range(2):
        # A bias before BatchNorm is cancelled by its mean subtraction.
        layers.append(nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
    if dropout > 0:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class UpBlock(nn.Module):
    """Upsample x2, concatenate the skip connection, two 3x3 convolutions."""

    def __init__(
        self, in_ch: int, skip_ch: int, out_ch: int, *, batch_norm: bool, dropout: float, upsample: str
    ) -> None:
        super().__init__()
        if upsample == "transpose":
            self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        elif upsample == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_ch, out_ch, 3, padding=1),
            )
        else:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLE_MODES)}; got {upsample!r}")
        self.conv = double_conv(out_ch + skip_ch, out_ch, batch_norm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], dim=1))


def decoder_blocks(
    in_channels: int, skip_channels: Sequence[int], *, batch_norm: bool, dropout: float, upsample: str
) -> nn.ModuleList:
    """The expanding path: one ``UpBlock`` per skip, deepest first.

    ``skip_channels`` lists the encoder's skip widths from the shallowest
    (stride 1) to the deepest; ``in_channels`` is the bottleneck's width. Each
    block's output width is its skip's width. Use with ``run_decoder``.
    """
    blocks = []
    ch = in_channels
    for skip in reversed(skip_channels):
        blocks.append(UpBlock(ch, skip, skip, batch_norm=batch_norm, dropout=dropout, upsample=upsample))
        ch = skip
    return nn.ModuleList(blocks)


def run_decoder(blocks: nn.ModuleList, x: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
    """Climbs ``decoder_blocks`` from the bottleneck output ``x`` through the skips (shallowest first)."""
    for block, skip in zip(blocks, reversed(skips)):
        x = block(x, skip)
    return x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads H and W at the bottom/right so both divide by ``multiple``; returns the old (H, W).

    Reflection keeps the border statistics natural (zero padding would show
    the network a black frame it never saw in training); it needs the pad to be
    smaller than the side, so tiny inputs fall back to replicate.
    """
    h, w = x.shape[-2:]
    pad_h = (-h) % multiple
    pad_w = (-w) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (h, w)


def init_weights(module: nn.Module) -> None:
    """He (kaiming) initialisation for every convolution; BatchNorm to identity."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
