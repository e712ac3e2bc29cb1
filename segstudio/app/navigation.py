"""Moving between images, past the ones that cannot be read, and what stands in for them.

An unreadable image keeps its entry (with its error badge) in the file list.
Page Down / N go past it to the next readable image; selecting it shows
``UnreadableNotice`` in place of the canvas, never the image shown before,
and no image is current, so no edit can land anywhere.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget

MAX_SKIPPED = 50  # bounded: a folder full of broken files must not stall a key press


class CentralView(QStackedWidget):
    """The canvas, or the notice that explains why an image cannot be shown."""

    def __init__(self, canvas, parent=None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.notice = QLabel()
        self.notice.setObjectName("UnreadableNotice")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        self.notice.setMargin(24)
        self.addWidget(canvas)
        self.addWidget(self.notice)

    def show_canvas(self) -> None:
        self.setCurrentWidget(self.canvas)

    def show_unreadable(self, key: str, message: str) -> None:
        self.notice.setText(
            f"<h3>{key} cannot be shown</h3><p>{message}</p>"
            "<p>It stays in the list, marked in red. Page Down / Page Up (or N) go to the next image "
            "that can be read. Replace or repair the file and reopen the folder to annotate it.</p>"
        )
        self.setCurrentWidget(self.notice)

    def showing_notice(self) -> bool:
        return self.currentWidget() is self.notice


def step(window, direction: int, unreviewed_only: bool = False) -> None:
    """Shows the next (1) or previous (-1) readable image in the file list's order."""
    key = window.current_key() or window.file_list.model.current_key
    for _ in range(MAX_SKIPPED):
        key = window.file_list.next_key(key, direction, unreviewed_only)
        if key is None:
            return
        window.show_image(key)
        if window.current_key() == key:
            return


def show_first_readable(window, key: str) -> None:
    """Shows ``key``, or the next image that can be read (an unreadable one gets a badge)."""
    keys = window.project.keys
    start = keys.index(key)
    for candidate in (keys[start:] + keys[:start])[:MAX_SKIPPED]:
        window.show_image(candidate)
        if window.current_key() is not None:
            return
