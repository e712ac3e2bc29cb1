"""What effort counting costs the brush: per mouse move and per stroke end, on an 8000x6000 pre-fill.

Run: .venv/bin/python -m benchmarks.bench_effort_overhead
(core only, no Qt: ``EditingSession.pointer`` runs on every canvas mouse move;
the stroke end compares the stroke's undo patches with the pre-fill.)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.maskio import encode_index_png
from segstudio.core.project import Project
from segstudio.core.session import EditingSession
from segstudio.core.tools import BrushTool


def main(moves: int = 2000, strokes: int = 20) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "p"
        folder.mkdir()
        Image.new("RGB", (8000, 6000)).save(folder / "big.png")
        session = EditingSession()
        session.open_project(Project.open(folder))
        session.open_image("big")
        prefill = np.zeros((6000, 8000), np.uint8)
        prefill[3000:] = 3
        encoded = encode_index_png(prefill, session.project.labelset)  # the worker's job in the app
        started = time.perf_counter()
        session.apply_prediction("big", prefill, encoded=(encoded, None), model="v1")
        prefill_s = time.perf_counter() - started
        brush, session.brush_radius = BrushTool(session), 15
        per_move, per_end = [], []
        for s in range(strokes):
            y = 200 + 250 * s
            session.pointer("press", (y, 100))
            brush.press((y, 100))
            for i in range(1, moves // strokes + 1):
                t = time.perf_counter()
                session.pointer("move", (y, 100 + 30 * i))
                per_move.append(time.perf_counter() - t)
                brush.move((y, 100 + 30 * i))
            t = time.perf_counter()
            brush.release((y, 100 + 30 * i))
            session.pointer("release", (y, 100 + 30 * i))
            per_end.append(time.perf_counter() - t)
        rec = session.effort.record("big")
        assert rec.changed_pixels == int(np.count_nonzero(session.mask != prefill))
        print(f"apply_prediction with the worker's PNG (baseline kept): {prefill_s * 1e3:.0f} ms")
        print(f"pointer(move): median {statistics.median(per_move) * 1e6:.1f} us, max {max(per_move) * 1e6:.1f} us")
        print(f"stroke end (undo step + effort delta), {moves // strokes} moves of a 30 px brush: "
              f"median {statistics.median(per_end) * 1e3:.1f} ms, max {max(per_end) * 1e3:.1f} ms")
        session.project.close()


if __name__ == "__main__":
    main()
