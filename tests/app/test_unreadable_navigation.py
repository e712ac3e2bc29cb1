"""Unreadable images: keyboard navigation goes past them, selecting one explains, never edits the last image."""

import numpy as np
from PySide6.QtCore import QPoint, Qt

from segstudio.core.project import ImageStatus


def test_page_down_and_n_skip_unreadable_images_which_keep_their_badge(qtbot, window, image_folder):
    (image_folder / "img1.png").write_bytes(b"")  # an empty file between two good ones
    (image_folder / "img1b.png").write_bytes(b"\x89PNG not really")
    assert window.open_folder(image_folder)
    window.activateWindow()
    window.canvas.setFocus()
    assert window.current_key() == "img0"
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageDown)
    assert window.current_key() == "img2"  # past both broken files
    assert {"img1", "img1b"} <= set(window.file_list.model.errors)
    assert window.file_list.keys_in_view_order() == ["img0", "img1", "img1b", "img2"]  # still listed
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageUp)
    assert window.current_key() == "img0"
    qtbot.keyClick(window.canvas, Qt.Key.Key_N)
    assert window.current_key() == "img2"


def test_selecting_an_unreadable_image_explains_it_instead_of_the_previous_image(qtbot, window, image_folder):
    (image_folder / "img1.png").write_bytes(b"")
    assert window.open_folder(image_folder)
    window.show_image("img1")
    assert window.current_key() is None and window.central.showing_notice()
    assert "img1 cannot be shown" in window.central.notice.text()
    assert "img1.png" in window.central.notice.text()  # the reason, naming the file
    assert window.canvas.mask is None  # the previous image is gone from the view
    # Nothing can be edited: tools, undo and review reach no image.
    window.session.set_pixels((0, 0, 5, 5), 3)
    window.mark_reviewed()
    window.undo()
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert window.project.status("img0") == ImageStatus.NO_MASK and window.project.load_mask("img0") is None
    assert not window.documents.dirty()
    # Page Down from the broken entry goes on to the next readable image, and the canvas returns.
    window.step(1)
    assert window.current_key() == "img2" and not window.central.showing_notice()
    assert window.doc.mask.shape == (120, 160) and not np.any(window.doc.mask != window.doc.mask[0, 0])
