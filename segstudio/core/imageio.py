"""Reading the user's images: safely, consistently oriented, always RGB uint8.

Pillow reads the header first, so an image's size is known (and a
decompression bomb refused) before a single pixel is decoded. EXIF
orientation is applied here, once, so display, painting, saving and export
all see the same pixel grid. Paths go through Python file objects, so
non-ASCII names work on every OS. Images are only ever read.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP decodes to 150 MB of RGB; more needs opting in
PROJECT_DIR_NAME = ".segstudio"

# Pillow's own bomb check would raise mid-way; we check the header ourselves.
Image.MAX_IMAGE_PIXELS = None

_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An image that cannot be read; the message names the file and the reason."""


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, in natural order (img2 before img10)."""
    folder = Path(folder)
    found = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(found, key=_natural_key)


def _open(path: Path) -> Image.Image:
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path.name}: the file is empty (0 bytes)")
        return Image.open(path)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path.name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path.name}: not an image file, or a format SegStudio cannot read") from exc
    except OSError as exc:
        raise ImageReadError(f"{path.name}: cannot open ({exc})") from exc


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF applied), from the header only."""
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        return (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit int) grey: scale by the image's own range, so 12-bit
        # sensor data does not show as near-black.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        grey = arr.round().astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return np.repeat(arr.round().astype(np.uint8)[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent pixels are shown over black: the colour under a fully
        # transparent pixel is arbitrary and would mislead the annotator.
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        rgb = rgba[:, :, :3] * (rgba[:, :, 3:4] / 255.0)
        return rgb.round().astype(np.uint8)
    return np.array(img.convert("RGB"), dtype=np.uint8)


def _read_16bit_rgb(path: Path) -> np.ndarray | None:
    """Pillow has no 16-bit RGB mode; OpenCV decodes those PNG/TIFF files."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    arr = arr[:, :, :3][:, :, ::-1].astype(np.float64)  # BGR(A) -> RGB
    hi = float(arr.max())
    return (arr * (255.0 / hi)).round().astype(np.uint8) if hi > 0 else np.zeros(arr.shape, np.uint8)


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientations 2..8 as flips/rotations of the stored pixel grid
    # (the same mapping as PIL.ImageOps.exif_transpose).
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def read_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    downsample_over_limit: bool = False,
) -> np.ndarray:
    """Decodes an image as an RGB uint8 array, EXIF orientation applied.

    An image with more than ``max_pixels`` pixels (read from the header, before
    decoding) is refused, or with ``downsample_over_limit`` decoded at a
    reduced size that fits.
    """
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        orientation = _orientation(img)
        try:
            if w * h > max_pixels:
                if not downsample_over_limit:
                    raise ImageReadError(
                        f"{path.name}: {w}x{h} pixels is more than this app opens "
                        f"({max_pixels / 1e6:.0f} megapixels); downsample it first"
                    )
                factor = int(np.ceil(np.sqrt(w * h / max_pixels)))
                img.draft(img.mode, (w // factor, h // factor))  # JPEG: decode reduced
                img = img.reduce(factor) if img.size[0] * img.size[1] > max_pixels else img
            if img.mode in ("RGB", "RGBA") and getattr(img, "format", None) in ("PNG", "TIFF"):
                wide = _read_16bit_rgb(path) if img.info.get("bits", 8) == 16 or _is_16bit_png(path) else None
                if wide is not None:
                    return _apply_orientation(wide, orientation)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
            if img.mode == "CMYK":
                img = img.convert("RGB")
            rgb = _to_uint8_rgb(img)
        except ImageReadError:
            raise
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageReadError(f"{path.name}: the file is truncated or corrupt ({exc})") from exc
        except MemoryError as exc:
            raise ImageReadError(f"{path.name}: not enough memory to decode {w}x{h} pixels") from exc
    return _apply_orientation(rgb, orientation)


def _is_16bit_png(path: Path) -> bool:
    # PNG IHDR: 8-byte signature, 4 length, 4 'IHDR', 4 width, 4 height, 1 bit depth.
    try:
        with path.open("rb") as handle:
            head = handle.read(25)
        return head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16
    except OSError:
        return False


def thumbnail(path: str | Path, max_side: int = 96) -> np.ndarray:
    """A small RGB preview; JPEGs decode reduced (fast) via Pillow's draft mode."""
    path = Path(path)
    with _open(path) as img:
        orientation = _orientation(img)
        try:
            img.draft("RGB", (max_side * 2, max_side * 2))
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                rgb = _to_uint8_rgb(img)
                small = Image.fromarray(rgb)
            else:
                small = img.convert("RGBA" if "A" in img.mode else "RGB")
            small.thumbnail((max_side, max_side))
            rgb = _to_uint8_rgb(small)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageReadError(f"{path.name}: the file is truncated or corrupt ({exc})") from exc
    return _apply_orientation(rgb, orientation)


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "list_images",
    "read_image",
    "read_image_size",
    "thumbnail",
]
