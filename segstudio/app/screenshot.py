"""Renders the main window on the sample images to a PNG (``make screenshot``).

Usage: python -m segstudio.app.screenshot OUT.png
Works under Xvfb (a real window) or with QT_QPA_PLATFORM=offscreen.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path


def main(out: str) -> int:
    import torch  # noqa: F401  (torch before Qt, as in the app)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from segstudio.app.main_window import MainWindow
    from segstudio.app.retrain import install_model_features
    from segstudio.app.settings import Settings
    from segstudio.core.export import import_masks
    from segstudio.core.project import ImageStatus, Project
    from segstudio.core.resources import resources_dir, sample_folder

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "camvid-samples"
        shutil.copytree(sample_folder(), folder)
        project = Project.open(folder)
        import_masks(project, resources_dir() / "samples_labels")
        project.set_status(project.keys[0], ImageStatus.REVIEWED)
        project.set_status(project.keys[2], ImageStatus.PREDICTED)
        project.close()
        window = MainWindow(settings=Settings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)))
        install_model_features(window, interactive=False)
        window.resize(1440, 1000)
        window.show()
        window.open_folder(folder)
        window.show_image(project.keys[1])
        window.pick_class(8)
        window.opacity_slider.setValue(55)
        for _ in range(20):
            app.processEvents()
        window.canvas.fit()
        app.processEvents()
        _hover_over_class(window, 8)  # the brush circle and the status bar's position/class
        app.processEvents()
        window.grab().save(out)
        window.close()
    print(f"wrote {out}")
    return 0


def _hover_over_class(window, class_id: int) -> None:
    """Moves the mouse (a synthetic event) to the middle of ``class_id``'s pixels."""
    import numpy as np
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    ys, xs = np.nonzero(window.doc.mask == class_id)
    if ys.size == 0:
        return
    i = int(np.argmin((ys - np.median(ys)) ** 2 + (xs - np.median(xs)) ** 2))
    viewport = window.canvas.viewport()
    pos = QPointF(window.canvas.mapFromScene(QPointF(xs[i] + 0.5, ys[i] + 0.5)))
    event = QMouseEvent(
        QEvent.Type.MouseMove, pos, QPointF(viewport.mapToGlobal(pos.toPoint())),
        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, event)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png"))
