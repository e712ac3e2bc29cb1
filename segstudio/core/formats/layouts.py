"""Data-set layouts other tools read: CamVid, Pascal VOC, Datumaro's common one.

Each layout writes the masks, the image copies, the subset lists and its
class-map file, and reads the same back (also from a CVAT export)::

    camvid    label_colors.txt, <subset>.txt ("/<subset>/<image> <subset>annot/<key>.png"),
              <subset>/ images, <subset>annot/ colour PNGs          (CVAT "CamVid 1.0", Datumaro "camvid")
    voc       labelmap.txt, JPEGImages/<key>.jpg, SegmentationClass/<key>.png palette PNGs
              (palette index = labelmap line), ImageSets/Segmentation/<subset>.txt
                                                                    (torchvision VOCSegmentation, Datumaro "voc")
    datumaro  [<subset>/]dataset_meta.json, images/, masks/<key>.png palette PNGs
                                                                    (Datumaro "common_semantic_segmentation")

One subset by default (camvid ``train``, voc ``trainval``, datumaro none);
with a split, ``train`` and ``val`` (voc adds the usual ``trainval``).
"""

from __future__ import annotations

import json
from pathlib import Path

from segstudio.core.atomic import atomic_write_text
from segstudio.core.formats import classmap
from segstudio.core.formats.classmap import SourceClasses
from segstudio.core.formats.images import export_image
from segstudio.core.labels import LabelSet
from segstudio.core.maskio import MaskFormatError, write_color_png, write_index_png


class CamVid:
    name = "camvid"
    default_subset = "train"
    LABEL_COLORS = "label_colors.txt"

    def check(self, labelset: LabelSet) -> None:
        classmap.check_names(labelset, "CamVid", " \t", "label_colors.txt separates fields by spaces")

    def write_item(self, out: Path, subset: str, key: str, image_path: Path, mask, labelset, include_images: bool) -> str:
        (out / f"{subset}annot").mkdir(parents=True, exist_ok=True)
        write_color_png(out / f"{subset}annot" / f"{key}.png", mask, labelset)
        if include_images:
            (out / subset).mkdir(parents=True, exist_ok=True)
            return export_image(image_path, key, out / subset).name
        return f"{key}{image_path.suffix}"

    def finish(self, out: Path, entries: dict[str, list[tuple[str, str]]], labelset: LabelSet) -> None:
        for subset, items in entries.items():
            lines = [_quoted(f"/{subset}/{image}", f"{subset}annot/{key}.png") for key, image in items]
            atomic_write_text(out / f"{subset}.txt", "".join(lines))
        atomic_write_text(out / self.LABEL_COLORS, classmap.camvid_label_colors_text(labelset))

    def detect(self, folder: Path) -> bool:
        return (folder / self.LABEL_COLORS).is_file() or any(_camvid_lists(folder))

    def read(self, folder: Path) -> tuple[SourceClasses, dict[str, Path]]:
        if (folder / "dataset_meta.json").is_file():  # Datumaro prefers it too
            classes = classmap.read_dataset_meta(folder / "dataset_meta.json")
        elif (folder / self.LABEL_COLORS).is_file():
            classes = classmap.read_camvid_label_colors(folder / self.LABEL_COLORS)
        else:
            raise MaskFormatError(f"{folder} has CamVid lists but no {self.LABEL_COLORS}: the class names are unknown")
        masks = {}
        for list_file in _camvid_lists(folder):
            for line in list_file.read_text(encoding="utf-8").splitlines():
                image, mask = _parse_camvid_line(line)
                if mask:
                    masks[Path(image).stem] = folder / mask.lstrip("/")
        return classes, masks


