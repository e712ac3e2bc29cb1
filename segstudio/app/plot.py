"""A small live plot: training loss (line) and held-out mean IoU (dots)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget


class LivePlot(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(90)
        self.losses: list[tuple[int, float]] = []
        self.metrics: list[tuple[int, float]] = []

    def clear(self) -> None:
        self.losses.clear()
        self.metrics.clear()
        self.update()

    def add_loss(self, step: int, loss: float) -> None:
        self.losses.append((step, loss))
        self.update()

    def add_metric(self, step: int, value: float) -> None:
        self.metrics.append((step, value))
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        w, h = self.width() - 8, self.height() - 18
        last_step = max([s for s, _ in self.losses + self.metrics] or [1])
        if len(self.losses) > 1:
            top = max(v for _, v in self.losses) or 1.0
            points = QPolygonF([QPointF(4 + w * s / last_step, 4 + h * (1 - v / top)) for s, v in self.losses])
            painter.setPen(QPen(QColor(240, 150, 30), 1.5))
            painter.drawPolyline(points)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(80, 200, 120))
        for s, v in self.metrics:
            painter.drawEllipse(QPointF(4 + w * s / last_step, 4 + h * (1 - v)), 3, 3)
        painter.setPen(QColor(200, 200, 200))
        text = "loss"
        if self.losses:
            text += f" {self.losses[-1][1]:.3f}"
        if self.metrics:
            text += f"   held-out mIoU {self.metrics[-1][1]:.3f}"
        painter.drawText(6, self.height() - 4, text)
        painter.end()
