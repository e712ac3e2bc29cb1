"""Training batches from images decoded once and augmented a whole batch at a time on the training device.

The streaming loader (``data.SegmentationFolder`` + a ``DataLoader``) decodes
and augments one image at a time on the CPU; on a GPU that, not the network,
sets the pace. Here every image and label map is decoded (and validated)
once into one uint8 tensor; each step gathers a batch by index, on the GPU
when the cache lives there, and augments it in a few batched calls:

- geometry (random scale, rotation, crop, horizontal flip) as one per-sample
  affine warp with ``grid_sample``: bilinear for images, nearest for masks,
  so masks keep exact class ids, and pixels brought in from outside the frame
  become the ignore index (black in the image). torchvision's v2 transforms
  draw one set of parameters per call, so on a batch they would give every
  sample the same crop; ``grid_sample`` is the warp v2's own affine uses.
- photometric jitter (brightness, contrast, saturation) with a factor per
  sample, using v2's functional grayscale and normalisation.

The same code runs on the CPU. A data set that does not fit the memory
budget, or whose images differ in size (they could not share one tensor),
raises ``PipelineUnsuitable`` with the reason; ``train`` then streams from disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from segstudio.core.imageio import ImageReadError, read_image, read_image_size
from segstudio.ml.checkpoint import NORMALIZATION
from segstudio.ml.data import DataError, load_label_map

DEFAULT_CACHE_GB = 4.0
# The device pipeline's augmentations; "color" is brightness + contrast + saturation jitter.
BRIGHTNESS, COLOR_JITTER, ROTATION_DEGREES = 0.3, 0.3, 15.0


class PipelineUnsuitable(Exception):
    """The data set cannot be held as one in-memory tensor; the message says why."""


@dataclass
class DecodedSet:
    """Every image (N x 3 x H x W) and label map (N x H x W) of a data set, uint8, decoded once."""

    images: torch.Tensor
    masks: torch.Tensor

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def nbytes(self) -> int:
        return self.images.numel() + self.masks.numel()

    def to(self, device: torch.device) -> "DecodedSet":
        return DecodedSet(self.images.to(device), self.masks.to(device))

    def class_pixel_counts(self, num_classes: int) -> np.ndarray:
        counts = torch.bincount(self.masks.reshape(-1).long(), minlength=256)[:num_classes]
        return counts.cpu().numpy().astype(np.int64)


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def decode_pairs(
    pairs: list[tuple[Path, Path]],
    num_classes: int,
    ignore_index: int | None,
    size: int | tuple[int, int] | None = None,
    budget_bytes: float = DEFAULT_CACHE_GB * 1e9,
    threads: int | None = None,
) -> DecodedSet:
    """Decodes and validates every pair once (resized to ``size`` if given, as the eval transform does).

    Raises ``PipelineUnsuitable`` before decoding anything when the data set
    would exceed ``budget_bytes`` or its images differ in size; ``DataError``
    for an unreadable image or a bad label map, naming the file.
    """
    if not pairs:
        raise DataError("no (image, label map) pairs to train on")
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        sizes = {(h, w)}
    else:
        sizes = set()
        for image_path, _ in pairs:
            try:
                width, height = read_image_size(image_path)
            except ImageReadError as exc:
                raise DataError(f"{image_path.parent}/{exc}") from exc
            sizes.add((height, width))
        if len(sizes) > 1:
            shown = ", ".join(f"{w}x{h}" for h, w in sorted(sizes)[:4])
            raise PipelineUnsuitable(f"the images differ in size ({shown}...) and cannot share one tensor")
    h, w = next(iter(sizes))
    need = len(pairs) * h * w * 4
    if need > budget_bytes:
        raise PipelineUnsuitable(
            f"{len(pairs)} images of {w}x{h} need {_gb(need)} decoded, over the {_gb(budget_bytes)} "
            "memory budget (raise it with --cache-gb)"
        )
    images = torch.empty((len(pairs), 3, h, w), dtype=torch.uint8)
    masks = torch.empty((len(pairs), h, w), dtype=torch.uint8)

    def load(i: int) -> None:
        image_path, label_path = pairs[i]
        try:
            image = read_image(image_path)
        except ImageReadError as exc:
            raise DataError(f"{image_path.parent}/{exc}") from exc
        mask = load_label_map(label_path, num_classes, ignore_index, image.shape[:2])
        image_t = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
        mask_t = tv_tensors.Mask(torch.from_numpy(mask))
        if size is not None:  # the same resize as transforms.build_eval_transform / build_train_transform
            image_t = TF.resize(image_t, [h, w], antialias=True)
            mask_t = TF.resize(mask_t, [h, w])
        images[i] = image_t
        masks[i] = mask_t

    # Decoders release the GIL: a few threads decode a folder several times faster.
    workers = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(load, range(len(pairs))))
    return DecodedSet(images, masks)


@dataclass(frozen=True)
class BatchAugment:
    """Per-sample random augmentation of a uint8 batch, on whatever device the batch is on.

    ``crop``: output (h, w) (padded with ignore where the frame is smaller);
    ``None`` keeps the frame's size. ``scale``: (low, high) zoom range;
    ``rotate``: maximum degrees either way; ``brightness``/``contrast``/
    ``saturation``: jitter strength (factor drawn from [1 - s, 1 + s]).
    """

    crop: tuple[int, int] | None = None
    scale: tuple[float, float] | None = None
    rotate: float = 0.0
    flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    ignore_index: int = 11
    mean: tuple[float, ...] = tuple(NORMALIZATION["mean"])
    std: tuple[float, ...] = tuple(NORMALIZATION["std"])

    @classmethod
    def from_aug(
        cls,
        aug: set[str] | frozenset[str] | tuple[str, ...],
        crop: tuple[int, int] | None = None,
        ignore_index: int | None = 11,
        scale_range: tuple[float, float] = (0.5, 2.0),
        normalization: dict | None = None,
    ) -> "BatchAugment":
        """The device equivalent of ``transforms.build_train_transform(crop=..., aug=...)``."""
        aug = set(aug)
        norm = normalization or NORMALIZATION
        jitter = COLOR_JITTER if "color" in aug else 0.0
        return cls(
            crop=tuple(crop) if crop else None,
            scale=tuple(scale_range) if "scale" in aug else None,
            rotate=ROTATION_DEGREES if "rotate" in aug else 0.0,
            flip="flip" in aug,
            brightness=BRIGHTNESS if aug & {"bright", "color"} else 0.0,
            contrast=jitter,
            saturation=jitter,
            ignore_index=255 if ignore_index is None else int(ignore_index),
            mean=tuple(norm["mean"]),
            std=tuple(norm["std"]),
        )

    @property
    def moves_pixels(self) -> bool:
        return bool(self.crop or self.scale or self.rotate or self.flip)

    def __call__(
        self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 N x 3 x H x W + uint8 N x H x W -> normalised float32 images + int64 masks (same device)."""
        n, _, h, w = images.shape
        x = images.float().div_(255.0)
        if self.moves_pixels:
            oh, ow = self.crop or (h, w)
            grid = self._grid(n, h, w, oh, ow, generator, images.device)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            # Sampled as id + 1 so that 0 marks "outside the frame" and becomes the ignore index;
            # nearest sampling copies one source value, so ids stay exact integers.
            shifted = F.grid_sample((masks.float() + 1.0)[:, None], grid, mode="nearest",
                                    padding_mode="zeros", align_corners=False)[:, 0]
            y = shifted.long() - 1
            y = torch.where(y < 0, torch.full_like(y, self.ignore_index), y)
        else:
            y = masks.long()
        x = self._jitter(x, generator)
        return TF.normalize(x, list(self.mean), list(self.std)), y

    def _uniform(self, n: int, low: float, high: float, generator) -> torch.Tensor:
        return torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low

    def _grid(self, n: int, h: int, w: int, oh: int, ow: int, generator, device) -> torch.Tensor:
        """N x oh x ow x 2 sampling grid: output pixel -> source position (grid_sample's -1..1).

        The per-sample parameters are drawn on the CPU (a few numbers); the
        grid itself is built on ``device`` from one 2 x 3 matrix per sample.
        """
        if self.scale:
            lo, hi = math.log(self.scale[0]), math.log(self.scale[1])
            s = torch.exp(self._uniform(n, lo, hi, generator))  # log-uniform: zooming in and out equally likely
        else:
            s = torch.ones(n, dtype=torch.float64)
        angle = (self._uniform(n, -self.rotate, self.rotate, generator) * (math.pi / 180) if self.rotate
                 else torch.zeros(n, dtype=torch.float64))
        flipped = (torch.rand(n, generator=generator) < 0.5) if self.flip else torch.zeros(n, dtype=torch.bool)
        # The crop window's corner on the (scaled, rotated) canvas of the frame's size; a window larger
        # than the frame is placed at random over it (the rest is padding).
        x0 = self._uniform(n, min(0, w - ow), max(0, w - ow), generator).round()
        y0 = self._uniform(n, min(0, h - oh), max(0, h - oh), generator).round()
        f = torch.where(flipped, -1.0, 1.0).double()
        # Output pixel centre (u, v) -> canvas offset from the frame's centre:
        #   dx = f * u + (ow if flipped) + x0 - w / 2,  dy = v + y0 - h / 2
        # -> source = centre + rotate(-angle)(d) / s -> grid_sample's -1..1 (align_corners=False).
        ex = torch.where(flipped, float(ow), 0.0).double() + x0 - w / 2
        ey = y0 - h / 2
        cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
        theta = torch.stack([
            torch.stack([2 / w * cos * f, 2 / w * sin, 2 / w * (cos * ex + sin * ey)], dim=1),
            torch.stack([-2 / h * sin * f, 2 / h * cos, 2 / h * (-sin * ex + cos * ey)], dim=1),
        ], dim=1).float().to(device)  # N x 2 x 3; the "+ w/2 then * 2/w - 1" cancels to 0
        v, u = torch.meshgrid(torch.arange(oh, device=device, dtype=torch.float32) + 0.5,
                              torch.arange(ow, device=device, dtype=torch.float32) + 0.5, indexing="ij")
        base = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # oh x ow x 3
        return torch.einsum("hwk,njk->nhwj", base, theta)

    def _jitter(self, x: torch.Tensor, generator) -> torch.Tensor:
        n = x.shape[0]

        def factors(strength: float) -> torch.Tensor:
            return self._uniform(n, 1 - strength, 1 + strength, generator).float().to(x.device).view(n, 1, 1, 1)

        if self.brightness:
            x = (x * factors(self.brightness)).clamp_(0, 1)
        if self.contrast:
            mean = TF.rgb_to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
            x = _blend(x, mean, factors(self.contrast))
        if self.saturation:
            x = _blend(x, TF.rgb_to_grayscale(x), factors(self.saturation))
        return x


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * x + (1 - factor) * other, clamped: what v2's adjust_contrast/saturation do, per sample."""
    return (factor * x + (1 - factor) * other).clamp_(0, 1)


