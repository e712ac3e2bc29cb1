"""Small annotated folders for the export/import tests (tests/core, tests/cli, tests/ml).

Two label sets: CamVid's, and one that is not CamVid in every way that has
broken exporters: 14 classes, a class literally named "background" that is
not black and not id 0, the black class last (Datumaro moves black first).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.project import ImageStatus, Project

WIDE = LabelSet(
    name="wide",
    names=(
        "road", "background", "building", "wall", "fence", "pole", "light", "sign",
        "vegetation", "terrain", "sky", "person", "car", "unlabeled",
    ),
    colors=(
        (128, 64, 128), (10, 20, 30), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (0, 0, 142), (0, 0, 0),
    ),
    ignore_index=13,
)
LABELSETS = {"camvid": CAMVID, "wide": WIDE}
# CamVid-style names: three video sequences, plus one JPEG to check VOC's byte copy.
STEMS = ("0016E5_07959", "0016E5_07961", "0001TP_006690", "0001TP_006720", "Seq05VD_f02340", "Seq05VD_f02370")


def make_images(folder: Path, stems=STEMS, size=(10, 14)) -> Path:
    """RGB images named ``stems`` (the last as JPEG), random content."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(stems))
    for i, stem in enumerate(stems):
        image = Image.fromarray(rng.integers(0, 256, (*size, 3), np.uint8))
        image.save(folder / (f"{stem}.jpg" if i == len(stems) - 1 else f"{stem}.png"))
    return folder


def annotate(folder: Path, labelset: LabelSet, statuses=(ImageStatus.REVIEWED, ImageStatus.EDITED)) -> dict[str, np.ndarray]:
    """Saves a random mask using every class for each image; returns key -> mask."""
    project = Project.open(folder, labelset)
    rng = np.random.default_rng(7)
    masks = {}
    for i, key in enumerate(project.keys):
        w, h = Image.open(project.images[i]).size
        mask = rng.integers(0, labelset.num_classes, (h, w)).astype(np.uint8)
        mask.ravel()[: labelset.num_classes] = np.arange(labelset.num_classes)  # every class present
        project.save_mask(key, mask)
        project.set_status(key, statuses[i % len(statuses)])
        masks[key] = mask
    project.save_state()
    project.close()
    return masks


def file_hashes(folder: Path) -> dict[str, str]:
    """sha1 of every user file (``.segstudio`` excluded): the originals must never change."""
    return {
        p.name: hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir()) if p.is_file()
    }
