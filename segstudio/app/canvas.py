"""The canvas: the image, the mask overlay, zoom and pan, and mouse input for tools.

The overlay is an RGBA numpy buffer shown through a QImage that views it; an
edit rewrites only the touched rect of the buffer (a 256-entry colour lookup)
and repaints only that rect, so painting on an 8000x6000 image costs what the
brush touches. Mouse positions reach the active tool as image pixel
coordinates (row, column); the tool does the editing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
)

from segstudio.app.qt_images import NumpyQImage, mask_color_lut, rgb_to_qimage
from segstudio.core.labels import LabelSet
from segstudio.core.paint import Rect, boundaries, clip_rect

LOW_CONFIDENCE = 128  # confidence (0..255) under which the uncertainty view marks a pixel


def key_modifiers(modifiers) -> frozenset[str]:
    """Qt's keyboard modifiers as the names the core tools read ("shift", "ctrl", "alt")."""
    names = {Qt.KeyboardModifier.ShiftModifier: "shift", Qt.KeyboardModifier.ControlModifier: "ctrl",
             Qt.KeyboardModifier.AltModifier: "alt"}
    return frozenset(name for flag, name in names.items() if modifiers & flag)


class OverlayItem(QGraphicsRectItem):
    """Draws the RGBA overlay buffer; only the exposed part is painted.

    A rect item, so that its bounding rect is C++ state: a Python ``boundingRect``
    override was called while a closed window's scene was torn down (a deferred
    delete in a later event loop) and crashed the interpreter now and then.
    """

    def __init__(self, buffer: NumpyQImage) -> None:
        h, w = buffer.array.shape[:2]
        super().__init__(0, 0, w, h)
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.buffer = buffer
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect.intersected(self.rect()).toAlignedRect()
        painter.drawImage(exposed, self.buffer.image, exposed)


