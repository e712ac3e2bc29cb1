"""Render segstudio.svg to the PNG sizes, a Windows .ico and a macOS .icns.

    .venv/bin/python packaging/render_icons.py

Qt's SVG renderer (PySide6.QtSvg, part of PySide6-Essentials) draws the PNGs,
so they match the SVG exactly; Pillow packs the .ico and .icns from them.
Run it again after editing the SVG and commit the outputs: neither the app nor
the bundle renders icons at run time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render_png(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: Qt cannot parse this SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.convertToFormat(QImage.Format.Format_ARGB32).save(str(out), "PNG"):
        raise OSError(f"could not write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (fonts, image plugins)
    svg = HERE / "segstudio.svg"
    tmp = HERE / ".render"
    tmp.mkdir(exist_ok=True)
    try:
        for size in sorted(set(SIZES) | set(ICO_SIZES) | set(ICNS_SIZES)):
            render_png(svg, size, tmp / f"{size}.png")
        for size in SIZES:
            (HERE / f"segstudio-{size}.png").write_bytes((tmp / f"{size}.png").read_bytes())
        (HERE / "segstudio.png").write_bytes((tmp / "256.png").read_bytes())
        # Each size drawn by Qt at that size (crisper than Pillow downscaling one image).
        ico = [Image.open(tmp / f"{s}.png").convert("RGBA") for s in ICO_SIZES]
        ico[-1].save(HERE / "segstudio.ico", sizes=[(s, s) for s in ICO_SIZES], append_images=ico[:-1])
        icns = [Image.open(tmp / f"{s}.png").convert("RGBA") for s in ICNS_SIZES]
        icns[-1].save(HERE / "segstudio.icns", append_images=icns[:-1])
    finally:
        for path in tmp.glob("*.png"):
            path.unlink()
        tmp.rmdir()
    print(f"wrote {len(SIZES)} PNGs, segstudio.png, segstudio.ico and segstudio.icns in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
