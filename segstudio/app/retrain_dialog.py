"""Before/after comparison shown when a retrain finishes: the user decides, knowingly.

The guard's verdict (``ml.holdout.judge``) names the classes that got worse,
so a person may still choose the new model; with few held-out images each
change carries its 90% bootstrap interval (``result.uncertainty``).
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout


FEW_HELD_OUT = 10  # below this many held-out images, the intervals are spelled out


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
    if result.verdict is not None and result.verdict.worse_classes:
        worse = ", ".join(f"{c.class_id} {c.name} ({c.before:.3f} → {c.after:.3f})" for c in result.verdict.worse_classes)
        verdict += f"\nWorse on: {worse}. You may still choose the new model."
    uncertainty = result.uncertainty
    if uncertainty is not None:
        if uncertainty.mean_iou_delta is None:
            verdict += f"\nOnly {uncertainty.images} image held out: the change cannot be told from chance."
        elif uncertainty.images < FEW_HELD_OUT:
            verdict += (f"\nOnly {uncertainty.images} images held out: the mean IoU change lies in "
                        f"{uncertainty.mean_iou_delta} (90% interval); per class in the last column.")
    if result.note:
        verdict += f"\n({result.note})"
    intervals = list(uncertainty.per_class_delta) if uncertainty is not None else []
    table = QTableWidget(len(result.before["class_ids"]), 5)
    table.setHorizontalHeaderLabels(["Class", "IoU before", "IoU after", "Change", "90% interval"])
    table.verticalHeader().setVisible(False)  # its row numbers 1..N would contradict the class ids 0..N-1
    for row, (cid, b, a, d) in enumerate(zip(result.before["class_ids"], result.before["per_class_iou"],
                                             result.after["per_class_iou"], result.per_class_delta)):
        table.setItem(row, 0, QTableWidgetItem(f"{cid}  {labelset.names[cid]}"))  # ids as in the Classes dock
        for col, value in ((1, b), (2, a)):
            table.setItem(row, col, QTableWidgetItem("-" if value is None else f"{value:.3f}"))
        table.setItem(row, 3, QTableWidgetItem("-" if d is None else f"{d:+.3f}"))
        interval = intervals[row] if row < len(intervals) else None
        table.setItem(row, 4, QTableWidgetItem("-" if interval is None else str(interval)))
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
    dialog.resize(600, 480)
    return dialog.exec() == QDialog.DialogCode.Accepted
