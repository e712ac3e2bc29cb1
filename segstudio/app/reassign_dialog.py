"""Edit > Reassign Class…: every pixel of class A becomes B, in the folder or the selected images.

The pixel rules live in ``core.reassign`` and the session: images in memory
change as one undo step each (``EditingSession.replace_class``); saved masks
of the others are rewritten atomically by a job in the one ``Worker``
pattern, and their statuses and effort are updated here, on the GUI thread,
as each image is done. The preview (pixels that would change) reads the
in-memory images' cached class counts at once and the saved masks in a
worker, so a big folder never blocks the window. The pixels of the image on
screen that would change are tinted on the canvas while the dialog is open
(``canvas.change_preview``), so a user sees what Apply will do. The dialog is
modal while it applies, so no image is opened while its file is being rewritten.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox, QRadioButton,
                               QVBoxLayout)

from segstudio.app.worker import Worker
from segstudio.core.reassign import ReassignError, check_classes, saved_count_job, saved_reassign_job

PREVIEW_RGBA = (255, 0, 255, 220)  # the canvas colour of a pixel that Apply would change


class ReassignDialog(QDialog):
    preview_ready = Signal(int)  # pixels that would change, all images together
    applied = Signal(object)  # {"changed": pixels, "images": n, "errors": {key: message}}

    def __init__(self, window) -> None:
        super().__init__(window)
        self.setWindowTitle("Reassign Class")
        self.window = window
        self.session = window.session
        self._counting: Worker | None = None
        self._applying: Worker | None = None
        self._result: dict = {}
        self.preview_total: int | None = None
        labelset = self.session.project.labelset
        self.from_combo, self.to_combo = QComboBox(), QComboBox()
        for combo in (self.from_combo, self.to_combo):
            combo.addItems([f"{cid}  {name}" for cid, name in enumerate(labelset.names)])
        self.from_combo.setCurrentIndex(self.session.current_class)
        self.all_radio = QRadioButton(f"All images ({len(self.session.project.keys)})")
        self.selected = [k for k in window.selected_keys() if k in self.session.project.keys]
        self.selected_radio = QRadioButton(f"Selected images ({len(self.selected)})")
        self.selected_radio.setEnabled(bool(self.selected))
        self.all_radio.setChecked(True)
        self.preview_label = QLabel()
        self.preview_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Close)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Replace class", self.from_combo)
        form.addRow("by class", self.to_combo)
        form.addRow("in", self.all_radio)
        form.addRow("", self.selected_radio)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.buttons)
        # Connected once every widget exists: setting the current class above fires them.
        for combo in (self.from_combo, self.to_combo):
            combo.currentIndexChanged.connect(self.update_preview)
        self.all_radio.toggled.connect(self.update_preview)
        self.finished.connect(self._clear_canvas_preview)
        self.update_preview()

    # --- what would change ---------------------------------------------------------------
    def classes(self) -> tuple[int, int]:
        return self.from_combo.currentIndex(), self.to_combo.currentIndex()

    def keys(self) -> list[str]:
        return list(self.selected) if self.selected_radio.isChecked() else list(self.session.project.keys)

    def _split(self) -> tuple[list[str], list[str]]:
        """(keys in memory, keys only on disk)."""
        in_memory = [k for k in self.keys() if self.session.documents.peek(k) is not None]
        return in_memory, [k for k in self.keys() if k not in in_memory]

    def _problem(self) -> str | None:
        source, target = self.classes()
        try:
            check_classes(source, target, self.session.project.labelset.num_classes, self.session.protected)
        except ReassignError as exc:
            return str(exc)
        return None

    def update_preview(self, *_args) -> None:
        if self._counting is not None:
            self._counting.cancel()  # its late events are dropped by the worker
            self._counting = None
        self.preview_total = None
        problem = self._problem()
        self.apply_button.setEnabled(problem is None and self._applying is None)
        self._show_on_canvas(None if problem else self.classes()[0])
        if problem is not None:
            self.preview_label.setText(problem)
            return
        source, _ = self.classes()
        in_memory, on_disk = self._split()
        counts = {k: int(self.session.documents.peek(k).class_counts()[source]) for k in in_memory}
        self.preview_label.setText(f"Counting the pixels of class {source} in {len(on_disk)} saved mask(s)…")
        worker = Worker(saved_count_job(self.session.project, on_disk, source), name="reassign preview")
        worker.progress.connect(lambda event: counts.__setitem__(event.key, event.changed))
        worker.result.connect(lambda _n, w=worker: self._show_preview(w, counts))
        self._counting = worker
        self.window.workers.start(worker)

    def _show_preview(self, worker: Worker, counts: dict[str, int]) -> None:
        if worker is not self._counting:
            return  # an older count (the classes changed since)
        self._counting = None
        total = sum(counts.values())
        images = sum(1 for n in counts.values() if n)
        self.preview_total = total
        self.preview_label.setText(f"{total} pixel(s) in {images} image(s) would change.")
        self.preview_ready.emit(total)

    def _show_on_canvas(self, source: int | None) -> None:
        """Tints the on-screen image's pixels of ``source`` (those Apply changes); ``None`` clears the tint."""
        canvas = self.window.canvas
        if source is None:
            if canvas.change_preview is None:
                return
            canvas.change_preview = None
        else:
            canvas.change_preview = lambda rgba, rect: self._tint(rgba, rect, source)
        canvas.refresh_overlay()

    def _tint(self, rgba: np.ndarray, rect, source: int) -> None:
        mask = self.window.canvas.mask
        key = self.window.current_key()
        if mask is None or key not in self.keys():
            return
        y0, x0, y1, x1 = rect
        rgba[mask[y0:y1, x0:x1] == source] = PREVIEW_RGBA

    def _clear_canvas_preview(self, *_args) -> None:
        self._show_on_canvas(None)

    # --- applying ----------------------------------------------------------------------------
    def apply(self) -> None:
        problem = self._problem()
        if problem is not None or self._applying is not None:
            if problem:
                QMessageBox.warning(self, "Reassign Class", problem)
            return
        if self._counting is not None:
            self._counting.cancel()
            self._counting = None
        source, target = self.classes()
        in_memory, on_disk = self._split()
        self._result = {"changed": 0, "images": 0, "errors": {}}
        for key in in_memory:  # one undo step each
            changed = self.session.replace_class(key, source, target)
            self._result["changed"] += changed
            self._result["images"] += bool(changed)
        self.apply_button.setEnabled(False)
        self.preview_label.setText(f"Rewriting {len(on_disk)} saved mask(s)…")
        job = saved_reassign_job(self.session.project, on_disk, source, target, self.session.effort.read_baseline)
        worker = Worker(job, name="reassign")
        worker.progress.connect(self._on_saved)
        worker.finished.connect(self._done)
        self._applying = worker
        self.window.workers.start(worker)

    def _on_saved(self, event) -> None:
        if event.error:
            self._result["errors"][event.key] = event.error
            return
        self.session.saved_mask_rewritten(event)
        self._result["changed"] += event.changed
        self._result["images"] += bool(event.changed)
        self.preview_label.setText(f"Rewriting saved masks: {event.index}/{event.total}")

    def _done(self) -> None:
        self._applying = None
        result = self._result
        source, target = self.classes()
        text = f"Class {source} → {target}: {result['changed']} pixel(s) in {result['images']} image(s)"
        if result["errors"]:
            text += f"; {len(result['errors'])} mask(s) could not be read or written: " + "; ".join(
                f"{k}: {m}" for k, m in list(result["errors"].items())[:3])
        self.preview_label.setText(text)
        self.window.show_message(text, 10000)
        self.applied.emit(result)
        self.update_preview()

    def reject(self) -> None:
        if self._applying is not None:
            return  # each saved mask is rewritten or untouched; wait for the job to end
        if self._counting is not None:
            self._counting.cancel()
        super().reject()


def open_reassign_dialog(window) -> ReassignDialog | None:
    """Shows the dialog (modal, not blocking the caller); ``None`` without an open folder."""
    if window.project is None:
        return None
    dialog = ReassignDialog(window)
    dialog.setModal(True)
    dialog.show()
    return dialog


def install_reassign(window) -> None:
    window.add_menu_action("Edit", "Reassign Class…", lambda: open_reassign_dialog(window), "Ctrl+Shift+K")
