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
    """The bytes of a palette-mode PNG of ``mask`` with the label set's palette."""
    mask = _check_mask(mask)
    img = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    img.putpalette(labelset.palette())
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def encode_grey_png(array: np.ndarray) -> bytes:
    """An 8-bit single-channel PNG (e.g. a confidence map), fast compression."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_index_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    """Palette-mode PNG of class ids, written atomically."""
    atomic_write_bytes(Path(path), encode_index_png(mask, labelset))


def color_mask(mask: np.ndarray, labelset: LabelSet) -> np.ndarray:
    """H x W x 3 uint8 RGB image of the class colours."""
    return labelset.color_table()[_check_mask(mask)]


def encode_color_png(mask: np.ndarray, labelset: LabelSet) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(color_mask(mask, labelset))).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def write_color_png(path: str | Path, mask: np.ndarray, labelset: LabelSet) -> None:
    """RGB PNG of the class colours (label-set colours), written atomically."""
    atomic_write_bytes(Path(path), encode_color_png(mask, labelset))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A mask larger than this is refused from its header (Pillow's own bomb check
# is off, see core.imageio): 20000 x 20000 ids.
MAX_MASK_PIXELS = 400_000_000


def _png_bit_depth(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    return head[24] if len(head) >= 25 and head[:8] == _PNG_SIGNATURE else None


def _open(path: Path, shape: tuple[int, int] | None = None) -> Image.Image:
    """Opens and decodes a mask file after checking its header (size, depth)."""
    try:
        if path.stat().st_size == 0:
            raise MaskFormatError(f"{path.name}: the file is empty (0 bytes)")
        img = Image.open(path)
    except FileNotFoundError as exc:
        raise MaskFormatError(f"{path.name}: file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MaskFormatError(f"{path.name}: not a readable image ({exc})") from exc
    w, h = img.size
    if shape is not None and (h, w) != tuple(shape[:2]):
        raise MaskFormatError(
            f"{path.name}: the mask is {w}x{h} but the image is "
            f"{shape[1]}x{shape[0]} (width x height); masks are never resized silently"
        )
    if w * h > MAX_MASK_PIXELS:
        raise MaskFormatError(f"{path.name}: {w}x{h} pixels is too large for a mask")
    if _png_bit_depth(path) == 16 or img.mode.startswith("I;16"):
        raise MaskFormatError(
            f"{path.name}: a 16-bit image; masks are 8-bit (one class id 0..255 per pixel)"
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MaskFormatError(f"{path.name}: truncated or corrupt ({exc})") from exc
    return img


def open_mask_file(path: str | Path, shape: tuple[int, int] | None = None) -> Image.Image:
    """The decoded mask file after the header checks (size, depth, bomb); for
    readers of other layouts (``core.formats``) that decide ids themselves."""
    return _open(Path(path), shape)


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


def _index_from(path: Path, img: Image.Image, num_classes: int, shape) -> np.ndarray:
    if img.mode in ("P", "L"):
        mask = np.array(img, dtype=np.uint8)  # for 'P': the indices, not the colours
    elif img.mode == "1":
        mask = np.array(img, dtype=np.uint8)  # a bilevel PNG: ids 0 and 1
    elif img.mode in ("I", "F") or img.mode.startswith("I;"):
        raise MaskFormatError(
            f"{path.name}: a 16/32-bit image where an 8-bit index mask is expected"
        )
    elif img.mode in ("RGB", "RGBA"):
        raise MaskFormatError(
            f"{path.name}: an RGB image where an index mask is expected; "
            "import it as a colour mask instead"
        )
    else:
        raise MaskFormatError(f"{path.name}: image mode {img.mode} is not an index mask")
    _check_shape(path, mask, shape)
    _check_ids(path, mask, num_classes)
    return np.ascontiguousarray(mask)


def read_index_png(
    path: str | Path, labels: LabelSet | int, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Class ids from an 8-bit grey or palette PNG (palette indices, not colours).

    ``labels`` is the label set (or just the number of classes); every id must
    be below it. ``shape`` (H, W), when given, must match exactly.
    """
    path = Path(path)
    return _index_from(path, _open(path, shape), _num_classes(labels), shape)


