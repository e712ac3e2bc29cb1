import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from segstudio.core.atomic import SaveError, atomic_write_bytes
from segstudio.core.imageio import ImageReadError, list_images, read_image, read_image_size
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.maskio import (
    MaskFormatError,
    read_color_png,
    read_index_png,
    read_label_map,
    write_color_png,
    write_index_png,
)


def test_list_images_natural_order_skips_hidden(tmp_path):
    for name in ("img10.png", "img2.png", ".hidden.png", "notes.txt", "img1.JPG"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["img1.JPG", "img2.png", "img10.png"]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    base = np.random.default_rng(orientation).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    img = Image.fromarray(base)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    img.save(path, exif=exif, quality=100)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_image(path)
    assert np.array_equal(got, expected)
    assert read_image_size(path) == (got.shape[1], got.shape[0])


def test_odd_images_decode_to_rgb(tmp_path):
    import cv2

    grey16 = (np.arange(20 * 30).reshape(20, 30) * 6).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    cv2.imwrite(str(tmp_path / "rgb16.png"), np.full((20, 30, 3), 40000, np.uint16))
    Image.new("RGBA", (30, 20), (255, 0, 0, 128)).save(tmp_path / "rgba.png")
    Image.new("P", (30, 20)).save(tmp_path / "pal.png")
    Image.new("CMYK", (30, 20), (0, 255, 0, 0)).save(tmp_path / "cmyk.jpg")
    Image.new("RGB", (30, 20), (1, 2, 3)).save(tmp_path / "ünïcødé 图.png")
    for name in ("g16.png", "rgb16.png", "rgba.png", "pal.png", "cmyk.jpg", "ünïcødé 图.png"):
        arr = read_image(tmp_path / name)
        assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8, name
    assert read_image(tmp_path / "g16.png").max() == 255  # scaled by its range, not left dark


def test_broken_files_give_clear_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not an image")
    Image.new("RGB", (200, 200)).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:100])
    for name, words in (("empty.png", "empty"), ("text.jpg", "not an image"), ("cut.png", "truncated")):
        with pytest.raises(ImageReadError, match=words):
            read_image(tmp_path / name)


def test_huge_header_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (10, 10)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", 100_000, 100_000) + data[24:29]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    assert read_image_size(path) == (100_000, 100_000)
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(path)


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "mask.png"
    atomic_write_bytes(target, b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(SaveError, match="no space left"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["mask.png"]


def test_index_png_round_trip_with_palette(tmp_path):
    mask = np.random.default_rng(1).integers(0, 12, (33, 47), dtype=np.uint8)
    write_index_png(tmp_path / "m.png", mask, CAMVID)
    img = Image.open(tmp_path / "m.png")
    assert img.mode == "P" and img.getpalette()[3:6] == [128, 0, 0]
    assert np.array_equal(read_index_png(tmp_path / "m.png", CAMVID), mask)


def test_masks_are_validated_not_fixed(tmp_path):
    Image.fromarray(np.full((10, 10), 14, np.uint8), mode="L").save(tmp_path / "bad_id.png")
    with pytest.raises(MaskFormatError, match="14"):
        read_index_png(tmp_path / "bad_id.png", CAMVID)
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(tmp_path / "small.png")
    with pytest.raises(MaskFormatError, match="never resized"):
        read_index_png(tmp_path / "small.png", CAMVID, shape=(20, 20))
    Image.new("RGB", (10, 10), (1, 2, 3)).save(tmp_path / "rgb.png")
    with pytest.raises(MaskFormatError, match="colour"):
        read_index_png(tmp_path / "rgb.png", CAMVID)
    with pytest.raises(MaskFormatError, match=r"\(1, 2, 3\)"):
        read_color_png(tmp_path / "rgb.png", CAMVID)
    Image.fromarray(np.zeros((10, 10), np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(MaskFormatError, match="16-bit"):
        read_index_png(tmp_path / "deep.png", CAMVID)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(1, 20), st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_colour_round_trip_with_random_palettes(n, h, w, seed):
    rng = np.random.default_rng(seed)
    colours = set()
    while len(colours) < n:
        colours.add(tuple(int(c) for c in rng.integers(0, 256, 3)))
    labels = LabelSet(names=tuple(f"c{i}" for i in range(n)), colors=tuple(colours))
    mask = rng.integers(0, n, (h, w), dtype=np.uint8)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        write_color_png(Path(d) / "c.png", mask, labels)
        assert np.array_equal(read_color_png(Path(d) / "c.png", labels), mask)
        assert np.array_equal(read_label_map(Path(d) / "c.png", labels), mask)
        write_index_png(Path(d) / "i.png", mask, labels)
        assert np.array_equal(read_label_map(Path(d) / "i.png", labels), mask)
