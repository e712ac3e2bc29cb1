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


def pair_files(images_dir: str | Path, labels_dir: str | Path) -> list[tuple[Path, Path]]:
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    for folder, what in ((images_dir, "images"), (labels_dir, "labels")):
        if not folder.is_dir():
            raise DataError(f"the {what} folder {folder} does not exist")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")}
    labels = {p.stem: p for p in sorted(labels_dir.iterdir()) if p.suffix.lower() == ".png" and not p.name.startswith(".")}
    if not images:
        raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {images_dir}")
    missing = sorted(set(images) - set(labels))
    if missing:
        raise DataError(
            f"{len(missing)} image(s) in {images_dir} have no label map in {labels_dir}, "
            f"e.g. {', '.join(missing[:5])}"
        )
    return [(images[s], labels[s]) for s in sorted(images)]


def load_label_map(path: Path, num_classes: int, ignore_index: int | None, shape: tuple[int, int] | None) -> np.ndarray:
    """A validated label map: ids in 0..num_classes-1, the image's size."""
    try:
        return read_index_png(path, num_classes, shape)
    except MaskFormatError as exc:
        raise DataError(str(exc)) from exc


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
            raise DataError(str(exc)) from exc
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
