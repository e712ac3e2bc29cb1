import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from segstudio.core.paint import clip_rect, fill_polygon, flood_fill, paint_disk, paint_segment
from segstudio.core.undo import TILE, UndoHistory


def test_segment_is_gapless_and_round():
    mask = np.zeros((60, 80), np.uint8)
    rect = paint_segment(mask, (10, 5), (10, 70), 3, 2)
    assert rect is not None
    assert (mask[10, 5:71] == 2).all()
    assert mask[10, 76] == 0


def test_protected_classes_are_never_overwritten():
    mask = np.zeros((40, 40), np.uint8)
    mask[:, 20:] = 3
    paint_disk(mask, (20, 20), 10, 5, protected={3})
    assert (mask[:, 20:] == 3).all()
    assert (mask[20, 12:20] == 5).all()
    fill_polygon(mask, [(0, 0), (0, 39), (39, 39), (39, 0)], 7, protected={3})
    assert (mask[:, 20:] == 3).all()
    assert flood_fill(mask, (5, 30), 1, protected={3}) is None


def test_flood_fill_touches_only_the_connected_region():
    mask = np.zeros((20, 20), np.uint8)
    mask[:, 10] = 4  # a wall splits the zeros in two
    rect = flood_fill(mask, (5, 2), 6)
    assert rect == (0, 0, 20, 10)
    assert (mask[:, :10] == 6).all() and (mask[:, 11:] == 0).all()


def test_polygon_fill_inside_only():
    mask = np.zeros((50, 50), np.uint8)
    fill_polygon(mask, [(10, 10), (10, 40), (40, 40), (40, 10)], 9)
    assert mask[25, 25] == 9 and mask[5, 5] == 0 and mask[45, 45] == 0


def _stroke(history, mask, points, radius, cid):
    history.begin(mask)
    for a, b in zip(points, points[1:] or points):
        r = clip_rect((int(min(a[0], b[0])) - radius - 2, int(min(a[1], b[1])) - radius - 2,
                       int(max(a[0], b[0])) + radius + 3, int(max(a[1], b[1])) + radius + 3), mask.shape)
        history.record_before(r)
        paint_segment(mask, a, b, radius, cid)
    return history.end()


def test_a_stroke_is_one_step_storing_only_its_rect():
    mask = np.zeros((1000, 1000), np.uint8)
    history = UndoHistory()
    step = _stroke(history, mask, [(100, 100), (110, 130), (120, 160)], 4, 3)
    assert len(history) == 1
    assert step.before.size < 100 * 100  # a small patch, not the 1e6-pixel mask
    painted = mask.copy()
    history.undo(mask)
    assert not mask.any()
    history.redo(mask)
    assert np.array_equal(mask, painted)


def test_history_is_bounded_and_new_edits_clear_redo():
    mask = np.zeros((50, 50), np.uint8)
    history = UndoHistory(max_steps=100)
    for i in range(150):
        _stroke(history, mask, [(i % 50, 5)], 2, 1 + i % 5)
    assert len(history) == 100
    history.undo(mask)
    assert history.can_redo
    _stroke(history, mask, [(3, 3)], 2, 9)
    assert not history.can_redo


def test_push_whole_stores_the_bounding_box_of_changes():
    before = np.zeros((300, 400), np.uint8)
    after = before.copy()
    after[10:20, 30:50] = 4
    history = UndoHistory()
    step = history.push_whole(before, after)
    assert step.rect == (10, 30, 20, 50)
    history.undo(after)
    assert not after.any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["edit", "undo", "redo"]), st.integers(0, 29), st.integers(0, 29),
                          st.integers(1, 4), st.integers(0, 11)), max_size=30))
def test_random_edit_undo_redo_matches_a_full_copy_reference(ops):
    mask = np.zeros((30, 30), np.uint8)
    history = UndoHistory(max_steps=1000)
    undo_ref, redo_ref = [], []
    for op, y, x, r, cid in ops:
        if op == "edit":
            before = mask.copy()
            _stroke(history, mask, [(y, x), (29 - y, x)], r, cid)
            if not np.array_equal(before, mask):
                undo_ref.append(before)
                redo_ref.clear()
        elif op == "undo" and undo_ref:
            redo_ref.append(mask.copy())
            history.undo(mask)
            assert np.array_equal(mask, undo_ref.pop())
        elif op == "redo" and redo_ref:
            undo_ref.append(mask.copy())
            history.redo(mask)
            assert np.array_equal(mask, redo_ref.pop())


# A mask of several undo tiles whose last row and column of tiles are partial,
# and taller than wide: a tile's clipped shape (rows vs columns) matters here,
# where a 30x30 mask is one tile and hides it.
MULTI_TILE = (2 * TILE + 37, TILE + 61)
_points = st.tuples(st.integers(-5, MULTI_TILE[0] + 5), st.integers(-5, MULTI_TILE[1] + 5))


@settings(max_examples=30, deadline=None, derandomize=True)  # the same cases every run
@given(st.lists(st.tuples(st.sampled_from(["edit", "edit", "fill", "undo", "redo"]),
                          st.lists(_points, min_size=1, max_size=4), st.integers(1, 14), st.integers(0, 11)),
                max_size=14))
# Always tried: a stroke through the partial bottom-left and top-right tiles, a
# fill of the right region, undone and redone.
@example([("edit", [(MULTI_TILE[0] - 3, 2), (5, MULTI_TILE[1] - 2)], 6, 5), ("fill", [(0, MULTI_TILE[1] - 1)], 1, 7),
          ("undo", [(0, 0)], 1, 0), ("undo", [(0, 0)], 1, 0), ("redo", [(0, 0)], 1, 0)])
def test_random_multi_tile_edit_undo_redo_matches_a_full_copy_reference(ops):
    mask = np.zeros(MULTI_TILE, np.uint8)
    mask[:, MULTI_TILE[1] // 2 :] = 3  # two regions, so fills stop somewhere
    history = UndoHistory(max_steps=1000)
    undo_ref, redo_ref = [], []
    for op, points, radius, cid in ops:
        if op in ("edit", "fill"):
            before = mask.copy()
            if op == "edit":
                _stroke(history, mask, points, radius, cid)
            else:
                history.begin(mask)
                history.record_before((0, 0, *MULTI_TILE))  # a fill may reach any tile
                y, x = (min(max(v, 0), s - 1) for v, s in zip(points[0], MULTI_TILE))
                flood_fill(mask, (y, x), cid)
                history.end()
            if not np.array_equal(before, mask):
                undo_ref.append(before)
                redo_ref.clear()
        elif op == "undo" and undo_ref:
            redo_ref.append(mask.copy())
            history.undo(mask)
            assert np.array_equal(mask, undo_ref.pop())
        elif op == "redo" and redo_ref:
            undo_ref.append(mask.copy())
            history.redo(mask)
            assert np.array_equal(mask, redo_ref.pop())
    while undo_ref:  # everything undoes back to the start
        history.undo(mask)
        assert np.array_equal(mask, undo_ref.pop())