class DeviceBatches:
    """Shuffled, augmented training batches (or plain eval batches) from a ``DecodedSet``.

    Iterating ``epoch(seed)`` yields ``(images float N x 3 x H x W normalised,
    masks int64 N x H x W)`` on ``device``. The shuffle and the augmentation
    draw from a generator seeded by ``seed``, so a resumed run repeats an
    uninterrupted one. Under torchrun each rank takes its share of every
    epoch's permutation, all ranks the same number of steps.
    """

    def __init__(
        self,
        data: DecodedSet,
        batch_size: int,
        device: torch.device,
        augment: BatchAugment | None = None,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.data, self.batch_size, self.device = data, max(1, int(batch_size)), torch.device(device)
        self.augment = augment or BatchAugment()
        self.shuffle, self.rank, self.world_size = shuffle, rank, max(1, world_size)
        # A cache left on the CPU feeds a GPU through page-locked memory (asynchronous copies).
        self._pinned = data.images.device.type == "cpu" and self.device.type == "cuda"

    def _count(self) -> int:
        """Samples this rank sees per epoch: for training, the same on every rank (DDP needs equal steps)."""
        n = len(self.data)
        if self.world_size == 1:
            return n
        return n // self.world_size if self.shuffle else len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        n = self._count()
        if self.shuffle and n > self.batch_size:  # drop the last partial batch, as the DataLoader does
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def epoch(self, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self.data), generator=generator) if self.shuffle else torch.arange(len(self.data))
        indices = order[self.rank :: self.world_size][: self._count()]
        for b in range(len(self)):
            index = indices[b * self.batch_size : (b + 1) * self.batch_size]
            images = self.data.images.index_select(0, index.to(self.data.images.device))
            masks = self.data.masks.index_select(0, index.to(self.data.masks.device))
            if self._pinned:
                images, masks = images.pin_memory(), masks.pin_memory()
            images = images.to(self.device, non_blocking=True)
            masks = masks.to(self.device, non_blocking=True)
            yield self.augment(images, masks, generator)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.epoch(0)


def place_cache(data: DecodedSet, device: torch.device, share: float = 0.25) -> DecodedSet:
    """On a GPU, moves the cache there when it takes at most ``share`` of free memory (batches then
    never cross the bus); elsewhere keeps it where it is."""
    device = torch.device(device)
    if device.type != "cuda":
        return data
    free, _ = torch.cuda.mem_get_info(device)
    return data.to(device) if data.nbytes <= share * free else data
