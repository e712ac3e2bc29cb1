"""The Effort dock: what correcting the model's pre-fill costs, per image and per model version.

It draws ``core.effort``'s numbers (kept by the editing session): the current
image's pixels changed from the pre-fill, strokes, clicks and active time,
and a bar plot of the mean actions (strokes + clicks) per image for each
model version, with the mean share of pixels changed written on each bar.

Updates are throttled: an edit only (re)starts a short single-shot timer, so
a burst of strokes costs one redraw and the brush never waits for the dock.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget

from segstudio.core.effort import image_rows, version_summary

REFRESH_MS = 250


class EffortPlot(QWidget):
    """Bars: mean actions per image, one per model version (QPainter; PySide6-Essentials has no QtCharts)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(120)
        self.versions: list[dict] = []

    def set_versions(self, versions: list[dict]) -> None:
        self.versions = versions
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        painter.setPen(QColor(200, 200, 200))
        painter.drawText(6, 14, "corrections per image, by model version")
        if not self.versions:
            painter.drawText(6, 34, "no corrected or reviewed pre-fill yet")
            painter.end()
            return
        top, bottom = 22, self.height() - 16
        slot = (self.width() - 8) / len(self.versions)
        highest = max(v["actions"] for v in self.versions) or 1.0
        for i, v in enumerate(self.versions):
            x = 4 + i * slot
            height = (bottom - top - 14) * v["actions"] / highest
            bar = QRectF(x + slot * 0.15, bottom - height, slot * 0.7, height)
            painter.fillRect(bar, QColor(80, 160, 230))
            painter.setPen(QColor(230, 230, 230))
            painter.drawText(QRectF(x, bottom - height - 14, slot, 14), Qt.AlignmentFlag.AlignCenter,
                             f"{v['actions']:.1f} · {100 * v['changed_fraction']:.1f}%")
            painter.drawText(QRectF(x, bottom, slot, 16), Qt.AlignmentFlag.AlignCenter,
                             painter.fontMetrics().elidedText(f"{v['model']} ({v['images']})",
                                                              Qt.TextElideMode.ElideMiddle, int(slot)))
        painter.end()


class EffortDock(QDockWidget):
    def __init__(self, window) -> None:
        super().__init__("Effort", window)
        self.setObjectName("EffortDock")
        self.window = window
        body = QWidget()
        layout = QVBoxLayout(body)
        self.image_label = QLabel()
        self.image_label.setWordWrap(True)
        self.plot = EffortPlot()
        layout.addWidget(self.image_label)
        layout.addWidget(self.plot)
        self.setWidget(body)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        window.mask_changed.connect(lambda _key: self.schedule())
        window.current_image_changed.connect(lambda _key: self.schedule())
        window.project_opened.connect(lambda _project: self.refresh())

    def schedule(self) -> None:
        """Coalesces bursts of edits into one refresh (never restarted, so painting cannot starve it)."""
        if not self.timer.isActive():
            self.timer.start()

    def refresh(self) -> None:
        session = self.window.session
        if session.effort is None:
            self.image_label.setText("")
            self.plot.set_versions([])
            return
        session.effort.flush()
        self.plot.set_versions(version_summary(image_rows(session.project.state)))
        key = session.current_key
        if key is None:
            self.image_label.setText("")
            return
        rec = session.effort.record(key)
        share = f" ({100 * rec.changed_pixels / rec.pixels:.1f}%)" if rec.pixels else ""
        self.image_label.setText(
            f"This image: {rec.changed_pixels} px changed{share} from "
            f"{rec.model or 'no model'}'s pre-fill; {rec.strokes} strokes, {rec.clicks} clicks, "
            f"{rec.active_s:.0f} s active")


def install_effort_dock(window) -> EffortDock:
    """Counts the canvas's strokes and clicks into the session's effort log and adds the dock."""
    window.canvas.on_pointer = window.session.pointer
    dock = EffortDock(window)
    # Not window.add_dock: this runs while the window is built, before its saved layout is restored.
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.menu("View").addAction(dock.toggleViewAction())
    window.effort_dock = dock
    return dock
