"""Export masks out of a project, and import masks into one.

Export writes the "images + labels" layout that ``segstudio train`` reads::

    OUT/images/<original file>     byte copies of the originals (EXIF-rotated
                                   ones written upright as <key>.png)
    OUT/labels/<key>.png           index PNG, palette embedded
    OUT/labels_color/<key>.png     colour PNG (label-set colours)
    OUT/overlays/<key>.jpg         the image blended with the colours, for review

``<key>`` is the image's stem (its file name when two images share a stem,
see ``core.project``); the labels are in the EXIF-oriented pixel grid, which
is what ``core.imageio.read_image`` (and so ``segstudio train``) decodes, so
an image is copied byte for byte only when it has no EXIF rotation. Images
without a mask are skipped and reported; nothing in the opened folder is
written.

Import reads index or colour PNGs named like the images (``<stem>.png``, or
CamVid's ``<stem>_L.png``) with ``read_label_map`` and the project's label
set, checks the size against the image header, and saves them as the user's
edits (status EDITED). Masks the user edited or reviewed are kept unless
``overwrite``; every file that does not fit is reported, not guessed at.
"""

from __future__ import annotations

import errno
import io
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.atomic import SaveError, atomic_write_bytes
from segstudio.core.imageio import ImageReadError, read_image, read_image_size, read_orientation
from segstudio.core.maskio import MaskFormatError, color_mask, read_label_map, write_color_png, write_index_png
from segstudio.core.project import ImageStatus, Project

FORMATS = ("index", "color", "overlay")
_FORMAT_ALIASES = {"colour": "color", "labels": "index", "overlays": "overlay"}


@dataclass
class ExportReport:
    """``written``: images exported; ``skipped``/``errors``: one line per file."""

    written: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """``imported``: masks stored; ``skipped``/``errors``: one line per file;
    ``conflicts``: keys not imported because they hold the user's edits (their
    lines in ``skipped`` are ``conflict_lines``)."""

    imported: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    conflict_lines: list[str] = field(default_factory=list)


def overlay_image(image: np.ndarray, mask: np.ndarray, labelset, alpha: float = 0.5) -> np.ndarray:
    """The RGB image blended with the class colours (``alpha`` of colour)."""
    colors = color_mask(mask, labelset).astype(np.float32)
    out = image.astype(np.float32) * (1 - alpha) + colors * alpha
    return out.round().astype(np.uint8)


def export_masks(
    project: Project,
    out_dir: str | Path,
    formats: tuple[str, ...] = ("index",),
    include_images: bool = True,
    only_status: ImageStatus | Iterable[ImageStatus] | None = None,
    masks: dict[str, np.ndarray] | None = None,
) -> ExportReport:
    """Writes every image's mask in ``formats`` (``index``, ``color``, ``overlay``).

    ``only_status`` keeps only images with that status (or any of several);
    ``masks`` (key -> mask) overrides what is on disk, e.g. unsaved edits.
    """
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(_FORMAT_ALIASES.get(f, f) for f in formats)
    if only_status is not None:
        wanted = {ImageStatus(only_status)} if isinstance(only_status, (str, ImageStatus)) else {
            ImageStatus(s) for s in only_status
        }
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown export format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.resolve() == project.folder.resolve():
        raise ValueError("export into a folder other than the opened one: it would mix with the originals")
    folders = {"index": out / "labels", "color": out / "labels_color", "overlay": out / "overlays"}
    for fmt in formats:
        folders[fmt].mkdir(parents=True, exist_ok=True)
    if include_images:
        (out / "images").mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    for key, image_path in zip(project.keys, project.images):
        if only_status is not None and project.status(key) not in wanted:
            report.skipped.append(f"{image_path.name}: status {project.status(key).value}")
            continue
        try:
            mask = masks.get(key) if masks else None
            if mask is None:
                mask = project.load_mask(key)
            if mask is None:
                report.skipped.append(f"{image_path.name}: no mask")
                continue
            w, h = read_image_size(image_path)
            if mask.shape != (h, w):
                raise MaskFormatError(f"{key}: mask {mask.shape[1]}x{mask.shape[0]} vs image {w}x{h}")
            if "index" in formats:
                write_index_png(folders["index"] / f"{key}.png", mask, project.labelset)
            if "color" in formats:
                write_color_png(folders["color"] / f"{key}.png", mask, project.labelset)
            if "overlay" in formats:
                buffer = io.BytesIO()
                Image.fromarray(overlay_image(read_image(image_path), mask, project.labelset)).save(buffer, "JPEG", quality=90)
                atomic_write_bytes(folders["overlay"] / f"{key}.jpg", buffer.getvalue())
            if include_images:
                _export_image(image_path, key, out / "images")
            report.written += 1
        except (OSError, ValueError) as exc:
            report.errors.append(f"{image_path.name}: {exc}")
    return report


