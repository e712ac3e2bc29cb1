"""Copies of the user's images beside exported masks (the originals are only read).

A byte copy where possible. An image with an EXIF rotation is written
upright, because its masks are in the displayed (rotated) grid and a reader
that ignores EXIF would pair them with the stored grid. Layouts that demand
JPEG (Pascal VOC: ``JPEGImages/<id>.jpg``) get other images re-encoded at
quality 95 without chroma subsampling. Every write is atomic.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.atomic import atomic_write_bytes
from segstudio.core.imageio import read_image, read_orientation

_JPEG_SUFFIXES = {".jpg", ".jpeg"}


def _encode(image: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(image).save(buffer, "JPEG", quality=95, subsampling=0)
    else:
        Image.fromarray(image).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def export_image(image_path: Path, key: str, folder: Path, jpeg: bool = False) -> Path:
    """Writes the image named after ``key`` into ``folder``; returns the file written.

    The stem of the written file is always ``key``, so readers pair it with
    ``<key>.png`` masks.
    """
    upright = read_orientation(image_path) == 1
    suffix = image_path.suffix.lower()
    if jpeg:
        target = folder / f"{key}.jpg"
        data = image_path.read_bytes() if upright and suffix in _JPEG_SUFFIXES else _encode(read_image(image_path), "JPEG")
    elif not upright:
        target = folder / f"{key}.png"
        data = _encode(read_image(image_path), "PNG")
    else:
        target = folder / (image_path.name if key == image_path.stem else f"{key}{image_path.suffix}")
        data = image_path.read_bytes()
    atomic_write_bytes(target, data)
    return target


__all__ = ["export_image"]
