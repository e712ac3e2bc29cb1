"""Reading the user's images: safely, consistently oriented, always RGB uint8.

Choices, stated once:

* **Header first.** Pillow's ``Image.open`` reads only the header, so an
  image's size is known (and an oversized image refused) before a single
  pixel is decoded. Pillow's own decompression-bomb limit is switched off
  (``Image.MAX_IMAGE_PIXELS = None``) because every decode here is checked
  against ``max_pixels`` first; a PNG's EXIF block is read without decoding
  (Pillow's ``PngImageFile.getexif`` would decode the whole image).
* **Too large.** More than ``max_pixels`` (default 50 MP) is refused with a
  message, or with ``downsample_over_limit=True`` decoded reduced: JPEG via
  ``Image.draft`` (the decoder scales by 1/2..1/8, the full image is never in
  memory), other formats by decoding and ``Image.reduce``; a decode larger
  than ``HARD_MAX_PIXELS`` is refused whatever the option, so a file whose
  header claims 100000 x 100000 can never exhaust memory.
* **EXIF orientation** 2..8 is applied here, once (the same mapping as
  ``PIL.ImageOps.exif_transpose``), so display, painting, saving and export
  all see the same pixel grid; ``read_image_size`` swaps width and height for
  orientations 5..8.
* **16-bit** (grey, RGB, RGBA; PNG or TIFF) is scaled to 8 bits by the
  image's own range: ``(v - min) * 255 / (max - min)`` over all channels
  together (keeps the colour balance). 12-bit sensor data stored in 16 bits
  would look black if scaled by 65535; a stretched range looks sensible. A
  constant image is scaled by 65535. Pillow silently truncates 16-bit RGB, so
  those files are decoded with OpenCV.
* **Transparency** (RGBA, LA, palette with transparency) is composited on
  black: the colour under a fully transparent pixel is arbitrary and would
  mislead the annotator.
* **Grey, palette, CMYK (incl. Adobe inverted CMYK JPEGs), YCbCr** convert to
  RGB through Pillow.
* **Paths** go through Python file objects (Pillow) or ``np.fromfile``
  (OpenCV), so non-ASCII file and folder names work on every OS.
* **Errors**: an empty, truncated, unreadable or not-an-image file raises
  ``ImageReadError`` naming the file and the reason. Images are only ever read.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 50_000_000  # 50 MP decodes to 150 MB of RGB; more needs opting in
# No decode (even a downsampling one) may hold more pixels than this at once:
# 20000 x 20000 = 1.2 GB of RGB. JPEGs decode reduced and stay far below it.
HARD_MAX_PIXELS = 400_000_000
PROJECT_DIR_NAME = ".segstudio"

# Pillow's own bomb check would raise or warn mid-way; we check the header ourselves.
Image.MAX_IMAGE_PIXELS = None

_EXIF_ORIENTATION = 0x0112
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageReadError(ValueError):
    """An image that cannot be read; the message names the file and the reason."""


def _natural_key(path: Path) -> tuple:
    parts = [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]
    return (parts, path.name)  # the exact name breaks ties (a.PNG vs a.png)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder`` (not recursive), in natural order
    (img2 before img10); hidden files and the ``.segstudio`` folder are skipped."""
    folder = Path(folder)
    found = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            if p.is_file():
                found.append(p)
        except OSError:  # a broken link or unreadable entry: not an image we can show
            continue
    return sorted(found, key=_natural_key)


def _open(path: Path) -> Image.Image:
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path.name}: the file is empty (0 bytes)")
        return Image.open(path)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path.name}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            f"{path.name}: not an image file, or a format SegStudio cannot read"
        ) from exc
    except PermissionError as exc:
        raise ImageReadError(f"{path.name}: permission denied") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path.name}: cannot open ({exc})") from exc


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation, read from the header only (never decodes pixels)."""
    try:
        # The base class reads info["exif"] (and PNG's text-chunk variant);
        # PngImageFile.getexif would decode the whole image to look after IDAT.
        exif = Image.Image.getexif(img)
        value = int(exif.get(_EXIF_ORIENTATION, 1))
        return value if 1 <= value <= 8 else 1
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1


def read_orientation(path: str | Path) -> int:
    """The EXIF orientation (1..8; 1 = as stored), from the header only."""
    with _open(Path(path)) as img:
        return _orientation(img)


def read_image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) as displayed (EXIF applied), from the header only."""
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        return (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)


def _scale16(arr: np.ndarray) -> np.ndarray:
    """16-bit (or wider) values to uint8 by the image's own range (see module doc)."""
    arr = arr.astype(np.float32)
    if arr.size == 0:
        return np.zeros(arr.shape, np.uint8)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if hi > lo:
        out = (arr - lo) * (255.0 / (hi - lo))
    else:
        out = arr * (255.0 / 65535.0)
    return np.clip(np.nan_to_num(out), 0, 255).round().astype(np.uint8)


def _composite_on_black(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = rgb.astype(np.float32) * (alpha.astype(np.float32)[:, :, None] / 255.0)
    return out.round().astype(np.uint8)


def _to_uint8_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        grey = _scale16(np.asarray(img))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info
    ):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        return _composite_on_black(rgba[:, :, :3], rgba[:, :, 3])
    return np.array(img.convert("RGB"), dtype=np.uint8)


