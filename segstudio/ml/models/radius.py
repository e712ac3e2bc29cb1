"""An upper bound on a network's receptive radius, from a walk over its layers.

For architectures whose radius is tedious to sum by hand (EfficientNet's
dozens of depthwise convolutions), one forward pass with hooks records each
spatial layer's kernel and the stride of its input, and the reaches are
added up over *every* layer. Any path through the network (skips included)
passes a subset of those layers, so the sum bounds the deepest path's reach:
tiles cropped by it are exact, only a little larger than they need to be.

Per layer, at an input stride ``s`` (input pixels per feature pixel):
- a stride-1 convolution of effective size ``k`` reaches ``(k - 1) // 2 * s``;
- a strided convolution or pooling may be padded on one side only (TF's
  "SAME"), so it counts ``(k - 1) * s``;
- a bilinear upsampling reaches one coarse pixel, ``s``;
and one deepest stride is added for the position of a pixel inside its cell.
``tests/ml/test_tiling.py`` checks that tiles equal the whole image for every
registered architecture.
"""

from __future__ import annotations

import torch
from torch import nn


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def conservative_radius(model: nn.Module, multiple: int) -> int:
    """The summed reach of every spatial layer of ``model`` in input pixels (see the module docstring)."""
    side = multiple * 4
    reach = [0]
    deepest = [1]

    def hook(module, inputs, _output):
        x = inputs[0]
        stride_in = side // x.shape[-1]
        deepest[0] = max(deepest[0], stride_in)
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k = max(_pair(module.kernel_size))
            d = max(_pair(getattr(module, "dilation", 1)))
            s = max(_pair(module.stride))
            k_eff = (k - 1) * d + 1
            reach[0] += (k_eff - 1) * stride_in if s > 1 else (k_eff - 1) // 2 * stride_in
        elif isinstance(module, nn.Upsample):
            reach[0] += stride_in

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Upsample))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, side, side))
    finally:
        for h in handles:
            h.remove()
    return reach[0] + deepest[0]


__all__ = ["conservative_radius"]
