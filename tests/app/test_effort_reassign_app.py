"""The Effort dock follows painting; Edit > Reassign Class changes exact pixels, undoably, with a preview."""

import numpy as np

from segstudio.app.effort_dock import REFRESH_MS
from segstudio.app.reassign_dialog import open_reassign_dialog
from segstudio.core.project import ImageStatus
from tests.app.conftest import click, drag


def prefill(window, key, mask, model="model-v1"):
    assert window.session.apply_prediction(key, mask, model=model)


def split_mask(left=2, right=5, at=80):
    mask = np.full((120, 160), right, np.uint8)
    mask[:, :at] = left
    return mask


def test_the_effort_dock_updates_as_one_paints(qtbot, opened):
    dock = opened.effort_dock
    prefill(opened, "img0", split_mask())
    opened.pick_class(9)
    opened.size_spin.setValue(6)
    drag(qtbot, opened, [(60, 40), (60, 60), (60, 100)])
    qtbot.waitUntil(lambda: "1 strokes" in dock.image_label.text(), timeout=3 * REFRESH_MS + 2000)
    rec = opened.session.effort.record("img0")
    assert rec.changed_pixels == int(np.count_nonzero(opened.doc.mask != split_mask())) > 0
    assert f"{rec.changed_pixels} px changed" in dock.image_label.text() and "model-v1" in dock.image_label.text()
    assert [(v["model"], v["images"], v["strokes"]) for v in dock.plot.versions] == [("model-v1", 1, 1.0)]
    opened.set_tool("fill")
    click(qtbot, opened, 5, 150)
    qtbot.waitUntil(lambda: "1 clicks" in dock.image_label.text(), timeout=3 * REFRESH_MS + 2000)
    assert dock.plot.versions[0]["actions"] == 2.0
    opened.undo()
    opened.undo()
    qtbot.waitUntil(lambda: "0 px changed" in dock.image_label.text(), timeout=3 * REFRESH_MS + 2000)
    dock.plot.grab()  # paints without error


def test_reassign_changes_open_and_saved_masks_with_a_preview_and_undo(qtbot, opened):
    session, project = opened.session, opened.project
    prefill(opened, "img0", split_mask())  # open: one undo step
    project.save_mask("img1", split_mask(at=40))  # not open: rewritten on disk
    project.set_status("img1", ImageStatus.PREDICTED)
    project.save_mask("img2", split_mask(left=5))  # no class 2: untouched
    project.set_status("img2", ImageStatus.REVIEWED)
    img2_bytes = project.mask_path("img2").read_bytes()
    dialog = open_reassign_dialog(opened)
    qtbot.addWidget(dialog)  # closed at teardown: a modal dialog left open blocks later windows
    with qtbot.waitSignal(dialog.preview_ready, timeout=5000) as preview:
        dialog.from_combo.setCurrentIndex(2)
        dialog.to_combo.setCurrentIndex(7)
    assert preview.args == [120 * 80 + 120 * 40]
    assert "14400 pixel(s) in 2 image(s)" in dialog.preview_label.text()
    with qtbot.waitSignal(dialog.applied, timeout=5000) as done:
        dialog.apply_button.click()
    assert done.args[0]["changed"] == 14400 and done.args[0]["images"] == 2
    assert np.array_equal(opened.doc.mask, split_mask(left=7))
    assert np.array_equal(project.load_mask("img1"), split_mask(left=7, at=40))
    assert project.mask_path("img2").read_bytes() == img2_bytes
    assert [project.status(k) for k in ("img0", "img1", "img2")] == [
        ImageStatus.EDITED, ImageStatus.EDITED, ImageStatus.REVIEWED]
    opened.undo()  # the open image's reassignment is one step
    assert np.array_equal(opened.doc.mask, split_mask())
    opened.undo()  # then the pre-fill
    assert (opened.doc.mask == 11).all()


def test_a_protected_class_is_not_reassigned(qtbot, opened):
    prefill(opened, "img0", split_mask())
    opened.palette.set_protected(frozenset({2}))
    dialog = open_reassign_dialog(opened)
    qtbot.addWidget(dialog)  # closed at teardown: a modal dialog left open blocks later windows
    dialog.from_combo.setCurrentIndex(2)
    dialog.to_combo.setCurrentIndex(7)
    assert not dialog.apply_button.isEnabled() and "protected" in dialog.preview_label.text()
    dialog.apply()
    assert np.array_equal(opened.doc.mask, split_mask())


def test_only_the_selected_images_when_asked(qtbot, opened):
    project = opened.project
    for key in ("img1", "img2"):
        project.save_mask(key, split_mask())
    opened.selected_keys = lambda: ["img2"]
    dialog = open_reassign_dialog(opened)
    qtbot.addWidget(dialog)  # closed at teardown: a modal dialog left open blocks later windows
    dialog.selected_radio.setChecked(True)
    with qtbot.waitSignal(dialog.preview_ready, timeout=5000) as preview:
        dialog.from_combo.setCurrentIndex(2)
        dialog.to_combo.setCurrentIndex(3)
    assert preview.args == [120 * 80]
    with qtbot.waitSignal(dialog.applied, timeout=5000):
        dialog.apply_button.click()
    assert np.array_equal(project.load_mask("img1"), split_mask())
    assert np.array_equal(project.load_mask("img2"), split_mask(left=3))
