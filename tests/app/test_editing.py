import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from segstudio.core.maskio import read_index_png
from segstudio.core.project import ImageStatus, Project
from tests.app.conftest import view_point

LEFT = Qt.MouseButton.LeftButton


def drag(qtbot, window, points):
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, LEFT, pos=view_point(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(viewport, pos=view_point(window, *p))
    qtbot.mouseRelease(viewport, LEFT, pos=view_point(window, *points[-1]))


def open_fit(window, folder):
    assert window.open_folder(folder)
    window.canvas.set_zoom(2.0)
    window.canvas.centerOn(QPointF(80, 60))


def test_brush_stroke_paints_the_current_class_and_undo_redo_restore(qtbot, window, image_folder):
    open_fit(window, image_folder)
    assert window.current_key() == "img0"
    assert (window.doc.mask == 11).all()  # a new image starts all void
    window.pick_class(3)
    window.size_spin.setValue(6)
    drag(qtbot, window, [(60, 40), (60, 60), (60, 80)])
    mask = window.doc.mask
    assert (mask[60, 40:81] == 3).all() and mask[40, 60] == 11
    painted = mask.copy()
    window.undo()
    assert (window.doc.mask == 11).all()
    window.redo()
    assert np.array_equal(window.doc.mask, painted)
    assert window.project.status("img0") == ImageStatus.EDITED


def test_fill_polygon_lasso_and_eyedropper(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(1)
    window.set_tool("fill")
    qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=view_point(window, 10, 10))
    assert (window.doc.mask == 1).all()
    window.pick_class(5)
    window.set_tool("lasso")
    drag(qtbot, window, [(20, 20), (20, 60), (50, 60), (50, 20)])
    assert window.doc.mask[35, 40] == 5 and window.doc.mask[80, 100] == 1
    window.pick_class(8)
    window.set_tool("polygon")
    for p in [(70, 90), (70, 130), (100, 130)]:
        qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=view_point(window, *p))
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    assert window.doc.mask[75, 120] == 8 and window.doc.mask[95, 95] == 1
    window.set_tool("eyedropper")
    qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=view_point(window, 35, 40))
    assert window.current_class == 5
    for _ in range(3):
        window.undo()
    assert (window.doc.mask == 11).all()


