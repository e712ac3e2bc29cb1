"""Autosave, background saves, failures and retries, reopening, the document cache."""

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, QTimer
from PySide6.QtWidgets import QMessageBox

import segstudio.app.autosave as autosave
import segstudio.core.atomic as atomic
from segstudio.core.documents import DocumentCache, ImageDocument, class_counts
from segstudio.core.maskio import read_index_png
from segstudio.core.project import ImageStatus
from segstudio.core.verified import load_verified
from tests.app.conftest import drag

VOID = 11


def mask_file(folder, key):
    return folder / ".segstudio" / "masks" / f"{key}.png"


def test_continuous_painting_still_saves_within_two_seconds(qtbot, opened, image_folder):
    w = opened
    w.pick_class(2)
    drag(qtbot, w, [(10, 10), (10, 40)])
    # Keep "editing" every 200 ms: the idle timer alone would never fire.
    ticker = QTimer()
    ticker.timeout.connect(w.autosaver.edited)
    ticker.start(200)
    try:
        qtbot.waitUntil(lambda: mask_file(image_folder, "img0").exists(), timeout=2600)
    finally:
        ticker.stop()
    assert np.array_equal(read_index_png(mask_file(image_folder, "img0"), 12), w.doc.mask)


def test_big_masks_are_saved_by_a_worker_and_later_edits_stay_unsaved(qtbot, opened, image_folder, monkeypatch):
    w = opened
    monkeypatch.setattr(autosave, "BACKGROUND_PIXELS", 100)  # every mask counts as big
    w.pick_class(5)
    drag(qtbot, w, [(30, 30), (30, 90)])
    first = w.doc.mask.copy()
    assert w.autosaver.save_now(block=False)
    assert w.autosaver.is_saving() and w.save_label.text() == "saving…"
    first_verified = w.doc.verified.copy()
    assert first_verified.any()
    w.doc.mask[100:110, 100:110] = 1  # an edit while the worker writes
    w.doc.verified[100:110, 100:110] = True
    w.doc.mark_edited()
    qtbot.waitUntil(lambda: not w.autosaver.is_saving(), timeout=3000)
    assert np.array_equal(read_index_png(mask_file(image_folder, "img0"), 12), first)
    # The verified pixels went with the mask, as they were when the save began.
    assert np.array_equal(load_verified(w.project, "img0", first.shape), first_verified)
    assert w.doc.dirty  # the later edit is not marked saved
    assert w.autosaver.save_now()  # blocking: everything on disk now
    assert np.array_equal(read_index_png(mask_file(image_folder, "img0"), 12), w.doc.mask)
    assert not w.doc.dirty and w.save_label.text() == "saved"
    assert np.array_equal(load_verified(w.project, "img0", first.shape), w.doc.verified)


def test_a_failed_background_save_keeps_edits_shows_it_and_retries(qtbot, opened, image_folder, monkeypatch):
    w = opened
    monkeypatch.setattr(autosave, "BACKGROUND_PIXELS", 100)
    real_save = w.project.save_mask

    def failing(key, mask, encoded=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w.project, "save_mask", failing)
    w.pick_class(7)
    drag(qtbot, w, [(20, 20), (20, 70)])
    w.autosaver.save_now(block=False)
    qtbot.waitUntil(lambda: "save failed" in w.save_label.text(), timeout=3000)
    assert "retrying" in w.save_label.text()
    assert w.doc.dirty and (w.doc.mask[20, 20:71] == 7).all()
    assert not mask_file(image_folder, "img0").exists()
    monkeypatch.setattr(w.project, "save_mask", real_save)
    qtbot.waitUntil(lambda: not w.doc.dirty, timeout=4000)  # the retry timer saves it
    assert w.save_label.text() == "saved"
    assert np.array_equal(read_index_png(mask_file(image_folder, "img0"), 12), w.doc.mask)


