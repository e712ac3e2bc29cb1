"""Per-user settings (QSettings): last folder, recent folders, layout, brush, overlay, model."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class Settings:
    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings or QSettings("SegStudio", "SegStudio")

    def _get(self, key: str, default, kind=None):
        value = self.q.value(key, default)
        if kind is None or value is None:
            return value
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    @property
    def recent_folders(self) -> list[str]:
        value = self.q.value("recent_folders", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent_folder(self, folder: str) -> None:
        recent = [folder] + [f for f in self.recent_folders if f != folder]
        self.q.setValue("recent_folders", recent[:MAX_RECENT])
        self.q.setValue("last_folder", folder)

    @property
    def last_folder(self) -> str | None:
        return self._get("last_folder", None)

    brush_size = property(lambda self: self._get("brush_size", 16, int), lambda self, v: self.q.setValue("brush_size", int(v)))
    opacity = property(lambda self: self._get("opacity", 0.5, float), lambda self, v: self.q.setValue("opacity", float(v)))
    model_path = property(lambda self: self._get("model_path", "", str), lambda self, v: self.q.setValue("model_path", str(v)))
    current_class = property(lambda self: self._get("current_class", 0, int),
                             lambda self, v: self.q.setValue("current_class", int(v)))
    retrain_minutes = property(lambda self: self._get("retrain_minutes", 3, int),
                               lambda self, v: self.q.setValue("retrain_minutes", int(v)))
    retrain_epochs = property(lambda self: self._get("retrain_epochs", 0, int),
                              lambda self, v: self.q.setValue("retrain_epochs", int(v)))
    device = property(lambda self: self._get("device", "auto", str), lambda self, v: self.q.setValue("device", str(v)))

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def window(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.q.value("window/geometry"), self.q.value("window/state")
