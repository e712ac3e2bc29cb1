"""The Export dialog's format choice and split, and Import from those layouts, through the window."""

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QMessageBox

import segstudio.app.dialogs as dialogs
from segstudio.core.labels import LabelSet
from segstudio.core.project import ImageStatus, Project


def _choose(dialog, value):
    dialog.layout_combo.setCurrentIndex(dialog.layout_combo.findData(value))


def test_export_as_camvid_with_a_split_then_import_it_elsewhere(qtbot, opened, monkeypatch, tmp_path, image_folder):
    w = opened
    for i, key in enumerate(w.project.keys):
        w.project.save_mask(key, np.full((120, 160), i + 2, np.uint8))
    out = tmp_path / "camvid"

    def fill(dialog):
        dialog.folder.setText(str(out))
        _choose(dialog, "camvid")
        assert not dialog.index_box.isEnabled()  # the folder layout's boxes do not apply
        dialog.split_box.setChecked(True)
        dialog.val_spin.setValue(0.4)
        return 1

    monkeypatch.setattr(dialogs.ExportDialog, "exec", fill)
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    w.export_masks()
    assert "as camvid" in shown[-1] and "Subsets:" in shown[-1]
    assert (out / "label_colors.txt").read_text().splitlines()[0] == "128 128 128 Sky"
    lists = sorted(p.name for p in out.glob("*.txt") if p.name != "label_colors.txt")
    assert lists in (["train.txt", "val.txt"], ["train.txt"])  # img0..2 are not a sequence: split by image
    # A colleague's copy of the folder imports the export, by class name.
    other = tmp_path / "colleague"
    other.mkdir()
    for p in image_folder.glob("*.png"):
        (other / p.name).write_bytes(p.read_bytes())
    w.open_folder(other)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    w.import_masks()
    assert "read as camvid" in shown[-1]
    for i, key in enumerate(w.project.keys):
        assert (w.session.mask_for(key) == i + 2).all() and w.project.status(key) == ImageStatus.EDITED


def test_an_export_the_layout_cannot_hold_is_a_message_not_a_crash(qtbot, window, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (8, 6)).save(folder / "a.png")
    Project.open(folder, LabelSet(names=("traffic light", "sky"), colors=((1, 1, 1), (2, 2, 2)))).close()
    assert window.open_folder(folder)
    monkeypatch.setattr(dialogs.ExportDialog, "exec", lambda d: d.folder.setText(str(tmp_path / "o")) or _choose(d, "camvid") or 1)
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    window.export_masks()
    assert warned and "traffic light" in warned[0]
    assert not (tmp_path / "o").exists()
