import json
import os

import numpy as np
import pytest
from PIL import Image

from segstudio.core.atomic import SaveError
from segstudio.core.export import export_masks, import_masks
from segstudio.core.labels import CAMVID
from segstudio.core.maskio import write_color_png, write_index_png
from segstudio.core.project import ImageStatus, Project


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 6), (i, i, i)).save(root / f"img{i}.png")
    return root


def test_same_stem_images_are_keyed_by_file_name(tmp_path):
    Image.new("RGB", (4, 3)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 3)).save(tmp_path / "a.jpg")
    Image.new("RGB", (4, 3)).save(tmp_path / "b.bmp")
    project = Project.open(tmp_path)
    assert project.keys == ["a.jpg", "a.png", "b"]
    project.save_mask("a.png", np.ones((3, 4), np.uint8))
    assert (tmp_path / ".segstudio" / "masks" / "a.png.png").exists()
    assert project.load_mask("a.jpg") is None


def test_state_fields_survive_reopen_and_close_removes_the_marker(folder):
    project = Project.open(folder)
    assert (folder / ".segstudio" / "session.lock").exists()
    project.save_mask("img2", np.full((6, 8), 4, np.uint8))
    project.set_status("img2", ImageStatus.PREDICTED)
    project.model = "models/tuned.safetensors"
    project.current = "img2"
    project.save_confidence("img2", np.full((6, 8), 200, np.uint8))
    project.close()
    assert not (folder / ".segstudio" / "session.lock").exists()
    state = json.loads((folder / ".segstudio" / "state.json").read_text())
    assert state["images"]["img2"]["status"] == "predicted" and "saved_at" in state
    again = Project.open(folder)
    assert again.status("img2") == ImageStatus.PREDICTED and again.model == "models/tuned.safetensors"
    assert again.current == "img2" and not again.recovered_from_crash and again.recovery_message is None
    assert (again.load_confidence("img2") == 200).all()
    assert again.load_confidence("img2", shape=(1, 1)) is None
    again.delete_mask("img2")
    assert again.status("img2") == ImageStatus.NO_MASK and again.load_mask("img2") is None


def test_crash_recovery_message_counts_masks_of_the_crashed_session(folder):
    project = Project.open(folder)
    project.save_mask("img0", np.zeros((6, 8), np.uint8))
    project.save_mask("img1", np.zeros((6, 8), np.uint8))
    project.save_state()
    # killed here: no close(); a temp file of an interrupted save is left over
    (folder / ".segstudio" / "masks" / ".img2.png.abc.tmp").write_bytes(b"half")
    again = Project.open(folder)
    assert again.recovered_from_crash
    assert "recovered 2 saved mask(s) (2 edited, 0 reviewed, 0 predicted; 2 saved during that session)" in again.recovery_message
    assert again.recovery_message in again.warnings
    assert again.status("img1") == ImageStatus.EDITED
    assert not list((folder / ".segstudio" / "masks").glob(".*.tmp"))
    again.close()
    assert not Project.open(folder).recovered_from_crash


def test_garbage_state_fields_are_repaired(folder):
    (folder / ".segstudio").mkdir()
    (folder / ".segstudio" / "state.json").write_text(json.dumps(
        {"version": 99, "images": {"img0": {"status": "bogus"}, "img1": 3}, "views": []}))
    project = Project.open(folder)
    assert project.status("img0") == ImageStatus.NO_MASK and project.status("img1") == ImageStatus.NO_MASK
    assert project.view("img0") is None
    assert any("newer" in w for w in project.warnings)


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs POSIX permissions as a non-root user")
def test_read_only_folder_is_viewable_but_saves_raise(folder):
    os.chmod(folder, 0o555)
    try:
        project = Project.open(folder)
        assert not project.writable and any("read-only" in w for w in project.warnings)
        with pytest.raises(SaveError, match="read-only"):
            project.save_state()
    finally:
        os.chmod(folder, 0o755)


def test_read_only_project_saves_raise_save_error(folder):
    project = Project.open(folder)
    project.writable = False  # as Project.open sets it for a read-only folder
    for call in (lambda: project.save_mask("img0", np.zeros((6, 8), np.uint8)),
                 project.save_state,
                 lambda: project.save_confidence("img0", np.zeros((6, 8), np.uint8))):
        with pytest.raises(SaveError, match="read-only"):
            call()
    with pytest.raises(SaveError):
        import_masks(project, folder)


