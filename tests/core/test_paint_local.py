import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segstudio.core.paint import (
    boundaries,
    clip_rect,
    fill_polygon,
    flood_fill,
    flood_region,
    paint_disk,
    paint_segment,
    pick_class,
)
from segstudio.core.undo import TILE, UndoHistory, apply_patch_step


def _changed_rect(before, after):
    ys, xs = np.nonzero(before != after)
    return ys.min(), xs.min(), ys.max() + 1, xs.max() + 1


def test_every_op_changes_only_inside_its_returned_rect():
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 3, (120, 160), dtype=np.uint8)
    mask[40:80, 50:90] = 7
    ops = [
        lambda m: paint_disk(m, (30.4, 40.6), 6.5, 9),
        lambda m: paint_segment(m, (5, 5), (100, 150), 3, 9),
        lambda m: flood_fill(m, (60, 70), 9),
        lambda m: fill_polygon(m, [(10, 100), (60, 155), (110, 110)], 9),
    ]
    for op in ops:
        m = mask.copy()
        rect = op(m)
        y0, x0, y1, x1 = rect
        outside = m.copy()
        outside[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
        assert np.array_equal(outside, mask)
        cy0, cx0, cy1, cx1 = _changed_rect(mask, m)
        assert y0 <= cy0 and x0 <= cx0 and cy1 <= y1 and cx1 <= x1


def test_brush_on_a_huge_mask_returns_a_small_rect():
    mask = np.zeros((6000, 8000), np.uint8)
    rect = paint_segment(mask, (3000, 4000), (3005, 4010), 10, 4)
    y0, x0, y1, x1 = rect
    assert (y1 - y0) * (x1 - x0) < 40 * 40
    assert int(mask.sum()) == int((mask[y0:y1, x0:x1] == 4).sum()) * 4


def test_disk_is_round_and_clipped_at_the_border():
    mask = np.zeros((21, 21), np.uint8)
    paint_disk(mask, (10.5, 10.5), 5, 1)  # the centre of pixel (10, 10)
    assert np.array_equal(mask, mask[::-1]) and np.array_equal(mask, mask.T)  # symmetric
    assert mask[10, 5] == 1 and mask[10, 4] == 0 and mask[7, 7] == 1 and mask[6, 6] == 0
    assert paint_disk(mask, (-100, -100), 3, 2) is None
    rect = paint_disk(mask, (0.2, 0.2), 3, 2)
    assert rect[:2] == (0, 0) and mask[0, 0] == 2
    tiny = np.zeros((5, 5), np.uint8)
    paint_segment(tiny, (0.9, 0.9), (4.1, 0.9), 0.5, 1)  # a 1-px brush paints the pixels under the path
    assert tiny[:, 0].all() and not tiny[:, 2:].any()


def test_protected_classes_survive_every_tool():
    base = np.zeros((50, 50), np.uint8)
    base[:, 25:] = 3
    base[10:20, 5:15] = 6
    for op in (
        lambda m: paint_segment(m, (0, 0), (49, 49), 8, 5, protected={3, 6}),
        lambda m: fill_polygon(m, [(0, 0), (0, 49), (49, 49), (49, 0)], 5, protected=frozenset({3, 6})),
        lambda m: flood_fill(m, (40, 2), 5, protected={3, 6}),
    ):
        m = base.copy()
        assert op(m) is not None
        assert (m[base == 3] == 3).all() and (m[base == 6] == 6).all()
    m = base.copy()
    assert flood_fill(m, (5, 40), 5, protected={3}) is None  # a protected seed: nothing
    assert np.array_equal(m, base)
    assert flood_fill(m, (5, 40), 3) is None  # same class: nothing


def test_flood_fill_is_four_connected_and_leaves_the_mask_alone_until_applied():
    mask = np.zeros((5, 5), np.uint8)
    mask[2, :] = 1
    mask[:, 2] = 1
    mask[0, 0] = 0
    mask[3, 3] = 1
    before = mask.copy()
    rect, region = flood_region(mask, (0, 0))
    assert np.array_equal(mask, before)
    assert rect == (0, 0, 2, 2) and region.all()
    assert flood_fill(mask, (2, 2), 4) == (0, 0, 5, 5)
    assert (mask[before == 1] == 4).all() and (mask[before == 0] == 0).all()
    view = np.zeros((6, 10), np.uint8)[:, ::2]  # not contiguous
    assert flood_region(view, (1, 1))[0] == (0, 0, 6, 5)
    assert flood_region(mask, (9, 9)) is None


def test_pick_class_and_boundaries():
    mask = np.zeros((4, 4), np.uint8)
    mask[:, 2:] = 5
    assert pick_class(mask, (1, 3)) == 5 and pick_class(mask, (4, 0)) is None
    edge = boundaries(mask)
    assert edge[:, 1].all() and edge.sum() == 4
    assert clip_rect((-5, -5, 2, 100), mask.shape) == (0, 0, 2, 4)


def _stroke(history, mask, points, radius, cid, protected=frozenset()):
    history.begin(mask)
    for a, b in zip(points, points[1:] or points):
        pad = int(radius) + 2
        rect = clip_rect((int(min(a[0], b[0])) - pad, int(min(a[1], b[1])) - pad,
                          int(max(a[0], b[0])) + pad + 1, int(max(a[1], b[1])) + pad + 1), mask.shape)
        history.record(rect)
        paint_segment(mask, a, b, radius, cid, protected)
    return history.end()


coords = st.tuples(st.integers(-10, 2 * TILE + 40), st.integers(-10, 2 * TILE + 40))
edit = st.tuples(st.just("stroke"), st.lists(coords, min_size=1, max_size=5), st.integers(1, 30), st.integers(0, 11))
fill = st.tuples(st.just("fill"), coords, st.integers(0, 11))
whole = st.tuples(st.just("whole"), st.integers(0, 11), st.integers(0, 2**16))
action = st.one_of(edit, fill, whole, st.just(("undo",)), st.just(("redo",)))


@settings(max_examples=40, deadline=None)
@given(st.lists(action, max_size=25))
def test_undo_redo_across_tiles_equals_a_full_copy_reference(actions):
    shape = (2 * TILE + 30, 2 * TILE + 30)
    mask = np.zeros(shape, np.uint8)
    mask[:, TILE:] = 3
    history = UndoHistory(max_steps=1000)
    undo_ref, redo_ref = [], []
    for act in actions:
        before = mask.copy()
        if act[0] == "stroke":
            step = _stroke(history, mask, act[1], act[2], act[3], protected={3} if act[3] == 0 else frozenset())
        elif act[0] == "fill":
            rect = flood_region(mask, act[1])
            history.begin(mask)
            if rect is not None:
                history.record(rect[0])
                flood_fill(mask, act[1], act[2])
            step = history.end()
        elif act[0] == "whole":
            new = np.random.default_rng(act[2]).integers(0, 12, shape).astype(np.uint8)
            new[: act[1] * 10] = mask[: act[1] * 10]
            rect = apply_patch_step(history, mask, new)
            assert np.array_equal(mask, new)
            step = rect
        if act[0] in ("stroke", "fill", "whole"):
            if np.array_equal(before, mask):
                assert step is None
            else:
                assert step is not None
                undo_ref.append(before)
                redo_ref.clear()
        elif act[0] == "undo":
            rect = history.undo(mask)
            if undo_ref:
                redo_ref.append(before)
                assert np.array_equal(mask, undo_ref.pop()) and rect is not None
            else:
                assert rect is None
        else:
            rect = history.redo(mask)
            if redo_ref:
                undo_ref.append(before)
                assert np.array_equal(mask, redo_ref.pop()) and rect is not None
            else:
                assert rect is None
        assert history.can_undo == bool(undo_ref) and history.can_redo == bool(redo_ref)
        assert history.nbytes == sum(s.nbytes for s in list(history._undo) + list(history._redo))


def test_long_stroke_records_small_tiles_and_memory_is_bounded():
    mask = np.zeros((3000, 4000), np.uint8)
    history = UndoHistory(max_steps=1000, max_bytes=2_000_000)
    points = [(100 + i * 10, 100 + i * 13) for i in range(200)]
    step = _stroke(history, mask, points, 5, 2)
    # the step is the diagonal's bounding box; the per-event snapshots were tiles
    assert step.rect[0] >= 90 and step.rect[2] <= 100 + 1990 + 10
    for i in range(60):
        _stroke(history, mask, [(i * 40 % 2900, 50), (i * 40 % 2900 + 30, 900)], 20, 1 + i % 9)
    assert history.nbytes <= 2_000_000 or len(history) == 1
    assert len(history) < 61


def test_begin_twice_closes_the_open_stroke_and_cancel_drops_it():
    mask = np.zeros((40, 40), np.uint8)
    history = UndoHistory()
    history.begin(mask)
    history.record((0, 0, 10, 10))
    paint_disk(mask, (5, 5), 3, 1)
    history.begin(mask)  # a lost release must not lose the first stroke's undo
    assert len(history) == 1
    history.cancel_stroke()
    assert history.end() is None
    history.undo(mask)
    assert not mask.any()
