"""The one edit step (core.edit_step): every tool, plain or smart, changes the mask through it.

The guard: each tool is driven through a context that offers only the
``ToolContext``/``SmartContext`` protocol (no undo history, no document, no
status), and each gesture must end as exactly one undo step that takes the
mask and the verified pixels back, with the image EDITED. A tool that writes
the mask or the history behind the step's back fails here.
"""

import numpy as np
import pytest
from PIL import Image

from segstudio.core.project import ImageStatus, Project
from segstudio.core.session import EditingSession
from segstudio.core.smart_tools import (
    AcceptModelTool, EdgePolygonTool, RefineBoxTool, RegionPickTool, SuperpixelBrushTool,
)
from segstudio.core.tools import BrushTool, EraserTool, FillTool, LassoTool, PolygonTool

H, W = 60, 80
#: All a tool may use of the session (core.tools.ToolContext + core.smart_tools.SmartContext).
PROTOCOL = {
    "mask", "current_class", "brush_radius", "protected", "eraser_id", "editing",
    "begin_edit", "edit", "pick_class", "show_preview", "image", "prediction",
}


class ProtocolOnly:
    """The session seen through the tools' protocol: anything else is an AttributeError."""

    def __init__(self, session: EditingSession) -> None:
        object.__setattr__(self, "_session", session)

    def __getattr__(self, name):
        if name not in PROTOCOL:
            raise AttributeError(f"a tool used {name!r}, which is not in its context's protocol")
        return getattr(self._session, name)

    def __setattr__(self, name, value):
        raise AttributeError(f"a tool set {name!r} on its context")


def scene() -> np.ndarray:
    image = np.full((H, W, 3), 40, np.uint8)
    image[15:45, 20:60] = (220, 200, 30)
    return image


@pytest.fixture
def session(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(scene()).save(folder / "a.png")
    s = EditingSession()
    s.open_project(Project.open(folder))
    s.open_image("a")
    prediction = np.zeros((H, W), np.uint8)
    prediction[15:45, 20:60] = 2
    assert s.apply_prediction("a", prediction)
    s.pick_class(4)
    s.brush_radius = 4
    yield s
    s.project.close()


def _drag(tool, points):
    tool.press(points[0])
    for p in points[1:]:
        tool.move(p)
    tool.release(points[-1])


GESTURES = {
    "brush": (BrushTool, lambda t: _drag(t, [(30, 10), (30, 30), (35, 50)])),
    "eraser": (EraserTool, lambda t: _drag(t, [(30, 30), (30, 40)])),
    "fill": (FillTool, lambda t: t.press((5, 5))),
    "polygon": (PolygonTool, lambda t: (t.press((5, 5)), t.press((5, 30)), t.press((25, 20)), t.finish())),
    "lasso": (LassoTool, lambda t: _drag(t, [(5, 5), (5, 30), (25, 30), (25, 5)])),
    "region": (RegionPickTool, lambda t: t.press((30, 40))),
    "edge_polygon": (EdgePolygonTool, lambda t: (t.press((15, 20)), t.press((15, 59)), t.press((44, 59)),
                                                 t.press((44, 20)), t.finish())),
    "superpixel": (SuperpixelBrushTool, lambda t: _drag(t, [(30, 30), (30, 50)])),
    "refine_box": (RefineBoxTool, lambda t: _drag(t, [(10, 15), (50, 65)])),
    "accept_model": (AcceptModelTool, lambda t: _drag(t, [(30, 30), (30, 50)])),
}


@pytest.mark.parametrize("name", sorted(GESTURES))
def test_every_tool_edits_through_one_edit_step(session, name):
    tool_class, gesture = GESTURES[name]
    if name == "accept_model":
        session.set_pixels((29, 28, 32, 52), 4)  # something for the model's mask to be painted back over
    mask_before, verified_before = session.mask.copy(), session.verified.copy()
    steps_before = session.history.undo_count
    refreshed = []
    session.on_region_changed = refreshed.append
    gesture(tool_class(ProtocolOnly(session)))
    assert not session.editing
    assert session.history.undo_count == steps_before + 1, "one gesture, one undo step"
    assert not np.array_equal(session.mask, mask_before) or session.verified.sum() > verified_before.sum()
    assert session.verified.sum() > verified_before.sum(), "a tool's footprint is verified"
    assert session.status("a") == ImageStatus.EDITED
    assert refreshed, "the view was told what changed"
    session.undo()
    np.testing.assert_array_equal(session.mask, mask_before)
    np.testing.assert_array_equal(session.verified, verified_before)


def test_a_change_refreshes_the_view_once_covering_mask_and_verified_pixels(session):
    refreshed = []
    session.on_region_changed = refreshed.append
    with session.edit("test") as step:
        step.change((10, 10, 20, 20), lambda mask: None)  # nothing painted, all verified
        step.change((30, 30, 40, 40), lambda mask: mask.__setitem__((slice(30, 35), slice(30, 35)), 7) or
                    (30, 30, 35, 35))
    assert refreshed == [(10, 10, 20, 20), (30, 30, 40, 40)]
    assert session.verified[10:20, 10:20].all() and session.verified[30:40, 30:40].all()


def test_protected_pixels_stay_unverified(session):
    session.set_protected({2})
    with session.edit("test") as step:
        step.change((0, 0, H, W), lambda mask: None)
    assert not session.verified[15:45, 20:60].any()
    assert session.verified[:15].all()


def test_a_closed_step_changes_nothing(session):
    step = session.begin_edit("brush")
    step.close()
    before = session.mask.copy()
    assert step.change((0, 0, 10, 10), lambda mask: mask.fill(9) or (0, 0, H, W)) is None
    np.testing.assert_array_equal(session.mask, before)
    assert step.close() is None


def test_opening_a_step_closes_the_one_still_open_as_its_own_undo_step(session):
    steps = session.history.undo_count
    first = session.begin_edit("brush")
    first.change((0, 0, 5, 5), lambda mask: None)
    with session.edit("fill") as second:
        second.change((50, 50, 55, 55), lambda mask: None)
    assert not first.is_open
    assert session.history.undo_count == steps + 2
    assert session.status("a") == ImageStatus.EDITED