def _export_image(image_path: Path, key: str, folder: Path) -> None:
    """The original beside its masks, with the same stem so `segstudio train` pairs them.

    A byte copy, except for an image with an EXIF rotation: its masks are in
    the displayed (rotated) grid, and a reader that ignores EXIF would pair
    them with the stored grid, so it is written upright as a PNG instead.
    """
    if read_orientation(image_path) != 1:
        buffer = io.BytesIO()
        Image.fromarray(read_image(image_path)).save(buffer, "PNG", compress_level=3)
        atomic_write_bytes(folder / f"{key}.png", buffer.getvalue())
        return
    target = folder / (f"{key}{image_path.suffix}" if key != image_path.stem else image_path.name)
    shutil.copyfile(image_path, target)


def _mask_files(folder: Path) -> dict[str, Path]:
    """PNG files by stem; CamVid's ``<stem>_L.png`` also answers to ``<stem>``."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file():
            files[p.stem] = p
    return files


def import_masks(
    project: Project, folder: str | Path, overwrite: bool = False, only: Iterable[str] | None = None
) -> ImportReport:
    """Imports index or colour PNGs whose names match the images' keys
    (``only``: just these keys; the other files are left alone, unreported).

    Raises ``FileNotFoundError`` for a missing folder and ``SaveError`` when
    the project is read-only; per-file problems go into the report.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if not project.writable:
        raise SaveError(errno.EROFS, f"cannot import into {project.folder}: the folder is read-only")
    files = _mask_files(folder)
    report = ImportReport()
    wanted = set(only) if only is not None else None
    for key, image_path in zip(project.keys, project.images):
        source = files.pop(key, None)
        if source is None and f"{key}_L" in files:
            source = files.pop(f"{key}_L")
        if source is None or (wanted is not None and key not in wanted):
            continue
        if project.status(key) in (ImageStatus.EDITED, ImageStatus.REVIEWED) and not overwrite:
            line = f"{source.name}: {image_path.name} already has your edits (not replaced)"
            report.skipped.append(line)
            report.conflicts.append(key)
            report.conflict_lines.append(line)
            continue
        try:
            w, h = read_image_size(image_path)
            mask = read_label_map(source, project.labelset, (h, w))
            project.save_mask(key, mask)
            try:  # a model's confidence no longer describes this mask
                (project.confidence_dir / f"{key}.png").unlink()
            except FileNotFoundError:
                pass
            project.set_status(key, ImageStatus.EDITED)
            report.imported += 1
        except (MaskFormatError, ImageReadError, OSError) as exc:
            report.errors.append(str(exc) if source.name in str(exc) else f"{source.name}: {exc}")
    for name in sorted(files) if wanted is None else ():
        report.skipped.append(f"{files[name].name}: no image with that name")
    if report.imported:
        project.save_state()
    return report


__all__ = ["FORMATS", "ExportReport", "ImportReport", "export_masks", "import_masks", "overlay_image"]
