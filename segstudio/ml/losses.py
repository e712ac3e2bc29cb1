"""Training losses: cross-entropy and its online-hard-example-mining variant."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "ohem")


class OhemCrossEntropy(nn.Module):
    """Cross-entropy over the hard pixels only (OHEM, as PSPNet's and HRNet's recipes use it).

    A pixel is hard when the model gives its true class a probability below
    ``threshold``; at least ``min_kept`` of the valid pixels (a fraction) are
    always kept, the hardest first, so that a model that is already right
    almost everywhere still learns from its worst pixels. Easy pixels of the
    frequent classes (road, sky) then stop drowning the rare ones.
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
        threshold: float = 0.7,
        min_kept: float = 1 / 16,
    ) -> None:
        super().__init__()
        if not 0.0 < threshold <= 1.0 or not 0.0 < min_kept <= 1.0:
            raise ValueError("OHEM threshold and min_kept are fractions in (0, 1]")
        self.register_buffer("weight", weight if weight is None else weight.float(), persistent=False)
        self.ignore_index = ignore_index
        self.loss_cut = -math.log(threshold)  # probability below threshold <=> loss above this
        self.min_kept = min_kept

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pixel = F.cross_entropy(logits, target, weight=self.weight, ignore_index=self.ignore_index,
                                reduction="none").reshape(-1)
        pixel = pixel[target.reshape(-1) != self.ignore_index]
        if pixel.numel() == 0:
            return logits.sum() * 0.0  # no labelled pixel: a zero that still has a graph
        keep = max(1, int(self.min_kept * pixel.numel()))
        kth_hardest = torch.topk(pixel, keep, sorted=False).values.min()
        cut = torch.minimum(kth_hardest, pixel.new_tensor(self.loss_cut))
        return pixel[pixel >= cut].mean()


def build_criterion(name: str, weight: torch.Tensor | None, ignore_index: int | None) -> nn.Module:
    """``ce`` (plain, optionally class-weighted cross-entropy) or ``ohem``."""
    ignore = ignore_index if ignore_index is not None else -100
    if name == "ce":
        return nn.CrossEntropyLoss(weight=weight, ignore_index=ignore)
    if name == "ohem":
        return OhemCrossEntropy(weight=weight, ignore_index=ignore)
    raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
