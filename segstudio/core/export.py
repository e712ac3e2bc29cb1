"""Export masks out of a project, and import masks into one.

Export writes one layout per call (``formats``):

* the SegStudio folder (``index``, ``color``, ``overlay``, any together), what
  ``segstudio train`` reads::

      OUT/labelset.json              the class names, colours and ignore id
      OUT/images/<original file>     copies of the originals (EXIF-rotated
                                     ones written upright as <key>.png)
      OUT/labels/<key>.png           index PNG, palette embedded
      OUT/labels_color/<key>.png     colour PNG (label-set colours)
      OUT/overlays/<key>.jpg         the image blended with the colours, for review

* ``camvid``, ``voc`` or ``datumaro`` alone: the layouts CVAT, Datumaro and
  torchvision read (``core.formats.layouts``).

Everything goes into one subset unless ``split`` (the val fraction) asks for
train/val, by ``core.formats.split``'s stable rule (whole video sequences);
the folder layout then writes ``OUT/train/...`` and ``OUT/val/...``.
``<key>`` is the image's stem (its file name when two images share a stem,
see ``core.project``); masks are in the EXIF-oriented pixel grid, which is
what ``core.imageio.read_image`` (and so ``segstudio train``) decodes. Images
without a mask are skipped and reported; nothing in the opened folder is
written, and every file is written atomically.

Import reads any of those layouts (also a CVAT CamVid or VOC export), or a
plain folder of index or colour PNGs named like the images (``<stem>.png``,
or CamVid's ``<stem>_L.png``). A layout's classes are matched to the
project's label set **by name** (``core.formats.classmap``); a plain folder's
ids and colours are the label set's own. Sizes are checked against the image
headers; masks are saved as the user's edits (status EDITED). A mask equal to
the one saved is left alone, status included; masks the user edited or
reviewed are kept unless ``overwrite``; every file that does not fit is
reported, not guessed at.
"""

from __future__ import annotations

import errno
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.atomic import SaveError, atomic_write_bytes, atomic_write_text
from segstudio.core.formats.classmap import SourceClasses, read_labelset_json, read_mask_by_name
from segstudio.core.formats.images import export_image
from segstudio.core.formats.layouts import LAYOUTS, detect_layout
from segstudio.core.formats.split import assign_subsets
from segstudio.core.imageio import ImageReadError, read_image, read_image_size
from segstudio.core.maskio import MaskFormatError, color_mask, read_label_map, write_color_png, write_index_png
from segstudio.core.project import ImageStatus, Project

FOLDER_FORMATS = ("index", "color", "overlay")
DATASET_FORMATS = tuple(LAYOUTS)  # camvid, voc, datumaro: each a whole layout of its own
FORMATS = FOLDER_FORMATS + DATASET_FORMATS
FORMAT_ALIASES = {"colour": "color", "labels": "index", "overlays": "overlay", "pascal-voc": "voc", "common": "datumaro"}
LABELSET_FILE = "labelset.json"


@dataclass
class ExportReport:
    """``written``: images exported; ``skipped``/``errors``: one line per file;
    ``subsets``: subset name -> images written into it."""

    written: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    subsets: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportReport:
    """``imported``: masks stored; ``unchanged``: equal to the saved mask, left
    alone; ``skipped``/``errors``: one line per file; ``conflicts``: keys not
    imported because they hold the user's edits (their lines in ``skipped``
    are ``conflict_lines``); ``layout``: what the folder was read as."""

    imported: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    conflict_lines: list[str] = field(default_factory=list)
    layout: str = "folder"


def overlay_image(image: np.ndarray, mask: np.ndarray, labelset, alpha: float = 0.5) -> np.ndarray:
    """The RGB image blended with the class colours (``alpha`` of colour)."""
    colors = color_mask(mask, labelset).astype(np.float32)
    out = image.astype(np.float32) * (1 - alpha) + colors * alpha
    return out.round().astype(np.uint8)


