"""Mask files: index PNGs (palette embedded) and colour PNGs, read strictly.

An index PNG stores the class id of each pixel; it is written palette-mode
('P') with the label set's colours embedded, so any image viewer shows it in
colour while tools read ids. A colour PNG stores each class's colour; reading
one maps colours to ids exactly. Nothing is silently resized or remapped: a
wrong size, an unknown id or colour, or the wrong kind of file is a
``MaskFormatError`` naming the file and the problem.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segstudio.core.atomic import atomic_write_bytes
from segstudio.core.labels import LabelSet


class MaskFormatError(ValueError):
    """A mask file that cannot be used as it is."""


def _num_classes(labels: LabelSet | int) -> int:
    return labels if isinstance(labels, int) else labels.num_classes


def _check_mask(mask: np.ndarray) -> np.ndarray:
    if mask.ndim != 2:
        raise MaskFormatError(f"a mask is one id per pixel (H x W), got shape {mask.shape}")
    if mask.dtype != np.uint8:
        if mask.size and (mask.min() < 0 or mask.max() > 255):
            raise MaskFormatError("mask ids must be in 0..255")
        mask = mask.astype(np.uint8)
    return np.ascontiguousarray(mask)


def encode_index_png(mask: np.ndarray, labelset: LabelSet) -> bytes:
    mask = _check_mask(mask)
    img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    img.putpalette(labelset.palette())
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def write_index_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    """Palette-mode PNG of class ids, written atomically."""
    atomic_write_bytes(Path(path), encode_index_png(mask, labelset))


def color_mask(mask: np.ndarray, labelset: LabelSet) -> np.ndarray:
    """H x W x 3 uint8 RGB image of the class colours."""
    return labelset.color_table()[_check_mask(mask)]


def write_color_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    buffer = io.BytesIO()
    Image.fromarray(color_mask(mask, labelset), mode="RGB").save(buffer, format="PNG", compress_level=1)
    atomic_write_bytes(Path(path), buffer.getvalue())


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError as exc:
        raise MaskFormatError(f"{path.name}: file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MaskFormatError(f"{path.name}: not a readable image ({exc})") from exc


def _check_shape(path: Path, mask: np.ndarray, shape: tuple[int, int] | None) -> None:
    if shape is not None and tuple(mask.shape[:2]) != tuple(shape[:2]):
        raise MaskFormatError(
            f"{path.name}: the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{shape[1]}x{shape[0]} (width x height); masks are never resized silently"
        )


def _check_ids(path: Path, mask: np.ndarray, num_classes: int) -> None:
    counts = np.bincount(mask.ravel(), minlength=256)
    bad = np.flatnonzero(counts[num_classes:]) + num_classes
    if bad.size:
        listed = ", ".join(f"{i} ({counts[i]} px)" for i in bad[:5])
        raise MaskFormatError(
            f"{path.name}: class ids outside 0..{num_classes - 1}: {listed}"
        )


def read_index_png(path: str | Path, labels: LabelSet | int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Class ids from an 8-bit grey or palette PNG (palette indices, not colours)."""
    path = Path(path)
    img = _open(path)
    if img.mode == "P":
        mask = np.array(img, dtype=np.uint8)
    elif img.mode == "L":
        mask = np.array(img, dtype=np.uint8)
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        raise MaskFormatError(f"{path.name}: a 16-bit image where an 8-bit index mask is expected")
    elif img.mode in ("RGB", "RGBA"):
        raise MaskFormatError(
            f"{path.name}: an RGB image where an index mask is expected; "
            "import it as a colour mask instead"
        )
    else:
        raise MaskFormatError(f"{path.name}: image mode {img.mode} is not an index mask")
    _check_shape(path, mask, shape)
    _check_ids(path, mask, _num_classes(labels))
    return np.ascontiguousarray(mask)


def read_color_png(path: str | Path, labelset: LabelSet, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Class ids from a colour PNG; an unknown colour is reported, never guessed."""
    path = Path(path)
    img = _open(path)
    if img.mode not in ("RGB", "RGBA", "P"):
        raise MaskFormatError(f"{path.name}: image mode {img.mode} is not a colour mask")
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    _check_shape(path, rgb, shape)
    codes = (rgb[:, :, 0].astype(np.int32) << 16) | (rgb[:, :, 1].astype(np.int32) << 8) | rgb[:, :, 2]
    uniq, inverse, counts = np.unique(codes.ravel(), return_inverse=True, return_counts=True)
    lookup = {((r << 16) | (g << 8) | b): i for i, (r, g, b) in enumerate(labelset.colors)}
    ids = np.array([lookup.get(int(c), -1) for c in uniq], dtype=np.int32)
    unknown = np.flatnonzero(ids < 0)
    if unknown.size:
        listed = ", ".join(
            f"({uniq[i] >> 16}, {(uniq[i] >> 8) & 255}, {uniq[i] & 255}): {counts[i]} px" for i in unknown[:5]
        )
        raise MaskFormatError(
            f"{path.name}: {unknown.size} colour(s) not in the label set '{labelset.name}': {listed}"
        )
    return ids[inverse].reshape(codes.shape).astype(np.uint8)


def read_label_map(path: str | Path, labelset: LabelSet, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Reads an index (grey or palette) or a colour PNG, whichever the file is."""
    path = Path(path)
    img = _open(path)
    if img.mode in ("RGB", "RGBA"):
        return read_color_png(path, labelset, shape)
    return read_index_png(path, labelset, shape)
