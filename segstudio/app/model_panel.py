"""The model dock: which model, on which device, and the buttons that use it.

A view only: it emits what the user asks for and shows what it is told. The
work (loading in a worker, refusing a model whose classes do not fit,
auto-segmenting) is done by a controller (``app/autosegment.py``'s
``AutoSegmentController``, and ``app/retrain.py``'s ``RetrainController``).

Model choices (``model_chosen`` values): ``"default"`` (the shipped model),
``"registry:<name>"`` (a registry configuration with untrained weights,
labelled so), or a checkpoint path picked with a file dialog
(``.safetensors``, ``.pt``/``.pth``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segstudio.ml.jobs import DEFAULT_CHOICE, REGISTRY_PREFIX, choice_label

FILE_CHOICE = "file"
DEVICES = ("auto", "cuda", "mps", "cpu")
DEVICE_LABELS = {"auto": "Auto", "cuda": "CUDA", "mps": "MPS", "cpu": "CPU"}
CHECKPOINT_FILTER = "Checkpoints (*.safetensors *.pt *.pth);;All files (*)"
SCOPES = (("image", "Auto-segment image"), ("selection", "Auto-segment selection"), ("folder", "Auto-segment folder"))
_PATH_ROLE = 256  # Qt.UserRole


class ModelPanel(QDockWidget):
    """Emits what the user asks for; the controllers do the work."""

    model_chosen = Signal(str)  # "default", "registry:<name>", or a file path
    device_chosen = Signal(str)  # "auto" | "cuda" | "mps" | "cpu"
    segment_requested = Signal(str)  # "image", "selection", "folder"
    low_confidence_toggled = Signal(bool)
    retrain_requested = Signal()
    version_chosen = Signal(str)  # checkpoint path

    def __init__(self, model_names: tuple[str, ...] | None = None, parent=None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("ModelPanel")
        if model_names is None:
            from segstudio.ml.models.registry import MODEL_NAMES

            model_names = MODEL_NAMES
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The model that auto-segments; untrained ones predict noise until trained")
        self.model_combo.addItem(choice_label(DEFAULT_CHOICE), DEFAULT_CHOICE)
        for name in model_names:
            self.model_combo.addItem(choice_label(REGISTRY_PREFIX + name), REGISTRY_PREFIX + name)
        self.model_combo.addItem("Checkpoint file…", FILE_CHOICE)
        self.model_combo.activated.connect(self._model_activated)
        self.device_combo = QComboBox()
        for device in DEVICES:
            self.device_combo.addItem(DEVICE_LABELS[device], device)
        self.device_combo.activated.connect(lambda i: self.device_chosen.emit(self.device_combo.itemData(i)))
        self.device_label = QLabel()
        self.device_label.setWordWrap(True)
        self.summary_label = QLabel("No model loaded")
        self.summary_label.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        for scope, text in SCOPES:
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=scope: self.segment_requested.emit(s))
            self.buttons[scope] = button
        self.low_confidence_check = QCheckBox("Low-confidence overlay")
        self.low_confidence_check.setToolTip("Mark the pixels the model is least sure of")
        self.low_confidence_check.toggled.connect(self.low_confidence_toggled)
        self.retrain_button = QPushButton("Retrain on my labels")
        self.retrain_button.setToolTip("Fine-tune the model on the images you edited or reviewed")
        self.retrain_button.clicked.connect(self.retrain_requested)
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(1, 240)
        self.minutes_spin.setValue(3)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setToolTip("Retraining stops after this long (or at the epoch limit, whichever comes first)")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(0, 1000)
        self.epochs_spin.setSpecialValueText("no limit")
        self.epochs_spin.setSuffix(" epochs")
        self.epochs_spin.setToolTip("Stop after this many passes over your images (0: only the time budget)")
        self.versions = QListWidget()
        self.versions.setMaximumHeight(76)
        self.versions.itemDoubleClicked.connect(lambda item: self.version_chosen.emit(item.data(_PATH_ROLE)))
        self.use_version_button = QPushButton("Use selected version")
        self.use_version_button.clicked.connect(self._use_version)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)
        limits = QHBoxLayout()  # one row: the dock must leave the class palette its height
        limits.addWidget(self.minutes_spin)
        limits.addWidget(self.epochs_spin)
        form.addRow("Retrain budget", limits)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(self.summary_label)
        for button in self.buttons.values():
            layout.addWidget(button)
        layout.addWidget(self.low_confidence_check)
        layout.addWidget(self.retrain_button)
        layout.addWidget(QLabel("Model versions (this folder)"))
        layout.addWidget(self.versions)
        layout.addWidget(self.use_version_button)
        layout.addStretch(1)
        self._body_layout = layout
        self.setWidget(body)

    # --- user input ---------------------------------------------------------------
    def add_section(self, widget: QWidget) -> None:
        """Adds ``widget`` at the bottom of the panel, above the stretch (e.g. the retrain plot)."""
        self._body_layout.insertWidget(self._body_layout.count() - 1, widget)

    def _model_activated(self, index: int) -> None:
        choice = self.model_combo.itemData(index)
        if choice == FILE_CHOICE:
            path = self.ask_checkpoint_file()
            if not path:
                return
            choice = path
        self.model_chosen.emit(choice)

    def ask_checkpoint_file(self) -> str:
        """A file dialog for a checkpoint; '' when cancelled. Tests replace it."""
        path, _ = QFileDialog.getOpenFileName(self, "Load a checkpoint", "", CHECKPOINT_FILTER)
        return path

    def _use_version(self) -> None:
        item = self.versions.currentItem()
        if item is not None:
            self.version_chosen.emit(item.data(_PATH_ROLE))

    # --- what the controller tells it ---------------------------------------------------
    def set_model(self, choice: str) -> None:
        """Shows ``choice`` as the current model (adding an entry for a file not listed yet)."""
        index = self.model_combo.findData(choice)
        if index < 0:
            index = self.model_combo.count() - 1  # before "Checkpoint file…"
            self.model_combo.insertItem(index, choice_label(choice), choice)
            self.model_combo.setItemData(index, choice, 3)  # Qt.ToolTipRole: the full path
        self.model_combo.setCurrentIndex(index)

    def set_device(self, preference: str, description: str) -> None:
        """The device preference and, in words, the device in use and why."""
        index = self.device_combo.findData(preference)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        # The whole reason can run to three lines and the dock clips it: the label says the
        # device and the first reason; the tooltip has all of it.
        head, _, why = description.partition(" — ")
        short = f"{head} — {why.split(' (')[0].split(';')[0]}" if why else head
        self.device_label.setText(short)
        self.device_label.setToolTip(description)

    def set_summary(self, text: str) -> None:
        self.summary_label.setText(text)

    def set_low_confidence(self, on: bool) -> None:
        """Shows the overlay state without emitting (the window's own action may have changed it)."""
        blocked = self.low_confidence_check.blockSignals(True)
        self.low_confidence_check.setChecked(bool(on))
        self.low_confidence_check.blockSignals(blocked)

    def set_busy(self, busy: bool) -> None:
        for button in list(self.buttons.values()) + [self.retrain_button, self.use_version_button]:
            button.setEnabled(not busy)
        self.model_combo.setEnabled(not busy)
        self.device_combo.setEnabled(not busy)

    def set_versions(self, versions: list[tuple[str, Path]], current: Path | None) -> None:
        self.versions.clear()
        for label, path in versions:
            item = QListWidgetItem(label + ("  (in use)" if current and Path(path) == Path(current) else ""))
            item.setData(_PATH_ROLE, str(path))
            self.versions.addItem(item)
