"""Reads a data set with Datumaro and writes what it saw, for tests/core/test_formats_datumaro.py.

Runs in the separate Datumaro venv (``make datumaro-venv``: Datumaro pins
Pillow 12 and OpenCV < 5, older than SegStudio's), never imported by pytest:

    python datumaro_read.py OUT_ROOT DATASET_DIR...

(one interpreter start for many data sets: Datumaro takes seconds to import).
OUT_ROOT/<data set folder name>/result.json: the formats Datumaro detects,
the one it imported (``voc_segmentation`` preferred to the instance variant
it also detects), its
label names in its own id order, and per item its subset, id and image size;
and masks.npz: per item ("<subset>/<id>") the class-id mask in Datumaro's
ids (-1 where no mask covers a pixel). The test maps ids to names itself.
"""

import json
import sys
from pathlib import Path

import numpy as np
from datumaro.components.annotation import AnnotationType
from datumaro.components.dataset import Dataset
from datumaro.components.environment import Environment


def main(dataset_dir: str, out_dir: str) -> None:
    detected = sorted(Environment().detect_dataset(dataset_dir))
    result = {"detected": detected, "format": None, "labels": [], "items": {}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    masks = {}
    if detected:
        fmt = "voc_segmentation" if "voc_segmentation" in detected else detected[0]
        dataset = Dataset.import_from(dataset_dir, fmt)
        result["format"] = fmt
        result["labels"] = [label.name for label in dataset.categories()[AnnotationType.label]]
        for item in dataset:
            name = f"{item.subset}/{item.id}"
            mask = None
            for ann in item.annotations:
                if ann.type != AnnotationType.mask:
                    continue
                pixels = np.asarray(ann.image, bool)
                if mask is None:
                    mask = np.full(pixels.shape, -1, np.int16)
                if (mask[pixels] >= 0).any():
                    raise SystemExit(f"{name}: two masks claim the same pixel")
                mask[pixels] = ann.label
            image_size = list(item.media.size) if item.media is not None and item.media.has_data else None
            result["items"][name] = {"subset": item.subset, "id": item.id, "image_size": image_size}
            if mask is not None:
                masks[name] = mask
    np.savez_compressed(out / "masks.npz", **masks)
    (out / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    for folder in sys.argv[2:]:
        main(folder, str(Path(sys.argv[1]) / Path(folder).name))
