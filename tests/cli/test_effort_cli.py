"""``segstudio effort``: the CSV written to a file or stdout equals the saved state."""

import csv
import io
import json

import numpy as np
from PIL import Image

from segstudio.core.project import Project
from segstudio.core.session import EditingSession


def _project_with_effort(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 6), (10 * i, 0, 0)).save(images / f"f{i}.png")
    session = EditingSession(clock=iter(range(0, 1000, 2)).__next__)
    session.open_project(Project.open(images))
    session.open_image("f0")
    session.apply_prediction("f0", np.zeros((6, 8), np.uint8), model="model-a.safetensors")
    for yx in ((1, 1), (2, 2)):
        session.pointer("press", yx)
        session.pointer("release", yx)
    session.set_pixels((0, 0, 2, 3), 4)
    session.project.close()  # saves the state
    return images, json.loads((images / ".segstudio" / "state.json").read_text())


def test_effort_csv_to_file_and_stdout_matches_the_state(cli, tmp_path):
    images, state = _project_with_effort(tmp_path)
    out = tmp_path / "effort.csv"
    code, stdout, _ = cli("effort", images, "--out", out)
    assert code == 0 and "wrote 2 row(s)" in stdout
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    saved = state["effort"]["images"]["f0"]
    image_row, version_row = rows
    assert image_row["kind"] == "image" and image_row["key"] == "f0"
    assert (int(image_row["clicks"]), int(image_row["changed_pixels"])) == (saved["clicks"], saved["changed_pixels"]) == (2, 6)
    assert float(image_row["active_s"]) == saved["active_s"] > 0
    assert version_row["kind"] == "version" and version_row["model"] == "model-a.safetensors"
    assert float(version_row["changed_fraction"]) == 6 / 48
    code, stdout, _ = cli("effort", images)
    assert code == 0 and stdout.strip() == out.read_text().strip()


def test_effort_of_a_folder_never_opened_is_a_clear_error(cli, tmp_path):
    code, _, err = cli("effort", tmp_path)
    assert code == 2 and "no SegStudio project" in err
    code, _, err = cli("effort", tmp_path / "missing")
    assert code == 2 and "is not a folder" in err


def test_reassign_cli_rewrites_masks_by_class_name_and_keeps_reviewed(cli, tmp_path):
    from segstudio.core.project import ImageStatus, Project

    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 6)).save(images / f"f{i}.png")
    project = Project.open(images)
    mask = np.zeros((6, 8), np.uint8)
    mask[:, :3] = 8  # Car
    for key in project.keys:
        project.save_mask(key, mask)
    project.set_status("f1", ImageStatus.REVIEWED)
    project.close()
    code, stdout, _ = cli("reassign", images, "--from", "car", "--to", "2", "--dry-run")
    assert code == 0 and "would change 36 pixel(s) in 2 image(s)" in stdout
    project = Project.open(images)
    assert (project.load_mask("f0") == mask).all()
    project.close()
    code, stdout, _ = cli("reassign", images, "--from", "Car", "--to", "2", "--only", "f0")
    assert code == 0 and "changed 18 pixel(s) in 1 image(s)" in stdout
    project = Project.open(images)
    assert (project.load_mask("f0")[:, :3] == 2).all() and (project.load_mask("f1") == mask).all()
    assert project.status("f0") == ImageStatus.EDITED and project.status("f1") == ImageStatus.REVIEWED
    project.close()
    code, _, err = cli("reassign", images, "--from", "car", "--to", "car")
    assert code == 2 and "same" in err
    code, _, err = cli("reassign", images, "--from", "boat", "--to", "car")
    assert code == 2 and "unknown class 'boat'" in err