class Voc:
    name = "voc"
    default_subset = "trainval"
    LABELMAP = "labelmap.txt"

    def check(self, labelset: LabelSet) -> None:
        classmap.check_names(labelset, "Pascal VOC", ":,", "labelmap.txt separates fields by ':' and ','")

    def write_item(self, out: Path, subset: str, key: str, image_path: Path, mask, labelset, include_images: bool) -> str:
        (out / "SegmentationClass").mkdir(parents=True, exist_ok=True)
        write_index_png(out / "SegmentationClass" / f"{key}.png", mask, labelset)
        if include_images:
            (out / "JPEGImages").mkdir(parents=True, exist_ok=True)
            export_image(image_path, key, out / "JPEGImages", jpeg=True)
        return f"{key}.jpg"

    def finish(self, out: Path, entries: dict[str, list[tuple[str, str]]], labelset: LabelSet) -> None:
        lists = out / "ImageSets" / "Segmentation"
        lists.mkdir(parents=True, exist_ok=True)
        if set(entries) == {"train", "val"}:
            entries = {**entries, "trainval": entries["train"] + entries["val"]}
        for subset, items in entries.items():
            atomic_write_text(lists / f"{subset}.txt", "".join(f"{key}\n" for key, _ in items))
        atomic_write_text(out / self.LABELMAP, classmap.voc_labelmap_text(labelset))

    def detect(self, folder: Path) -> bool:
        return (folder / "SegmentationClass").is_dir()

    def read(self, folder: Path) -> tuple[SourceClasses, dict[str, Path]]:
        if (folder / "dataset_meta.json").is_file():
            classes = classmap.read_dataset_meta(folder / "dataset_meta.json")
        elif (folder / self.LABELMAP).is_file():
            classes = classmap.read_voc_labelmap(folder / self.LABELMAP)
        else:
            raise MaskFormatError(f"{folder} has SegmentationClass/ but no {self.LABELMAP}: the class names are unknown")
        return classes, _pngs(folder / "SegmentationClass")


class Datumaro:
    name = "datumaro"
    default_subset = None
    META = "dataset_meta.json"

    def check(self, labelset: LabelSet) -> None:
        pass  # JSON holds any name

    def _root(self, out: Path, subset: str | None) -> Path:
        return out / subset if subset else out

    def write_item(self, out: Path, subset: str | None, key: str, image_path: Path, mask, labelset, include_images: bool) -> str:
        root = self._root(out, subset)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        write_index_png(root / "masks" / f"{key}.png", mask, labelset)
        if include_images:
            (root / "images").mkdir(parents=True, exist_ok=True)
            return export_image(image_path, key, root / "images").name
        return f"{key}{image_path.suffix}"

    def finish(self, out: Path, entries: dict, labelset: LabelSet) -> None:
        text = json.dumps(classmap.dataset_meta(labelset), indent=2, ensure_ascii=False)
        for subset in entries or {None: []}:
            self._root(out, subset).mkdir(parents=True, exist_ok=True)
            atomic_write_text(self._root(out, subset) / self.META, text)

    def _roots(self, folder: Path) -> list[Path]:
        if (folder / self.META).is_file():
            return [folder]
        return sorted(p for p in folder.iterdir() if p.is_dir() and (p / self.META).is_file())

    def detect(self, folder: Path) -> bool:
        return any((root / "masks").is_dir() for root in self._roots(folder))

    def read(self, folder: Path) -> tuple[SourceClasses, dict[str, Path]]:
        roots = self._roots(folder)
        classes = classmap.read_dataset_meta(roots[0] / self.META)
        masks: dict[str, Path] = {}
        for root in roots:
            if classmap.read_dataset_meta(root / self.META).names != classes.names:
                raise MaskFormatError(f"{root.name}/{self.META} lists other classes than {roots[0].name}/{self.META}")
            masks.update(_pngs(root / "masks"))
        return classes, masks


LAYOUTS = {layout.name: layout for layout in (CamVid(), Voc(), Datumaro())}


def detect_layout(folder: Path):
    """The layout a folder holds (VOC and Datumaro before CamVid, whose lists are plain .txt), or None."""
    for name in ("voc", "datumaro", "camvid"):
        if LAYOUTS[name].detect(folder):
            return LAYOUTS[name]
    return None


def _pngs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() == ".png" and p.is_file() and not p.name.startswith(".")}


def _quoted(image: str, mask: str) -> str:
    """A CamVid list line; Datumaro quotes both paths when either has a space."""
    if len(image.split()) > 1 or len(mask.split()) > 1:
        return f'"{image}" "{mask}"\n'
    return f"{image} {mask}\n"


def _parse_camvid_line(line: str) -> tuple[str, str | None]:
    line = line.strip()
    if not line:
        return "", None
    parts = line.split('"')
    fields = [parts[1], parts[3]] if len(parts) == 5 else line.split()
    return fields[0], (fields[1] if len(fields) > 1 else None)


def _camvid_lists(folder: Path) -> list[Path]:
    """Root ``*.txt`` files whose first line pairs an image with a mask."""
    lists = []
    for p in sorted(folder.glob("*.txt")):
        if p.name == CamVid.LABEL_COLORS or not p.is_file():
            continue
        try:
            first = next((line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        except (OSError, UnicodeDecodeError):
            continue
        if _parse_camvid_line(first)[1]:
            lists.append(p)
    return lists


__all__ = ["LAYOUTS", "CamVid", "Datumaro", "Voc", "detect_layout"]
