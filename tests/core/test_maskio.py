import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.maskio import (
    MaskFormatError,
    read_color_png,
    read_index_png,
    read_label_map,
    write_color_png,
    write_index_png,
)


def test_index_png_embeds_the_whole_palette_and_is_atomic(tmp_path):
    mask = np.arange(12, dtype=np.uint8).repeat(3).reshape(6, 6)
    write_index_png(tmp_path / "m.png", mask, CAMVID)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]
    img = Image.open(tmp_path / "m.png")
    assert img.format == "PNG" and img.mode == "P"
    palette = np.array(img.getpalette()[: 36]).reshape(12, 3)
    assert [tuple(c) for c in palette] == list(CAMVID.colors)
    assert np.array_equal(np.array(img), mask)  # indices are the ids
    assert np.array_equal(read_label_map(tmp_path / "m.png", CAMVID), mask)


def test_bad_ids_are_listed_with_counts(tmp_path):
    mask = np.zeros((10, 10), np.uint8)
    mask[0, :3] = 12
    mask[1, :7] = 200
    Image.fromarray(mask).save(tmp_path / "ids.png")
    with pytest.raises(MaskFormatError) as info:
        read_index_png(tmp_path / "ids.png", CAMVID)
    message = str(info.value)
    assert "ids.png" in message and "12 (3 px)" in message and "200 (7 px)" in message


def test_wrong_size_names_both_sizes_before_decoding(tmp_path):
    Image.fromarray(np.zeros((10, 20), np.uint8)).save(tmp_path / "m.png")
    with pytest.raises(MaskFormatError, match=r"m.png.*20x10.*40x30"):
        read_label_map(tmp_path / "m.png", CAMVID, shape=(30, 40))


def test_rgb_16bit_and_broken_files_where_an_index_mask_is_expected(tmp_path):
    Image.new("RGB", (4, 4), CAMVID.colors[3]).save(tmp_path / "rgb.png")
    with pytest.raises(MaskFormatError, match="rgb.png.*colour mask"):
        read_index_png(tmp_path / "rgb.png", CAMVID)
    assert (read_label_map(tmp_path / "rgb.png", CAMVID) == 3).all()
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.zeros((4, 4, 3), np.uint16))
    cv2.imwrite(str(tmp_path / "g16.png"), np.zeros((4, 4), np.uint16))
    for name in ("rgb16.png", "g16.png"):
        for reader in (read_index_png, read_color_png, read_label_map):
            with pytest.raises(MaskFormatError, match=f"{name}.*16-bit"):
                reader(tmp_path / name, CAMVID)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    Image.new("L", (50, 50)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:60])
    for name in ("empty.png", "text.png", "cut.png", "missing.png"):
        with pytest.raises(MaskFormatError, match=name):
            read_label_map(tmp_path / name, CAMVID)


def test_unknown_colours_listed_most_frequent_first_up_to_five(tmp_path):
    rgb = np.zeros((10, 10, 3), np.uint8)  # (0,0,0) is Void
    for i in range(7):
        rgb[i, : i + 1] = (1, 2, 10 + i)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(MaskFormatError) as info:
        read_color_png(tmp_path / "c.png", CAMVID)
    message = str(info.value)
    assert "c.png" in message and "7 colour(s)" in message and "2 more" in message
    assert "(1, 2, 16): 7 px" in message and "(1, 2, 10)" not in message


def test_palette_png_holding_label_colours_at_other_indices_is_read_by_colour(tmp_path):
    # A colour mask some tool saved palette-mode: index 0 -> Road's colour, 1 -> Car's.
    img = Image.new("P", (2, 2))
    img.putdata([0, 1, 1, 0])
    img.putpalette(list(CAMVID.colors[3]) + list(CAMVID.colors[8]) + [0] * 762)
    img.save(tmp_path / "p.png")
    assert read_label_map(tmp_path / "p.png", CAMVID).tolist() == [[3, 8], [8, 3]]
    assert read_index_png(tmp_path / "p.png", CAMVID).tolist() == [[0, 1], [1, 0]]  # indices, as asked
    # A grey-ramp palette is plainly indices, even where index 0 is black (= Void's colour).
    grey = Image.new("P", (2, 2))
    grey.putdata([0, 0, 0, 0])
    grey.putpalette([v for i in range(256) for v in (i, i, i)])
    grey.save(tmp_path / "g.png")
    assert (read_label_map(tmp_path / "g.png", CAMVID) == 0).all()


def _labelset(n, rng):
    colours = set()
    while len(colours) < n:
        colours.add(tuple(int(c) for c in rng.integers(0, 256, 3)))
    return LabelSet(names=tuple(f"c{i}" for i in range(n)), colors=tuple(colours), ignore_index=n - 1)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 255), st.integers(1, 24), st.integers(1, 24), st.integers(0, 2**32 - 1))
def test_index_and_colour_round_trips_with_random_label_sets(n, h, w, seed):
    rng = np.random.default_rng(seed)
    labels = _labelset(n, rng)
    mask = rng.integers(0, n, (h, w), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as d:
        index, colour = Path(d) / "i.png", Path(d) / "c.png"
        write_index_png(index, mask, labels)
        write_color_png(colour, mask, labels)
        for path in (index, colour):
            assert np.array_equal(read_label_map(path, labels, shape=(h, w)), mask)
        assert np.array_equal(read_index_png(index, labels), mask)
        assert np.array_equal(read_color_png(colour, labels), mask)
