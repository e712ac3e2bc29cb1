"""Joint image/mask transforms with torchvision.transforms.v2.

Image and mask travel together as ``tv_tensors.Image`` and ``tv_tensors.Mask``,
so every geometric transform moves both identically; v2 resamples masks with
nearest neighbour. Pixels that a rotation, scale or crop brings in are filled
with the ignore index in the mask (and black in the image): the network is
never taught that the empty corner of a rotated frame is a real class.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from segstudio.ml.checkpoint import NORMALIZATION

# "color" jitters brightness, contrast and saturation; "bright" brightness only (the study's).
AUGMENTATIONS = ("bright", "rotate", "flip", "scale", "color")


def parse_aug(text: str | None) -> set[str]:
    if not text or text == "none":
        return set()
    augs = {a.strip() for a in text.split(",") if a.strip()}
    unknown = augs - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    return augs


def _finish(normalization: dict) -> list:
    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
        v2.Normalize(mean=normalization["mean"], std=normalization["std"]),
    ]


def build_train_transform(
    size: int | tuple[int, int] | None = None,
    crop: tuple[int, int] | None = None,
    aug: set[str] | frozenset[str] = frozenset(),
    ignore_index: int = 11,
    normalization: dict | None = None,
    rotation_degrees: float = 15.0,
    scale_range: tuple[float, float] = (0.5, 2.0),
) -> v2.Compose:
    """Training pipeline: square resize (``size``) or random crops (``crop``) + augmentations."""
    fill = {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}
    steps: list = []
    if size is not None:
        steps.append(v2.Resize(_pair(size), antialias=True))
    if "scale" in aug:
        steps.append(v2.RandomAffine(degrees=0, scale=scale_range, fill=fill))
    if "rotate" in aug:
        steps.append(v2.RandomRotation(rotation_degrees, fill=fill))
    if crop is not None:
        steps.append(v2.RandomCrop(_pair(crop), pad_if_needed=True, fill=fill))
    if "flip" in aug:
        steps.append(v2.RandomHorizontalFlip())
    if "color" in aug:
        steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3))  # tv_tensors.Image only
    elif "bright" in aug:
        steps.append(v2.ColorJitter(brightness=0.3))  # touches tv_tensors.Image only
    return v2.Compose(steps + _finish(normalization or NORMALIZATION))


def build_eval_transform(size: int | tuple[int, int] | None = None, normalization: dict | None = None) -> v2.Compose:
    steps: list = []
    if size is not None:
        steps.append(v2.Resize(_pair(size), antialias=True))
    return v2.Compose(steps + _finish(normalization or NORMALIZATION))


def _pair(value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def to_tv(image, mask) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """numpy HxWx3 uint8 + HxW uint8 -> the tv_tensors the transforms expect."""
    img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1).contiguous())
    return img, tv_tensors.Mask(torch.from_numpy(mask.astype("int64")))
