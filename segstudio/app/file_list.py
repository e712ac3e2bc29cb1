"""The file list dock: a virtualised model/view over the folder's images.

One ``QAbstractListModel`` row per image (no widget per file), filtered and
sorted by a proxy. Thumbnails are made lazily: a row asks for one the first
time it is drawn, one background worker decodes them (numpy only), and the
GUI thread turns them into pixmaps. Opening a folder of 10,000 images does no
per-file work at all.
"""

from __future__ import annotations

import logging
import queue
from collections import OrderedDict

from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QComboBox, QDockWidget, QHBoxLayout, QListView, QVBoxLayout, QWidget

from segstudio.app.qt_images import rgb_to_qimage
from segstudio.app.worker import Worker
from segstudio.core.project import ImageStatus
from segstudio.ml.jobs import thumbnail_job

log = logging.getLogger(__name__)

THUMB_SIDE = 64
STATUS_COLORS = {
    ImageStatus.NO_MASK: QColor(140, 140, 140),
    ImageStatus.PREDICTED: QColor(60, 130, 230),
    ImageStatus.EDITED: QColor(240, 150, 30),
    ImageStatus.REVIEWED: QColor(60, 180, 80),
}
ERROR_COLOR = QColor(220, 50, 50)
STATUS_LABELS = {
    ImageStatus.NO_MASK: "no mask",
    ImageStatus.PREDICTED: "predicted",
    ImageStatus.EDITED: "edited",
    ImageStatus.REVIEWED: "reviewed",
}
KeyRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2
UncertaintyRole = Qt.ItemDataRole.UserRole + 3


