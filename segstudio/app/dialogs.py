"""Export and import dialogs (thin: the work is in core.export)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from segstudio.core.export import export_masks, import_masks
from segstudio.core.project import ImageStatus


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
        self.index_box = QCheckBox("Index PNG (class id per pixel, palette embedded)")
        self.index_box.setChecked(True)
        self.color_box = QCheckBox("Colour PNG (class colours)")
        self.overlay_box = QCheckBox("Overlay JPEG (image + colours, for review)")
        self.images_box = QCheckBox("Copy the images beside the labels (ready for `segstudio train`)")
        self.images_box.setChecked(True)
        self.reviewed_box = QCheckBox("Only images marked reviewed")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        for w in (self.index_box, self.color_box, self.overlay_box, self.images_box, self.reviewed_box):
            layout.addWidget(w)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def formats(self) -> tuple[str, ...]:
        boxes = (("index", self.index_box), ("color", self.color_box), ("overlay", self.overlay_box))
        return tuple(name for name, box in boxes if box.isChecked())


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
        )
    except (OSError, ValueError) as exc:
        QMessageBox.warning(parent, "Export failed", str(exc))
        return
    text = f"Exported {report.written} mask(s); skipped {len(report.skipped)}."
    if report.errors:
        text += "\n\nProblems:\n" + "\n".join(report.errors[:20])
    QMessageBox.information(parent, "Export", text)


def run_import_dialog(parent, project) -> bool:
    folder = QFileDialog.getExistingDirectory(parent, "Import masks from (index or colour PNGs named like the images)")
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
    text = f"Imported {report.imported} mask(s)."
    problems = report.errors + report.skipped
    if problems:
        text += "\n\n" + "\n".join(problems[:20])
    QMessageBox.information(parent, "Import", text)
    return report.imported > 0