def normalize_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Validated format names (aliases resolved, no repeats); a data-set layout stands alone."""
    if isinstance(formats, str):
        formats = (formats,)
    names = tuple(dict.fromkeys(FORMAT_ALIASES.get(f.strip().lower(), f.strip().lower()) for f in formats))
    unknown = [f for f in names if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; choose from {', '.join(FORMATS)}")
    if not names:
        raise ValueError(f"no export format given; choose from {', '.join(FORMATS)}")
    layouts = [f for f in names if f in DATASET_FORMATS]
    if layouts and len(names) > 1:
        raise ValueError(f"{layouts[0]} is a whole layout of its own: export it alone, not with {', '.join(n for n in names if n != layouts[0])}")
    return names


def export_masks(
    project: Project,
    out_dir: str | Path,
    formats: str | tuple[str, ...] = ("index",),
    include_images: bool = True,
    only_status: ImageStatus | Iterable[ImageStatus] | None = None,
    masks: dict[str, np.ndarray] | None = None,
    split: float | None = None,
) -> ExportReport:
    """Writes every image's mask in ``formats`` (see the module docstring).

    ``only_status`` keeps only images with that status (or any of several);
    ``masks`` (key -> mask) overrides what is on disk, e.g. unsaved edits;
    ``split`` is the val fraction of a train/val split (None: one subset).
    """
    formats = normalize_formats(formats)
    out = Path(out_dir)
    if out.resolve() == project.folder.resolve():
        raise ValueError("export into a folder other than the opened one: it would mix with the originals")
    layout = LAYOUTS.get(formats[0])
    if layout is not None:
        layout.check(project.labelset)
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    items = list(_masks_to_export(project, only_status, masks, report))
    subsets = assign_subsets([key for key, _, _ in items], split) if split is not None else {}
    entries: dict = {}
    for key, image_path, mask in items:
        subset = subsets.get(key, layout.default_subset if layout else None)
        try:
            if layout is not None:
                image_name = layout.write_item(out, subset, key, image_path, mask, project.labelset, include_images)
            else:
                image_name = _write_folder_item(out / subset if subset else out, formats, key, image_path, mask, project, include_images)
            entries.setdefault(subset, []).append((key, image_name))
            report.written += 1
            report.subsets[subset or "default"] = report.subsets.get(subset or "default", 0) + 1
        except (OSError, ValueError) as exc:
            report.errors.append(f"{image_path.name}: {exc}")
    if layout is not None:
        layout.finish(out, entries, project.labelset)
    else:
        for subset in entries or {None: []}:
            (out / subset if subset else out).mkdir(parents=True, exist_ok=True)
            atomic_write_text((out / subset if subset else out) / LABELSET_FILE, json.dumps(project.labelset.to_dict(), indent=2))
    return report


def _masks_to_export(project: Project, only_status, masks, report: ExportReport) -> Iterator[tuple[str, Path, np.ndarray]]:
    """(key, image path, mask) of every image to export; the others go into the report."""
    wanted = None
    if only_status is not None:
        wanted = {ImageStatus(only_status)} if isinstance(only_status, (str, ImageStatus)) else {ImageStatus(s) for s in only_status}
    for key, image_path in zip(project.keys, project.images):
        if wanted is not None and project.status(key) not in wanted:
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
        except (OSError, ValueError) as exc:
            report.errors.append(f"{image_path.name}: {exc}")
            continue
        yield key, image_path, mask


def _write_folder_item(root: Path, formats, key: str, image_path: Path, mask: np.ndarray, project: Project, include_images: bool) -> str:
    """One image of the SegStudio folder layout under ``root``; returns the image's file name."""
    folders = {"index": root / "labels", "color": root / "labels_color", "overlay": root / "overlays"}
    for fmt in formats:
        folders[fmt].mkdir(parents=True, exist_ok=True)
    if "index" in formats:
        write_index_png(folders["index"] / f"{key}.png", mask, project.labelset)
    if "color" in formats:
        write_color_png(folders["color"] / f"{key}.png", mask, project.labelset)
    if "overlay" in formats:
        buffer = io.BytesIO()
        Image.fromarray(overlay_image(read_image(image_path), mask, project.labelset)).save(buffer, "JPEG", quality=90)
        atomic_write_bytes(folders["overlay"] / f"{key}.jpg", buffer.getvalue())
    if not include_images:
        return image_path.name
    (root / "images").mkdir(parents=True, exist_ok=True)
    return export_image(image_path, key, root / "images").name