def _is_wide_color(img: Image.Image, path: Path) -> bool:
    """True for 16-bit RGB(A) PNG/TIFF files, which Pillow would truncate to 8 bits."""
    if img.mode not in ("RGB", "RGBA"):
        return False
    if img.format == "PNG":
        try:
            with path.open("rb") as handle:
                head = handle.read(26)
            return head[:8] == _PNG_SIGNATURE and head[24] == 16
        except OSError:
            return False
    if img.format == "TIFF":
        bits = getattr(img, "tag_v2", {}).get(258)
        if isinstance(bits, (tuple, list)):
            return any(int(b) > 8 for b in bits)
        return bits is not None and int(bits) > 8
    return False


def _read_wide_color(path: Path) -> np.ndarray | None:
    """16-bit RGB(A) via OpenCV (stored orientation: EXIF is applied by the caller)."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)  # non-ASCII paths: no cv2.imread
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        return None
    rgb = _scale16(arr[:, :, 2::-1])  # BGR(A) -> RGB
    if arr.shape[2] == 4:
        alpha = (arr[:, :, 3].astype(np.float32) * (255.0 / np.iinfo(arr.dtype).max)).round()
        rgb = _composite_on_black(rgb, alpha.astype(np.uint8))
    return rgb


_ORIENT_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixel grid turned as EXIF ``orientation`` (1..8) says."""
    op = _ORIENT_OPS.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def _decode_error(path: Path, exc: BaseException) -> ImageReadError:
    if isinstance(exc, MemoryError):
        return ImageReadError(f"{path.name}: not enough memory to decode it")
    if isinstance(exc, (OSError, SyntaxError, EOFError)):
        return ImageReadError(f"{path.name}: the file is truncated or corrupt ({exc})")
    return ImageReadError(f"{path.name}: cannot decode ({exc})")


def _load(img: Image.Image) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img.load()


def read_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    downsample_over_limit: bool = False,
    info: dict | None = None,
) -> np.ndarray:
    """Decodes an image as an RGB uint8 ``(H, W, 3)`` array, EXIF orientation applied.

    An image with more than ``max_pixels`` pixels (read from the header, before
    decoding) is refused with ``ImageReadError``, or with
    ``downsample_over_limit`` decoded at a reduced size that fits. When
    ``info`` is a dict it receives ``original_size`` (w, h as stored),
    ``orientation`` and ``downsampled`` (the factor, 1 when full size).
    """
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        orientation = _orientation(img)
        factor = 1
        if info is not None:
            info.update(original_size=(w, h), orientation=orientation, downsampled=1)
        try:
            if w * h > max_pixels:
                if not downsample_over_limit:
                    raise ImageReadError(
                        f"{path.name}: {w}x{h} pixels is more than SegStudio opens "
                        f"({max_pixels / 1e6:.0f} megapixels); downsample it first"
                    )
                factor = int(np.ceil(np.sqrt(w * h / max_pixels)))
                img.draft(img.mode, (max(1, w // factor), max(1, h // factor)))  # JPEG only
                dw, dh = img.size
                if dw * dh > HARD_MAX_PIXELS:
                    raise ImageReadError(
                        f"{path.name}: {w}x{h} pixels is too large to open, even downsampled "
                        f"(more than {HARD_MAX_PIXELS / 1e6:.0f} megapixels to decode)"
                    )
            if _is_wide_color(img, path) and factor == 1:
                wide = _read_wide_color(path)
                if wide is not None:
                    return apply_orientation(wide, orientation)
            _load(img)
            if img.size[0] * img.size[1] > max_pixels:
                step = int(np.ceil(np.sqrt(img.size[0] * img.size[1] / max_pixels)))
                img = img.reduce(step)
            if info is not None:
                info["downsampled"] = round(w / img.size[0], 3) if img.size[0] else 1
            rgb = _to_uint8_rgb(img)
        except ImageReadError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise _decode_error(path, exc) from exc
    return apply_orientation(rgb, orientation)


def thumbnail(path: str | Path, max_side: int = 96, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A small RGB preview (longest side ``max_side``), EXIF applied.

    JPEGs decode reduced (fast) via Pillow's draft mode; other formats are
    decoded in full, so one larger than ``max_pixels`` is refused (the image
    itself would be refused by ``read_image`` too).
    """
    path = Path(path)
    with _open(path) as img:
        orientation = _orientation(img)
        w, h = img.size
        try:
            img.draft("RGB", (max_side * 2, max_side * 2))
            if img.size[0] * img.size[1] > max(max_pixels, 1):
                raise ImageReadError(
                    f"{path.name}: {w}x{h} pixels is more than SegStudio opens "
                    f"({max_pixels / 1e6:.0f} megapixels)"
                )
            if _is_wide_color(img, path):
                rgb = _read_wide_color(path)
                if rgb is None:
                    raise ImageReadError(f"{path.name}: cannot decode 16-bit colour")
                small = Image.fromarray(rgb)
            else:
                _load(img)
                if img.mode.startswith("I") or img.mode == "F":
                    small = Image.fromarray(_to_uint8_rgb(img))
                else:
                    small = img if img.mode != "P" else img.convert("RGBA")
            small.thumbnail((max_side, max_side))
            rgb = _to_uint8_rgb(small)
        except ImageReadError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
            raise _decode_error(path, exc) from exc
    return apply_orientation(rgb, orientation)


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "HARD_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageReadError",
    "PROJECT_DIR_NAME",
    "apply_orientation",
    "list_images",
    "read_image",
    "read_image_size",
    "thumbnail",
]