def test_export_only_status_skips_and_never_touches_originals(folder, tmp_path):
    before = {p.name: p.read_bytes() for p in folder.glob("*.png")}
    project = Project.open(folder)
    project.save_mask("img0", np.full((6, 8), 1, np.uint8))
    project.save_mask("img1", np.full((6, 8), 2, np.uint8))
    project.set_status("img1", ImageStatus.REVIEWED)
    report = export_masks(project, tmp_path / "out", formats="index", only_status=ImageStatus.REVIEWED)
    assert report.written == 1 and not report.errors and len(report.skipped) == 2
    assert sorted(p.name for p in (tmp_path / "out" / "labels").iterdir()) == ["img1.png"]
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["img1.png"]
    report = export_masks(project, tmp_path / "all", ("index", "overlay"), include_images=False)
    assert report.written == 2 and any("img2.png: no mask" in s for s in report.skipped)
    assert not (tmp_path / "all" / "images").exists()
    overlay = np.array(Image.open(tmp_path / "all" / "overlays" / "img0.jpg"))
    assert overlay.shape == (6, 8, 3)
    assert {p.name: p.read_bytes() for p in folder.glob("*.png")} == before
    with pytest.raises(ValueError, match="unknown export format"):
        export_masks(project, tmp_path / "x", ("jpeg",))
    with pytest.raises(ValueError):
        export_masks(project, folder)


def test_import_matches_camvid_L_names_keeps_edits_and_reports(folder, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_color_png(src / "img0_L.png", np.full((6, 8), 8, np.uint8), CAMVID)
    write_index_png(src / "img1.png", np.full((6, 8), 4, np.uint8), CAMVID)
    write_index_png(src / "stray.png", np.zeros((6, 8), np.uint8), CAMVID)
    project = Project.open(folder)
    project.save_mask("img1", np.zeros((6, 8), np.uint8))
    project.set_status("img1", ImageStatus.REVIEWED)
    report = import_masks(project, src)
    assert report.imported == 1 and not report.errors
    assert (project.load_mask("img0") == 8).all() and project.status("img0") == ImageStatus.EDITED
    assert (project.load_mask("img1") == 0).all()  # reviewed work kept
    assert report.conflicts == ["img1"] and any("img1.png" in s and "your edits" in s for s in report.skipped)
    assert any("stray.png" in s for s in report.skipped)
    # Replacing just the conflicts (what the app does after asking) touches nothing else.
    write_index_png(src / "img0_L.png", np.full((6, 8), 2, np.uint8), CAMVID)
    only = import_masks(project, src, overwrite=True, only=report.conflicts)
    assert only.imported == 1 and not only.skipped and (project.load_mask("img1") == 4).all()
    assert (project.load_mask("img0") == 8).all()
    report = import_masks(project, src, overwrite=True)
    # img1's file equals its saved mask: left alone (status included), not re-imported.
    assert (report.imported, report.unchanged) == (1, 1) and (project.load_mask("img1") == 4).all()
    state = json.loads((folder / ".segstudio" / "state.json").read_text())
    assert state["images"]["img0"]["status"] == "edited"


def test_unwritable_project_folder_opens_read_only(folder, monkeypatch):
    import pathlib

    def refuse(self, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pathlib.Path, "write_bytes", refuse)
    project = Project.open(folder)
    assert not project.writable and any("read-only" in w for w in project.warnings)
    assert len(project.images) == 3
    with pytest.raises(SaveError):
        project.save_mask("img0", np.zeros((6, 8), np.uint8))
    project.close()  # a no-op, never raises


def test_export_writes_exif_rotated_images_upright_beside_their_masks(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed portrait
    Image.new("RGB", (40, 20), (200, 0, 0)).save(root / "rotated.jpg", exif=exif.tobytes())
    Image.new("RGB", (40, 20), (0, 200, 0)).save(root / "plain.jpg")
    project = Project.open(root)
    project.save_mask("rotated", np.zeros((40, 20), np.uint8))  # the displayed grid: 20 wide, 40 high
    project.save_mask("plain", np.zeros((20, 40), np.uint8))
    report = export_masks(project, tmp_path / "out", ("index",))
    assert report.written == 2 and not report.errors
    images = tmp_path / "out" / "images"
    assert (images / "plain.jpg").read_bytes() == (root / "plain.jpg").read_bytes()
    assert not (images / "rotated.jpg").exists()
    with Image.open(images / "rotated.png") as upright:
        assert upright.size == (20, 40) and "exif" not in upright.info
    with Image.open(tmp_path / "out" / "labels" / "rotated.png") as label:
        assert label.size == upright.size


def test_recovery_counts_every_mask_that_survived_not_only_the_last_sessions(folder):
    first = Project.open(folder)
    first.save_mask("img0", np.zeros((6, 8), np.uint8))
    first.set_status("img0", ImageStatus.REVIEWED)
    first.save_mask("img1", np.zeros((6, 8), np.uint8))
    first.set_status("img1", ImageStatus.EDITED)
    first.close()  # a clean session, an hour earlier
    for mask in (folder / ".segstudio" / "masks").glob("*.png"):
        os.utime(mask, (mask.stat().st_atime - 3600, mask.stat().st_mtime - 3600))
    second = Project.open(folder)
    second.save_state()  # then killed without touching a mask
    again = Project.open(folder)
    assert "recovered 2 saved mask(s) (1 edited, 1 reviewed, 0 predicted; 0 saved during that session)" in (
        again.recovery_message)