# --- import ---------------------------------------------------------------------------------
def _plain_mask_files(folder: Path) -> dict[str, Path]:
    """PNG files by stem; CamVid's ``<stem>_L.png`` also answers to ``<stem>``."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file():
            files[p.stem] = p
    return files


def _folder_layout_roots(folder: Path) -> list[Path]:
    """A SegStudio export (``labelset.json`` + ``labels/``), whole or split into subset folders."""
    if (folder / LABELSET_FILE).is_file() and (folder / "labels").is_dir():
        return [folder]
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / LABELSET_FILE).is_file() and (p / "labels").is_dir())


def read_mask_source(folder: Path) -> tuple[str, SourceClasses | None, dict[str, Path]]:
    """What ``folder`` holds: (layout name, its classes or None for a plain
    folder of the label set's ids/colours, mask files by name)."""
    layout = detect_layout(folder)
    if layout is not None:
        classes, files = layout.read(folder)
        return layout.name, classes, files
    roots = _folder_layout_roots(folder)
    if roots:
        classes = read_labelset_json(roots[0] / LABELSET_FILE)
        files: dict[str, Path] = {}
        for root in roots:
            files.update(_plain_mask_files(root / "labels"))
        return "segstudio", classes, files
    return "folder", None, _plain_mask_files(folder)


def import_masks(
    project: Project, folder: str | Path, overwrite: bool = False, only: Iterable[str] | None = None
) -> ImportReport:
    """Imports the masks in ``folder`` (any layout above) whose names match the
    images' keys (``only``: just these keys; the other files are left alone,
    unreported).

    Raises ``FileNotFoundError`` for a missing folder, ``SaveError`` when the
    project is read-only and ``MaskFormatError`` for an unreadable class map;
    per-file problems go into the report.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if not project.writable:
        raise SaveError(errno.EROFS, f"cannot import into {project.folder}: the folder is read-only")
    layout, classes, files = read_mask_source(folder)
    report = ImportReport(layout=layout)
    wanted = set(only) if only is not None else None
    for key, image_path in zip(project.keys, project.images):
        source = files.pop(key, None)
        if source is None and f"{key}_L" in files:
            source = files.pop(f"{key}_L")
        if source is None or (wanted is not None and key not in wanted):
            continue
        try:
            w, h = read_image_size(image_path)
            if classes is None:
                mask = read_label_map(source, project.labelset, (h, w))
            else:
                mask = read_mask_by_name(source, classes, project.labelset, (h, w))
            saved = project.load_mask(key) if project.status(key) != ImageStatus.NO_MASK else None
            if saved is not None and np.array_equal(saved, mask):
                report.unchanged += 1
                continue
            if project.status(key) in (ImageStatus.EDITED, ImageStatus.REVIEWED) and not overwrite:
                line = f"{source.name}: {image_path.name} already has your edits (not replaced)"
                report.skipped.append(line)
                report.conflicts.append(key)
                report.conflict_lines.append(line)
                continue
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


__all__ = [
    "DATASET_FORMATS", "FOLDER_FORMATS", "FORMATS", "LABELSET_FILE", "ExportReport", "ImportReport",
    "export_masks", "import_masks", "normalize_formats", "overlay_image", "read_mask_source",
]
