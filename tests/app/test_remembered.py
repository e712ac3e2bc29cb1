"""The painting class and the retrain budget come back on reopening."""

from segstudio.app.main_window import MainWindow
from segstudio.app.retrain import install_model_features


def test_the_selected_class_and_the_retrain_budget_are_restored(qtbot, settings, image_folder):
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    install_model_features(first)
    first.open_folder(image_folder)
    first.pick_class(3)  # Road, as the palette, a hotkey or the eyedropper would
    assert first.current_class == 3
    panel = first.model_features.autoseg.panel
    panel.minutes_spin.setValue(7)
    panel.epochs_spin.setValue(12)
    first.close()

    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    install_model_features(again)
    again.open_folder(image_folder)
    assert again.current_class == 3 and again.palette.table.currentRow() == 3
    panel = again.model_features.autoseg.panel
    assert (panel.minutes_spin.value(), panel.epochs_spin.value()) == (7, 12)
    again.close()
