"""How far a registry network looks: what tiled inference must crop to equal whole-image inference.

A tile's logits differ from the whole image's only where the tile's own
border changed the input the network saw: the zero padding of every 3x3
convolution at the tile's edge, and the max-pool/up-convolution grid if the
tile does not start on it. So a tile is exact
- at least ``receptive_radius`` pixels inside each edge it shares with a
  neighbour (an edge on the image border sees the same padding as the whole
  image), and
- when it starts at a multiple of ``input_multiple`` (the ``2**depth`` the
  network pads its input to), so its pooling grid is the whole image's.

The radius, in input pixels, counts along the deepest path (every level of the
U-Net down to the bottleneck and back): a 3x3 convolution at stride ``s``
adds ``s``; a 2x2 max-pool at stride ``s`` adds ``s`` (to one side); a 2x2
stride-2 transposed convolution adds nothing (each output pixel has one
input); bilinear x2 upsampling adds ``s`` at the finer stride and is followed
by one more 3x3 convolution (another ``s``). For the default ``unet`` (depth
4, transposed) that is 107 pixels; VGG16-U-Net: 247 (309 bilinear).
``tests/ml/test_receptive_field.py`` checks these sums against a probe that
pushes one pixel through the network with every weight made positive.
"""

from __future__ import annotations

from segstudio.ml.models.registry import ARCHITECTURES


def input_multiple(config: dict) -> int | None:
    """What the network pads H and W to; ``None`` for a configuration of no registered architecture."""
    arch = ARCHITECTURES.get(config.get("arch"))
    return None if arch is None else int(arch.input_multiple(config))


def receptive_radius(config: dict) -> int | None:
    """Pixels one output pixel's logits reach out to on each side; ``None`` for no registered architecture.

    Each architecture declares it (``models/contract.py``): summed by hand for
    the U-Nets (the rule above), bounded by a walk over the layers for
    EfficientNet-Lite (``models/radius.py``).
    """
    arch = ARCHITECTURES.get(config.get("arch"))
    return None if arch is None else int(arch.receptive_radius(config))


__all__ = ["input_multiple", "receptive_radius"]
