"""Pairing images with label maps, and strict label-map validation."""

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.core.labels import CAMVID
from segstudio.ml.data import DataError, SegmentationFolder, load_label_map, pair_files
from segstudio.ml.transforms import build_eval_transform


def _write(folder, stem, image=None, mask=None, ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    if image is not None:
        Image.fromarray(image).save(folder / f"{stem}{ext}")
    if mask is not None:
        Image.fromarray(mask, mode="L").save(folder / f"{stem}.png")


def _pair(tmp_path, stems=("a", "b"), h=8, w=12):
    for stem in stems:
        _write(tmp_path / "img", stem, image=np.full((h, w, 3), 100, np.uint8))
        _write(tmp_path / "lab", stem, mask=np.zeros((h, w), np.uint8))
    return tmp_path / "img", tmp_path / "lab"


def test_pairs_by_stem_across_extensions(tmp_path):
    img, lab = _pair(tmp_path, ("b", "a"))
    _write(img, "c", image=np.zeros((8, 12, 3), np.uint8), ext=".jpg")
    _write(lab, "c", mask=np.zeros((8, 12), np.uint8))
    (img / "notes.txt").write_text("not an image")
    pairs = pair_files(img, lab)
    assert [(p.name, q.name) for p, q in pairs] == [("a.png", "a.png"), ("b.png", "b.png"), ("c.jpg", "c.png")]


def test_unpaired_files_are_named(tmp_path):
    img, lab = _pair(tmp_path, ("a", "b"))
    _write(img, "only_image", image=np.zeros((8, 12, 3), np.uint8))
    _write(lab, "only_label", mask=np.zeros((8, 12), np.uint8))
    with pytest.raises(DataError) as err:
        pair_files(img, lab)
    assert "only_image.png" in str(err.value) and "only_label.png" in str(err.value)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        pair_files(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        pair_files(tmp_path / "empty", tmp_path)


def test_bad_class_id_names_file_and_id(tmp_path):
    img, lab = _pair(tmp_path, ("a",))
    mask = np.zeros((8, 12), np.uint8)
    mask[0, 0] = 17
    _write(lab, "a", mask=mask)
    ds = SegmentationFolder(pair_files(img, lab), 12, ignore_index=11)
    with pytest.raises(DataError) as err:
        ds[0]
    assert "a.png" in str(err.value) and "17" in str(err.value)


def test_ignore_index_outside_classes_is_allowed(tmp_path):
    mask = np.array([[0, 1, 255], [2, 255, 0]], np.uint8)
    _write(tmp_path, "m", mask=mask)
    assert (load_label_map(tmp_path / "m.png", 3, 255) == mask).all()
    with pytest.raises(DataError, match="255"):
        load_label_map(tmp_path / "m.png", 3, None)


def test_size_mismatch_names_both_sizes(tmp_path):
    img, lab = _pair(tmp_path, ("a",), h=8, w=12)
    _write(lab, "a", mask=np.zeros((10, 14), np.uint8))
    ds = SegmentationFolder(pair_files(img, lab), 12)
    with pytest.raises(DataError) as err:
        ds.load_arrays(0)
    assert "14x10" in str(err.value) and "12x8" in str(err.value)


def test_palette_png_reads_indices_not_colours(tmp_path):
    mask = np.array([[0, 3, 8], [11, 3, 0]], np.uint8)
    p = Image.frombytes("P", (3, 2), mask.tobytes())
    p.putpalette(CAMVID.palette())
    p.save(tmp_path / "p.png")
    assert (load_label_map(tmp_path / "p.png", 12, 11) == mask).all()


def test_non_ascii_path_cache_and_tensors(tmp_path):
    root = tmp_path / "données_日本"
    image = np.random.default_rng(0).integers(0, 255, (8, 12, 3), dtype=np.uint8)
    _write(root / "img", "été", image=image)
    _write(root / "lab", "été", mask=np.full((8, 12), 3, np.uint8))
    ds = SegmentationFolder(pair_files(root / "img", root / "lab"), 12, build_eval_transform(), 11)
    first = ds.load_arrays(0)
    assert ds.load_arrays(0)[0] is first[0]  # cached: decoded once
    assert (first[0] == image).all()  # RGB order kept
    x, y = ds[0]
    assert x.shape == (3, 8, 12) and x.dtype == torch.float32
    assert y.shape == (8, 12) and y.dtype == torch.int64 and int(y.max()) == 3
    assert ds.class_pixel_counts()[3] == 96
