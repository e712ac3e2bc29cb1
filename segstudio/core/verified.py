"""Verified pixels: which pixels of a mask a person has confirmed.

A pixel is verified when a tool painted, filled or erased it, or when its
image was marked reviewed. Retraining learns from verified pixels only (the
rest are the model's own guesses), and auto-segment never overwrites them.

In memory a verified mask is a ``bool`` array of the mask's shape. On disk it
is ``.segstudio/verified/<key>.png``: a 1-bit PNG (lossless, ~1/8 of a byte
per pixel before compression), written atomically. No file means "nothing
verified" -- except for a mask saved before verified pixels existed, which
``load_verified`` cannot know about; ``legacy_verified`` gives the rule the
app applies to those (edited or reviewed -> all verified).

For the editor: ``as_paintable(verified)`` is a ``uint8`` view of the same
memory, so every ``core.paint`` function marks its own footprint with class
id 1 (``paint_segment(as_paintable(v), p0, p1, radius, 1)``), and
``UndoHistory.begin(mask, verified)`` puts the mask's and the verified
mask's patches into the same undo step.
"""

from __future__ import annotations

import errno
import io
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.atomic import SaveError, atomic_write_bytes
from segstudio.core.paint import Rect, clip_rect

VERIFIED_DIR = "verified"


class VerifiedFormatError(ValueError):
    """A verified-pixels file that cannot be used; the message names the file."""


def verified_path(project, key: str) -> Path:
    return project.dir / VERIFIED_DIR / f"{key}.png"


def encode_verified_png(verified: np.ndarray) -> bytes:
    """A 1-bit PNG of a bool H x W array."""
    verified = np.asarray(verified)
    if verified.ndim != 2:
        raise ValueError(f"a verified mask must be H x W, got shape {verified.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(verified, dtype=bool)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def read_verified_png(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A bool H x W array from a verified-pixels PNG; ``VerifiedFormatError`` when unusable."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode not in ("1", "L", "P"):
                raise VerifiedFormatError(f"{path.name}: expected a 1-bit PNG, found mode {image.mode}")
            array = np.array(image.convert("L")) > 0
    except (OSError, SyntaxError) as exc:
        raise VerifiedFormatError(f"{path.name}: unreadable ({exc})") from exc
    if shape is not None and array.shape != tuple(shape):
        raise VerifiedFormatError(
            f"{path.name}: verified pixels are {array.shape[1]}x{array.shape[0]} "
            f"but the image is {shape[1]}x{shape[0]}"
        )
    return array


def load_verified(project, key: str, shape: tuple[int, int]) -> np.ndarray:
    """The key's verified pixels (all False when none were saved)."""
    path = verified_path(project, key)
    if not path.exists():
        return np.zeros(shape, bool)
    return read_verified_png(path, shape)


def has_verified(project, key: str) -> bool:
    return verified_path(project, key).exists()


def save_verified(project, key: str, verified: np.ndarray, encoded: bytes | None = None) -> None:
    """Writes the key's verified pixels atomically; ``SaveError`` on failure (read-only folder too).

    ``encoded`` is ``encode_verified_png(verified)`` already made on a worker thread.
    """
    path = verified_path(project, key)
    if not getattr(project, "writable", True):
        raise SaveError(errno.EROFS, f"cannot save {path}: the folder is read-only")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, encoded if encoded is not None else encode_verified_png(verified))


def delete_verified(project, key: str) -> None:
    try:
        verified_path(project, key).unlink()
    except FileNotFoundError:
        pass


def store_verified(project, key: str, verified: np.ndarray, user_work: bool, encoded: bytes | None = None) -> None:
    """Saves a document's verified pixels beside its mask (the autosaver, both paths).

    With nothing verified on an image without the user's work the file is
    removed instead (no file = nothing verified); an image with the user's
    work always keeps its file, or the legacy rule would read it back as all
    verified.
    """
    if verified.any() or user_work:
        save_verified(project, key, verified, encoded)
    else:
        delete_verified(project, key)


def legacy_verified(shape: tuple[int, int], edited_or_reviewed: bool) -> np.ndarray:
    """For a mask saved before verified pixels were recorded: a person's mask counts as all verified."""
    return np.full(shape, bool(edited_or_reviewed))


def mark_reviewed(verified: np.ndarray) -> Rect | None:
    """"Mark reviewed" confirms every pixel; returns the rect that changed (for an undo step)."""
    return mark_verified(verified, (0, 0) + tuple(verified.shape[:2]))


