"""Correction effort without Qt: exact pixel counts through undo, idle gaps, per-version means, the CSV."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from segstudio.core.effort import IDLE_GAP_S, NO_MODEL, image_rows, version_summary, write_effort_csv
from segstudio.core.maskio import encode_index_png
from segstudio.core.project import Project
from segstudio.core.session import EditingSession
from segstudio.core.tools import BrushTool

H, W = 30, 40


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def session(folder, clock):
    s = EditingSession(clock=clock)
    s.open_project(Project.open(folder))
    yield s
    if s.project is not None:
        s.project.close()


def prediction(seed=1):
    return np.random.default_rng(seed).integers(0, 4, (H, W), dtype=np.uint8)


def stroke(session, points, dt=0.5, clock=None):
    """A brush stroke as the canvas drives it: pointer events around the tool's calls."""
    brush = BrushTool(session)
    session.pointer("press", points[0])
    brush.press(points[0])
    for p in points[1:]:
        if clock is not None:
            clock.t += dt
        session.pointer("move", p)
        brush.move(p)
    session.pointer("release", points[-1])
    brush.release(points[-1])


def click(session, yx):
    session.pointer("press", yx)
    session.pointer("release", yx)


def test_changed_pixels_are_exact_through_undo_and_redo(session):
    prefill = prediction()
    session.open_image("img0")
    assert session.apply_prediction("img0", prefill, model="v1")
    session.pick_class(9)
    session.brush_radius = 3.0
    stroke(session, [(10, 5), (10, 30)])
    rec = session.effort.record("img0")
    after_stroke = int(np.count_nonzero(session.mask != prefill))
    assert after_stroke > 0 and rec.changed_pixels == after_stroke
    session.undo()
    assert rec.changed_pixels == 0 and (session.mask == prefill).all()
    session.redo()
    assert rec.changed_pixels == after_stroke
    session.undo()
    stroke(session, [(20, 5), (20, 8)])  # a new stroke after undo: counted once, from the pre-fill
    assert rec.changed_pixels == int(np.count_nonzero(session.mask != prefill))
    assert (rec.strokes, rec.clicks) == (2, 0)  # undo and redo are not actions and do not subtract them
    assert rec.model == "v1" and rec.pixels == H * W


def test_painting_back_the_prefill_class_lowers_the_count(session):
    prefill = np.zeros((H, W), np.uint8)
    session.open_image("img0")
    session.apply_prediction("img0", prefill, model="v1")
    session.set_pixels((0, 0, 10, 10), 5)
    session.set_pixels((0, 0, 5, 10), 0)  # half of it back to what the model said
    assert session.effort.record("img0").changed_pixels == 50


def test_clicks_and_strokes_are_told_apart_by_movement(session):
    session.open_image("img0")
    click(session, (3, 3))
    session.pointer("press", (3, 3))
    session.pointer("move", (3.2, 3.3))  # under a pixel: still a click
    session.pointer("release", (3.2, 3.3))
    stroke(session, [(5, 5), (5, 9)])
    rec = session.effort.record("img0")
    assert (rec.clicks, rec.strokes) == (2, 1)


def test_idle_gaps_over_30_s_are_left_out_of_active_time(session, clock):
    session.open_image("img0")
    click(session, (1, 1))
    clock.t += 10
    click(session, (2, 2))  # 10 s: active
    clock.t += IDLE_GAP_S + 5
    click(session, (3, 3))  # 35 s: idle, left out
    clock.t += 4
    stroke(session, [(5, 5), (5, 9), (5, 12)], dt=1.0, clock=clock)  # 4 s + 2 s
    assert session.effort.record("img0").active_s == pytest.approx(16.0)


def test_time_on_another_image_is_not_charged_to_this_one(session, clock):
    session.open_image("img0")
    click(session, (1, 1))
    session.open_image("img1")
    clock.t += 5
    click(session, (1, 1))
    clock.t += 5
    click(session, (1, 1))
    assert session.effort.record("img0").active_s == 0.0
    assert session.effort.record("img1").active_s == pytest.approx(5.0)


