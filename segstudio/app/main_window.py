"""The main window: assembles the canvas, docks, tools, menus and status bar, and draws the session.

The editing rules live in ``core.session.EditingSession`` (``window.session``):
the open project, the documents, statuses, undo, predictions. The window
feeds it user input (tools, menus) and redraws what its callbacks report.
The parts live in their own modules (canvas, menus, autosave, progress,
settings, docks; ``core.tools`` for the tools).

API for the model features (``app/autosegment.py``, ``app/retrain.py``):
``session``; ``project`` (the open ``Project`` or ``None``); ``progress``
(``begin(title, cancel) / update(fraction, text, eta_s) / end()``);
``workers`` (``WorkerRegistry``); ``settings``; ``autosaver`` (``save_now()``);
``file_list``; ``current_key()``; ``selected_keys()`` (the file list's
selection, else the current image); ``menu(name)``;
``add_menu_action(menu_name, text, slot, shortcut)``; ``add_dock(dock, area)``;
``show_message(text, ms)``.
Signals: ``project_opened(Project)``, ``current_image_changed(key)``,
``mask_changed(key)`` (a mask was edited or replaced).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox

from segstudio.app.autosave import Autosaver
from segstudio.app.canvas import Canvas
from segstudio.app.class_palette import ClassPaletteDock
from segstudio.app.effort_dock import install_effort_dock
from segstudio.app.file_list import FileListDock
from segstudio.app.menus import WindowActions, add_action, build_menus, build_tool_bar
from segstudio.app.navigation import CentralView, show_first_readable, step
from segstudio.app.progress import ProgressArea
from segstudio.app.reassign_dialog import install_reassign
from segstudio.app.verified_overlay import install_verified_overlay
from segstudio.app.remembered import remember_current_class
from segstudio.app.settings import Settings
from segstudio.app.smart_tools import build_tools
from segstudio.app.worker import WorkerRegistry
from segstudio.core.documents import DocumentCache, ImageDocument
from segstudio.core.labels import LabelSet, LabelSetError
from segstudio.core.project import Project
from segstudio.core.session import EditingSession, MaskChange

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """SegStudio's window; see the module docstring for the API the model features use."""

    project_opened = Signal(object)
    current_image_changed = Signal(str)
    mask_changed = Signal(str)

    def __init__(self, settings: Settings | None = None, labelset: LabelSet | None = None) -> None:
        super().__init__()
        self.setWindowTitle("SegStudio")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.forced_labelset = labelset
        self.session = EditingSession()
        self.workers = WorkerRegistry(self)
        self.autosaver = Autosaver(self)
        self.actions = WindowActions()
        self._setup_canvas()
        self._setup_docks()
        self._setup_tools()
        build_menus(self, self.actions)
        self._setup_statusbar()
        self._connect_session()
        install_effort_dock(self)  # counts strokes and clicks; the Effort dock
        install_reassign(self)  # Edit > Reassign Class…
        install_verified_overlay(self)  # View > Verified Pixels (V)
        remember_current_class(self)
        geometry, state = self.settings.window()
        self._restored_layout = False
        self._shown_once = False
        if geometry is not None:
            self.restoreGeometry(geometry)
            if state is not None:
                self._restored_layout = bool(self.restoreState(state))
        else:
            self.resize(1400, 900)

    # --- the session's state, read through the window --------------------------------------
    @property
    def project(self) -> Project | None:
        return self.session.project

    @property
    def documents(self) -> DocumentCache:
        return self.session.documents

    @property
    def doc(self) -> ImageDocument | None:
        return self.session.doc

    current_class = property(lambda self: self.session.current_class)
    protected = property(lambda self: self.session.protected)

    # The tool bar's and View menu's widgets other parts and tests use.
    size_spin = property(lambda self: self.actions.size_spin)
    opacity_slider = property(lambda self: self.actions.opacity_slider)
    void_only_action = property(lambda self: self.actions.void_only)
    overlay_action = property(lambda self: self.actions.overlay)
    low_conf_action = property(lambda self: self.actions.low_confidence)

    # --- set-up ----------------------------------------------------------------------
    def _setup_canvas(self) -> None:
        self.canvas = Canvas(self)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.central = CentralView(self.canvas)  # the canvas, or why an image cannot be shown
        self.setCentralWidget(self.central)

    def _setup_docks(self) -> None:
        self.file_list = FileListDock(self.workers, self)
        self.file_list.image_activated.connect(self.show_image)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.file_list)
        self.palette = ClassPaletteDock(self)
        self.palette.class_selected.connect(self.pick_class)
        self.palette.protected_changed.connect(self._set_protected)
        self.palette.labelset_load_requested.connect(self.load_labelset)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.palette)

    def _setup_tools(self) -> None:
        self.tools = build_tools(self)  # core.tools and core.smart_tools
        build_tool_bar(self, self.tools, self.actions)
        self.size_spin.setValue(self.settings.brush_size)
        self.size_spin.valueChanged.connect(self._brush_size_changed)
        self.opacity_slider.setValue(int(self.settings.opacity * 100))
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        self.canvas.opacity = self.settings.opacity
        self._brush_size_changed(self.size_spin.value())
        self.set_tool("brush")

    def _setup_statusbar(self) -> None:
        sb = self.statusBar()
        self.position_label = QLabel()
        self.class_label = QLabel()
        self.zoom_label = QLabel()
        self.index_label = QLabel()
        self.save_label = QLabel()
        self.progress = ProgressArea(self)
        for w in (self.position_label, self.class_label, self.zoom_label, self.index_label, self.save_label):
            w.setMinimumWidth(80)
            sb.addWidget(w)
        sb.addPermanentWidget(self.progress)
        self.autosaver.state_changed.connect(self.save_label.setText)
        self.autosaver.saved.connect(self.file_list.refresh)

    def _connect_session(self) -> None:
        s = self.session
        s.on_changed = self._session_changed
        s.on_save_needed = self.autosaver.edited
        s.on_region_changed = lambda rect: self.canvas.refresh_overlay(rect)  # looked up per call: patchable
        s.on_preview = lambda points, closed: self.canvas.set_preview_path(points, closed=closed)
        s.on_class_changed = self.palette.set_current_class
        s.on_load_error = self._load_failed
        s.cancel_stroke = lambda: self.tools[self.tool_name].cancel()

    def _session_changed(self, change: MaskChange) -> None:
        """Redraws what an edit, undo, prediction or status change touched."""
        self.file_list.refresh(change.key)
        if self.doc is not None and change.key == self.doc.key:
            if change.kind == "prediction":
                self.canvas.set_confidence(self.doc.confidence)
                if self.canvas.show_low_confidence:
                    self.canvas.refresh_overlay()
                elif change.rect is not None:
                    self.canvas.refresh_overlay(change.rect)
            if change.kind != "status":
                self._update_shares()
            self._update_index_label()
        if change.kind != "status":
            self.mask_changed.emit(change.key)

    def _load_failed(self, key: str, message: str) -> None:
        if key not in self.file_list.model.errors:
            log.warning("unreadable: %s", message)
        self.file_list.set_error(key, message)
        self.statusBar().showMessage(message, 10000)

    # --- folders and images ------------------------------------------------------------
    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_folder or "")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> bool:
        if self.project is not None and not self.may_leave_project("open the other folder"):
            return False
        self.close_project()
        try:
            project = Project.open(folder, self.forced_labelset)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot open folder", str(exc))
            return False
        self.session.open_project(project)
        log.info("opened %s: %d image(s)%s", folder, len(project.keys), "" if project.writable else ", read-only")
        self.autosaver.attach(project, self.session.documents)
        self.settings.add_recent_folder(str(Path(folder).resolve()))
        self.setWindowTitle(f"SegStudio — {Path(folder).name}")
        self.palette.set_labelset(project.labelset)
        self.actions.name_classes(project.labelset)
        if not self._restored_layout:
            self.palette.fit_height(self)
        self.file_list.set_project(project)
        for warning in project.warnings:
            self.statusBar().showMessage(warning, 15000)
        if project.recovered_from_crash:
            QMessageBox.information(self, "Recovered", "\n".join(project.warnings))
        elif project.open_elsewhere_pid is not None:
            QMessageBox.warning(self, "Folder already open", "\n".join(project.warnings))
        self.save_label.setText("saved" if project.writable else "read-only folder")
        self.project_opened.emit(project)
        if project.keys:
            show_first_readable(self, project.current)
        else:
            self.statusBar().showMessage(f"No images in {folder}", 10000)
        return True

    def may_leave_project(self, action: str) -> bool:
        """Before the folder closes: stops the model jobs working on it (auto-segment,
        retrain: their results belong to this folder) and saves; asks first when a
        job runs or the save fails. ``False``: the user chose to stay."""
        busy = [w for w in self.workers.running() if w.name != "thumbnails"]
        if busy:
            names = ", ".join(sorted({w.name for w in busy}))
            answer = QMessageBox.question(
                self, "Stop running work?", f"{names.capitalize()} is running on this folder. Stop it and {action}?")
            if answer != QMessageBox.StandardButton.Yes:
                return False
            for worker in busy:
                worker.cancel()
            for worker in busy:
                worker.wait(60000)
            QCoreApplication.processEvents()  # their last signals, while this folder is still open
            self.progress.end()
        if self.project is not None and self.project.writable and not self.autosaver.save_now():
            answer = QMessageBox.question(
                self, "Unsaved edits",
                f"Your last edits could not be saved ({self.autosaver.last_error}). {action.capitalize()} and lose them?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        return True

    def close_project(self) -> bool:
        if self.project is None:
            return True
        self._remember_view()
        ok = self.autosaver.save_now() if self.project.writable else True
        self.file_list.stop_thumbnails()
        if ok:
            self.project.close()
        self.session.close_project()
        self.canvas.clear_content()
        return ok

    def _remember_view(self) -> None:
        if self.project is not None and self.doc is not None:
            self.project.set_view(self.doc.key, self.canvas.view_state())

    def show_image(self, key: str) -> None:
        if self.project is None or key not in self.project.keys:
            return
        if self.doc is not None and self.doc.key == key:
            return
        self.tools[self.tool_name].cancel()
        self._remember_view()
        if self.doc is not None and self.doc.dirty:
            self.autosaver.save_now(block=False)  # big masks are written by a worker
        doc = self.session.open_image(key)
        self.file_list.set_current(key)
        if doc is None:  # explained in place of the canvas; the previous image is gone, not editable
            self.canvas.clear_content()
            self.central.show_unreadable(key, self.file_list.model.errors.get(key, "it cannot be read"))
            return
        self.central.show_canvas()
        self.canvas.set_content(doc.image, doc.mask, self.project.labelset, doc.confidence)
        self.canvas.restore_view(self.project.view(key))
        self._update_shares()
        self._update_index_label()
        self.current_image_changed.emit(key)

    def step(self, direction: int, unreviewed_only: bool = False) -> None:
        """Shows the next (1) or previous (-1) readable image in the file list's order."""
        step(self, direction, unreviewed_only)

    def mark_reviewed(self) -> None:
        self.session.mark_reviewed()

    def undo(self) -> None:
        self.session.undo()

    def redo(self) -> None:
        self.session.redo()

    def _update_index_label(self) -> None:
        if self.doc is None:
            return
        i = self.project.index_of(self.doc.key)
        status = self.project.status(self.doc.key).value.replace("_", " ")
        self.index_label.setText(f"{i + 1}/{len(self.project.keys)} · {status}")

    def _update_shares(self) -> None:
        if self.doc is not None:
            # Cached and updated per step: a bincount of 8000x6000 would cost 0.75 s.
            self.palette.set_shares(self.doc.class_counts()[: self.project.labelset.num_classes])

    # --- tools, classes, brush ------------------------------------------------------------
    def pick_class(self, cid: int) -> None:
        self.session.pick_class(cid)

    def set_tool(self, name: str) -> None:
        previous = getattr(self, "tool_name", None)  # None while the window is built
        if previous and previous != name:
            self.tools[previous].deactivate()
        self.tool_name = name
        self.canvas.set_tool(self.tools[name])
        self.actions.tools[name].setChecked(True)

    def _set_protected(self, classes: frozenset) -> None:
        self.session.set_protected(classes)
        all_but_void = self.session.void_only_classes()
        self.void_only_action.setChecked(bool(all_but_void) and self.protected == all_but_void)

    def set_void_only(self, on: bool) -> None:
        """Protects every class but void (paint fills only unlabelled pixels), or none."""
        if self.project is not None:
            self.palette.set_protected(self.session.void_only_classes() if on else frozenset())

    def _brush_size_changed(self, size: int) -> None:
        self.canvas.brush_radius = size / 2.0
        self.session.brush_radius = size / 2.0
        self.settings.brush_size = size

    def _opacity_changed(self, value: int) -> None:
        self.canvas.set_opacity(value / 100.0)
        self.settings.opacity = value / 100.0

    def _show_cursor(self, row: int, col: int) -> None:
        if row < 0 or self.doc is None:
            self.position_label.setText("")
            self.class_label.setText("")
            return
        self.position_label.setText(f"x {col}, y {row}")
        cid = int(self.doc.mask[row, col])
        names = self.project.labelset.names
        self.class_label.setText(names[cid] if cid < len(names) else f"id {cid}")

    def load_labelset(self, path: str) -> None:
        try:
            labelset = LabelSet.load(path)
        except LabelSetError as exc:
            QMessageBox.warning(self, "Label set", str(exc))
            return
        self.forced_labelset = labelset
        if self.project is not None:
            self.open_folder(self.project.folder)

    # --- API for the model features ----------------------------------------------------------
    def current_key(self) -> str | None:
        return self.session.current_key

    def selected_keys(self) -> list[str]:
        keys = self.file_list.selected_keys()
        return keys or ([self.doc.key] if self.doc else [])

    def menu(self, name: str):
        return self.actions.menus[name]

    def add_menu_action(self, menu_name: str, text: str, slot, shortcut=None):
        return add_action(self, self.actions.menus[menu_name], text, slot, shortcut)

    def show_message(self, text: str, timeout_ms: int = 10000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def add_dock(self, dock, area=Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        self.addDockWidget(area, dock)
        self.actions.menus["View"].addAction(dock.toggleViewAction())
        if area == Qt.DockWidgetArea.RightDockWidgetArea and not self._restored_layout:
            self.palette.fit_height(self)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._restored_layout:
                QTimer.singleShot(0, lambda: self.palette.fit_height(self))  # once the dock layout has its geometry

    # --- export / import / about ------------------------------------------------------
    def export_masks(self) -> None:
        from segstudio.app.dialogs import run_export_dialog

        if self.project is None:
            return
        self.autosaver.save_now()
        # Edits a failing save still holds only in memory are exported as seen.
        unsaved = {doc.key: doc.mask for doc in self.documents.dirty()}
        run_export_dialog(self, self.project, unsaved)

    def import_masks(self) -> None:
        from segstudio.app.dialogs import run_import_dialog

        # The import reloads every mask from disk: save and stop the jobs first.
        if self.project is None or not self.may_leave_project("import"):
            return
        if run_import_dialog(self, self.project):
            key = self.current_key()
            self.session.reset_documents()
            self.autosaver.attach(self.project, self.session.documents)
            self.file_list.model.set_project(self.project)
            if key:
                self.show_image(key)

    def show_about(self) -> None:
        from segstudio.app.about import show_about

        show_about(self)

    # --- drag and drop, closing ---------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls:
            self.open_folder(urls[0].toLocalFile())

    def closeEvent(self, event) -> None:
        if not self.may_leave_project("quit"):
            event.ignore()
            return
        self.progress.end()
        if not self.workers.stop_all():
            # A job that checks its stop flag rarely (a long evaluation) is still
            # running: join it anyway, since a QThread destroyed while running aborts.
            self.statusBar().showMessage("Waiting for the running job to stop…")
            self.workers.stop_all(timeout_ms=-1)
        self.close_project()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        event.accept()
