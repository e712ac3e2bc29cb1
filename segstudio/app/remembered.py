"""Choices the user makes once and expects back next time: the painting class, the retrain budget.

Kept in the window's ``Settings`` (QSettings), like the brush size and the
overlay opacity; restored when the window is built (budget) and each time a
folder opens (class: ids outside that folder's label set are ignored).
"""

from __future__ import annotations


def remember_current_class(window) -> None:
    """Every class change (palette, hotkey, eyedropper) is saved; a folder opens on the saved class."""
    session, settings = window.session, window.settings
    show = session.on_class_changed

    def changed(class_id: int) -> None:
        show(class_id)
        settings.current_class = class_id

    session.on_class_changed = changed
    window.project_opened.connect(lambda _project: session.pick_class(settings.current_class))


def remember_retrain_budget(settings, panel) -> None:
    """The Model dock's "Retrain budget" (minutes, epoch limit) survives a restart."""
    panel.minutes_spin.setValue(settings.retrain_minutes)
    panel.epochs_spin.setValue(settings.retrain_epochs)
    panel.minutes_spin.valueChanged.connect(lambda v: setattr(settings, "retrain_minutes", v))
    panel.epochs_spin.valueChanged.connect(lambda v: setattr(settings, "retrain_epochs", v))