def _ids_from_colors(path: Path, rgb: np.ndarray, labelset: LabelSet) -> np.ndarray:
    codes = (rgb[:, :, 0].astype(np.int32) << 16) | (rgb[:, :, 1].astype(np.int32) << 8) | rgb[:, :, 2]
    uniq, inverse, counts = np.unique(codes.ravel(), return_inverse=True, return_counts=True)
    lookup = {((r << 16) | (g << 8) | b): i for i, (r, g, b) in enumerate(labelset.colors)}
    ids = np.array([lookup.get(int(c), -1) for c in uniq], dtype=np.int32)
    unknown = np.flatnonzero(ids < 0)
    if unknown.size:
        order = unknown[np.argsort(-counts[unknown], kind="stable")]  # most frequent first
        listed = ", ".join(
            f"({uniq[i] >> 16}, {(uniq[i] >> 8) & 255}, {uniq[i] & 255}): {counts[i]} px"
            for i in order[:5]
        )
        more = f" and {unknown.size - 5} more" if unknown.size > 5 else ""
        raise MaskFormatError(
            f"{path.name}: {unknown.size} colour(s) not in the label set "
            f"'{labelset.name}': {listed}{more}"
        )
    return ids[inverse].reshape(codes.shape).astype(np.uint8)


def read_color_png(
    path: str | Path, labelset: LabelSet, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Class ids from a colour PNG; an unknown colour is reported, never guessed.

    The error lists up to five unknown colours (most frequent first) with
    their pixel counts. Alpha, if any, is ignored.
    """
    path = Path(path)
    img = _open(path, shape)
    if img.mode not in ("RGB", "RGBA", "P"):
        raise MaskFormatError(f"{path.name}: image mode {img.mode} is not a colour mask")
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    _check_shape(path, rgb, shape)
    return _ids_from_colors(path, rgb, labelset)


def _palette_is_label_colors(img: Image.Image, used: np.ndarray, labelset: LabelSet) -> bool | None:
    """For a palette PNG: True when the used entries are the label set's colours
    at their own ids (an index mask), False when they are label-set colours at
    other positions (a colour mask saved palette-mode), None otherwise."""
    palette = img.getpalette() or []
    table = np.zeros((256, 3), np.int32)
    entries = np.asarray(palette[: 768], np.int32).reshape(-1, 3)
    table[: len(entries)] = entries
    if all(tuple(table[i]) == (i, i, i) for i in used):
        return None  # a grey ramp: plainly indices
    colors = {tuple(c): i for i, c in enumerate(labelset.colors)}
    at_own_id = all(
        i < labelset.num_classes and tuple(table[i]) == tuple(labelset.colors[i]) for i in used
    )
    if at_own_id:
        return True
    if all(tuple(int(v) for v in table[i]) in colors for i in used):
        return False
    return None


def read_label_map(
    path: str | Path, labelset: LabelSet, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Reads an index (grey or palette) or a colour PNG, whichever the file is.

    * grey ('L'): the values are the ids;
    * palette ('P'): the indices are the ids, unless every colour used is a
      label-set colour but stored at another index (a colour mask saved
      palette-mode by some tool): then the colours decide;
    * RGB/RGBA: a colour mask, mapped colour -> id exactly.
    Wrong size, bad ids, unknown colours and 16-bit files raise MaskFormatError.
    """
    path = Path(path)
    img = _open(path, shape)
    if img.mode in ("RGB", "RGBA"):
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
        _check_shape(path, rgb, shape)
        return _ids_from_colors(path, rgb, labelset)
    if img.mode == "P" and "transparency" not in img.info:
        indices = np.asarray(img, dtype=np.uint8)
        used = np.flatnonzero(np.bincount(indices.ravel(), minlength=256))
        if _palette_is_label_colors(img, used, labelset) is False:
            _check_shape(path, indices, shape)
            return _ids_from_colors(path, np.asarray(img.convert("RGB"), np.uint8), labelset)
    return _index_from(path, img, labelset.num_classes, shape)
