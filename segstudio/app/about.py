"""Help > About: the app icon and the same version report as ``segstudio --version``."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from segstudio.system.version import version_text
from segstudio.core.resources import icon_path


def app_icon() -> QIcon:
    """The SegStudio icon at every rendered size (empty if the resources are missing)."""
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256, 512):
        path = icon_path(f"segstudio-{size}.png")
        if path.is_file():
            icon.addFile(str(path))
    return icon


def about_text(versions: str) -> str:
    lines = versions.splitlines()
    head, rest = lines[0], lines[1:]
    body = "<br>".join(html.escape(line) for line in rest)
    return (f"<h3>{html.escape(head)}</h3>"
            "<p>Dense semantic annotation with a segmentation model in the loop.</p>"
            f"<p style='font-family: monospace'>{body}</p>")


def in_use_text(window) -> str | None:
    """The model the window has loaded and the device it runs on, if any."""
    autoseg = getattr(getattr(window, "model_features", None), "autoseg", None)
    loaded = getattr(autoseg, "loaded", None)
    if loaded is None:
        return None
    return f"in use: {loaded.choice} on {loaded.device_text}"


def about_box(parent: QWidget | None = None) -> QMessageBox:
    versions = version_text(in_use_text(parent))
    box = QMessageBox(parent)
    box.setWindowTitle("About SegStudio")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text(versions))
    pixmap = QPixmap(str(icon_path("segstudio-128.png")))
    if not pixmap.isNull():
        box.setIconPixmap(pixmap.scaledToWidth(96) if pixmap.width() > 96 else pixmap)
    copy = box.addButton("Copy", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QApplication.clipboard().setText(versions))
    box.addButton(QMessageBox.StandardButton.Close)
    return box


def show_about(parent: QWidget | None = None) -> None:
    """Modal About box; "Copy" puts the version report on the clipboard (for bug reports)."""
    about_box(parent).exec()
