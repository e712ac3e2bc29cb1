"""The batches ``train`` consumes: the in-memory device pipeline, or streaming from disk.

``pipeline="device"`` (``batch_pipeline``): decoded once, augmented batch-wise
on the training device. ``"stream"``: ``SegmentationFolder`` + ``DataLoader``
(worker processes optional), one image at a time on the CPU. ``"auto"`` takes
the device pipeline when the data set fits it and says why when it does not.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from segstudio.core.imageio import ImageReadError, read_image_size
from segstudio.ml.batch_pipeline import BatchAugment, DeviceBatches, PipelineUnsuitable, decode_pairs, place_cache
from segstudio.ml.checkpoint import NORMALIZATION
from segstudio.ml.data import SegmentationFolder, pair_files
from segstudio.ml.distributed import DistContext
from segstudio.ml.transforms import build_eval_transform, build_train_transform

log = logging.getLogger(__name__)
PIPELINES = ("auto", "device", "stream")


@dataclass
class TrainingData:
    train: DeviceBatches | torch.utils.data.DataLoader
    val: DeviceBatches | torch.utils.data.DataLoader | None
    description: str
    class_counts: np.ndarray = field(repr=False, default=None)
    sampler: torch.utils.data.DistributedSampler | None = None
    image_size: tuple[int, int] | None = None  # the training frames' median (H, W): the scale the model learns

    @property
    def steps_per_epoch(self) -> int:
        return max(1, len(self.train))

    def epoch(self, epoch: int, seed: int) -> Iterable:
        """This epoch's training batches; ``seed`` fixes the shuffle and augmentation (resume-safe)."""
        if isinstance(self.train, DeviceBatches):
            return self.train.epoch(seed)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)  # a different shuffle every epoch, same on every rank
        self.train.generator.manual_seed(seed)
        return self.train


def make_loader(dataset, batch_size: int, shuffle: bool, ctx: DistContext, seed: int, num_workers: int):
    """The streaming ``DataLoader`` (and its ``DistributedSampler`` under torchrun)."""
    if getattr(sys, "frozen", False):
        num_workers = 0  # a frozen app cannot spawn DataLoader worker processes
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed) if ctx.enabled else None
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=shuffle and len(dataset) > batch_size * max(ctx.world_size, 1),
        generator=generator,
        persistent_workers=num_workers > 0,
    )
    return loader, sampler


def median_image_size(pairs) -> tuple[int, int] | None:
    """The median (H, W) of the images of ``(image, label)`` pairs, read from their headers."""
    sizes = []
    for image_path, _ in pairs:
        try:
            width, height = read_image_size(image_path)
        except (ImageReadError, OSError):
            continue
        sizes.append((height, width))
    if not sizes:
        return None
    return int(np.median([h for h, _ in sizes])), int(np.median([w for _, w in sizes]))


def build_training_data(
    config, ctx: DistContext, device: torch.device, want_counts: bool, normalization: dict | None = None
) -> TrainingData:
    """The training (and validation) batches a ``TrainConfig`` asks for, normalised as the encoder expects."""
    norm = normalization or NORMALIZATION
    if config.pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline {config.pipeline!r}; choose one of: {', '.join(PIPELINES)}")
    n_classes, ignore = config.labelset.num_classes, config.ignore_index
    train_pairs = pair_files(config.train_images, config.train_labels)
    val_pairs = pair_files(config.val_images, config.val_labels) if config.val_images and config.val_labels else None
    budget = config.cache_gb * 1e9
    why_not = ""
    if config.pipeline != "stream":
        try:
            decoded = decode_pairs(train_pairs, n_classes, ignore, config.size, budget)
            val_decoded = None
            if val_pairs:
                val_decoded = decode_pairs(val_pairs, n_classes, ignore, config.size, budget - decoded.nbytes)
        except PipelineUnsuitable as exc:
            if config.pipeline == "device":
                raise ValueError(f"the in-memory pipeline cannot take this data set: {exc}") from exc
            why_not = str(exc)
        else:
            augment = BatchAugment.from_aug(config.aug, config.crop, ignore, config.scale_range, norm)
            counts = decoded.class_pixel_counts(n_classes) if want_counts else None
            decoded = place_cache(decoded, device)
            train = DeviceBatches(decoded, config.batch_size, device, augment, True, ctx.rank, ctx.world_size)
            val = None
            if val_decoded is not None:
                plain = BatchAugment(ignore_index=augment.ignore_index, mean=augment.mean, std=augment.std)
                val = DeviceBatches(place_cache(val_decoded, device), config.batch_size, device, plain, False,
                                    ctx.rank, ctx.world_size)
            size_mb = (decoded.nbytes + (val_decoded.nbytes if val_decoded is not None else 0)) / 1e6
            where = decoded.images.device
            description = (f"in-memory: {len(decoded)} training + {len(val_decoded) if val_decoded else 0} "
                           f"validation images decoded once ({size_mb:.0f} MB on {where}), "
                           f"augmented in batches on {device}")
            return TrainingData(train, val, description, counts, image_size=median_image_size(train_pairs))
    train_set = SegmentationFolder(
        train_pairs, n_classes,
        build_train_transform(config.size, config.crop, set(config.aug), ignore, norm,
                              scale_range=tuple(config.scale_range)),
        ignore,
    )
    loader, sampler = make_loader(train_set, config.batch_size, True, ctx, config.seed, config.num_workers)
    val_loader = None
    if val_pairs:
        val_set = SegmentationFolder(val_pairs, n_classes, build_eval_transform(config.size, norm), ignore)
        # Crops train, full frames evaluate: one image per batch then (frames may differ in size).
        val_bs = config.batch_size if config.size else 1
        val_loader, _ = make_loader(val_set, val_bs, False, ctx, config.seed, config.num_workers)
    description = f"streaming from disk ({config.num_workers} worker processes)"
    if why_not:
        description += f": {why_not}"
        log.warning("in-memory pipeline not used: %s", why_not)
    counts = train_set.class_pixel_counts() if want_counts else None
    return TrainingData(loader, val_loader, description, counts, sampler, median_image_size(train_pairs))
