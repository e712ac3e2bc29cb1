"""A real 20000x20000 PNG (not only a patched header): refused from its header
by what the app calls, or decoded downsampled on request, within bounded memory.

Each case runs in a fresh interpreter so that its peak resident memory
(``VmHWM`` on Linux, else ``ru_maxrss``) is its own.
"""

import json
import struct
import subprocess
import sys
import zlib

import pytest

SIDE = 20_000


def write_grey_png(path, width: int, height: int, value: int = 90) -> None:
    """Streams a real 8-bit grey PNG row by row (never holds the image in memory)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes([value]) * width  # filter type 0, then the pixels
    compressor = zlib.compressobj(1)
    body = bytearray()
    for _ in range(height):
        body += compressor.compress(row)
    body += compressor.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", bytes(body)))
        f.write(chunk(b"IEND", b""))


CHILD = r"""
import json, resource, sys
from segstudio.core.imageio import ImageReadError, read_image, thumbnail
path, mode = sys.argv[1], sys.argv[2]
out = {}
if mode == "app":
    for name, call in (("read_image", lambda: read_image(path)), ("thumbnail", lambda: thumbnail(path))):
        try:
            call()
            out[name] = "opened"
        except ImageReadError as exc:
            out[name] = str(exc)
else:
    info = {}
    image = read_image(path, downsample_over_limit=True, info=info)
    out.update(shape=list(image.shape), value=int(image[100, 100, 0]), downsampled=info["downsampled"])
try:  # VmHWM: this process image's own peak (ru_maxrss can carry the forking parent's over exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    out["peak_mb"] = int(hwm.split()[1]) / 1024
except OSError:
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("huge") / "panorama.png"
    write_grey_png(path, SIDE, SIDE)
    return path


def _child(path, mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), mode], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform == "win32", reason="ru_maxrss is POSIX")
def test_the_app_refuses_it_from_the_header_without_decoding(huge_png):
    out = _child(huge_png, "app")
    for name in ("read_image", "thumbnail"):
        assert "20000x20000 pixels is more than SegStudio opens" in out[name], out
    assert out["peak_mb"] < 300, out  # decoding it would need 400 MB grey, 1.2 GB as RGB


@pytest.mark.skipif(sys.platform == "win32", reason="ru_maxrss is POSIX")
def test_on_request_it_opens_downsampled_to_the_pixel_limit(huge_png):
    out = _child(huge_png, "downsample")
    h, w, c = out["shape"]
    assert c == 3 and h * w <= 50_000_000 and out["downsampled"] == pytest.approx(SIDE / w, rel=1e-3)
    assert out["value"] == 90
    assert out["peak_mb"] < 1500, out  # a PNG cannot be decoded reduced: the 400 MB grey image, then /3
