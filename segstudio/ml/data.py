"""Datasets for "a folder of images + a folder of label maps with the same stems".

That is CamVid's layout (``train/`` + ``trainannot/``) and the layout
``segstudio export`` writes (``images/`` + ``labels/``). Label maps are 8-bit
single-channel or palette PNGs holding class ids; every map is validated, and
a bad one is reported by file name, never silently fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from segstudio.core.imageio import IMAGE_EXTENSIONS, ImageReadError, read_image
from segstudio.core.maskio import MaskFormatError, read_index_png
from segstudio.ml.transforms import to_tv


class DataError(ValueError):
    """A data set that cannot be used as it is; the message names the files."""


def _listing(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    duplicates: list[str] = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in suffixes or p.name.startswith(".") or not p.is_file():
            continue
        if p.stem in found:
            duplicates.append(f"{found[p.stem].name} / {p.name}")
        found[p.stem] = p
    if duplicates:
        raise DataError(f"{folder}: more than one file per stem, e.g. {', '.join(duplicates[:5])}")
    return found


def _few(names: list[str], n: int = 5) -> str:
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def pair_files(images_dir: str | Path, labels_dir: str | Path) -> list[tuple[Path, Path]]:
    """(image, label map) pairs matched by file stem, in stem order.

    Images may be .png/.jpg/.jpeg/.bmp/.tif/.tiff, label maps are .png. An image
    without a label map, or a label map without an image, is an error that
    names a few of the files: a half-paired folder is almost always a mistake.
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for folder, what in ((images_dir, "images"), (labels_dir, "labels")):
        if not folder.is_dir():
            raise DataError(f"the {what} folder {folder} does not exist")
    images = _listing(images_dir, tuple(IMAGE_EXTENSIONS))
    labels = _listing(labels_dir, (".png",))
    if not images:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {images_dir}")
    if not labels:
        raise DataError(f"no label maps (.png) in {labels_dir}")
    no_label = sorted(images[s].name for s in set(images) - set(labels))
    no_image = sorted(labels[s].name for s in set(labels) - set(images))
    problems = []
    if no_label:
        problems.append(f"{len(no_label)} image(s) in {images_dir} have no label map in {labels_dir}: {_few(no_label)}")
    if no_image:
        problems.append(f"{len(no_image)} label map(s) in {labels_dir} have no image in {images_dir}: {_few(no_image)}")
    if problems:
        raise DataError("; ".join(problems) + " (images and label maps are paired by file name without extension)")
    return [(images[s], labels[s]) for s in sorted(images)]


def load_label_map(
    path: str | Path, num_classes: int, ignore_index: int | None = None, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """A validated label map (uint8 HxW): ids in 0..num_classes-1 or the ignore index, the image's size.

    Palette PNGs are read as their indices (never their colours). A wrong size
    or an id outside the classes raises ``DataError`` naming the file.
    """
    path = Path(path)
    try:
        mask = read_index_png(path, 256, shape)  # size and format checked here; ids below
    except MaskFormatError as exc:
        message = str(exc)  # core names the file; give its folder too
        raise DataError(str(path.parent / message) if message.startswith(path.name) else f"{path}: {message}") from exc
    counts = np.bincount(mask.ravel(), minlength=256)
    allowed = np.zeros(256, bool)
    allowed[:num_classes] = True
    if ignore_index is not None and 0 <= ignore_index < 256:
        allowed[ignore_index] = True
    bad = np.flatnonzero((counts > 0) & ~allowed)
    if bad.size:
        listed = ", ".join(f"{i} ({counts[i]} px)" for i in bad[:5])
        ignore = f" or the ignore index {ignore_index}" if ignore_index is not None else ""
        raise DataError(f"{path}: class id(s) outside 0..{num_classes - 1}{ignore}: {listed}")
    return mask


class SegmentationFolder(Dataset):
    """(image, mask) pairs; decoded uint8 arrays are cached in memory when ``cache``."""

    def __init__(
        self,
        pairs: list[tuple[Path, Path]],
        num_classes: int,
        transform=None,
        ignore_index: int | None = 11,
        cache: bool = True,
    ) -> None:
        self.pairs = list(pairs)
        self.num_classes = num_classes
        self.transform = transform
        self.ignore_index = ignore_index
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.pairs)

    def load_arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image_path, label_path = self.pairs[index]
        try:
            image = read_image(image_path)
        except ImageReadError as exc:
            raise DataError(f"{image_path.parent}/{exc}") from exc
        mask = load_label_map(label_path, self.num_classes, self.ignore_index, image.shape[:2])
        if self._cache is not None:
            self._cache[index] = (image, mask)
        return image, mask

    def __getitem__(self, index: int):
        image, mask = self.load_arrays(index)
        image_t, mask_t = to_tv(image, mask)
        if self.transform is not None:
            image_t, mask_t = self.transform(image_t, mask_t)
        return image_t, mask_t

    def class_pixel_counts(self) -> np.ndarray:
        counts = np.zeros(self.num_classes, np.int64)
        for i in range(len(self)):
            counts += np.bincount(self.load_arrays(i)[1].ravel(), minlength=self.num_classes)[: self.num_classes]
        return counts


class ArraySegmentation(Dataset):
    """(image, mask) pairs already in memory, e.g. a snapshot of the user's masks."""

    def __init__(self, images: list[np.ndarray], masks: list[np.ndarray], transform=None) -> None:
        if len(images) != len(masks):
            raise ValueError("as many masks as images are needed")
        for image, mask in zip(images, masks):
            if image.shape[:2] != mask.shape:
                raise DataError(f"mask {mask.shape} does not match image {image.shape[:2]}")
        self.images, self.masks, self.transform = images, masks, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image_t, mask_t = to_tv(self.images[index], self.masks[index])
        if self.transform is not None:
            image_t, mask_t = self.transform(image_t, mask_t)
        return image_t, mask_t