def mark_verified(verified: np.ndarray, rect: Rect, region: np.ndarray | None = None) -> Rect | None:
    """Sets ``verified[rect]`` (or only where ``region``, a bool array of the rect's size) to True.

    Returns the clipped rect, or None when nothing new was verified. For a
    flood fill, ``region`` is the filled component (``core.paint.flood_region``).
    """
    clipped = clip_rect(rect, verified.shape)
    if clipped is None:
        return None
    y0, x0, y1, x1 = clipped
    sub = verified[y0:y1, x0:x1]
    if region is not None:
        ry0, rx0 = y0 - rect[0], x0 - rect[1]
        region = region[ry0 : ry0 + (y1 - y0), rx0 : rx0 + (x1 - x0)]
        if not (region & ~sub).any():
            return None
        sub |= region
    else:
        if sub.all():
            return None
        sub[...] = True
    return clipped


def as_paintable(verified: np.ndarray) -> np.ndarray:
    """A ``uint8`` view of a bool verified mask: ``core.paint`` functions mark it with class id 1."""
    if verified.dtype != bool:
        raise ValueError(f"verified masks are bool arrays, got {verified.dtype}")
    return verified.view(np.uint8)


def merge_prediction(
    mask: np.ndarray | None, verified: np.ndarray | None, predicted: np.ndarray
) -> tuple[np.ndarray, Rect | None]:
    """Auto-segment's rule: the prediction fills unverified pixels only, verified ones stay.

    Returns a new mask (the inputs are not modified) and the bounding rect of
    the pixels that changed (None when nothing did). With no mask yet every
    pixel takes the prediction (nothing can be verified without a mask).
    """
    predicted = np.asarray(predicted, np.uint8)
    if mask is None:
        return predicted.copy(), (0, 0) + predicted.shape[:2]
    if mask.shape != predicted.shape:
        raise ValueError(f"the prediction is {predicted.shape} but the mask is {mask.shape}")
    if verified is None:
        new = predicted.copy()
    else:
        if verified.shape != mask.shape:
            raise ValueError(f"verified pixels are {verified.shape} but the mask is {mask.shape}")
        new = np.where(verified, mask, predicted).astype(np.uint8)
    changed = new != mask
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return new, None
    cols = np.flatnonzero(changed[rows[0] : rows[-1] + 1].any(axis=0))
    return new, (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)




# --- what a retrain learns from -------------------------------------------------------------
HOLDOUT_STATE_KEY = "retrain_holdout"  # project.state["settings"][...]: the last retrain's held-out keys


def corrected_keys(project) -> list[str]:
    """Keys a person worked on: edited or reviewed, or with verified pixels saved."""
    from segstudio.core.project import ImageStatus

    people = (ImageStatus.EDITED, ImageStatus.REVIEWED)
    return [k for k in project.keys
            if project.mask_path(k).exists() and (project.status(k) in people or has_verified(project, k))]


def load_correction(project, key: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """(mask, verified) of a corrected image, or None when it has no verified pixel.

    A mask saved before verified pixels were recorded (no file) counts as
    all verified when its status is edited or reviewed (``legacy_verified``).
    """
    from segstudio.core.project import ImageStatus

    mask = project.load_mask(key, shape)
    if mask is None:
        return None
    if has_verified(project, key):
        verified = load_verified(project, key, shape)
    else:
        verified = legacy_verified(shape, project.status(key) in (ImageStatus.EDITED, ImageStatus.REVIEWED))
    return (mask, verified) if verified.any() else None


def previous_holdout(project) -> list[str]:
    value = project.state.get("settings", {}).get(HOLDOUT_STATE_KEY, [])
    return [k for k in value if isinstance(k, str)] if isinstance(value, list) else []


def remember_holdout(project, keys: list[str]) -> None:
    """Keeps the held-out keys with the folder, so they stay held out in the next retrain."""
    project.state.setdefault("settings", {})[HOLDOUT_STATE_KEY] = sorted(keys)


__all__ = [
    "HOLDOUT_STATE_KEY", "VerifiedFormatError", "as_paintable", "corrected_keys", "delete_verified",
    "encode_verified_png", "has_verified",
    "legacy_verified", "load_correction", "load_verified", "mark_reviewed", "mark_verified", "merge_prediction",
    "previous_holdout", "read_verified_png", "remember_holdout", "save_verified", "store_verified", "verified_path",
]
