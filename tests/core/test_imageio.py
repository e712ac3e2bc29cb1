import io
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from segstudio.core.imageio import (
    ImageReadError,
    apply_orientation,
    list_images,
    read_image,
    read_image_size,
    thumbnail,
)


def _bomb(path, w=100_000, h=100_000):
    """A tiny PNG whose IHDR claims w x h (CRC fixed, so the header is valid)."""
    Image.new("RGB", (10, 10)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = struct.pack(">II", w, h) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def test_list_images_is_flat_and_skips_the_project_folder(tmp_path):
    (tmp_path / ".segstudio" / "masks").mkdir(parents=True)
    Image.new("L", (2, 2)).save(tmp_path / ".segstudio" / "masks" / "a.png")
    (tmp_path / "sub").mkdir()
    Image.new("L", (2, 2)).save(tmp_path / "sub" / "b.png")
    (tmp_path / "dir.png").mkdir()  # a folder with an image name
    for name in ("x20.tif", "x3.bmp", "X1.jpeg", "x100.TIFF"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["X1.jpeg", "x3.bmp", "x20.tif", "x100.TIFF"]


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_in_png_matches_pillow_and_size(tmp_path, orientation):
    base = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3) * 3
    img = Image.fromarray(base)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    img.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_image(path)
    assert np.array_equal(got, expected)
    assert np.array_equal(apply_orientation(base, orientation), expected)
    assert read_image_size(path) == (got.shape[1], got.shape[0])
    assert (got.shape[:2] == (6, 4)) == (orientation >= 5)
    assert thumbnail(path, 64).shape == got.shape


def test_size_is_read_from_the_header_without_decoding(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    Image.new("RGB", (40, 30)).save(path)

    def no_decoding(self):
        raise AssertionError("decoded pixels to read a size")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert read_image_size(path) == (40, 30)


def test_header_claiming_100000_squared_is_refused_fast_in_every_reader(tmp_path):
    path = _bomb(tmp_path / "bomb.png")
    start = time.perf_counter()
    assert read_image_size(path) == (100_000, 100_000)
    with pytest.raises(ImageReadError, match="bomb.png.*megapixels"):
        read_image(path)
    with pytest.raises(ImageReadError, match="too large"):
        read_image(path, downsample_over_limit=True)  # would need 10^10 pixels decoded
    with pytest.raises(ImageReadError, match="bomb.png"):
        thumbnail(path, 96)
    assert time.perf_counter() - start < 2.0


def test_over_limit_jpeg_decodes_reduced_when_asked(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 600), (200, 10, 10)).save(path, quality=95)
    with pytest.raises(ImageReadError, match="downsample"):
        read_image(path, max_pixels=100_000)
    info = {}
    small = read_image(path, max_pixels=100_000, downsample_over_limit=True, info=info)
    assert small.shape[0] * small.shape[1] <= 100_000
    assert info["original_size"] == (800, 600) and info["downsampled"] > 1
    assert abs(int(small[5, 5, 0]) - 200) < 8


def test_over_limit_png_downsamples_by_reduce(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (400, 300), 77).save(path)
    small = read_image(path, max_pixels=10_000, downsample_over_limit=True)
    assert small.shape[0] * small.shape[1] <= 10_000 and small.shape[2] == 3
    assert (small == 77).all()


def test_16bit_grey_and_rgb_are_scaled_by_their_range(tmp_path):
    grey = np.linspace(1000, 4095, 20 * 30).reshape(20, 30).astype(np.uint16)  # 12-bit data
    Image.fromarray(grey).save(tmp_path / "g16.png")
    cv2.imwrite(str(tmp_path / "g16.tif"), grey)
    rgb = np.zeros((20, 30, 3), np.uint16)
    rgb[..., 0] = 4095  # red at the top of a 12-bit range
    rgb[:, :15, 2] = 2048
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "rgb16.tif"), rgb[..., ::-1])
    for name in ("g16.png", "g16.tif"):
        got = read_image(tmp_path / name)
        assert got.dtype == np.uint8 and got.shape == (20, 30, 3)
        assert got.min() == 0 and got.max() == 255
        assert (got[..., 0] == got[..., 2]).all()
    for name in ("rgb16.png", "rgb16.tif"):
        got = read_image(tmp_path / name)
        assert tuple(got[0, 0]) == (255, 0, 128), name  # not truncated to the high byte
        assert tuple(got[0, 29]) == (255, 0, 0), name
        assert thumbnail(tmp_path / name, 10).max() == 255


def test_16bit_rgba_is_composited(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint16)
    rgba[..., 2] = 65535  # red (BGRA order)
    rgba[..., 3] = 65535
    rgba[0, 0, 3] = 0
    cv2.imwrite(str(tmp_path / "a16.png"), rgba)
    got = read_image(tmp_path / "a16.png")
    assert tuple(got[1, 1]) == (255, 0, 0) and tuple(got[0, 0]) == (0, 0, 0)


def test_alpha_palette_grey_cmyk_convert_to_rgb(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[0, 0, 3] = 0
    rgba[0, 1, 3] = 128
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    got = read_image(tmp_path / "rgba.png")
    assert tuple(got[1, 1]) == (200, 0, 0) and tuple(got[0, 0]) == (0, 0, 0)  # on black
    assert abs(int(got[0, 1, 0]) - 100) <= 1

    pal = Image.new("P", (4, 4), 2)
    pal.putpalette([0, 0, 0, 10, 20, 30, 40, 50, 60] + [0] * 759)
    pal.save(tmp_path / "pal.png")
    assert (read_image(tmp_path / "pal.png") == (40, 50, 60)).all()

    Image.new("L", (4, 4), 90).save(tmp_path / "grey.bmp")
    assert (read_image(tmp_path / "grey.bmp") == 90).all()

    Image.new("CMYK", (16, 16), (255, 0, 255, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    got = read_image(tmp_path / "cmyk.jpg")
    assert got.shape == (16, 16, 3)
    r, g, b = (int(v) for v in got[8, 8])
    assert g > 200 and r < 60 and b < 60  # cyan + yellow = green


def test_fake_extension_is_judged_by_content(tmp_path):
    Image.new("RGB", (5, 4), (1, 2, 3)).save(tmp_path / "really_png.jpg", format="PNG")
    assert read_image(tmp_path / "really_png.jpg").shape == (4, 5, 3)
    (tmp_path / "notes.png").write_bytes(b"<html>not an image</html>")
    with pytest.raises(ImageReadError, match="notes.png.*not an image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="notes.png"):
        read_image_size(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="notes.png"):
        thumbnail(tmp_path / "notes.png")


def test_zero_byte_truncated_and_missing(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="zero.jpg.*empty"):
        read_image(tmp_path / "zero.jpg")
    with pytest.raises(ImageReadError, match="cut.jpg.*truncated"):
        read_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageReadError, match="gone.png.*not found"):
        read_image(tmp_path / "gone.png")


def test_non_ascii_file_and_folder_names(tmp_path):
    folder = tmp_path / "données 写真"
    folder.mkdir()
    Image.new("RGB", (6, 5), (9, 8, 7)).save(folder / "été_画像.jpg", quality=100)
    cv2.imencode(".png", np.full((5, 6, 3), 30000, np.uint16))[1].tofile(str(folder / "ß16.png"))
    assert sorted(p.name for p in list_images(folder)) == sorted(["été_画像.jpg", "ß16.png"])
    for path in list_images(folder):
        assert read_image(path).shape == (5, 6, 3)
        assert read_image_size(path) == (6, 5)
        assert thumbnail(path, 4).shape[2] == 3
