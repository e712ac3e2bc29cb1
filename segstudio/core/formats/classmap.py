"""Class maps of data-set layouts, and masks read through them by class name.

Every layout names its classes beside the masks: CamVid's ``label_colors.txt``
("r g b Name"), Pascal VOC's ``labelmap.txt`` ("name:r,g,b:parts:actions"),
Datumaro's ``dataset_meta.json``, SegStudio's ``labelset.json``. A
``SourceClasses`` is that list in the source's own id order. Readers
(Datumaro above all) reorder classes and put a black "Void" or
"background" first, so a source id never means a SegStudio id: pixels go
source id -> class name -> the label set's id. A class name the label set
lacks, or a colour the class map lacks, is reported, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.labels import LabelSet
from segstudio.core.maskio import MaskFormatError, open_mask_file

Color = tuple[int, int, int]


@dataclass(frozen=True)
class SourceClasses:
    """Class names (and colours, where the source has them) in source id order."""

    names: tuple[str, ...]
    colors: tuple[Color | None, ...]
    origin: str  # the file they came from, for messages

    def lookup(self, labelset: LabelSet) -> np.ndarray:
        """256 entries: source id -> label-set id, -1 where the name is not in the label set."""
        ours = {name: i for i, name in enumerate(labelset.names)}
        lut = np.full(256, -1, np.int32)
        for source_id, name in enumerate(self.names[:256]):
            lut[source_id] = ours.get(name, -1)
        return lut


def labelset_classes(labelset: LabelSet, origin: str = "") -> SourceClasses:
    return SourceClasses(tuple(labelset.names), tuple(tuple(c) for c in labelset.colors), origin)


# --- checks before writing --------------------------------------------------------
def check_names(labelset: LabelSet, fmt: str, forbidden: str, why: str) -> None:
    """Refuses class names a layout's class-map file cannot hold (``forbidden``
    characters; every text map also loses a name starting with '#' or empty)."""
    for name in labelset.names:
        if not name.strip() or name != name.strip() or name.startswith("#") or any(c in name for c in forbidden):
            raise ValueError(
                f"class name {name!r} cannot be written in the {fmt} class map ({why}); "
                "rename the class or export with --format datumaro"
            )


# --- class-map files ----------------------------------------------------------------
def camvid_label_colors_text(labelset: LabelSet) -> str:
    return "".join(f"{r} {g} {b} {name}\n" for name, (r, g, b) in zip(labelset.names, labelset.colors))


def read_camvid_label_colors(path: Path) -> SourceClasses:
    """``label_colors.txt``. As Datumaro reads it: when no class is black, black
    pixels are an implicit "background" (what CVAT's CamVid export leaves for
    unlabelled pixels)."""
    names, colors = [], []
    for number, line in enumerate(_text_lines(path), 1):
        fields = line.split()
        if len(fields) == 4:
            try:
                color = tuple(int(v) for v in fields[:3])
            except ValueError:
                color = None
            if color is None or not all(0 <= v <= 255 for v in color):
                raise MaskFormatError(f"{path.name} line {number}: expected 'R G B Name', got {line!r}")
            names.append(fields[3])
            colors.append(color)
        elif len(fields) == 1:
            names.append(fields[0])
            colors.append(None)
        else:
            raise MaskFormatError(f"{path.name} line {number}: expected 'R G B Name', got {line!r}")
    if (0, 0, 0) not in colors and "background" not in names:
        names.append("background")
        colors.append((0, 0, 0))
    return _checked(SourceClasses(tuple(names), tuple(colors), path.name))


def voc_labelmap_text(labelset: LabelSet) -> str:
    lines = ["# label:color_rgb:parts:actions\n"]
    lines += [f"{name}:{r},{g},{b}::\n" for name, (r, g, b) in zip(labelset.names, labelset.colors)]
    return "".join(lines)


def read_voc_labelmap(path: Path) -> SourceClasses:
    names, colors = [], []
    for number, line in enumerate(_text_lines(path), 1):
        fields = line.split(":")
        if len(fields) != 4:
            raise MaskFormatError(f"{path.name} line {number}: expected 'name:r,g,b:parts:actions', got {line!r}")
        color = None
        if fields[1].strip():
            try:
                color = tuple(int(v) for v in fields[1].split(","))
            except ValueError:
                color = ()
            if len(color) != 3 or not all(0 <= v <= 255 for v in color):
                raise MaskFormatError(f"{path.name} line {number}: colour {fields[1]!r} is not 'r,g,b'")
        names.append(fields[0])
        colors.append(color)
    return _checked(SourceClasses(tuple(names), tuple(colors), path.name))


def dataset_meta(labelset: LabelSet) -> dict:
    """Datumaro's ``dataset_meta.json`` for the label set (ids = SegStudio ids)."""
    meta = {
        "labels": list(labelset.names),
        "label_map": {str(i): name for i, name in enumerate(labelset.names)},
        "segmentation_colors": [list(c) for c in labelset.colors],
    }
    black = [i for i, c in enumerate(labelset.colors) if tuple(c) == (0, 0, 0)]
    if black:
        meta["background_label"] = str(black[0])
    return meta


