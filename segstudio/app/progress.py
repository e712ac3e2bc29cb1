"""The status-bar progress area shared by every long job (one at a time is shown).

``handle = window.progress.begin(title, cancel_callback)`` shows it (Cancel
calls ``cancel_callback``, e.g. ``worker.cancel``; ``None`` disables it);
``update(fraction, text, eta_s=None)`` moves the bar (the ETA is estimated
from the elapsed time when not given); ``end()`` hides it. The handle has the
same ``update``/``end``; a handle from an earlier ``begin`` no longer moves
the bar once another job began.
"""

from __future__ import annotations

import time

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class ProgressArea(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(200)
        self.bar.setTextVisible(False)
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.label, self.bar, self.eta, self.cancel_button):
            layout.addWidget(w)
        self._cancel = None
        self._started = 0.0
        self._generation = 0
        self.cancel_button.clicked.connect(self._on_cancel)
        self.setVisible(False)

    def begin(self, title: str, cancel_callback=None) -> "ProgressHandle":
        self._generation += 1
        self._cancel = cancel_callback
        self._started = time.monotonic()
        self.label.setText(title)
        self.bar.setValue(0)
        self.eta.setText("")
        self.cancel_button.setEnabled(cancel_callback is not None)
        self.cancel_button.setText("Cancel")
        self.setVisible(True)
        return ProgressHandle(self, self._generation)

    @property
    def active(self) -> bool:
        return not self.isHidden()

    def update(self, fraction: float, text: str = "", eta_s: float | None = None) -> None:
        fraction = max(0.0, min(1.0, fraction))
        self.bar.setValue(int(fraction * 1000))
        if eta_s is None and fraction > 0.01:
            elapsed = time.monotonic() - self._started
            eta_s = elapsed * (1 - fraction) / fraction
        eta = f"ETA {int(eta_s // 60)}:{int(eta_s % 60):02d}" if eta_s is not None else ""
        self.eta.setText(f"{text}  {eta}".strip())

    def end(self) -> None:
        self._cancel = None
        self.setVisible(False)

    def _on_cancel(self) -> None:
        if self._cancel is not None:
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")
            self._cancel()


class ProgressHandle:
    """What ``begin`` returns: ``update``/``end`` for that job only."""

    def __init__(self, area: ProgressArea, generation: int) -> None:
        self._area, self._generation = area, generation

    def _current(self) -> bool:
        return self._area._generation == self._generation

    def update(self, fraction: float, text: str = "", eta_s: float | None = None) -> None:
        if self._current():
            self._area.update(fraction, text, eta_s)

    def end(self) -> None:
        if self._current():
            self._area.end()
