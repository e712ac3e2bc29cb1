"""The main window's menus and tool bar: which actions exist, their shortcuts and slots.

Built once by ``MainWindow``; the actions other code toggles or reads are
kept in ``WindowActions``, a small named record (labelme's pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMenu, QSlider, QSpinBox, QToolBar

MENU_NAMES = ("File", "Edit", "View", "Image", "Model", "Help")
CLASS_KEYS = "1234567890-="  # hotkeys of classes 0..11


def add_action(owner, menu: QMenu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
    """A menu action owned by ``owner`` (the window), so its shortcut works window-wide."""
    action = QAction(text, owner, checkable=checkable)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


@dataclass
class WindowActions:
    menus: dict[str, QMenu] = field(default_factory=dict)
    tools: dict[str, QAction] = field(default_factory=dict)
    classes: list[QAction] = field(default_factory=list)
    recent_menu: QMenu | None = None
    void_only: QAction | None = None
    overlay: QAction | None = None
    low_confidence: QAction | None = None
    size_spin: QSpinBox | None = None
    opacity_slider: QSlider | None = None

    def name_classes(self, labelset) -> None:
        """Shows one "Current Class" action per class of ``labelset``, named after it."""
        for cid, action in enumerate(self.classes):
            action.setVisible(cid < labelset.num_classes)
            if cid < labelset.num_classes:
                action.setText(f"{cid}  {labelset.names[cid]}")


def build_tool_bar(w, tools, actions: WindowActions) -> None:
    """The tools (one checkable action each), the brush size and the overlay opacity."""
    bar = QToolBar("Tools", w)
    bar.setObjectName("ToolsBar")
    w.addToolBar(bar)
    group = QActionGroup(w)
    for tool in tools.values():
        action = QAction(tool.label, w, checkable=True, shortcut=tool.shortcut)
        action.setToolTip(f"{tool.label} ({tool.shortcut})")
        action.triggered.connect(lambda _=False, n=tool.name: w.set_tool(n))
        group.addAction(action)
        bar.addAction(action)
        actions.tools[tool.name] = action
    bar.addSeparator()
    bar.addWidget(QLabel(" Size "))
    actions.size_spin = QSpinBox()
    actions.size_spin.setRange(1, 400)
    bar.addWidget(actions.size_spin)
    bar.addWidget(QLabel("  Overlay "))
    actions.opacity_slider = QSlider(Qt.Orientation.Horizontal)
    actions.opacity_slider.setRange(0, 100)
    actions.opacity_slider.setMaximumWidth(140)
    bar.addWidget(actions.opacity_slider)


def build_menus(w, actions: WindowActions) -> None:
    """File, Edit, View, Image, Model (filled by the model features) and Help."""
    bar = w.menuBar()
    for name in MENU_NAMES:
        actions.menus[name] = bar.addMenu(f"&{name}")
    f = actions.menus["File"]
    add_action(w, f, "Open Folder…", w.ask_folder, QKeySequence.StandardKey.Open)
    actions.recent_menu = f.addMenu("Open Recent")
    actions.recent_menu.aboutToShow.connect(lambda: _fill_recent(w, actions.recent_menu))
    add_action(w, f, "Save Now", lambda: w.autosaver.save_now(), QKeySequence.StandardKey.Save)
    add_action(w, f, "Export Masks…", w.export_masks)
    add_action(w, f, "Import Masks…", w.import_masks)
    f.addSeparator()
    add_action(w, f, "Quit", w.close, QKeySequence.StandardKey.Quit)
    e = actions.menus["Edit"]
    add_action(w, e, "Undo", w.undo, QKeySequence.StandardKey.Undo)
    redo = add_action(w, e, "Redo", w.redo, "Ctrl+Shift+Z")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    e.addSeparator()
    spin = actions.size_spin
    add_action(w, e, "Brush smaller", lambda: spin.setValue(max(1, int(spin.value() / 1.25))), "[")
    add_action(w, e, "Brush larger", lambda: spin.setValue(int(spin.value() * 1.25) + 1), "]")
    actions.void_only = add_action(w, e, "Paint Only Over Void", w.set_void_only, checkable=True)
    # Visible actions: Qt disables the shortcut of a hidden action.
    class_menu = e.addMenu("Current Class")
    for cid, key in enumerate(CLASS_KEYS):
        actions.classes.append(add_action(w, class_menu, f"Class {cid}", lambda _=False, c=cid: w.pick_class(c), key))
    v = actions.menus["View"]
    canvas = w.canvas
    fit = add_action(w, v, "Fit to Window", canvas.fit, "Home")
    fit.setShortcuts([QKeySequence("Home"), QKeySequence("Ctrl+0")])
    add_action(w, v, "Actual Size (1:1)", lambda: canvas.set_zoom(1.0), "Ctrl+1")
    add_action(w, v, "Zoom In", lambda: canvas.set_zoom(canvas.zoom() * 1.25), QKeySequence.StandardKey.ZoomIn)
    add_action(w, v, "Zoom Out", lambda: canvas.set_zoom(canvas.zoom() / 1.25), QKeySequence.StandardKey.ZoomOut)
    actions.overlay = add_action(w, v, "Show Overlay", canvas.set_overlay_visible, "O", checkable=True)
    actions.overlay.setChecked(True)
    add_action(w, v, "Boundaries Only", canvas.set_boundaries_only, "Shift+B", checkable=True)
    actions.low_confidence = add_action(w, v, "Low-Confidence Pixels", canvas.set_show_low_confidence, "U",
                                        checkable=True)
    v.addSeparator()
    v.addAction(w.file_list.toggleViewAction())
    v.addAction(w.palette.toggleViewAction())
    i = actions.menus["Image"]
    add_action(w, i, "Next Image", lambda: w.step(1), "PgDown")
    add_action(w, i, "Previous Image", lambda: w.step(-1), "PgUp")
    add_action(w, i, "Next Unreviewed", lambda: w.step(1, True), "N")
    add_action(w, i, "Previous Unreviewed", lambda: w.step(-1, True), "Shift+N")
    add_action(w, i, "Mark Reviewed", w.mark_reviewed, "R")
    add_action(w, actions.menus["Help"], "About SegStudio", w.show_about)


def _fill_recent(w, menu: QMenu) -> None:
    menu.clear()
    for folder in w.settings.recent_folders:
        menu.addAction(folder, lambda f=folder: w.open_folder(f))
