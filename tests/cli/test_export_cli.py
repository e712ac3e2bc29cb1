import numpy as np
from PIL import Image

from segstudio.core.labels import CAMVID
from segstudio.core.maskio import read_index_png, write_color_png
from segstudio.core.project import ImageStatus, Project


def _folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 6), (10 * i, 0, 0)).save(images / f"f{i}.png")
    return images


def test_export_formats_repeat_or_comma_and_layout(cli, tmp_path):
    images = _folder(tmp_path)
    project = Project.open(images)
    project.save_mask("f0", np.full((6, 8), 8, np.uint8))
    project.close()
    out = tmp_path / "out"
    code, stdout, _ = cli("export", images, "--out", out, "--format", "index,colour", "--format", "overlay")
    assert code == 0
    assert stdout.splitlines()[0].startswith("exported 1 mask(s) (index, color, overlay)")
    assert "skipped: f1.png: no mask" in stdout
    assert (read_index_png(out / "labels" / "f0.png", CAMVID) == 8).all()
    assert Image.open(out / "labels" / "f0.png").mode == "P"
    assert (np.array(Image.open(out / "labels_color" / "f0.png"))[0, 0] == CAMVID.colors[8]).all()
    assert (out / "overlays" / "f0.jpg").exists()
    assert (out / "images" / "f0.png").read_bytes() == (images / "f0.png").read_bytes()
    assert not (images / ".segstudio" / "session.lock").exists()  # the CLI closes cleanly


def test_export_usage_errors_exit_2(cli, tmp_path):
    images = _folder(tmp_path)
    code, _, err = cli("export", images, "--out", tmp_path / "o", "--format", "index,tiff")
    assert code == 2 and "tiff" in err
    code, _, err = cli("export", tmp_path / "missing", "--out", tmp_path / "o")
    assert code == 2 and "missing" in err
    code, _, err = cli("export", images, "--out", images)
    assert code == 2 and not (images / ".segstudio" / "session.lock").exists()


def test_import_masks_reports_files_and_respects_overwrite(cli, tmp_path):
    images = _folder(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    write_color_png(src / "f0.png", np.full((6, 8), 3, np.uint8), CAMVID)
    Image.new("RGB", (8, 6), (1, 2, 3)).save(src / "f1.png")
    code, stdout, _ = cli("import-masks", images, "--from", src)
    assert code == 1
    assert stdout.startswith("imported 1 mask(s)")
    assert "error: f1.png" in stdout and "(1, 2, 3)" in stdout
    project = Project.open(images)
    assert project.status("f0") == ImageStatus.EDITED and (project.load_mask("f0") == 3).all()
    project.close()
    write_color_png(src / "f0.png", np.full((6, 8), 5, np.uint8), CAMVID)
    code, stdout, _ = cli("import-masks", images, "--from", src)
    assert "skipped: f0.png" in stdout
    code, stdout, _ = cli("import-masks", images, "--from", src, "--overwrite")
    assert stdout.startswith("imported 1")
    assert (Project.open(images).load_mask("f0") == 5).all()
    code, _, err = cli("import-masks", images, "--from", tmp_path / "nope")
    assert code == 2 and "nope" in err


def test_export_camvid_voc_datumaro_with_split_and_import_back(cli, tmp_path):
    from tests.format_data import STEMS, WIDE, annotate, make_images

    images = make_images(tmp_path / "images")
    masks = annotate(images, WIDE)
    for fmt, marker in (("camvid", "label_colors.txt"), ("voc", "labelmap.txt"), ("datumaro", "train/dataset_meta.json")):
        out = tmp_path / fmt
        code, stdout, _ = cli("export", images, "--out", out, "--format", fmt, "--split")
        assert code == 0, stdout
        assert stdout.startswith(f"exported {len(STEMS)} mask(s) ({fmt})") and "subsets: train" in stdout
        assert (out / marker).is_file()
        other = tmp_path / f"copy-{fmt}"
        other.mkdir()
        for p in images.iterdir():
            if p.is_file():
                (other / p.name).write_bytes(p.read_bytes())
        Project.open(other, WIDE).close()
        code, stdout, _ = cli("import-masks", other, "--from", out)
        assert code == 0 and stdout.startswith(f"imported {len(STEMS)} mask(s)") and f"read as {fmt}" in stdout
        project = Project.open(other)
        assert all(np.array_equal(project.load_mask(k), m) for k, m in masks.items())
        project.close()


def test_export_layout_usage_errors_exit_2(cli, tmp_path):
    images = _folder(tmp_path)
    code, _, err = cli("export", images, "--out", tmp_path / "o", "--format", "camvid,index")
    assert code == 2 and "alone" in err
    code, _, err = cli("export", images, "--out", tmp_path / "o", "--format", "voc", "--split", "1.5")
    assert code == 2 and "--split" in err