class Canvas(QGraphicsView):
    cursor_moved = Signal(int, int)  # row, column (or -1, -1 outside the image)
    zoom_changed = Signal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # folder drops go to the main window
        self.tool = None
        self.mask: np.ndarray | None = None
        self.confidence: np.ndarray | None = None
        self.labelset: LabelSet | None = None
        self.opacity = 0.5
        self.overlay_visible = True
        self.boundaries_only = False
        self.show_low_confidence = False
        # Verified pixels (app/verified_overlay.py): a callable giving the current image's bool
        # array, read per refreshed rect only, so a stroke costs the same with it on.
        self.verified_tint = None
        # A dialog's preview of pixels about to change (app/reassign_dialog.py), drawn over the rest
        # in the same per-rect pass: the same kind of callable ``(rgba, rect)``.
        self.change_preview = None
        self._image_item: QGraphicsPixmapItem | None = None
        self._overlay: OverlayItem | None = None
        self._lut = None
        self._lut32 = None
        self._panning = False
        self._space_down = False
        self._pan_last = QPointF()
        self._pressed = False
        self.on_pointer = lambda kind, yx: None  # "press"/"move"/"release" of a tool on the image (effort counting)
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setPen(QPen(QColor(255, 255, 255), 0))
        self.cursor_item.setZValue(10)
        self.cursor_item.setVisible(False)
        self.scene().addItem(self.cursor_item)
        self.preview_item = QGraphicsPathItem()
        self.preview_item.setPen(QPen(QColor(255, 255, 0), 0, Qt.PenStyle.DashLine))
        self.preview_item.setBrush(QBrush(QColor(255, 255, 0, 40)))
        self.preview_item.setZValue(11)
        self.scene().addItem(self.preview_item)
        self.brush_radius = 8.0

    _CURSORS = {
        "cross": Qt.CursorShape.CrossCursor,
        "pointing": Qt.CursorShape.PointingHandCursor,
        "arrow": Qt.CursorShape.ArrowCursor,
    }

    def set_tool(self, tool) -> None:
        self.tool = tool
        self.set_preview_path([])
        self.viewport().setCursor(self._tool_cursor())

    def _tool_cursor(self):
        return self._CURSORS.get(getattr(self.tool, "cursor", "cross"), Qt.CursorShape.CrossCursor)

    # --- content -------------------------------------------------------------
    def set_content(self, image: np.ndarray, mask: np.ndarray, labelset: LabelSet, confidence=None) -> None:
        self.mask = mask
        self.labelset = labelset
        self.confidence = confidence
        h, w = mask.shape
        pixmap = QPixmap.fromImage(rgb_to_qimage(image))
        if self._image_item is None:
            self._image_item = self.scene().addPixmap(pixmap)
            self._image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        else:
            self._image_item.setPixmap(pixmap)
        if self._overlay is not None:
            self.scene().removeItem(self._overlay)
        self._overlay = OverlayItem(NumpyQImage(np.zeros((h, w, 4), np.uint8)))
        self._overlay.setZValue(1)
        self.scene().addItem(self._overlay)
        self.scene().setSceneRect(QRectF(-w * 0.05, -h * 0.05, w * 1.1, h * 1.1))
        self._rebuild_lut()
        self.refresh_overlay()

    def clear_content(self) -> None:
        for item in (self._image_item, self._overlay):
            if item is not None:
                self.scene().removeItem(item)
        self._image_item = self._overlay = None
        self.mask = None

    def _rebuild_lut(self) -> None:
        if self.labelset is not None:
            # Unlabelled (void) pixels stay see-through: they are what is left to do.
            hidden = frozenset({self.labelset.ignore_index}) if self.labelset.ignore_index is not None else frozenset()
            self._lut = mask_color_lut(self.labelset, self.opacity if self.overlay_visible else 0.0, hidden)
            # The same table as one uint32 per class: indexing it is ~10x faster than
            # indexing the 256 x 4 table (1.2 s -> 0.12 s for an 8000x6000 mask).
            self._lut32 = np.ascontiguousarray(self._lut, dtype=np.uint8).view(np.uint32).ravel()

    def refresh_overlay(self, rect: Rect | None = None) -> None:
        """Recolours ``rect`` (or everything) of the overlay from the mask and repaints it."""
        if self.mask is None or self._overlay is None:
            return
        h, w = self.mask.shape
        if rect is not None and self.boundaries_only:
            # An edge is drawn on the pixel above / left of a class change, so an
            # edit also changes the row above and the column left of its rect.
            rect = (rect[0] - 1, rect[1] - 1, rect[2], rect[3])
        rect = clip_rect(rect or (0, 0, h, w), self.mask.shape)
        if rect is None:
            return
        y0, x0, y1, x1 = rect
        if self.boundaries_only:
            # One pixel of context so edges at the rect border are right.
            cy0, cx0, cy1, cx1 = max(0, y0 - 1), max(0, x0 - 1), min(h, y1 + 1), min(w, x1 + 1)
            sub = self.mask[cy0:cy1, cx0:cx1]
            edge = boundaries(sub)[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            rgba = self._colours(y0, x0, y1, x1)
            rgba[..., 3] = np.where(edge, 255 if self.overlay_visible else 0, 0)
        else:
            rgba = self._colours(y0, x0, y1, x1)
        if self.show_low_confidence and self.confidence is not None:
            low = self.confidence[y0:y1, x0:x1] < LOW_CONFIDENCE
            rgba[low] = (255, 0, 255, 200)  # a fresh array: the table is not touched
        if self.verified_tint is not None:
            self.verified_tint(rgba, rect)
        if self.change_preview is not None:
            self.change_preview(rgba, rect)
        self._overlay.buffer.array[y0:y1, x0:x1] = rgba
        self._overlay.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def _colours(self, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        """A new (y1-y0) x (x1-x0) x 4 RGBA array: the mask's rect through the colour table."""
        return self._lut32[self.mask[y0:y1, x0:x1]].view(np.uint8).reshape(y1 - y0, x1 - x0, 4)

    def set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        self._rebuild_lut()
        self.refresh_overlay()

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_visible = visible
        self._rebuild_lut()
        self.refresh_overlay()

    def set_boundaries_only(self, on: bool) -> None:
        self.boundaries_only = on
        self.refresh_overlay()

    def set_confidence(self, confidence: np.ndarray | None) -> None:
        self.confidence = confidence
        if self.show_low_confidence:
            self.refresh_overlay()

    def set_show_low_confidence(self, on: bool) -> None:
        self.show_low_confidence = on
        self.refresh_overlay()

    # --- view ------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = max(0.02, min(64.0, factor))
        self.setTransform(self.transform().fromScale(factor, factor))
        self.zoom_changed.emit(factor)

    def fit(self) -> None:
        if self.mask is not None:
            h, w = self.mask.shape
            self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom())

    def view_state(self) -> dict:
        center = self.mapToScene(self.viewport().rect().center())
        return {"zoom": self.zoom(), "center": [center.x(), center.y()]}

    def restore_view(self, view: dict | None) -> None:
        if not view:
            self.fit()
            return
        self.set_zoom(float(view.get("zoom", 1.0)))
        cx, cy = view.get("center", [0, 0])
        self.centerOn(QPointF(cx, cy))

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom() * (1.25**steps))
        event.accept()

    # --- input -------------------------------------------------------------------
    def image_pos(self, view_pos) -> tuple[float, float]:
        p = self.mapToScene(view_pos)
        return (p.y(), p.x())

    def _inside(self, yx) -> bool:
        return self.mask is not None and 0 <= yx[0] < self.mask.shape[0] and 0 <= yx[1] < self.mask.shape[1]

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._panning = True
            self._pan_last = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self.tool is not None and self.mask is not None:
            self._pressed = True
            yx = self.image_pos(event.position().toPoint())
            self.on_pointer("press", yx)
            self.tool.press(yx, key_modifiers(event.modifiers()))
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._panning:
            delta = event.position() - self._pan_last
            self._pan_last = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        yx = self.image_pos(event.position().toPoint())
        self._move_cursor(yx)
        inside = self._inside(yx)
        self.cursor_moved.emit(int(yx[0]) if inside else -1, int(yx[1]) if inside else -1)
        if self.tool is not None and self.mask is not None:
            if self._pressed:
                self.on_pointer("move", yx)
                self.tool.move(yx)
            else:
                self.tool.hover(yx)

    def mouseReleaseEvent(self, event) -> None:
        if self._panning and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = False
            self.viewport().setCursor(self._tool_cursor())
            return
        if event.button() == Qt.MouseButton.LeftButton and self._pressed:
            self._pressed = False
            yx = self.image_pos(event.position().toPoint())
            self.tool.release(yx)
            self.on_pointer("release", yx)
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.tool is not None and event.button() == Qt.MouseButton.LeftButton:
            self.tool.double_click(self.image_pos(event.position().toPoint()))
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if self.tool is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.tool.finish()
            return
        if self.tool is not None and event.key() == Qt.Key.Key_Escape:
            self.tool.cancel()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().setCursor(self._tool_cursor())
            return
        super().keyReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.cursor_item.setVisible(False)
        self.cursor_moved.emit(-1, -1)
        super().leaveEvent(event)

    # --- tool feedback -------------------------------------------------------------
    def _move_cursor(self, yx) -> None:
        shows_size = self.tool is not None and getattr(self.tool, "uses_brush", False)
        self.cursor_item.setVisible(shows_size and self._inside(yx))
        if shows_size:
            r = self.brush_radius
            self.cursor_item.setRect(QRectF(yx[1] - r, yx[0] - r, 2 * r, 2 * r))

    def set_preview_path(self, points_yx: list[tuple[float, float]], closed: bool = False) -> None:
        path = QPainterPath()
        if points_yx:
            path.moveTo(points_yx[0][1], points_yx[0][0])
            for y, x in points_yx[1:]:
                path.lineTo(x, y)
            if closed:
                path.closeSubpath()
        self.preview_item.setPath(path)
