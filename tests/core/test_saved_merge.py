"""Auto-segment's merge made off the GUI thread (core.saved_merge): the same as the in-memory
merge, verified pixels untouched, and never written once the files it read have changed."""

import shutil

import numpy as np
import pytest
from PIL import Image

from segstudio.core.maskio import encode_grey_png, encode_index_png
from segstudio.core.documents import save_document
from segstudio.core.project import ImageStatus, Project
from segstudio.core.saved_merge import merge_saved
from segstudio.core.session import EditingSession
from segstudio.core.verified import load_verified

H, W = 30, 40
KEY = "img0"


def open_session(folder):
    s = EditingSession()
    s.open_project(Project.open(folder))
    return s


def save_all(session):
    """What the autosaver does for every dirty document."""
    for doc in session.documents.dirty():
        save_document(session.project, doc)
    session.project.save_state()


@pytest.fixture
def folder(tmp_path):
    """img0 with a person's strokes (some pixels verified) saved, nothing in memory."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / f"{KEY}.png")
    s = open_session(folder)
    s.open_image(KEY)
    s.set_pixels((2, 3, 9, 17), 6)
    s.set_pixels((20, 25, 28, 39), 2)
    save_all(s)
    s.project.close()
    return folder


def predict():
    rng = np.random.default_rng(1)
    mask = rng.integers(0, 11, (H, W), dtype=np.uint8)
    confidence = rng.integers(0, 255, (H, W), dtype=np.uint8)
    return mask, confidence


def apply(folder, worker_merge: bool):
    """Auto-segment's apply as the GUI does it; returns the session (still open)."""
    s = open_session(folder)
    mask, confidence = predict()
    encoded = (encode_index_png(mask, s.project.labelset), encode_grey_png(confidence))
    merged = merge_saved(s.project, KEY, mask) if worker_merge else None
    assert s.apply_prediction(KEY, mask, confidence, encoded=encoded, model="m", merged=merged)
    save_all(s)
    return s


def saved(s):
    p = s.project
    return (p.load_mask(KEY), load_verified(p, KEY, (H, W)), p.load_prediction(KEY), p.status(KEY),
            p.load_confidence(KEY), s.effort.record(KEY).model, s.effort.baseline_path(KEY).read_bytes())


def test_the_worker_merge_writes_exactly_what_the_in_memory_merge_does(folder, tmp_path):
    in_memory_folder = tmp_path / "copy"
    shutil.copytree(folder, in_memory_folder)
    before = open_session(folder)
    mask_before, verified_before = before.project.load_mask(KEY), load_verified(before.project, KEY, (H, W))
    before.project.close()
    assert verified_before.any() and not verified_before.all()

    fast = apply(folder, worker_merge=True)
    assert len(fast.documents) == 0  # the fast path: nothing decoded on the GUI thread
    slow = apply(in_memory_folder, worker_merge=False)
    assert len(slow.documents) == 1
    got, want = saved(fast), saved(slow)
    for a, b in zip(got, want):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b
    mask, verified = got[0], got[1]
    assert np.array_equal(verified, verified_before)
    assert np.array_equal(mask[verified_before], mask_before[verified_before])  # verified pixels never change
    predicted = predict()[0]
    assert np.array_equal(mask[~verified_before], predicted[~verified_before])
    assert np.array_equal(got[2], predicted)  # the kept model prediction is the raw one, not the merge
    assert got[3] == ImageStatus.EDITED  # verified pixels remain: the person's status stays
    fast.project.close()
    slow.project.close()


def test_a_stale_worker_merge_is_not_written_after_the_files_changed(folder):
    s = open_session(folder)
    predicted, confidence = predict()
    merged = merge_saved(s.project, KEY, predicted)  # the worker read the files...
    doc = s.open_image(KEY)  # ...then the user edited the image and it was saved
    s.set_pixels((0, 0, 5, 5), 9)
    save_all(s)
    s.reset_documents()  # and it left memory before the GUI applied the prediction
    encoded = (encode_index_png(predicted, s.project.labelset), encode_grey_png(confidence))
    assert s.apply_prediction(KEY, predicted, confidence, encoded=encoded, merged=merged)
    mask = s.mask_for(KEY)
    assert (mask[0:5, 0:5] == 9).all()  # the new edit survives: merged again from the current files
    assert not np.array_equal(mask, merged.mask)
    assert np.array_equal(mask, np.where(doc.verified, doc.mask, predicted))
    s.project.close()


def test_a_worker_merge_of_an_image_opened_meanwhile_is_merged_in_memory(folder):
    s = open_session(folder)
    predicted, _ = predict()
    merged = merge_saved(s.project, KEY, predicted)
    doc = s.open_image(KEY)
    s.set_pixels((0, 0, 5, 5), 9)  # not saved yet: the files are unchanged, the document is not
    assert s.apply_prediction(KEY, predicted, encoded=(merged.mask_png, None), merged=merged)
    assert (doc.mask[0:5, 0:5] == 9).all() and doc.history.can_undo
    assert np.array_equal(doc.mask, np.where(doc.verified, doc.mask, predicted))
    s.project.close()


def test_no_worker_merge_without_saved_verified_pixels(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(folder / f"{KEY}.png")
    s = open_session(folder)
    assert merge_saved(s.project, KEY, predict()[0]) is None  # no mask: the plain fast path writes it
    s.project.save_mask(KEY, np.full((H, W), 4, np.uint8))
    assert merge_saved(s.project, KEY, predict()[0]) is None  # a legacy mask: the question decides
    s.project.close()