def test_protected_classes_are_untouched(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(3)
    window.set_tool("fill")
    qtbot.mouseClick(window.canvas.viewport(), LEFT, pos=view_point(window, 5, 5))
    window.palette.set_protected(frozenset({3}))
    window.pick_class(9)
    window.set_tool("brush")
    window.size_spin.setValue(20)
    drag(qtbot, window, [(60, 20), (60, 140)])
    assert (window.doc.mask == 3).all()


def test_switching_images_keeps_masks_and_history(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(2)
    drag(qtbot, window, [(30, 30), (30, 90)])
    first = window.doc.mask.copy()
    window.show_image("img1")
    assert window.current_key() == "img1" and (window.doc.mask == 11).all()
    window.show_image("img0")
    assert np.array_equal(window.doc.mask, first)
    window.undo()
    assert (window.doc.mask == 11).all()


def test_close_and_reopen_restores_everything(qtbot, window, image_folder, tmp_path):
    open_fit(window, image_folder)
    window.show_image("img2")
    window.pick_class(4)
    drag(qtbot, window, [(50, 50), (50, 100)])
    window.mark_reviewed()
    painted = window.doc.mask.copy()
    window.canvas.set_zoom(3.0)
    assert window.close_project()
    on_disk = read_index_png(image_folder / ".segstudio" / "masks" / "img2.png", 12)
    assert np.array_equal(on_disk, painted)
    window.open_folder(image_folder)
    assert window.current_key() == "img2"
    assert window.project.status("img2") == ImageStatus.REVIEWED
    assert np.array_equal(window.doc.mask, painted)
    assert abs(window.canvas.zoom() - 3.0) < 1e-6
    assert not window.project.recovered_from_crash


def test_autosave_within_two_seconds(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(6)
    drag(qtbot, window, [(10, 10), (10, 50)])
    path = image_folder / ".segstudio" / "masks" / "img0.png"
    qtbot.waitUntil(path.exists, timeout=2500)
    assert np.array_equal(read_index_png(path, 12), window.doc.mask)
    assert not window.doc.dirty


def test_failed_save_keeps_edits_reports_and_retries(qtbot, window, image_folder, monkeypatch):
    open_fit(window, image_folder)
    real_save = window.project.save_mask
    calls = []

    def failing(key, mask):
        calls.append(key)
        raise OSError(28, "cannot save: no space left on device")

    monkeypatch.setattr(window.project, "save_mask", failing)
    window.pick_class(7)
    drag(qtbot, window, [(20, 20), (20, 70)])
    assert not window.autosaver.save_now()
    assert window.doc.dirty and "save failed" in window.save_label.text()
    assert (window.doc.mask[20, 20:71] == 7).all()
    monkeypatch.setattr(window.project, "save_mask", real_save)
    qtbot.waitUntil(lambda: not window.doc.dirty, timeout=3000)  # the retry timer saves it
    assert window.save_label.text() == "saved"


def test_unreadable_and_16bit_images_do_not_break_the_folder(qtbot, window, image_folder):
    (image_folder / "broken.png").write_bytes(b"\x89PNG not really")
    Image.fromarray((np.arange(120 * 160).reshape(120, 160) * 3).astype(np.uint16)).save(image_folder / "deep16.png")
    open_fit(window, image_folder)
    window.show_image("broken")
    assert window.current_key() != "broken"
    assert "broken" in window.file_list.model.errors
    window.show_image("deep16")
    assert window.current_key() == "deep16" and window.doc.image.dtype == np.uint8


def test_dropping_a_folder_opens_it(qtbot, window, image_folder):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.project is not None and window.project.folder == image_folder


def test_model_masks_never_overwrite_edits(qtbot, window, image_folder):
    open_fit(window, image_folder)
    window.pick_class(4)
    drag(qtbot, window, [(30, 30), (30, 60)])
    predicted = np.zeros((120, 160), np.uint8)
    assert window.session.apply_prediction("img0", predicted)  # fills the unverified pixels only
    assert window.doc.mask[30, 40] == 4 and window.doc.verified[30, 40]
    assert window.doc.mask[100, 150] == 0 and not window.doc.verified[100, 150]
    assert window.session.apply_prediction("img1", predicted)
    assert window.project.status("img1") == ImageStatus.PREDICTED
    window.undo()  # the pre-fill is one undo step
    assert window.doc.mask[30, 40] == 4 and window.doc.mask[100, 150] != 0


def test_file_list_thumbnails_and_status_filter(qtbot, window, image_folder):
    open_fit(window, image_folder)
    model = window.file_list.model
    window.file_list.view.viewport().repaint()
    qtbot.waitUntil(lambda: all(model.has_thumbnail(k) for k in window.project.keys), timeout=5000)
    window.session.apply_prediction("img2", np.zeros((120, 160), np.uint8))
    window.file_list.filter_combo.setCurrentIndex(2)  # predicted
    assert window.file_list.keys_in_view_order() == ["img2"]
    window.file_list.filter_combo.setCurrentIndex(0)
    assert window.file_list.next_key("img0", 1) == "img1"


def test_an_image_whose_edits_are_all_undone_has_no_mask_again_after_reopening(qtbot, window, image_folder):
    window.open_folder(image_folder)
    window.session.set_pixels((0, 0, 5, 5), 3)
    assert window.autosaver.save_now() and window.project.mask_path("img0").exists()
    window.undo()
    assert window.project.status("img0") == ImageStatus.NO_MASK
    assert window.autosaver.save_now() and not window.project.mask_path("img0").exists()
    window.close_project()
    again = Project.open(image_folder)
    assert again.status("img0") == ImageStatus.NO_MASK
    again.close()