def test_records_survive_reopening_and_counting_continues_from_the_saved_prefill(folder, clock, session):
    prefill = prediction()
    session.open_image("img0")
    session.apply_prediction("img0", prefill, model="v1")
    session.set_pixels((0, 0, 4, 4), 9)
    session.project.save_mask("img0", session.mask)
    session.project.save_state()
    saved = json.loads((session.project.dir / "state.json").read_text())["effort"]["images"]["img0"]
    assert saved["changed_pixels"] == int(np.count_nonzero(session.mask != prefill)) and saved["model"] == "v1"
    session.project.close()
    again = EditingSession(clock=clock)
    again.open_project(Project.open(folder))
    again.open_image("img0")
    again.set_pixels((10, 10, 12, 12), 9)
    assert again.effort.record("img0").changed_pixels == int(np.count_nonzero(again.mask != prefill))
    again.project.close()


def test_a_prefill_written_without_opening_the_image_is_the_baseline(session):
    prefill = prediction(3)
    png = encode_index_png(prefill, session.project.labelset)
    assert session.apply_prediction("img2", prefill, encoded=(png, None), model="v2")
    assert session.effort.baseline_path("img2").read_bytes() == png
    session.open_image("img2")
    session.set_pixels((0, 0, 3, 3), 11)
    assert session.effort.record("img2").changed_pixels == int(np.count_nonzero(session.mask != prefill))


def test_an_image_no_model_touched_counts_from_its_void_mask(session):
    session.open_image("img1")
    session.set_pixels((0, 0, 5, 6), 2)
    rec = session.effort.record("img1")
    assert rec.model is None and rec.baseline == "void" and rec.changed_pixels == 30
    session.undo()
    assert rec.changed_pixels == 0


def test_a_new_prefill_keeps_the_old_record_for_its_version(session):
    session.open_image("img0")
    session.apply_prediction("img0", prediction(1), model="v1")
    click(session, (1, 1))
    session.apply_prediction("img0", prediction(2), model="v2", force=True)
    rows = image_rows(session.project.state)
    assert [(r["model"], r["replaced"], r["clicks"]) for r in rows] == [("v2", 0, 0), ("v1", 1, 1)]


def test_per_version_means_cover_the_images_worked_on_or_reviewed(session, clock):
    for key, model, clicks in (("img0", "v1", 2), ("img1", "v1", 4), ("img2", "v2", 1)):
        session.open_image(key)
        session.apply_prediction(key, prediction(), model=model)
        for _ in range(clicks):
            clock.t += 1
            click(session, (1, 1))
    session.open_image("img2")
    session.mark_reviewed()
    summary = {row["model"]: row for row in version_summary(image_rows(session.project.state))}
    assert summary["v1"]["images"] == 2 and summary["v1"]["clicks"] == 3.0 and summary["v1"]["actions"] == 3.0
    assert summary["v2"]["images"] == 1 and summary["v2"]["reviewed"] == 1
    assert summary["v1"]["active_s"] == pytest.approx((1 + 3) / 2)


def test_an_untouched_prefill_is_not_in_the_means(session):
    session.apply_prediction("img0", prediction(), model="v1")
    assert version_summary(image_rows(session.project.state)) == []


def test_the_csv_matches_the_state(session, clock):
    session.open_image("img0")
    session.apply_prediction("img0", prediction(), model="v1")
    session.set_pixels((0, 0, 2, 2), 7)
    click(session, (0, 0))
    session.open_image("img1")
    stroke(session, [(1, 1), (1, 9)], clock=clock)
    session.project.save_state()
    state = json.loads((session.project.dir / "state.json").read_text())
    out = io.StringIO()
    write_effort_csv(state, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    images = {r["key"]: r for r in rows if r["kind"] == "image"}
    for key, rec in state["effort"]["images"].items():
        for name in ("changed_pixels", "strokes", "clicks"):
            assert int(images[key][name]) == rec[name]
        assert float(images[key]["active_s"]) == pytest.approx(rec["active_s"])
        assert images[key]["model"] == (rec["model"] or NO_MODEL)
    versions = {r["model"]: r for r in rows if r["kind"] == "version"}
    assert set(versions) == {"v1", NO_MODEL}
    assert float(versions[NO_MODEL]["strokes"]) == 1.0


def test_a_damaged_effort_section_is_reset_not_fatal(folder, clock):
    project = Project.open(folder)
    project.state["effort"] = {"images": {"img0": {"strokes": "many", "model": 3}}, "earlier": "x"}
    project.save_state()
    project.close()
    s = EditingSession(clock=clock)
    s.open_project(Project.open(folder))
    rec = s.effort.record("img0")
    assert rec.strokes == 0 and rec.model is None
    s.project.close()