def test_an_interrupted_save_leaves_the_previous_file_intact(qtbot, opened, image_folder, monkeypatch):
    w = opened
    w.pick_class(3)
    drag(qtbot, w, [(40, 10), (40, 150)])
    assert w.autosaver.save_now()
    before = mask_file(image_folder, "img0").read_bytes()

    def no_replace(src, dst):
        raise OSError(5, "Input/output error")

    real_replace = atomic.os.replace
    monkeypatch.setattr(atomic.os, "replace", no_replace)
    w.pick_class(4)
    drag(qtbot, w, [(80, 10), (80, 150)])
    assert not w.autosaver.save_now()
    assert mask_file(image_folder, "img0").read_bytes() == before
    leftovers = [p.name for p in mask_file(image_folder, "img0").parent.iterdir() if p.name != "img0.png"]
    assert leftovers == []  # no temp file left behind
    assert w.doc.dirty and "save failed" in w.save_label.text()
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert w.autosaver.save_now() and not w.doc.dirty
    assert np.array_equal(read_index_png(mask_file(image_folder, "img0"), 12), w.doc.mask)


def test_closing_with_unsaved_edits_asks_first(qtbot, opened, monkeypatch):
    w = opened
    real_save = w.project.save_mask
    monkeypatch.setattr(w.project, "save_mask", lambda *a, **k: (_ for _ in ()).throw(OSError(30, "Read-only")))
    w.pick_class(1)
    drag(qtbot, w, [(60, 20), (60, 60)])
    answers = [QMessageBox.StandardButton.No]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), answers.pop(0))[1])
    assert not w.close()
    assert w.isVisible() and w.project is not None and "could not be saved" in asked[0]
    assert w.doc.dirty and w.doc.mask[60, 40] == 1
    monkeypatch.setattr(w.project, "save_mask", real_save)
    assert w.close() and not w.isVisible()  # saves now, so no question
    assert len(asked) == 1


def test_reopen_restores_masks_statuses_current_image_and_view(qtbot, opened, image_folder):
    w = opened
    w.show_image("img1")
    w.pick_class(8)
    drag(qtbot, w, [(60, 30), (60, 120)])
    img1 = w.doc.mask.copy()
    assert w.session.apply_prediction("img2", np.full((120, 160), 3, np.uint8))
    w.canvas.set_zoom(4.0)
    w.canvas.centerOn(QPointF(50, 40))
    center = w.canvas.view_state()["center"]
    assert w.close_project()
    assert w.open_folder(image_folder)
    assert w.current_key() == "img1"
    assert np.array_equal(w.doc.mask, img1)
    assert w.project.status("img1") == ImageStatus.EDITED
    assert w.project.status("img2") == ImageStatus.PREDICTED
    assert w.project.status("img0") == ImageStatus.NO_MASK
    assert abs(w.canvas.zoom() - 4.0) < 1e-6
    restored = w.canvas.view_state()["center"]
    assert abs(restored[0] - center[0]) < 1 and abs(restored[1] - center[1]) < 1
    assert (w.session.mask_for("img2") == 3).all()


def test_switching_back_keeps_history_and_image_switch_saves(qtbot, opened, image_folder):
    w = opened
    w.pick_class(6)
    drag(qtbot, w, [(50, 50), (50, 90)])
    w.show_image("img1")
    assert mask_file(image_folder, "img0").exists()  # saved on the switch
    w.pick_class(2)
    drag(qtbot, w, [(20, 20), (20, 60)])
    w.show_image("img0")
    assert w.doc.history.undo_count == 1 and w.doc.mask[50, 70] == 6
    w.undo()
    assert (w.doc.mask == VOID).all()
    w.show_image("img1")
    assert w.doc.history.undo_count == 1 and w.doc.mask[20, 40] == 2


def test_document_cache_drops_least_recently_used_clean_documents_only():
    def doc(key, dirty=False):
        d = ImageDocument(key, np.zeros((10, 10, 3), np.uint8), np.zeros((10, 10), np.uint8))
        d.dirty = dirty
        return d

    cache = DocumentCache(max_documents=3)
    cache.put(doc("a", dirty=True))
    for key in "bcde":
        cache.put(doc(key))
    assert "a" in cache and len(cache) == 3  # unsaved work is never dropped
    assert "b" not in cache and "c" not in cache
    cache.get("d")
    cache.put(doc("f"))
    assert "d" in cache and "e" not in cache
    small = DocumentCache(max_documents=20, max_bytes=1000)
    for key in "xyz":
        small.put(doc(key))
    assert len(small) <= 2


