"""Datumaro, the library behind CVAT's import and export, reads every export format.

Datumaro lives in its own venv (it pins Pillow 12 and OpenCV < 5, older than
ours; see README's dependency table): ``make datumaro-venv`` builds
``.venv-datumaro`` and ``make test`` requires it. The reader script
(tests/external/datumaro_read.py) runs there as a subprocess; this test
compares what Datumaro saw with SegStudio's masks **by class name**, since
Datumaro renumbers classes (black first).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segstudio.core.export import export_masks
from segstudio.core.project import Project
from tests.format_data import LABELSETS, STEMS, annotate, make_images

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "tests" / "external" / "datumaro_read.py"
DATUMARO_PYTHON = Path(os.environ.get("SEGSTUDIO_DATUMARO_PYTHON", ROOT / ".venv-datumaro" / "bin" / "python"))
EXPECTED_FORMAT = {
    "camvid": "camvid",
    "voc": "voc_segmentation",
    "datumaro": "common_semantic_segmentation",
    "datumaro-split": "common_semantic_segmentation_with_subset_dirs",
}


def _datumaro_python() -> Path:
    if not DATUMARO_PYTHON.is_file():
        message = f"no Datumaro venv at {DATUMARO_PYTHON}: run `make datumaro-venv`"
        if os.environ.get("SEGSTUDIO_REQUIRE_DATUMARO") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return DATUMARO_PYTHON


@pytest.fixture(scope="module")
def datumaro_results(tmp_path_factory):
    """Every format, whole and split, for both label sets, read in one Datumaro run."""
    python = _datumaro_python()
    tmp = tmp_path_factory.mktemp("datumaro")
    cases, folders = {}, []
    for labels, labelset in LABELSETS.items():
        images = make_images(tmp / labels / "images")
        masks = annotate(images, labelset)
        project = Project.open(images)
        for fmt in ("camvid", "voc", "datumaro"):
            for split in (None, 0.3):
                name = f"{labels}-{fmt}" + ("-split" if split else "")
                report = export_masks(project, tmp / "exports" / name, fmt, split=split)
                assert report.written == len(STEMS) and not report.errors
                cases[name] = (labelset, masks, fmt, split, report)
                folders.append(str(tmp / "exports" / name))
        project.close()
    run = subprocess.run([str(python), str(READER), str(tmp / "read"), *folders], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {}
    for name in cases:
        result = json.loads((tmp / "read" / name / "result.json").read_text())
        with np.load(tmp / "read" / name / "masks.npz") as data:
            results[name] = (result, {key: data[key] for key in data.files})
    return cases, results


@pytest.mark.parametrize("labels", sorted(LABELSETS))
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("fmt", ["camvid", "voc", "datumaro"])
def test_datumaro_detects_and_reads_the_export_by_class_name(datumaro_results, fmt, split, labels):
    cases, results = datumaro_results
    name = f"{labels}-{fmt}" + ("-split" if split else "")
    labelset, masks, _, _, report = cases[name]
    result, read = results[name]
    expected = EXPECTED_FORMAT.get(f"{fmt}-split" if split else fmt, EXPECTED_FORMAT[fmt])
    assert expected in result["detected"] and result["format"] == expected
    subsets_of = {}
    for item_name, item in result["items"].items():
        subsets_of.setdefault(item["id"], set()).add(item["subset"])
        mask = read[item_name]
        assert (mask >= 0).all(), f"{item_name}: pixels without a class"
        theirs = np.asarray(result["labels"], dtype=object)[mask]
        ours = np.asarray(labelset.names, dtype=object)[masks[item["id"]]]
        assert (theirs == ours).all(), item_name
        assert item["image_size"] == list(masks[item["id"]].shape), item_name
    assert set(subsets_of) == set(STEMS)
    if split:  # voc also lists everything in trainval, as VOC does
        train_val = {k: s - {"trainval"} for k, s in subsets_of.items()}
        assert all(len(s) == 1 for s in train_val.values())
        assert {next(iter(s)) for s in train_val.values()} == {"train", "val"}
        for seq in ("0016E5", "0001TP", "Seq05VD"):
            assert len({next(iter(s)) for k, s in train_val.items() if k.startswith(seq)}) == 1, seq
