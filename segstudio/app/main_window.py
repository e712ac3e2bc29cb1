"""The main window: assembles the canvas, docks, tools, menus and status bar.

It owns the editing session (the open folder's project, the documents of
visited images, the active tool); the parts live in their own modules
(canvas, tools, editor, autosave, progress, settings, docks).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from segstudio.app.autosave import Autosaver
from segstudio.app.canvas import Canvas
from segstudio.app.class_palette import ClassPaletteDock
from segstudio.app.editor import DocumentCache, ImageDocument
from segstudio.app.file_list import FileListDock
from segstudio.app.progress import ProgressArea
from segstudio.app.settings import Settings
from segstudio.app.tools import TOOL_CLASSES
from segstudio.app.worker import WorkerRegistry
from segstudio.core.imageio import ImageReadError, read_image, read_image_size
from segstudio.core.labels import LabelSet, LabelSetError
from segstudio.core.maskio import MaskFormatError
from segstudio.core.project import ImageStatus, Project

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """SegStudio's window. The API other parts (model panel, auto-segment, retrain) use:

    Attributes
        ``project``: the open ``core.project.Project`` or ``None``.
        ``progress``: the status-bar progress area (``begin(title, cancel_callback)
        -> handle``, ``update(fraction, text, eta_s=None)``, ``end()``).
        ``workers``: the ``WorkerRegistry``; closing asks when a job is running,
        then stops and joins every worker before saving.
        ``settings``: ``app.settings.Settings`` (typed QSettings getters).
        ``autosaver``: ``save_now()`` flushes every edit to disk (blocking).
    Signals
        ``project_opened(object)`` (the Project), ``current_image_changed(str)``
        (the key), ``mask_changed(str)`` (a key whose mask was edited or replaced).
    Methods
        ``current_stem() -> str | None`` (alias ``current_key``);
        ``selected_stems() -> list[str]`` (the file list's selection, else the
        current image; alias ``selected_keys``);
        ``mask_for(stem)``: the live in-memory mask when the image is open or was
        edited this session, else read from disk, else ``None`` (do not modify);
        ``mask_snapshot(stems) -> dict[str, ndarray]``: copies, safe for a thread;
        ``apply_model_mask(stem, mask, confidence=None, force=False) -> bool``:
        refused (False) when the image is EDITED or REVIEWED unless ``force``;
        sets PREDICTED, one undo step, refreshes the canvas, saves via the
        autosaver, stores the confidence;
        ``menu(name) -> QMenu`` for File/Edit/View/Image/Model/Help;
        ``add_dock(dock, area)`` (also adds its toggle to the View menu).

    "Stem" here is the project's key: the image's stem, or its file name when
    two images share a stem (see ``core.project``).
    """

    project_opened = Signal(object)
    current_image_changed = Signal(str)
    mask_changed = Signal(str)

    def __init__(self, settings: Settings | None = None, labelset: LabelSet | None = None) -> None:
        super().__init__()
        self.setWindowTitle("SegStudio")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.forced_labelset = labelset
        self.project: Project | None = None
        self.documents = DocumentCache()
        self.doc: ImageDocument | None = None
        self.workers = WorkerRegistry(self)
        self.autosaver = Autosaver(self)
        self.current_class = 0
        self.protected: frozenset[int] = frozenset()
        self._menus: dict[str, object] = {}
        self._setup_canvas()
        self._setup_docks()
        self._setup_tools()
        self._setup_menus()
        self._setup_statusbar()
        geometry, state = self.settings.window()
        self._restored_layout = False
        self._shown_once = False
        if geometry is not None:
            self.restoreGeometry(geometry)
            if state is not None:
                self._restored_layout = bool(self.restoreState(state))
        else:
            self.resize(1400, 900)

    # --- set-up ----------------------------------------------------------------------
    def _setup_canvas(self) -> None:
        self.canvas = Canvas(self)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.canvas.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.setCentralWidget(self.canvas)

    def _setup_docks(self) -> None:
        self.file_list = FileListDock(self.workers, self)
        self.file_list.image_activated.connect(self.show_image)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.file_list)
        self.palette = ClassPaletteDock(self)
        self.palette.class_selected.connect(self._set_class)
        self.palette.protected_changed.connect(self._set_protected)
        self.palette.labelset_load_requested.connect(self.load_labelset)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.palette)

    def _setup_tools(self) -> None:
        self.tools = {cls.name: cls(self) for cls in TOOL_CLASSES}
        bar = QToolBar("Tools", self)
        bar.setObjectName("ToolsBar")
        self.addToolBar(bar)
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool in self.tools.values():
            action = QAction(tool.label, self, checkable=True, shortcut=tool.shortcut)
            action.setToolTip(f"{tool.label} ({tool.shortcut})")
            action.triggered.connect(lambda _=False, n=tool.name: self.set_tool(n))
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool.name] = action
        bar.addSeparator()
        bar.addWidget(QLabel(" Size "))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 400)
        self.size_spin.setValue(self.settings.brush_size)
        self.size_spin.valueChanged.connect(self._brush_size_changed)
        bar.addWidget(self.size_spin)
        bar.addWidget(QLabel("  Overlay "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setMaximumWidth(140)
        self.opacity_slider.setValue(int(self.settings.opacity * 100))
        self.opacity_slider.valueChanged.connect(self._opacity_changed)
        bar.addWidget(self.opacity_slider)
        self.canvas.opacity = self.settings.opacity
        self._brush_size_changed(self.size_spin.value())
        self.set_tool("brush")

    def _action(self, menu, text, slot, shortcut=None, checkable=False) -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _setup_menus(self) -> None:
        bar = self.menuBar()
        for name in ("File", "Edit", "View", "Image", "Model", "Help"):
            self._menus[name] = bar.addMenu(f"&{name}")
        f = self._menus["File"]
        self._action(f, "Open Folder…", self._ask_folder, QKeySequence.StandardKey.Open)
        self.recent_menu = f.addMenu("Open Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(f, "Save Now", lambda: self.autosaver.save_now(), QKeySequence.StandardKey.Save)
        self._action(f, "Export Masks…", self._export)
        self._action(f, "Import Masks…", self._import)
        f.addSeparator()
        self._action(f, "Quit", self.close, QKeySequence.StandardKey.Quit)
        e = self._menus["Edit"]
        self._action(e, "Undo", self.undo, QKeySequence.StandardKey.Undo)
        redo = self._action(e, "Redo", self.redo, "Ctrl+Shift+Z")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addSeparator()
        self._action(e, "Brush smaller", lambda: self.size_spin.setValue(max(1, int(self.size_spin.value() / 1.25))), "[")
        self._action(e, "Brush larger", lambda: self.size_spin.setValue(int(self.size_spin.value() * 1.25) + 1), "]")
        self.void_only_action = self._action(e, "Paint Only Over Void", self._toggle_void_only, checkable=True)
        # Visible actions: Qt disables the shortcut of a hidden action.
        self.class_menu = e.addMenu("Current Class")
        self.class_actions: list[QAction] = []
        for cid in range(12):
            key = "1234567890-="[cid]
            self.class_actions.append(self._action(self.class_menu, f"Class {cid}", lambda _=False, c=cid: self._set_class(c), key))
        v = self._menus["View"]
        fit = self._action(v, "Fit to Window", self.canvas.fit, "Home")
        fit.setShortcuts([QKeySequence("Home"), QKeySequence("Ctrl+0")])
        self._action(v, "Actual Size (1:1)", lambda: self.canvas.set_zoom(1.0), "Ctrl+1")
        self._action(v, "Zoom In", lambda: self.canvas.set_zoom(self.canvas.zoom() * 1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(v, "Zoom Out", lambda: self.canvas.set_zoom(self.canvas.zoom() / 1.25), QKeySequence.StandardKey.ZoomOut)
        self.overlay_action = self._action(v, "Show Overlay", self.canvas.set_overlay_visible, "O", checkable=True)
        self.overlay_action.setChecked(True)
        self._action(v, "Boundaries Only", self.canvas.set_boundaries_only, "Shift+B", checkable=True)
        self.low_conf_action = self._action(v, "Low-Confidence Pixels", self.canvas.set_show_low_confidence, "U", checkable=True)
        v.addSeparator()
        v.addAction(self.file_list.toggleViewAction())
        v.addAction(self.palette.toggleViewAction())
        i = self._menus["Image"]
        self._action(i, "Next Image", lambda: self._step(1), "PgDown")
        self._action(i, "Previous Image", lambda: self._step(-1), "PgUp")
        self._action(i, "Next Unreviewed", lambda: self._step(1, True), "N")
        self._action(i, "Previous Unreviewed", lambda: self._step(-1, True), "Shift+N")
        self._action(i, "Mark Reviewed", self.mark_reviewed, "R")
        h = self._menus["Help"]
        self._action(h, "About SegStudio", self._about)

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

    # --- folders and images ------------------------------------------------------------
    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_folder or "")
        if folder:
            self.open_folder(folder)

    def _name_class_actions(self, labelset: LabelSet) -> None:
        for cid, action in enumerate(self.class_actions):
            action.setVisible(cid < labelset.num_classes)
            if cid < labelset.num_classes:
                action.setText(f"{cid}  {labelset.names[cid]}")

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for folder in self.settings.recent_folders:
            self.recent_menu.addAction(folder, lambda f=folder: self.open_folder(f))

    def open_folder(self, folder: str | Path) -> bool:
        if self.project is not None and not self.may_leave_project("open the other folder"):
            return False
        self.close_project()
        try:
            project = Project.open(folder, self.forced_labelset)
        except OSError as exc:
            QMessageBox.warning(self, "Cannot open folder", str(exc))
            return False
        self.project = project
        self.documents = DocumentCache()
        self.autosaver.attach(project, self.documents)
        self.settings.add_recent_folder(str(Path(folder).resolve()))
        self.setWindowTitle(f"SegStudio — {Path(folder).name}")
        self.palette.set_labelset(project.labelset)
        self._name_class_actions(project.labelset)
        if not self._restored_layout:
            self._fit_palette()
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
            self._show_first_readable(project.current)
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
        self.project = None
        self.doc = None
        self.canvas.clear_content()
        return ok

    def _remember_view(self) -> None:
        if self.project is not None and self.doc is not None:
            self.project.set_view(self.doc.key, self.canvas.view_state())

    def _load_document(self, key: str) -> ImageDocument | None:
        doc = self.documents.get(key)
        if doc is not None:
            return doc
        path = self.project.image_path(key)
        try:
            image = read_image(path)
            mask = self.project.load_mask(key, image.shape[:2])
        except (ImageReadError, MaskFormatError, OSError) as exc:
            self.file_list.set_error(key, str(exc))
            self.statusBar().showMessage(str(exc), 10000)
            return None
        if mask is None:
            mask = np.full(image.shape[:2], self.project.labelset.eraser_id, np.uint8)
        doc = ImageDocument(key, image, mask, confidence=self.project.load_confidence(key))
        if doc.confidence is not None and doc.confidence.shape != mask.shape:
            doc.confidence = None
        self.documents.put(doc)
        return doc

    def show_image(self, key: str) -> None:
        if self.project is None or key not in self.project.keys:
            return
        if self.doc is not None and self.doc.key == key:
            return
        self.tools[self._tool_name].cancel()
        self._remember_view()
        if self.doc is not None and self.doc.dirty:
            self.autosaver.save_now(block=False)  # big masks are written by a worker
        doc = self._load_document(key)
        if doc is None:
            return
        self.doc = doc
        self.project.current = key
        self.canvas.set_content(doc.image, doc.mask, self.project.labelset, doc.confidence)
        self.canvas.restore_view(self.project.view(key))
        self.file_list.set_current(key)
        self._update_shares()
        self._update_index_label()
        self.current_image_changed.emit(key)

    def _show_first_readable(self, key: str) -> None:
        """Shows ``key``, or the next image that can be read (an unreadable one gets a badge)."""
        keys = self.project.keys
        start = keys.index(key)
        for candidate in (keys[start:] + keys[:start])[:50]:  # bounded: a folder of broken files
            self.show_image(candidate)
            if self.doc is not None:
                return

    def _step(self, direction: int, unreviewed_only: bool = False) -> None:
        key = self.file_list.next_key(self.current_key(), direction, unreviewed_only)
        if key:
            self.show_image(key)

    def mark_reviewed(self) -> None:
        if self.doc is None:
            return
        self.project.set_status(self.doc.key, ImageStatus.REVIEWED)
        self.doc.mark_edited()  # saves the mask too, so the reviewed state is on disk
        self.autosaver.edited()
        self.file_list.refresh(self.doc.key)
        self._update_index_label()

    def _update_index_label(self) -> None:
        if self.doc is None:
            return
        i = self.project.index_of(self.doc.key)
        status = self.project.status(self.doc.key).value.replace("_", " ")
        self.index_label.setText(f"{i + 1}/{len(self.project.keys)} · {status}")

    # --- tool context (what tools read and call) ------------------------------------
    @property
    def mask(self) -> np.ndarray:
        return self.doc.mask

    @property
    def history(self):
        return self.doc.history

    @property
    def brush_radius(self) -> float:
        return self.size_spin.value() / 2.0

    @property
    def eraser_id(self) -> int:
        return self.project.labelset.eraser_id if self.project else 11

    def region_changed(self, rect) -> None:
        self.canvas.refresh_overlay(rect)

    def edit_finished(self, step) -> None:
        if step is None or self.doc is None:
            return
        self.doc.counts_step(step)
        self._after_edit()

    def _after_edit(self) -> None:
        self.doc.mark_edited()
        if self.project.status(self.doc.key) != ImageStatus.REVIEWED:
            self.project.set_status(self.doc.key, ImageStatus.EDITED)
        self.autosaver.edited()
        self.file_list.refresh(self.doc.key)
        self._update_shares()
        self._update_index_label()
        self.mask_changed.emit(self.doc.key)

    def pick_class(self, cid: int) -> None:
        self._set_class(cid)

    def set_tool(self, name: str) -> None:
        previous = getattr(self, "_tool_name", None)
        if previous and previous != name:
            self.tools[previous].deactivate()
        self._tool_name = name
        self.canvas.set_tool(self.tools[name])
        self.tool_actions[name].setChecked(True)

    def _set_class(self, cid: int) -> None:
        if self.project is not None and not 0 <= cid < self.project.labelset.num_classes:
            return
        self.current_class = cid
        self.palette.set_current_class(cid)

    def _set_protected(self, classes: frozenset) -> None:
        self.protected = frozenset(classes)
        void = self.eraser_id
        all_but_void = frozenset(range(self.project.labelset.num_classes)) - {void} if self.project else frozenset()
        self.void_only_action.setChecked(bool(all_but_void) and self.protected == all_but_void)

    def _toggle_void_only(self, on: bool) -> None:
        if self.project is None:
            return
        void = self.eraser_id
        self.palette.set_protected(frozenset(range(self.project.labelset.num_classes)) - {void} if on else frozenset())

    def _brush_size_changed(self, size: int) -> None:
        self.canvas.brush_radius = size / 2.0
        self.settings.brush_size = size

    def _opacity_changed(self, value: int) -> None:
        self.canvas.set_opacity(value / 100.0)
        self.settings.opacity = value / 100.0

    def undo(self) -> None:
        if self.doc is not None and not self.history.in_stroke:
            rect = self.history.undo(self.doc.mask)
            if rect is not None:
                self.doc.counts_changed()
                self.canvas.refresh_overlay(rect)
                self._after_edit()

    def redo(self) -> None:
        if self.doc is not None and not self.history.in_stroke:
            rect = self.history.redo(self.doc.mask)
            if rect is not None:
                self.doc.counts_changed()
                self.canvas.refresh_overlay(rect)
                self._after_edit()

    def _update_shares(self) -> None:
        if self.doc is not None:
            # Cached and updated per step: a bincount of 8000x6000 would cost 0.75 s.
            self.palette.set_shares(self.doc.class_counts()[: self.project.labelset.num_classes])

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

    # --- API for model features ----------------------------------------------------------
    def current_stem(self) -> str | None:
        return self.doc.key if self.doc else None

    def selected_stems(self) -> list[str]:
        keys = self.file_list.selected_keys()
        return keys or ([self.doc.key] if self.doc else [])

    current_key = current_stem
    selected_keys = selected_stems

    def menu(self, name: str):
        return self._menus[name]

    def add_dock(self, dock, area=Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        self.addDockWidget(area, dock)
        self._menus["View"].addAction(dock.toggleViewAction())
        if area == Qt.DockWidgetArea.RightDockWidgetArea and not self._restored_layout:
            self._fit_palette()

    def _fit_palette(self) -> None:
        """Gives the class palette the height of all its rows, above docks added below it."""
        table = getattr(self.palette, "table", None)
        if table is None:
            return
        needed = table.verticalHeader().length() + table.horizontalHeader().height() + 90
        right = Qt.DockWidgetArea.RightDockWidgetArea
        others = [d for d in self.findChildren(QDockWidget)
                  if d is not self.palette and d.isVisible() and self.dockWidgetArea(d) == right]
        # Never squeeze the docks below it under their preferred height.
        room = self.centralWidget().height() - sum(d.sizeHint().height() for d in others)
        self.resizeDocks([self.palette], [max(200, min(needed, room))], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self._restored_layout:
                QTimer.singleShot(0, self._fit_palette)  # once the dock layout has its geometry

    def mask_for(self, key: str) -> np.ndarray | None:
        doc = self.documents.get(key)
        if doc is not None:
            return doc.mask
        try:
            return self.project.load_mask(key)
        except (MaskFormatError, OSError):
            return None

    def mask_snapshot(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Copies of the masks as they are now: a training job works on these."""
        out = {}
        for key in keys:
            mask = self.mask_for(key)
            if mask is not None:
                out[key] = mask.copy()
        return out

    def apply_model_mask(self, key: str, mask: np.ndarray, confidence=None, force: bool = False,
                         encoded: tuple[bytes, bytes | None] | None = None) -> bool:
        """Puts a model's mask on an image; never over the user's work unless forced.

        ``encoded`` = (mask PNG, confidence PNG) made by the worker: for an
        image that is not open, the GUI thread then only writes the files
        (no image decode, no PNG encode), which keeps a folder pre-fill from
        stalling the window.
        """
        if self.project is None or key not in self.project.keys:
            return False
        if self.project.status(key) in (ImageStatus.EDITED, ImageStatus.REVIEWED) and not force:
            return False
        if encoded is not None and self.documents.get(key) is None and self._write_model_mask(key, mask, encoded):
            return True
        mask = np.asarray(mask)
        doc = self.documents.get(key) or self._load_document(key)
        if doc is None or doc.mask.shape != mask.shape:
            return False
        if doc.history.in_stroke:
            if not force:
                return False  # the user is painting on it right now
            self.tools[self._tool_name].cancel()  # ends the stroke as its own step
        if confidence is not None and np.shape(confidence) != mask.shape:
            log.warning("confidence for %s has shape %s, mask %s; dropped", key, np.shape(confidence), mask.shape)
            confidence = None
        step = doc.history.push_whole(doc.mask, mask)  # one undoable step (diff bbox only)
        if step is not None:
            y0, x0, y1, x1 = step.rect
            doc.mask[y0:y1, x0:x1] = step.after
        doc.counts_step(step)
        doc.confidence = confidence
        doc.mark_edited()
        self.project.set_status(key, ImageStatus.PREDICTED)
        if confidence is not None:
            try:  # the worker's PNG when there is one: encoding 48 MP here would stall the window for seconds
                confidence_png = encoded[1] if encoded is not None else None
                self.project.save_confidence(key, confidence, encoded=confidence_png)
            except OSError as exc:
                log.warning("could not save confidence for %s: %s", key, exc)
        self.autosaver.edited()
        self.file_list.refresh(key)
        if self.doc is doc:
            self.canvas.set_confidence(confidence)
            if self.canvas.show_low_confidence:
                self.canvas.refresh_overlay()
            elif step is not None:
                self.canvas.refresh_overlay(step.rect)
            self._update_shares()
            self._update_index_label()
        self.mask_changed.emit(key)
        return True

    def _write_model_mask(self, key: str, mask: np.ndarray, encoded) -> bool:
        """Saves a model's mask for an image that is not open; False to take the slow path."""
        try:
            width, height = read_image_size(self.project.image_path(key))
        except (ImageReadError, OSError):
            return False
        if mask.shape != (height, width):
            return False
        mask_png, confidence_png = encoded
        try:
            self.project.save_mask(key, mask, encoded=mask_png)
            if confidence_png is not None:
                self.project.save_confidence(key, None, encoded=confidence_png)
        except OSError:
            return False  # kept in memory instead; the autosaver retries
        self.project.set_status(key, ImageStatus.PREDICTED)
        self.autosaver.edited()  # the state (statuses) is saved with the next autosave
        self.file_list.refresh(key)
        self.mask_changed.emit(key)
        return True

    # --- export / import / about ------------------------------------------------------
    def _export(self) -> None:
        if self.project is None:
            return
        from segstudio.app.dialogs import run_export_dialog

        self.autosaver.save_now()
        # Edits a failing save still holds only in memory are exported as seen.
        unsaved = {doc.key: doc.mask for doc in self.documents.dirty()}
        run_export_dialog(self, self.project, unsaved)

    def _import(self) -> None:
        if self.project is None:
            return
        from segstudio.app.dialogs import run_import_dialog

        if not self.may_leave_project("import"):  # the import reloads every mask from disk
            return
        if run_import_dialog(self, self.project):
            key = self.doc.key if self.doc else None
            self.documents = DocumentCache()
            self.autosaver.attach(self.project, self.documents)
            self.doc = None
            self.file_list.model.set_project(self.project)
            if key:
                self.show_image(key)

    def _about(self) -> None:
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
