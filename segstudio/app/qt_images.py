"""numpy <-> QImage without copies where Qt allows, and without dangling buffers.

A QImage made from a numpy buffer does not own it; ``NumpyQImage`` keeps the
array referenced for the image's life, so the buffer can be updated in place
(a brush stroke changes a rect of the array, then the item repaints that rect).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from segstudio.core.labels import LabelSet


class NumpyQImage:
    """A QImage view of an H x W x 4 (RGBA) or H x W x 3 (RGB) uint8 array."""

    def __init__(self, array: np.ndarray) -> None:
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] not in (3, 4):
            raise ValueError(f"expected HxWx3 or HxWx4 uint8, got {array.shape} {array.dtype}")
        self.array = np.ascontiguousarray(array)
        h, w, c = self.array.shape
        fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
        self.image = QImage(self.array.data, w, h, self.array.strides[0], fmt)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """An independent QImage (copied): safe to keep after the array is gone."""
    return NumpyQImage(rgb).image.copy()


def mask_color_lut(labelset: LabelSet, opacity: float, hidden: frozenset[int] = frozenset()) -> np.ndarray:
    """256 x 4 RGBA lookup: class colour with alpha = opacity; hidden ids transparent."""
    lut = np.zeros((256, 4), np.uint8)
    lut[:, :3] = labelset.color_table()
    lut[:, 3] = int(round(255 * max(0.0, min(1.0, opacity))))
    for cid in hidden:
        lut[cid, 3] = 0
    return lut
