"""The main window's public API, menus, navigation, drops, closing, settings and launch."""

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QItemSelectionModel, QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent
from PySide6.QtWidgets import QDockWidget, QMessageBox

import segstudio.app.launch as launch
from segstudio.app.settings import MAX_RECENT, Settings
from segstudio.app.worker import Worker
from segstudio.core.project import ImageStatus
from tests.app.conftest import LEFT, drag

VOID = 11


def test_the_model_api(qtbot, opened, image_folder):
    w = opened
    assert w.current_key() == "img0" and w.selected_keys() == ["img0"]
    w.pick_class(4)
    drag(qtbot, w, [(30, 30), (30, 60)])
    assert w.session.mask_for("img0") is w.doc.mask  # the live mask while open
    snap = w.session.mask_snapshot(["img0", "img1"])
    assert set(snap) == {"img0"}  # img1 has no mask yet
    snap["img0"][:] = 0
    assert w.doc.mask[30, 40] == 4  # a snapshot is a copy
    predicted = np.full((120, 160), 3, np.uint8)
    changed = []
    w.mask_changed.connect(changed.append)
    assert w.session.apply_prediction("img0", predicted)  # edited: fills the unverified pixels only
    assert w.doc.mask[30, 40] == 4 and w.doc.mask[100, 100] == 3
    assert np.array_equal(w.canvas._overlay.buffer.array, w.canvas._lut[w.doc.mask])  # canvas refreshed
    confidence = np.full((120, 160), 200, np.uint8)
    assert w.session.apply_prediction("img2", predicted, confidence)
    assert w.project.status("img2") == ImageStatus.PREDICTED
    assert np.array_equal(w.project.load_confidence("img2"), confidence)
    assert changed == ["img0", "img2"]
    assert w.doc.history.undo_count == 2
    w.undo()  # the model's mask is one step
    assert w.doc.mask[30, 40] == 4 and w.doc.mask[100, 100] == VOID
    assert not w.session.apply_prediction("img0", np.zeros((5, 5), np.uint8), force=True)  # wrong size
    assert not w.session.apply_prediction("nope", predicted)
    w.autosaver.save_now()
    w.show_image("img1")
    assert (w.session.mask_for("img2") == 3).all()


def test_a_model_mask_never_lands_mid_stroke(qtbot, opened):
    w = opened
    viewport = w.canvas.viewport()
    from tests.app.conftest import view_point

    qtbot.mousePress(viewport, LEFT, pos=view_point(w, 60, 60))
    assert not w.session.apply_prediction("img0", np.full((120, 160), 3, np.uint8))
    qtbot.mouseRelease(viewport, LEFT, pos=view_point(w, 60, 60))
    assert w.doc.mask[60, 60] == 0 and w.doc.mask[10, 10] == VOID


def test_selected_keys_follow_the_file_list(qtbot, opened):
    w = opened
    view, proxy = w.file_list.view, w.file_list.proxy
    selection = view.selectionModel()
    selection.clearSelection()
    for row in (1, 2):
        selection.select(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.Select)
    assert w.selected_keys() == ["img1", "img2"]


def test_menus_docks_and_progress(qtbot, window):
    for name in ("File", "Edit", "View", "Image", "Model", "Help"):
        assert window.menu(name).title().replace("&", "") == name
    texts = [a.text() for a in window.menu("File").actions()]
    assert any("Open Folder" in t for t in texts) and any("Export" in t for t in texts)
    dock = QDockWidget("Extra", window)
    dock.setObjectName("ExtraDock")
    window.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea)
    assert dock.toggleViewAction() in window.menu("View").actions()
    cancelled = []
    handle = window.progress.begin("Auto-segment", lambda: cancelled.append(True))
    assert window.progress.active
    handle.update(0.5, "2/4")
    assert window.progress.bar.value() == 500 and "ETA" in window.progress.eta.text()
    window.progress.cancel_button.click()
    assert cancelled == [True]
    later = window.progress.begin("Retrain", None)
    handle.end()  # a stale handle does not hide the newer job
    assert window.progress.active
    later.end()
    assert not window.progress.active


def test_navigation_and_review_keys(qtbot, opened):
    w = opened
    w.activateWindow()
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown)
    assert w.current_key() == "img1"
    qtbot.keyClick(w.canvas, Qt.Key.Key_R)
    assert w.project.status("img1") == ImageStatus.REVIEWED
    assert "2/3" in w.index_label.text() and "reviewed" in w.index_label.text()
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageUp)
    assert w.current_key() == "img0"
    qtbot.keyClick(w.canvas, Qt.Key.Key_N)  # skips the reviewed img1
    assert w.current_key() == "img2"
    qtbot.keyClick(w.canvas, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert w.current_key() == "img0"
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # nothing to undo: no error


def test_undo_redo_shortcuts(qtbot, opened):
    w = opened
    w.pick_class(2)
    drag(qtbot, w, [(60, 20), (60, 100)])
    painted = w.doc.mask.copy()
    w.activateWindow()
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (w.doc.mask == VOID).all()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(w.doc.mask, painted)
    w.undo()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(w.doc.mask, painted)


def test_drag_enter_accepts_folders_only_and_drop_opens(qtbot, window, image_folder):
    def enter(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDragEnterEvent(QPointF(5, 5).toPoint(), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier)
        event.setAccepted(False)
        window.dragEnterEvent(event)
        return event.isAccepted()

    assert enter(image_folder)
    assert not enter(image_folder / "img0.png")
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image_folder))])
    window.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, LEFT, Qt.KeyboardModifier.NoModifier))
    assert window.project is not None and window.current_key() == "img0"
    assert window.settings.last_folder == str(image_folder.resolve())


