import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from segstudio.core.export import export_masks, import_masks
from segstudio.core.labels import CAMVID
from segstudio.core.maskio import read_index_png, write_color_png
from segstudio.core.project import ImageStatus, Project


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    return tmp_path


def test_reopen_restores_masks_statuses_current_and_view(folder):
    project = Project.open(folder)
    mask = np.full((24, 32), 3, np.uint8)
    project.save_mask("img1", mask)
    project.set_status("img1", ImageStatus.REVIEWED)
    project.current = "img1"
    project.set_view("img1", {"zoom": 2.0, "center": [5, 6]})
    project.close()
    again = Project.open(folder)
    assert again.status("img1") == ImageStatus.REVIEWED
    assert again.status("img0") == ImageStatus.NO_MASK
    assert again.current == "img1"
    assert again.view("img1") == {"zoom": 2.0, "center": [5, 6]}
    assert np.array_equal(again.load_mask("img1"), mask)
    assert not again.recovered_from_crash
    assert sorted(p.name for p in folder.glob("*.png")) == ["img0.png", "img1.png", "img2.png"]


def test_crash_is_detected_and_corrupt_state_kept_aside(folder):
    project = Project.open(folder)
    project.save_mask("img0", np.zeros((24, 32), np.uint8))
    project.save_state()  # no close(): as if killed
    (folder / ".segstudio" / "state.json").write_text("{broken")
    again = Project.open(folder)
    assert again.recovered_from_crash
    assert any("recovered 1 saved mask(s) (1 edited" in w for w in again.warnings)
    assert any("unreadable" in w for w in again.warnings)
    assert again.status("img0") == ImageStatus.EDITED  # a mask without state is treated as the user's
    assert list((folder / ".segstudio").glob("state.json.corrupt-*"))


SAVER = """
import sys, numpy as np
from segstudio.core.project import Project
project = Project.open(sys.argv[1])
i = 0
print("ready", flush=True)
while True:
    i += 1
    for key in project.keys:
        project.save_mask(key, np.full((24, 32), i % 11, np.uint8))
        print(key, i, flush=True)  # this save is complete
"""


def test_kill_during_saves_leaves_only_whole_files(folder):
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    completed = {}
    for line in proc.stdout.read().decode().splitlines():
        key, _, i = line.partition(" ")
        if i.isdigit():
            completed[key] = int(i)
    masks_dir = folder / ".segstudio" / "masks"
    assert completed and set(completed) == {p.stem for p in masks_dir.glob("*.png")}
    # A leftover temp file (killed between write and rename) is never taken for a mask:
    project = Project.open(folder)
    for key, last in completed.items():
        mask = project.load_mask(key)
        assert len(np.unique(mask)) == 1  # one whole save, never a mix
        # the last completed save, or the next one if the kill fell between its rename and its print
        assert mask[0, 0] in (last % 11, (last + 1) % 11), (key, last, mask[0, 0])
    assert not list(masks_dir.glob(".*.tmp"))  # cleaned up on reopen


def test_export_writes_training_layout_with_palette(folder, tmp_path):
    project = Project.open(folder)
    mask = np.zeros((24, 32), np.uint8)
    mask[:, 16:] = 8
    project.save_mask("img2", mask)
    out = tmp_path / "export"
    report = export_masks(project, out, ("index", "color", "overlay"))
    assert report.written == 1 and len(report.skipped) == 2 and not report.errors
    img = Image.open(out / "labels" / "img2.png")
    assert img.mode == "P" and np.array_equal(np.array(img), mask)
    colour = np.array(Image.open(out / "labels_color" / "img2.png"))
    assert tuple(colour[0, 20]) == CAMVID.colors[8]
    assert (out / "overlays" / "img2.jpg").exists()
    assert (out / "images" / "img2.png").read_bytes() == (folder / "img2.png").read_bytes()


def test_import_colour_masks_maps_colours_and_reports_unknown(folder, tmp_path):
    src = tmp_path / "incoming"
    src.mkdir()
    mask = np.full((24, 32), 5, np.uint8)
    write_color_png(src / "img0.png", mask, CAMVID)
    Image.new("RGB", (32, 24), (1, 2, 3)).save(src / "img1.png")
    Image.fromarray(np.zeros((10, 10), np.uint8), mode="L").save(src / "img2.png")
    project = Project.open(folder)
    report = import_masks(project, src)
    assert report.imported == 1
    assert np.array_equal(project.load_mask("img0"), mask)
    assert project.status("img0") == ImageStatus.EDITED
    assert any("(1, 2, 3)" in e for e in report.errors)
    assert any("never resized" in e for e in report.errors)


def test_read_only_folder_opens_but_does_not_save(folder):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions; tests/core/test_real_filesystems.py mounts a read-only one")
    os.chmod(folder, 0o555)
    try:
        project = Project.open(folder)
        assert not project.writable
        with pytest.raises(OSError):
            project.save_mask("img0", np.zeros((24, 32), np.uint8))
    finally:
        os.chmod(folder, 0o755)
