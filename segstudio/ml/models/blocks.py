"""Building blocks shared by the U-Net variants: conv blocks, the decoder, padding.

The decoder is the study's expanding path: at each level upsample (2x2
transposed convolution, or bilinear interpolation + 3x3 convolution), concatenate
the encoder's skip feature map, then two 3x3 convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

UPSAMPLE_MODES = ("transpose", "bilinear")


def double_conv(in_ch: int, out_ch: int, batch_norm: bool, dropout: float = 0.0) -> nn.Sequential:
    """Two 3x3 convolutions + ReLU (+ BatchNorm), optional Dropout2d after them."""
    layers: list[nn.Module] = []
    for i in range(2):
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
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        self.conv = double_conv(out_ch + skip_ch, out_ch, batch_norm, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.conv(torch.cat([x, skip], dim=1))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pads H and W at the bottom/right so both divide by ``multiple``.

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
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