class FileListModel(QAbstractListModel):
    thumbnail_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project = None
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._requested: set[str] = set()
        self.errors: dict[str, str] = {}
        self.uncertainty: dict[str, float] = {}
        self.current_key: str | None = None

    def set_project(self, project) -> None:
        self.beginResetModel()
        self.project = project
        self._thumbs.clear()
        self._requested.clear()
        self.errors.clear()
        self.uncertainty = project.uncertainties() if project is not None else {}
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() or self.project is None else len(self.project.keys)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.project is None:
            return None
        key = self.project.keys[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            status = STATUS_LABELS[self.project.status(key)]
            if key in self.errors:
                status = "cannot read"
            extra = f"  ·  uncertainty {self.uncertainty[key]:.2f}" if key in self.uncertainty else ""
            return f"{self.project.images[index.row()].name}\n{status}{extra}"
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(key)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.errors.get(key, str(self.project.images[index.row()]))
        if role == Qt.ItemDataRole.FontRole and key == self.current_key:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        if role == KeyRole:
            return key
        if role == StatusRole:
            return "error" if key in self.errors else self.project.status(key).value
        if role == UncertaintyRole:
            return self.uncertainty.get(key, -1.0)
        return None

    def _decoration(self, key: str) -> QIcon:
        pixmap = self._thumbs.get(key)
        if pixmap is None:
            pixmap = QPixmap(THUMB_SIDE, THUMB_SIDE)
            pixmap.fill(QColor(60, 60, 60))
            if key not in self._requested and key not in self.errors:
                self._requested.add(key)
                self.thumbnail_requested.emit(key)
        color = ERROR_COLOR if key in self.errors else STATUS_COLORS[self.project.status(key)]
        badged = QPixmap(pixmap)
        painter = QPainter(badged)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(color)
        painter.setPen(QColor(20, 20, 20))
        painter.drawEllipse(badged.width() - 16, badged.height() - 16, 13, 13)
        painter.end()
        return QIcon(badged)

    def has_thumbnail(self, key: str) -> bool:
        return key in self._thumbs

    def set_thumbnail(self, key: str, rgb, error: str | None) -> None:
        if self.project is None or key not in self.project.keys:
            return
        if error:
            if key not in self.errors:
                log.warning("unreadable: %s", error)
            self.errors[key] = error
        else:
            self._thumbs[key] = QPixmap.fromImage(rgb_to_qimage(rgb))
            while len(self._thumbs) > 3000:  # bounded: scrolling 10,000 images
                evicted, _ = self._thumbs.popitem(last=False)
                self._requested.discard(evicted)
        self.refresh(key)

    def refresh(self, key: str) -> None:
        if self.project is not None and key in self.project.keys:
            idx = self.index(self.project.keys.index(key))
            self.dataChanged.emit(idx, idx)


class FileFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.status_filter: str | None = None

    def set_status_filter(self, status: str | None) -> None:
        self.refilter(lambda: setattr(self, "status_filter", status))

    def refilter(self, change=None) -> None:
        """Re-run the filter, around ``change`` (a callable) when given.

        Qt 6.10 deprecates ``invalidateFilter()`` for the begin/end pair;
        older Qt only has the former.
        """
        if hasattr(self, "endFilterChange"):
            self.beginFilterChange()
            if change is not None:
                change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            if change is not None:
                change()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        if self.status_filter is None:
            return True
        status = self.sourceModel().index(row, 0, parent).data(StatusRole)
        return status == self.status_filter


class FileListDock(QDockWidget):
    image_activated = Signal(str)

    FILTERS = (("All images", None), ("No mask", "no_mask"), ("Predicted", "predicted"),
               ("Edited", "edited"), ("Reviewed", "reviewed"), ("Cannot read", "error"))

    def __init__(self, workers, parent=None) -> None:
        super().__init__("Images", parent)
        self.setObjectName("FileListDock")
        self.workers = workers
        self.model = FileListModel(self)
        self.proxy = FileFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole + 10)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.view.activated.connect(self._activated)
        self.view.clicked.connect(self._activated)
        self.filter_combo = QComboBox()
        for label, _ in self.FILTERS:
            self.filter_combo.addItem(label)
        self.filter_combo.currentIndexChanged.connect(lambda i: self.proxy.set_status_filter(self.FILTERS[i][1]))
        self.sort_combo = QComboBox()
        self.sort_combo.addItems(["By name", "Most uncertain first"])
        self.sort_combo.currentIndexChanged.connect(self._sort)
        bar = QHBoxLayout()
        bar.addWidget(self.filter_combo)
        bar.addWidget(self.sort_combo)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self.setWidget(body)
        self._requests: queue.Queue = queue.Queue()
        self._thumb_worker: Worker | None = None
        self.model.thumbnail_requested.connect(self._request_thumbnail)

    def set_project(self, project) -> None:
        self.stop_thumbnails()
        self._requests = queue.Queue()
        self.model.set_project(project)
        self._sort(self.sort_combo.currentIndex())
        if project is not None and project.keys:
            worker = Worker(thumbnail_job(self._requests, THUMB_SIDE), name="thumbnails")
            worker.progress.connect(lambda event: self.model.set_thumbnail(*event))
            self._thumb_worker = self.workers.start(worker)

    def stop_thumbnails(self) -> None:
        if self._thumb_worker is not None:
            self._thumb_worker.cancel()
            self._thumb_worker.wait(5000)
            self._thumb_worker = None

    def thumbnails_pending(self) -> int:
        """How many thumbnails are asked for and not yet being made (0 once the list has caught up)."""
        return self._requests.qsize()

    def _request_thumbnail(self, key: str) -> None:
        self._requests.put((key, self.model.project.image_path(key)))

    def _activated(self, proxy_index: QModelIndex) -> None:
        key = proxy_index.data(KeyRole)
        if key:
            self.image_activated.emit(key)

    def _sort(self, mode: int) -> None:
        self.proxy.setSortRole(UncertaintyRole if mode == 1 else KeyRole)
        if mode == 1:
            self.proxy.sort(0, Qt.SortOrder.DescendingOrder)
        else:
            self.proxy.sort(-1)  # the folder's natural order

    # --- API for the main window ---------------------------------------------------
    def set_current(self, key: str) -> None:
        previous, self.model.current_key = self.model.current_key, key
        if previous:
            self.model.refresh(previous)
        self.model.refresh(key)
        source = self.model.index(self.model.project.keys.index(key))
        proxy_index = self.proxy.mapFromSource(source)
        if proxy_index.isValid():
            self.view.setCurrentIndex(proxy_index)
            self.view.scrollTo(proxy_index)

    def refresh(self, key: str) -> None:
        self.model.refresh(key)
        if self.proxy.status_filter is not None:
            self.proxy.refilter()

    def set_error(self, key: str, message: str) -> None:
        self.model.errors[key] = message
        self.refresh(key)

    def set_uncertainty(self, key: str, value: float) -> None:
        self.model.uncertainty[key] = float(value)
        if self.model.project is not None:
            self.model.project.set_uncertainty(key, value)
        self.model.refresh(key)
        if self.sort_combo.currentIndex() == 1:
            self.proxy.invalidate()
            self._sort(1)

    def keys_in_view_order(self) -> list[str]:
        return [self.proxy.index(r, 0).data(KeyRole) for r in range(self.proxy.rowCount())]

    def selected_keys(self) -> list[str]:
        rows = sorted(self.view.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [i.data(KeyRole) for i in rows]

    def next_key(self, current: str | None, direction: int = 1, unreviewed_only: bool = False) -> str | None:
        order = self.keys_in_view_order()
        if not order:
            return None
        start = order.index(current) if current in order else (-1 if direction > 0 else len(order))
        i = start + direction
        while 0 <= i < len(order):
            key = order[i]
            if not unreviewed_only or self.model.project.status(key) != ImageStatus.REVIEWED:
                return key
            i += direction
        return None