def read_dataset_meta(path: Path) -> SourceClasses:
    """Datumaro's ``dataset_meta.json``: ``labels`` in id order, colours from
    ``segmentation_colors`` indexed as ``label_map`` says."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        names = [str(n) for n in meta.get("labels", [])]
        colors: list[Color | None] = [None] * len(names)
        palette = meta.get("segmentation_colors") or []
        for index, name in (meta.get("label_map") or {}).items():
            if name not in names:
                names.append(name)
                colors.append(None)
            if int(index) < len(palette) and palette[int(index)] is not None:
                colors[names.index(name)] = tuple(int(v) for v in palette[int(index)])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        raise MaskFormatError(f"{path.name}: not a readable Datumaro dataset_meta.json ({exc})") from exc
    return _checked(SourceClasses(tuple(names), tuple(colors), path.name))


def read_labelset_json(path: Path) -> SourceClasses:
    try:
        return labelset_classes(LabelSet.load(path), path.name)
    except ValueError as exc:
        raise MaskFormatError(f"{path.name}: {exc}") from exc


def _text_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MaskFormatError(f"cannot read {path.name}: {exc}") from exc
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _checked(classes: SourceClasses) -> SourceClasses:
    if not classes.names:
        raise MaskFormatError(f"{classes.origin}: no classes listed")
    seen = set()
    for name in classes.names:
        if name in seen:
            raise MaskFormatError(f"{classes.origin}: class {name!r} is listed twice")
        seen.add(name)
    return classes


# --- masks through a class map -------------------------------------------------------
def read_mask_by_name(
    path: Path, classes: SourceClasses, labelset: LabelSet, shape: tuple[int, int] | None
) -> np.ndarray:
    """A mask file of a data-set layout as label-set ids, mapped by class name.

    Grey and palette PNGs hold source ids (palette indices, as torchvision's
    VOC reader takes them); RGB(A) PNGs hold source colours. An id or colour
    the class map lacks, or a class the label set lacks, raises
    ``MaskFormatError`` with pixel counts; nothing is guessed.
    """
    img = open_mask_file(path, shape)
    if img.mode in ("RGB", "RGBA"):
        source_ids = _ids_from_source_colors(path, np.asarray(img.convert("RGB"), np.uint8), classes)
    elif img.mode in ("P", "L"):
        source_ids = np.asarray(img, np.uint8)
    else:
        raise MaskFormatError(f"{path.name}: image mode {img.mode} is neither an index nor a colour mask")
    if shape is not None and source_ids.shape != tuple(shape[:2]):
        raise MaskFormatError(f"{path.name}: mask {source_ids.shape[1]}x{source_ids.shape[0]} vs image {shape[1]}x{shape[0]}")
    counts = np.bincount(source_ids.ravel(), minlength=256)
    used = np.flatnonzero(counts)
    beyond = [i for i in used if i >= len(classes.names)]
    if beyond:
        listed = ", ".join(f"{i} ({counts[i]} px)" for i in beyond[:5])
        raise MaskFormatError(f"{path.name}: ids {listed} are not classes of {classes.origin} (0..{len(classes.names) - 1})")
    lut = classes.lookup(labelset)
    missing = [i for i in used if lut[i] < 0]
    if missing:
        listed = ", ".join(f"{classes.names[i]!r} ({counts[i]} px)" for i in missing[:5])
        raise MaskFormatError(
            f"{path.name}: class(es) {listed} of {classes.origin} are not in the label set "
            f"'{labelset.name}' ({', '.join(labelset.names)}); classes are matched by name"
        )
    return lut[source_ids].astype(np.uint8)


def _ids_from_source_colors(path: Path, rgb: np.ndarray, classes: SourceClasses) -> np.ndarray:
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse, counts = np.unique(codes.ravel(), return_inverse=True, return_counts=True)
    by_color = {}
    for i, color in enumerate(classes.colors):
        if color is not None:
            by_color.setdefault((color[0] << 16) | (color[1] << 8) | color[2], i)
    ids = np.array([by_color.get(int(c), -1) for c in uniq], np.int32)
    unknown = np.flatnonzero(ids < 0)
    if unknown.size:
        order = unknown[np.argsort(-counts[unknown], kind="stable")]
        listed = ", ".join(f"({uniq[i] >> 16}, {(uniq[i] >> 8) & 255}, {uniq[i] & 255}): {counts[i]} px" for i in order[:5])
        more = f" and {unknown.size - 5} more" if unknown.size > 5 else ""
        raise MaskFormatError(f"{path.name}: {unknown.size} colour(s) not in {classes.origin}: {listed}{more}")
    return ids[inverse].reshape(codes.shape).astype(np.uint8)

