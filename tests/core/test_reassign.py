"""Class reassignment without Qt: open images get one undo step each, saved masks are rewritten."""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.project import ImageStatus, Project
from segstudio.core.reassign import ReassignError, run_job, saved_count_job, saved_reassign_job
from segstudio.core.session import EditingSession

H, W = 20, 24


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (W, H), (20 * i, 0, 0)).save(folder / f"img{i}.png")
    s = EditingSession()
    s.open_project(Project.open(folder))
    s.changes = []
    s.on_changed = s.changes.append
    yield s
    if s.project is not None:
        s.project.close()


def two_class_mask(a=2, b=5, split=10):
    mask = np.full((H, W), b, np.uint8)
    mask[:, :split] = a
    return mask


def test_an_open_image_is_changed_as_one_undo_step(session):
    session.open_image("img0")
    session.apply_prediction("img0", two_class_mask())
    before = session.mask.copy()
    assert session.replace_class("img0", 2, 7) == H * 10
    expected = before.copy()
    expected[before == 2] = 7
    assert np.array_equal(session.mask, expected)
    assert session.status("img0") == ImageStatus.EDITED
    assert session.doc.class_counts()[7] == H * 10 and session.doc.class_counts()[2] == 0
    assert session.effort.record("img0").changed_pixels == H * 10
    session.undo()
    assert np.array_equal(session.mask, before) and session.effort.record("img0").changed_pixels == 0


def test_a_protected_or_unknown_class_is_refused_and_nothing_changes(session):
    session.open_image("img0")
    session.apply_prediction("img0", two_class_mask())
    before = session.mask.copy()
    session.set_protected({2})
    with pytest.raises(ReassignError, match="protected"):
        session.replace_class("img0", 2, 7)
    with pytest.raises(ReassignError, match="not in the label set"):
        session.replace_class("img0", 5, 40)
    assert np.array_equal(session.mask, before)
    session.replace_class("img0", 5, 2)  # protecting the target does not matter: nothing of it is overwritten
    assert (session.mask == 2).all()


def test_saved_masks_are_counted_then_rewritten_and_statuses_follow(session):
    project = session.project
    project.save_mask("img0", two_class_mask(split=4))
    project.set_status("img0", ImageStatus.PREDICTED)
    project.save_mask("img1", two_class_mask(split=6))
    project.set_status("img1", ImageStatus.REVIEWED)
    keys = list(project.keys)  # img2 has no mask
    counts = {e.key: e.changed for e in run_job(saved_count_job(project, keys, 2))}
    assert counts == {"img0": H * 4, "img1": H * 6, "img2": 0}
    events = run_job(saved_reassign_job(project, keys, 2, 9))
    for event in events:
        session.saved_mask_rewritten(event)
    assert [(e.key, e.changed, e.error) for e in events] == [("img0", H * 4, None), ("img1", H * 6, None), ("img2", 0, None)]
    assert np.array_equal(project.load_mask("img0"), two_class_mask(a=9, split=4))
    assert np.array_equal(project.load_mask("img1"), two_class_mask(a=9, split=6))
    assert project.load_mask("img2") is None
    assert session.status("img0") == ImageStatus.EDITED and session.status("img1") == ImageStatus.REVIEWED
    assert session.status("img2") == ImageStatus.NO_MASK


def test_a_rewritten_prefilled_mask_moves_its_effort_count(session):
    session.apply_prediction("img0", two_class_mask())  # opens it in memory
    session.project.save_mask("img0", session.mask_for("img0"))
    session.reset_documents()  # now only on disk
    events = run_job(saved_reassign_job(session.project, ["img0"], 2, 3, session.effort.read_baseline))
    session.saved_mask_rewritten(events[0])
    assert events[0].effort_delta == H * 10 and session.effort.record("img0").changed_pixels == H * 10


def test_an_unreadable_mask_is_reported_and_the_others_still_done(session):
    project = session.project
    project.save_mask("img0", two_class_mask())
    project.mask_path("img1").write_bytes(b"not a png")
    events = run_job(saved_reassign_job(project, ["img0", "img1"], 2, 4))
    assert events[0].changed == H * 10 and events[1].error
    assert project.mask_path("img1").read_bytes() == b"not a png"
