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

# VGG16's five stages at strides 1, 2, 4, 8, 16: convolutions per stage.
_VGG16_CONVS_PER_STAGE = (2, 2, 3, 3, 3)


def input_multiple(config: dict) -> int | None:
    """What the network pads H and W to (``2**depth``); ``None`` for a model not from the registry."""
    arch = config.get("arch")
    if arch == "unet":
        return 2 ** int(config.get("depth", 4))
    if arch == "vgg16_unet":
        return 32
    return None


def receptive_radius(config: dict) -> int | None:
    """Pixels one output pixel's logits reach out to on each side; ``None`` when unknown."""
    arch = config.get("arch")
    bilinear = config.get("upsample", "transpose") == "bilinear"
    if arch == "unet":
        strides = [2**level for level in range(int(config.get("depth", 4)))]
        encoder = sum(2 * s for s in strides)
        bottleneck = 2 * (2 * strides[-1])  # two convolutions below the last pool
    elif arch == "vgg16_unet":
        strides = [2**level for level in range(len(_VGG16_CONVS_PER_STAGE))]
        encoder = sum(n * s for n, s in zip(_VGG16_CONVS_PER_STAGE, strides))
        bottleneck = 2 * (2 * strides[-1])
    else:
        return None
    pools = sum(strides)
    decoder = sum(2 * s for s in strides)
    upsampling = sum(2 * s for s in strides) if bilinear else 0
    return encoder + pools + bottleneck + decoder + upsampling


__all__ = ["input_multiple", "receptive_radius"]
