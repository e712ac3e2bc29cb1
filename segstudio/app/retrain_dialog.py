"""Before/after comparison shown when a retrain finishes: the user decides, knowingly."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout


def ask_accept(parent, result, labelset) -> bool:
    dialog = QDialog(parent)
    dialog.setWindowTitle("Retrain finished")
    before, after = result.before["mean_iou"], result.after["mean_iou"]
    verdict = (
        f"The new model is better on {len(result.holdout_keys)} held-out image(s): mean IoU "
        f"{before:.3f} → {after:.3f}."
        if result.improved
        else f"The new model is NOT better on the held-out image(s): mean IoU {before:.3f} → {after:.3f}. "
        "Keeping the current model is recommended."
    )
    if result.note:
        verdict += f"\n({result.note})"
    table = QTableWidget(len(result.before["class_ids"]), 4)
    table.setHorizontalHeaderLabels(["Class", "IoU before", "IoU after", "Change"])
    table.verticalHeader().setVisible(False)  # its row numbers 1..N would contradict the class ids 0..N-1
    for row, (cid, b, a, d) in enumerate(zip(result.before["class_ids"], result.before["per_class_iou"],
                                             result.after["per_class_iou"], result.per_class_delta)):
        table.setItem(row, 0, QTableWidgetItem(f"{cid}  {labelset.names[cid]}"))  # ids as in the Classes dock
        for col, value in ((1, b), (2, a)):
            table.setItem(row, col, QTableWidgetItem("-" if value is None else f"{value:.3f}"))
        table.setItem(row, 3, QTableWidgetItem("-" if d is None else f"{d:+.3f}"))
    buttons = QDialogButtonBox()
    use = buttons.addButton("Use the new model", QDialogButtonBox.ButtonRole.AcceptRole)
    keep = buttons.addButton("Keep the current model", QDialogButtonBox.ButtonRole.RejectRole)
    # Enter must press the recommended button whatever has the focus: an auto-default button
    # becomes the default while focused, so none is auto-default, and the recommended one
    # starts with the focus.
    recommended = use if result.improved else keep
    for button in (use, keep):
        button.setAutoDefault(False)
    recommended.setDefault(True)
    recommended.setFocus()
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    label = QLabel(verdict)
    label.setWordWrap(True)
    layout.addWidget(label)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(480, 460)
    return dialog.exec() == QDialog.DialogCode.Accepted