def test_a_folder_with_broken_and_16bit_images_opens(qtbot, window, image_folder):
    (image_folder / "aaa_broken.jpg").write_bytes(b"not a jpeg")
    deep = (np.arange(120 * 160).reshape(120, 160) * 3).astype(np.uint16)
    Image.fromarray(deep).save(image_folder / "deep16.png")
    assert window.open_folder(image_folder)
    assert window.current_key() not in (None, "aaa_broken")
    assert "aaa_broken" in window.file_list.model.errors
    window.show_image("deep16")
    assert window.current_key() == "deep16" and window.doc.image.dtype == np.uint8


def test_closing_while_a_job_runs_asks_then_stops_and_joins(qtbot, opened, monkeypatch):
    w = opened
    started = []

    def job(should_stop):
        started.append(True)
        while not should_stop():
            yield None

    worker = w.workers.start(Worker(job, name="training"))
    qtbot.waitUntil(lambda: bool(started), timeout=2000)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert not w.close() and worker.is_running()
    assert asked == ["Training is running on this folder. Stop it and quit?"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert w.close()
    assert not worker.is_running()


def test_settings_are_typed_and_recent_folders_bounded(tmp_path):
    s = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert s.brush_size == 16 and s.opacity == 0.5 and s.device == "auto" and s.last_folder is None
    for i in range(MAX_RECENT + 3):
        s.add_recent_folder(f"/data/f{i}")
    s.add_recent_folder("/data/f5")
    assert len(s.recent_folders) == MAX_RECENT and s.recent_folders[0] == "/data/f5"
    assert s.recent_folders.count("/data/f5") == 1 and s.last_folder == "/data/f5"
    s.brush_size, s.opacity, s.model_path = 33, 0.25, "/m.safetensors"
    again = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert (again.brush_size, again.opacity, again.model_path) == (33, 0.25, "/m.safetensors")


def test_launch_parses_arguments_and_picks_a_folder(tmp_path, settings):
    args = launch._parse(["/some/folder", "--labelset", "x.json", "--self-test"])
    assert args.folder == "/some/folder" and args.labelset == "x.json" and args.self_test
    samples = launch.sample_folder()
    assert samples is not None and any(samples.iterdir())
    # First run: a copy of the samples in the user's data folder, never the package's own folder.
    first = Path(launch.default_folder(settings, data_dir=tmp_path / "data"))
    assert first == tmp_path / "data" / "samples"
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in samples.iterdir())
    settings.add_recent_folder(str(tmp_path))
    assert launch.default_folder(settings) == str(tmp_path)


def test_launch_self_test_delegates_with_the_app(qapp, monkeypatch):
    import segstudio.app.selftest as selftest

    got = []
    monkeypatch.setattr(selftest, "run_self_test", lambda app=None: got.append(app) or 0)
    monkeypatch.setattr("segstudio.app.crash.install_excepthook", lambda app: None)
    assert launch.launch_app(["--self-test"]) == 0
    assert got == [qapp]


def test_a_job_slow_to_notice_cancel_is_still_joined(qtbot):
    import time

    from segstudio.app.worker import WorkerRegistry

    registry = WorkerRegistry()

    def stubborn(should_stop):
        yield None
        time.sleep(0.6)  # a long step (an evaluation) that does not look at should_stop
        yield None

    worker = registry.start(Worker(stubborn, name="training"))
    qtbot.waitUntil(worker.is_running, timeout=2000)
    assert not registry.stop_all(timeout_ms=50)
    assert registry.running() == [worker]  # still registered: it can be joined later
    assert registry.stop_all(timeout_ms=-1)
    assert not worker.is_running() and registry.running() == []



def test_the_effort_and_model_docks_share_one_place_so_the_palette_keeps_its_room(qtbot, settings):
    from segstudio.app.main_window import MainWindow
    from segstudio.app.retrain import install_model_features

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    features = install_model_features(win, interactive=False)
    win.resize(1440, 1000)
    win.show()
    qtbot.waitExposed(win)
    panel = features.autoseg.panel
    assert win.effort_dock in win.tabifiedDockWidgets(panel)
    assert not panel.visibleRegion().isEmpty()  # the Model tab is the one in front
    win.workers.stop_all()
