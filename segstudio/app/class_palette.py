"""The class palette dock: colour, name, hotkey, pixel share, and a protect box per class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segstudio.core.labels import LabelSet


def _swatch(rgb) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(QColor(*rgb))
    return QIcon(pixmap)


class ClassPaletteDock(QDockWidget):
    class_selected = Signal(int)
    protected_changed = Signal(frozenset)
    labelset_load_requested = Signal(str)

    COLUMNS = ("Class", "Key", "Share", "Protect")

    def __init__(self, parent=None) -> None:
        super().__init__("Classes", parent)
        self.setObjectName("ClassPaletteDock")
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            self.table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.currentCellChanged.connect(self._row_changed)
        self.table.itemChanged.connect(self._item_changed)
        load = QPushButton("Load label set…")
        load.clicked.connect(self._ask_labelset)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addWidget(load)
        self.setWidget(body)
        self.labelset: LabelSet | None = None
        self._updating = False

    def set_labelset(self, labelset: LabelSet) -> None:
        self._updating = True
        self.labelset = labelset
        self.table.setRowCount(labelset.num_classes)
        for cid, (name, color) in enumerate(zip(labelset.names, labelset.colors)):
            item = QTableWidgetItem(_swatch(color), f"{cid}  {name}")
            self.table.setItem(cid, 0, item)
            key = labelset.hotkeys[cid] if cid < len(labelset.hotkeys) else ""
            self.table.setItem(cid, 1, QTableWidgetItem(key))
            share = QTableWidgetItem("")
            share.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(cid, 2, share)
            protect = QTableWidgetItem()
            protect.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            protect.setCheckState(Qt.CheckState.Unchecked)
            protect.setToolTip("Protected classes are never painted over")
            self.table.setItem(cid, 3, protect)
        self._updating = False
        self.set_current_class(0)

    def set_current_class(self, cid: int) -> None:
        if self.labelset is None or not 0 <= cid < self.labelset.num_classes:
            return
        self._updating = True
        self.table.setCurrentCell(cid, 0)
        self._updating = False

    def current_class(self) -> int:
        return max(0, self.table.currentRow())

    def set_shares(self, counts: np.ndarray) -> None:
        total = max(1, int(counts.sum()))
        self._updating = True
        for cid in range(self.table.rowCount()):
            value = counts[cid] / total if cid < len(counts) else 0.0
            self.table.item(cid, 2).setText(f"{100 * value:.1f}%")
        self._updating = False

    def protected_classes(self) -> frozenset[int]:
        return frozenset(
            cid for cid in range(self.table.rowCount())
            if self.table.item(cid, 3).checkState() == Qt.CheckState.Checked
        )

    def set_protected(self, classes) -> None:
        self._updating = True
        for cid in range(self.table.rowCount()):
            state = Qt.CheckState.Checked if cid in classes else Qt.CheckState.Unchecked
            self.table.item(cid, 3).setCheckState(state)
        self._updating = False
        self.protected_changed.emit(self.protected_classes())

    def fit_height(self, window) -> None:
        """Gives the palette the height of all its rows in ``window``, above docks added below it."""
        needed = self.table.verticalHeader().length() + self.table.horizontalHeader().height() + 90
        right = Qt.DockWidgetArea.RightDockWidgetArea
        others = [d for d in window.findChildren(QDockWidget)
                  if d is not self and d.isVisible() and window.dockWidgetArea(d) == right]
        # Never squeeze the docks below it under their preferred height; docks tabbed together
        # share one place, so a tab group needs only its tallest member's height.
        taken, counted = 0, set()
        for dock in others:
            if dock in counted:
                continue
            group = [dock] + [d for d in window.tabifiedDockWidgets(dock) if d in others]
            counted.update(group)
            taken += max(d.sizeHint().height() for d in group)
        room = window.centralWidget().height() - taken
        window.resizeDocks([self], [max(200, min(needed, room))], Qt.Orientation.Vertical)

    def _row_changed(self, row: int, *_):
        if not self._updating and row >= 0:
            self.class_selected.emit(row)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._updating and item.column() == 3:
            self.protected_changed.emit(self.protected_classes())

    def _ask_labelset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load label set", "", "Label set (*.json)")
        if path:
            self.labelset_load_requested.emit(path)
