"""View > Verified Pixels (V): tints what a person confirmed, updates with strokes, undo and reopening."""

import numpy as np
from PySide6.QtCore import Qt

from tests.app.test_editing import drag, open_fit


def overlay_rgba(window):
    return window.canvas._overlay.buffer.array.copy()


def test_the_overlay_shows_verified_pixels_and_follows_undo(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(11)  # void over void: nothing changes but the pixels become verified
    drag(qtbot, window, [(30, 30), (30, 70)])
    verified = window.doc.verified.copy()
    assert verified.any() and (window.doc.mask == 11).all()
    plain = overlay_rgba(window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_V)
    assert window.verified_overlay.action.isChecked()
    shown = overlay_rgba(window)
    differs = (shown != plain).any(axis=2)
    assert np.array_equal(differs, verified)  # exactly the verified pixels are tinted
    window.undo()
    assert not window.doc.verified.any()
    assert np.array_equal(overlay_rgba(window), plain)  # the undo step took the tint back too
    window.redo()
    assert np.array_equal(overlay_rgba(window), shown)
    qtbot.keyClick(window.canvas, Qt.Key.Key_V)
    assert np.array_equal(overlay_rgba(window), plain)
