"""Export to the CamVid, VOC, Datumaro and SegStudio layouts and import back, by class name."""

import shutil

import numpy as np
import pytest
from PIL import Image

from segstudio.core.export import export_masks, import_masks
from segstudio.core.formats.split import assign_subsets, sequence_of
from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.maskio import write_color_png
from segstudio.core.project import ImageStatus, Project
from tests.format_data import LABELSETS, STEMS, WIDE, annotate, file_hashes, make_images

FORMATS = ("camvid", "voc", "datumaro", "index")


def _fresh_copy(images, tmp_path, labelset):
    """The same images in another folder with no masks: where a collaborator imports."""
    other = tmp_path / "other"
    other.mkdir()
    for p in images.iterdir():
        if p.is_file():
            shutil.copy(p, other / p.name)
    Project.open(other, labelset).close()
    return other


@pytest.mark.parametrize("labels", sorted(LABELSETS))
@pytest.mark.parametrize("split", [None, 0.3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_gives_identical_masks_and_leaves_statuses(tmp_path, fmt, split, labels):
    labelset = LABELSETS[labels]
    images = make_images(tmp_path / "images")
    masks = annotate(images, labelset)
    before = file_hashes(images)
    project = Project.open(images)
    statuses = {key: project.status(key) for key in project.keys}
    report = export_masks(project, tmp_path / "out", (fmt,), split=split)
    assert report.written == len(STEMS) and not report.errors
    assert file_hashes(images) == before  # the user's images are only read
    # Back into the same folder: nothing changes, reviewed stays reviewed.
    again = import_masks(project, tmp_path / "out")
    assert (again.imported, again.unchanged, again.errors, again.skipped) == (0, len(STEMS), [], [])
    assert {key: project.status(key) for key in project.keys} == statuses
    project.close()
    # Into a fresh copy of the folder: every mask arrives equal, as the user's edits.
    other = Project.open(_fresh_copy(images, tmp_path, labelset))
    report = import_masks(other, tmp_path / "out")
    assert report.imported == len(STEMS) and not report.errors and not report.skipped
    for key, mask in masks.items():
        assert np.array_equal(other.load_mask(key), mask), key
        assert other.status(key) == ImageStatus.EDITED


def test_classes_are_matched_by_name_not_position(tmp_path):
    """A CamVid folder whose label_colors.txt lists the classes in Datumaro's
    order (black Void first) and with other colours still maps by name."""
    images = make_images(tmp_path / "images", stems=("a_001",))
    src = tmp_path / "cvat"
    (src / "defaultannot").mkdir(parents=True)
    reordered = LabelSet(
        names=("Void",) + CAMVID.names[:11],
        colors=((0, 0, 0),) + tuple((i * 20, 5, 7) for i in range(1, 12)),
    )
    theirs = np.tile(np.arange(12, dtype=np.uint8), 14 * 10 // 12 + 1)[: 14 * 10].reshape(10, 14)
    write_color_png(src / "defaultannot" / "a_001.png", theirs, reordered)
    (src / "default.txt").write_text("/default/a_001.png defaultannot/a_001.png\n")
    (src / "label_colors.txt").write_text("".join(f"{r} {g} {b} {n}\n" for n, (r, g, b) in zip(reordered.names, reordered.colors)))
    project = Project.open(images)
    report = import_masks(project, src)
    assert report.layout == "camvid" and report.imported == 1, report
    ours = project.load_mask("a_001")
    assert [CAMVID.names[i] for i in ours.ravel()] == [reordered.names[i] for i in theirs.ravel()]


def test_unknown_class_names_and_colours_are_reported_not_guessed(tmp_path):
    images = make_images(tmp_path / "images", stems=("a_001", "b_001"))
    src = tmp_path / "voc"
    (src / "SegmentationClass").mkdir(parents=True)
    (src / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nSky:128,128,128::\nAnimal:64,128,64::\n")
    Image.fromarray(np.ones((10, 14), np.uint8), "L").save(src / "SegmentationClass" / "a_001.png")
    rgb = np.zeros((10, 14, 3), np.uint8)
    rgb[:] = (128, 128, 128)
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(src / "SegmentationClass" / "b_001.png")
    project = Project.open(images)
    report = import_masks(project, src)
    assert report.imported == 0 and len(report.errors) == 2
    by_file = {line.split(":")[0]: line for line in report.errors}
    assert "'Animal' (140 px)" in by_file["a_001.png"] and "by name" in by_file["a_001.png"]
    assert "(1, 2, 3): 1 px" in by_file["b_001.png"]
    assert project.load_mask("a_001") is None and project.status("b_001") == ImageStatus.NO_MASK


def test_a_class_map_that_is_missing_is_an_error(tmp_path):
    images = make_images(tmp_path / "images", stems=("a_001",))
    src = tmp_path / "voc"
    (src / "SegmentationClass").mkdir(parents=True)
    project = Project.open(images)
    with pytest.raises(ValueError, match="labelmap.txt"):
        import_masks(project, src)


def test_names_a_class_map_cannot_hold_are_refused_before_writing(tmp_path):
    images = make_images(tmp_path / "images", stems=("a_001",))
    spaced = LabelSet(names=("traffic light", "a:b"), colors=((1, 1, 1), (2, 2, 2)))
    annotate(images, spaced)
    project = Project.open(images)
    with pytest.raises(ValueError, match="traffic light"):
        export_masks(project, tmp_path / "camvid", "camvid")
    with pytest.raises(ValueError, match="a:b"):
        export_masks(project, tmp_path / "voc", "voc")
    assert not (tmp_path / "camvid").exists() and not (tmp_path / "voc").exists()
    assert export_masks(project, tmp_path / "dm", "datumaro").written == 1  # JSON holds any name
    with pytest.raises(ValueError, match="alone"):
        export_masks(project, tmp_path / "x", ("camvid", "index"))


def test_voc_images_are_jpeg_and_jpeg_originals_are_byte_copies(tmp_path):
    images = make_images(tmp_path / "images")
    annotate(images, CAMVID)
    project = Project.open(images)
    export_masks(project, tmp_path / "voc", "voc")
    jpeg = STEMS[-1]
    assert (tmp_path / "voc" / "JPEGImages" / f"{jpeg}.jpg").read_bytes() == (images / f"{jpeg}.jpg").read_bytes()
    for stem in STEMS:
        with Image.open(tmp_path / "voc" / "JPEGImages" / f"{stem}.jpg") as im:
            assert im.format == "JPEG"
    assert (tmp_path / "voc" / "ImageSets" / "Segmentation" / "trainval.txt").read_text().split() == list(project.keys)


def test_split_keeps_sequences_whole_and_is_stable():
    keys = [f"{seq}_{frame:05d}" for seq in ("0001TP", "0006R0", "0016E5", "Seq05VD") for frame in range(0, 300, 30)]
    subsets = assign_subsets(keys, 0.5)
    for seq in {sequence_of(k) for k in keys}:
        assert len({subsets[k] for k in keys if sequence_of(k) == seq}) == 1, seq
    assert set(subsets.values()) == {"train", "val"}
    # Stable: the same names land in the same subsets, whatever else is exported.
    assert assign_subsets(keys[::-1], 0.5) == subsets
    more = assign_subsets(keys + [f"0099XX_{i:05d}" for i in range(5)], 0.5)
    assert all(more[k] == subsets[k] for k in keys)
    # CamVid's four sequences all hash above 0.2: the nearest one is moved so val is not empty.
    fallback = assign_subsets(keys, 0.2)
    assert {sequence_of(k) for k in keys if fallback[k] == "val"} == {"0001TP"}


def test_split_of_one_camera_roll_goes_by_image():
    keys = [f"IMG_{i:04d}" for i in range(200)]
    subsets = assign_subsets(keys, 0.2)
    val = sum(s == "val" for s in subsets.values())
    assert 20 < val < 60  # not all-or-nothing: one "sequence" only is no sequence at all
    assert sequence_of("0016E5_07959") == "0016E5" and sequence_of("Seq05VD_f02340") == "Seq05VD"
    assert sequence_of("photo") is None


def test_folder_export_writes_the_label_set_beside_the_labels(tmp_path):
    images = make_images(tmp_path / "images")
    annotate(images, WIDE)
    project = Project.open(images)
    report = export_masks(project, tmp_path / "out", ("index", "color"), split=0.3)
    assert set(report.subsets) == {"train", "val"}
    for subset in ("train", "val"):
        assert LabelSet.load(tmp_path / "out" / subset / "labelset.json") == WIDE
        assert sorted(p.stem for p in (tmp_path / "out" / subset / "images").iterdir()) == sorted(
            p.stem for p in (tmp_path / "out" / subset / "labels").iterdir()
        )


def test_cvat_camvid_black_is_the_implicit_background(tmp_path):
    """CVAT's CamVid export leaves unlabelled pixels black without listing black
    in label_colors.txt; Datumaro calls them "background", and so do we."""
    images = make_images(tmp_path / "images", stems=("a_001",))
    src = tmp_path / "cvat"
    (src / "defaultannot").mkdir(parents=True)
    rgb = np.zeros((10, 14, 3), np.uint8)
    rgb[:5] = (128, 0, 0)
    Image.fromarray(rgb).save(src / "defaultannot" / "a_001.png")
    (src / "default.txt").write_text("/default/a_001.jpg defaultannot/a_001.png\n")
    (src / "label_colors.txt").write_text("128 0 0 road\n")
    road_bg = LabelSet(names=("road", "background"), colors=((1, 1, 1), (2, 2, 2)))
    project = Project.open(images, road_bg)
    assert import_masks(project, src).imported == 1
    assert (project.load_mask("a_001")[:5] == 0).all() and (project.load_mask("a_001")[5:] == 1).all()
    project.close()
    camvid_project = Project.open(make_images(tmp_path / "cam", stems=("a_001",)))
    report = import_masks(camvid_project, src)
    assert report.imported == 0 and "'background' (70 px)" in report.errors[0]
