"""Edit > Reassign Class opens without an error for any current class and previews the changing pixels on the canvas."""

import numpy as np

from segstudio.app.reassign_dialog import PREVIEW_RGBA, ReassignDialog


def split_mask(left=2, right=5, at=80):
    mask = np.full((120, 160), right, np.uint8)
    mask[:, :at] = left
    return mask


def overlay(window):
    return window.canvas._overlay.buffer.array.copy()


def edit_action(window, text):
    return next(a for a in window.actions.menus["Edit"].actions() if a.text().startswith(text))


def test_the_menu_opens_the_dialog_when_the_current_class_is_not_the_first(qtbot, opened):
    assert opened.session.apply_prediction("img0", split_mask(), model="m")
    opened.pick_class(2)  # the dialog starts on the current class: it used to raise AttributeError here
    edit_action(opened, "Reassign Class").trigger()
    dialog = next(w for w in opened.findChildren(ReassignDialog) if w.isVisible())
    qtbot.addWidget(dialog)
    assert dialog.from_combo.currentIndex() == 2
    qtbot.waitUntil(lambda: dialog.preview_total is not None, timeout=5000)
    assert dialog.preview_total == 120 * 80  # 2 -> 0: the left half
    dialog.close()


def test_the_pixels_that_would_change_are_shown_on_the_canvas_until_the_dialog_closes(qtbot, opened):
    assert opened.session.apply_prediction("img0", split_mask(), model="m")
    plain = overlay(opened)
    edit_action(opened, "Reassign Class").trigger()
    dialog = next(w for w in opened.findChildren(ReassignDialog) if w.isVisible())
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.preview_ready, timeout=5000):
        dialog.from_combo.setCurrentIndex(5)
        dialog.to_combo.setCurrentIndex(7)
    shown = overlay(opened)
    changing = split_mask() == 5
    assert (shown[changing] == PREVIEW_RGBA).all()
    assert np.array_equal(shown[~changing], plain[~changing])
    dialog.from_combo.setCurrentIndex(2)  # follows the chosen class at once
    assert (overlay(opened)[split_mask() == 2] == PREVIEW_RGBA).all()
    assert np.array_equal(overlay(opened)[split_mask() == 5], plain[split_mask() == 5])
    dialog.to_combo.setCurrentIndex(2)  # same class: nothing would change
    assert np.array_equal(overlay(opened), plain)
    dialog.to_combo.setCurrentIndex(7)
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        dialog.apply_button.click()
    assert np.array_equal(opened.doc.mask, split_mask(left=7))
    after = overlay(opened)
    assert np.array_equal(after, opened.canvas._lut[opened.doc.mask])  # nothing left to preview
    dialog.close()
    assert np.array_equal(overlay(opened), opened.canvas._lut[opened.doc.mask])