def test_undo_history_outlives_the_documents_eviction_while_the_mask_is_unchanged():
    def doc(key, value=0):
        return ImageDocument(key, np.zeros((10, 10, 3), np.uint8), np.full((10, 10), value, np.uint8))

    cache = DocumentCache(max_documents=2)
    edited = doc("a")
    after = edited.mask.copy()
    after[2:4, 2:4] = 7
    step = edited.history.push_whole(edited.mask, after)
    edited.mask[2:4, 2:4] = 7
    cache.put(edited)  # saved (clean), then evicted by two more visits
    cache.put(doc("b"))
    cache.put(doc("c"))
    assert "a" not in cache
    again = doc("a")
    again.mask[2:4, 2:4] = 7  # the same mask, read back from disk
    cache.put(again)
    assert again.history.can_undo and again.history.undo(again.mask) == step.rect
    assert (again.mask == 0).all()
    # A mask changed on disk meanwhile (an import, a model run) does not get the old history.
    cache.put(doc("b"))
    cache.put(doc("c"))
    cache.put(doc("a", value=3))
    assert not cache.get("a").history.can_undo and not cache.get("a").history.can_redo


def test_class_counts_are_exact_and_follow_steps():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 12, (600, 900), dtype=np.uint8)
    assert np.array_equal(class_counts(mask), np.bincount(mask.ravel(), minlength=256))
    d = ImageDocument("k", np.zeros((600, 900, 3), np.uint8), mask)
    d.class_counts()
    d.history.begin(d.mask)
    d.history.record_before((100, 100, 200, 300))
    d.mask[100:200, 100:300] = 5
    d.counts_step(d.history.end())
    assert np.array_equal(d.class_counts(), np.bincount(d.mask.ravel(), minlength=256))


def test_opening_another_folder_with_unsaved_edits_asks_and_keeps_them(qtbot, opened, monkeypatch, tmp_path):
    w = opened
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (16, 12)).save(other / "x.png")
    monkeypatch.setattr(w.project, "save_mask", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space")))
    w.pick_class(1)
    drag(qtbot, w, [(60, 20), (60, 60)])
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    project = w.project
    assert not w.open_folder(other)
    assert w.project is project and w.doc.dirty and w.doc.mask[60, 40] == 1
    assert "could not be saved" in asked[0] and "Open the other folder and lose them?" in asked[0]
    w.import_masks()  # the import reloads masks from disk: same question, same answer
    assert w.doc.dirty and w.doc.mask[60, 40] == 1 and len(asked) == 2


def test_opening_another_folder_stops_the_jobs_of_this_one(qtbot, opened, monkeypatch, tmp_path):
    from segstudio.app.worker import Worker

    w = opened
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (16, 12)).save(other / "x.png")
    started = []

    def job(should_stop):
        started.append(True)
        while not should_stop():
            yield None

    worker = w.workers.start(Worker(job, name="auto-segment"))
    qtbot.waitUntil(lambda: bool(started), timeout=2000)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not w.open_folder(other) and worker.is_running()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    assert w.open_folder(other)
    assert not worker.is_running() and w.project.folder == other
    assert asked == ["Auto-segment is running on this folder. Stop it and open the other folder?"] * 2


def test_import_asks_before_replacing_edited_masks(qtbot, opened, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog

    from segstudio.core.labels import CAMVID
    from segstudio.core.maskio import write_index_png

    w = opened
    w.pick_class(1)
    drag(qtbot, w, [(60, 20), (60, 60)])  # img0 now holds the user's edit
    source = tmp_path / "incoming"
    source.mkdir()
    for key in ("img0", "img1"):
        write_index_png(source / f"{key}.png", np.full((120, 160), 5, np.uint8), CAMVID)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(source))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    w.import_masks()
    assert "1 image(s) already have your edits (img0)" in asked[0]
    assert w.session.mask_for("img0")[60, 40] == 1 and (w.session.mask_for("img1") == 5).all()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    w.import_masks()
    assert (w.session.mask_for("img0") == 5).all()


def test_export_takes_edits_that_could_not_be_saved_from_memory(qtbot, opened, monkeypatch, tmp_path):
    import segstudio.app.dialogs as dialogs

    w = opened
    monkeypatch.setattr(w.project, "save_mask", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space")))
    w.pick_class(1)
    drag(qtbot, w, [(60, 20), (60, 60)])
    out = tmp_path / "export"
    monkeypatch.setattr(dialogs.ExportDialog, "exec", lambda self: self.folder.setText(str(out)) or 1)
    w.export_masks()
    exported = read_index_png(out / "labels" / "img0.png", 12)
    assert exported[60, 40] == 1 and np.array_equal(exported, w.doc.mask)
