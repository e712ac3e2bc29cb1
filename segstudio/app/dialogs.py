"""Export and import dialogs (thin: the work is in core.export).

Export offers one layout at a time, as the CLI's ``--format`` does: the
SegStudio folder (index/colour PNGs, overlays) or a CamVid, Pascal VOC or
Datumaro data set, and an optional train/val split. Import reads whatever
layout the chosen folder holds (``core.export.read_mask_source``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from segstudio.core.export import export_masks, import_masks
from segstudio.core.project import ImageStatus

# (format value, what the user reads); "folder" is the SegStudio layout with the boxes below.
LAYOUT_CHOICES = (
    ("folder", "SegStudio folder (images/ + labels/, what segstudio train reads)"),
    ("camvid", "CamVid (CVAT's CamVid 1.0; Datumaro 'camvid')"),
    ("voc", "Pascal VOC segmentation (CVAT, Datumaro, torchvision)"),
    ("datumaro", "Datumaro common semantic segmentation (dataset_meta.json)"),
)

log = logging.getLogger(__name__)


class ExportDialog(QDialog):
    def __init__(self, parent=None, default_dir: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export masks")
        self.folder = QLineEdit(default_dir)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        self.layout_combo = QComboBox()
        for value, text in LAYOUT_CHOICES:
            self.layout_combo.addItem(text, value)
        self.layout_combo.currentIndexChanged.connect(self._layout_changed)
        self.index_box = QCheckBox("Index PNG (class id per pixel, palette embedded)")
        self.index_box.setChecked(True)
        self.color_box = QCheckBox("Colour PNG (class colours)")
        self.overlay_box = QCheckBox("Overlay JPEG (image + colours, for review)")
        self.images_box = QCheckBox("Copy the images beside the masks")
        self.images_box.setChecked(True)
        self.reviewed_box = QCheckBox("Only images marked reviewed")
        self.split_box = QCheckBox("Split into train and val (a video sequence stays in one subset); val share:")
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.05, 0.95)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setValue(0.2)
        self.split_box.toggled.connect(self.val_spin.setEnabled)
        self.val_spin.setEnabled(False)
        split_row = QHBoxLayout()
        split_row.addWidget(self.split_box)
        split_row.addWidget(self.val_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(QLabel("Format:"))
        layout.addWidget(self.layout_combo)
        for w in (self.index_box, self.color_box, self.overlay_box, self.images_box, self.reviewed_box):
            layout.addWidget(w)
        layout.addLayout(split_row)
        layout.addWidget(buttons)

    def _layout_changed(self) -> None:
        folder = self.layout_combo.currentData() == "folder"
        for box in (self.index_box, self.color_box, self.overlay_box):
            box.setEnabled(folder)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def formats(self) -> tuple[str, ...]:
        if self.layout_combo.currentData() != "folder":
            return (self.layout_combo.currentData(),)
        boxes = (("index", self.index_box), ("color", self.color_box), ("overlay", self.overlay_box))
        return tuple(name for name, box in boxes if box.isChecked())

    def split(self) -> float | None:
        return round(self.val_spin.value(), 4) if self.split_box.isChecked() else None


def run_export_dialog(parent, project, unsaved: dict | None = None) -> None:
    """``unsaved``: key -> in-memory mask not yet on disk (a save is failing);
    exported as the user sees it, not the older file."""
    dialog = ExportDialog(parent, str(project.folder.parent / f"{project.folder.name}-export"))
    if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.folder.text():
        return
    try:
        report = export_masks(
            project, dialog.folder.text(), dialog.formats(), dialog.images_box.isChecked(),
            ImageStatus.REVIEWED if dialog.reviewed_box.isChecked() else None, masks=unsaved or None,
            split=dialog.split(),
        )
    except (OSError, ValueError) as exc:
        QMessageBox.warning(parent, "Export failed", str(exc))
        return
    out = Path(dialog.folder.text()).resolve()
    text = (f"Exported {report.written} mask(s) as {', '.join(dialog.formats())} to {out}; "
            f"skipped {len(report.skipped)}.")
    log.info("exported %d mask(s) to %s", report.written, out)
    if dialog.split() is not None:
        text += "\nSubsets: " + ", ".join(f"{name} {count}" for name, count in sorted(report.subsets.items()))
    if report.errors:
        text += "\n\nProblems:\n" + "\n".join(report.errors[:20])
    QMessageBox.information(parent, "Export", text)


def run_import_dialog(parent, project) -> bool:
    folder = QFileDialog.getExistingDirectory(
        parent, "Import masks from (a CamVid, VOC, Datumaro or SegStudio export, or PNGs named like the images)"
    )
    if not folder:
        return False
    try:
        report = import_masks(project, folder)
        if report.conflicts and QMessageBox.question(
            parent, "Replace your edits?",
            f"{len(report.conflicts)} image(s) already have your edits "
            f"({', '.join(report.conflicts[:5])}{', ...' if len(report.conflicts) > 5 else ''}). "
            "Replace them with the imported masks?",
        ) == QMessageBox.StandardButton.Yes:
            again = import_masks(project, folder, overwrite=True, only=report.conflicts)
            report.imported += again.imported
            report.errors += again.errors
            report.skipped = [line for line in report.skipped if line not in report.conflict_lines]
    except (OSError, ValueError) as exc:
        QMessageBox.warning(parent, "Import failed", str(exc))
        return False
    text = f"Imported {report.imported} mask(s) (read as {report.layout}; classes matched by name)."
    if report.unchanged:
        text += f"\n{report.unchanged} mask(s) were already the same and were left alone."
    problems = report.errors + report.skipped
    if problems:
        text += "\n\n" + "\n".join(problems[:20])
    QMessageBox.information(parent, "Import", text)
    return report.imported > 0
