"""The model dock: which model, on which device, and the buttons that use it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

DEFAULT_CHOICE = "default"
DEVICES = ("auto", "cuda", "mps", "cpu")


class ModelPanel(QDockWidget):
    """Emits what the user asks for; the controllers do the work."""

    model_chosen = Signal(str)  # "default", "registry:<name>", or a file path
    device_chosen = Signal(str)
    segment_requested = Signal(str)  # "image", "selection", "folder"
    retrain_requested = Signal()
    version_chosen = Signal(str)  # checkpoint path

    def __init__(self, model_names: tuple[str, ...], parent=None) -> None:
        super().__init__("Model", parent)
        self.setObjectName("ModelPanel")
        self.model_combo = QComboBox()
        self.model_combo.addItem("Shipped CamVid model", DEFAULT_CHOICE)
        for name in model_names:
            self.model_combo.addItem(f"{name} (untrained)", f"registry:{name}")
        self.model_combo.addItem("Checkpoint file…", "file")
        self.model_combo.activated.connect(self._model_activated)
        self.device_combo = QComboBox()
        for device in DEVICES:
            self.device_combo.addItem(device.upper() if device != "auto" else "Auto", device)
        self.device_combo.activated.connect(lambda i: self.device_chosen.emit(self.device_combo.itemData(i)))
        self.device_label = QLabel()
        self.device_label.setWordWrap(True)
        self.summary_label = QLabel("No model loaded")
        self.summary_label.setWordWrap(True)
        self.buttons = {}
        for scope, text in (("image", "Auto-segment image"), ("selection", "Auto-segment selection"),
                            ("folder", "Auto-segment folder")):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=scope: self.segment_requested.emit(s))
            self.buttons[scope] = button
        self.retrain_button = QPushButton("Retrain on my labels")
        self.retrain_button.setToolTip("Fine-tune the model on the images you edited or reviewed")
        self.retrain_button.clicked.connect(self.retrain_requested)
        self.minutes_spin = QSpinBox()
        self.minutes_spin.setRange(1, 240)
        self.minutes_spin.setValue(3)
        self.minutes_spin.setSuffix(" min")
        self.versions = QListWidget()
        self.versions.setMaximumHeight(110)
        self.versions.itemDoubleClicked.connect(lambda item: self.version_chosen.emit(item.data(256)))
        self.use_version_button = QPushButton("Use selected version")
        self.use_version_button.clicked.connect(self._use_version)
        form = QFormLayout()
        form.addRow("Model", self.model_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("", self.device_label)
        form.addRow("Retrain budget", self.minutes_spin)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(self.summary_label)
        for button in self.buttons.values():
            layout.addWidget(button)
        layout.addWidget(self.retrain_button)
        layout.addWidget(QLabel("Model versions (this folder)"))
        layout.addWidget(self.versions)
        layout.addWidget(self.use_version_button)
        layout.addStretch(1)
        self.setWidget(body)

    def _model_activated(self, index: int) -> None:
        choice = self.model_combo.itemData(index)
        if choice == "file":
            path, _ = QFileDialog.getOpenFileName(
                self, "Load a checkpoint", "", "Checkpoints (*.safetensors *.pt *.pth)"
            )
            if not path:
                return
            choice = path
        self.model_chosen.emit(choice)

    def _use_version(self) -> None:
        item = self.versions.currentItem()
        if item is not None:
            self.version_chosen.emit(item.data(256))

    def set_device(self, preference: str, description: str) -> None:
        index = self.device_combo.findData(preference)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        self.device_label.setText(description)

    def set_summary(self, text: str) -> None:
        self.summary_label.setText(text)

    def set_busy(self, busy: bool) -> None:
        for button in list(self.buttons.values()) + [self.retrain_button, self.use_version_button]:
            button.setEnabled(not busy)
        self.model_combo.setEnabled(not busy)
        self.device_combo.setEnabled(not busy)

    def set_versions(self, versions: list[tuple[str, Path]], current: Path | None) -> None:
        self.versions.clear()
        for label, path in versions:
            item = QListWidgetItem(label + ("  (in use)" if current and Path(path) == Path(current) else ""))
            item.setData(256, str(path))
            self.versions.addItem(item)
