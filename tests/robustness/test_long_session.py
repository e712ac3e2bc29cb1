"""A scripted long session: 2,000 strokes with undo/redo, switches and saves over 50 images."""

import resource

import numpy as np
from PIL import Image

from segstudio.core.maskio import read_index_png


def test_two_thousand_strokes_keep_memory_bounded_and_disk_equal_to_app(qtbot, window, tmp_path):
    folder = tmp_path / "fifty"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(50):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(folder / f"f{i:02d}.png")
    window.open_folder(folder)
    brush = window.tools["brush"]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for stroke in range(2000):
        if stroke % 40 == 0:
            window.show_image(f"f{(stroke // 40) % 50:02d}")
        window.pick_class(int(rng.integers(0, 11)))
        window.size_spin.setValue(int(rng.integers(2, 20)))
        points = rng.integers(0, [96, 128], size=(4, 2)).astype(float)
        brush.press(tuple(points[0]))
        for p in points[1:]:
            brush.move(tuple(p))
        brush.release(tuple(points[-1]))
        r = rng.random()
        if r < 0.15:
            window.undo()
        elif r < 0.2:
            window.redo()
        if stroke % 100 == 0:
            window.autosaver.save_now()
    assert window.autosaver.save_now()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mb < 300, f"memory grew by {grown_mb:.0f} MB"
    for key in window.project.keys:
        in_app = window.session.mask_for(key)
        path = window.project.mask_path(key)
        if path.exists():
            assert np.array_equal(read_index_png(path, 12), in_app), key
    assert sum(d.history.nbytes for d in window.documents.all()) < 50 * 1024 * 1024
