"""A simulated annotator: how many actions correcting the model's pre-fill takes, plain vs smart tools.

Run: .venv/bin/python -m benchmarks.bench_effort [--frames 10] [--target 0.95] [--threads 1]

For each CamVid val frame the shipped model pre-fills the mask (as
auto-segment does); then an oracle that knows the ground truth repeatedly
takes the largest wrong region (4-connected pixels of one true class that the
mask gets wrong) and fixes it, until ``--target`` of the labelled pixels
(ground truth not Void) agree. It drives the real tools of ``core.tools`` and
``core.smart_tools`` on an ``EditingSession``: for each region it tries every
action its tool set offers, keeps the one with the most pixels fixed per
action (it tries by doing and undoing, through the session's undo), and counts
its clicks and strokes. Tool sets:

- plain: fill (1 click) or a polygon on the region's outline (one click per
  corner, outline simplified to 1.5 px);
- smart: the plain ones plus region pick (mask, model's mask with Ctrl, every
  region of a class with Shift: 1 click), the edge polygon (an outline
  simplified to 5 px: its sides snap to edges), the superpixel brush (one
  stroke per connected group of superpixels mostly of the true class) and
  refine in box (GrabCut, one drag).

Simulated time = 1.5 s per action (find the region, pick the tool and class)
+ 1.0 s per click + 2.5 s per stroke + the tool's own compute time. It is a
model of an annotator, not a measurement of one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from segstudio.core.imageio import read_image
from segstudio.core.project import Project
from segstudio.core.session import EditingSession
from segstudio.core.smart import superpixel_labels
from segstudio.core.smart_tools import EdgePolygonTool, RefineBoxTool, RegionPickTool, SuperpixelBrushTool
from segstudio.core.tools import FillTool, PolygonTool

CAMVID = Path(__file__).resolve().parents[2] / "shared" / "data" / "camvid"
VOID = 11
SECONDS_PER_ACTION, SECONDS_PER_CLICK, SECONDS_PER_STROKE = 1.5, 1.0, 2.5
SUPERPIXEL_SIZE = 12


@dataclass
class Tally:
    clicks: int = 0
    strokes: int = 0
    fixes: int = 0
    compute_s: float = 0.0
    used: Counter = field(default_factory=Counter)  # tool -> times chosen

    @property
    def actions(self) -> int:
        return self.clicks + self.strokes

    @property
    def seconds(self) -> float:
        return (self.fixes * SECONDS_PER_ACTION + self.clicks * SECONDS_PER_CLICK
                + self.strokes * SECONDS_PER_STROKE + self.compute_s)


def outline(component: np.ndarray, epsilon: float) -> list[tuple[float, float]]:
    """The component's outer outline as polygon corners (row, column), pixel centres."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    poly = cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)
    return [(float(y) + 0.5, float(x) + 0.5) for x, y in poly]


def click_tool(tool, yx, mods=frozenset()):
    tool.press(yx, mods)
    tool.release(yx)


def polygon(tool, corners):
    for p in corners:
        tool.press(p)
    tool.finish()


def stroke(tool, points):
    tool.press(points[0])
    for p in points[1:]:
        tool.move(p)
    tool.release(points[-1])


def superpixel_strokes(labels, gt, component, class_id) -> list[list[tuple[float, float]]]:
    """Strokes over the superpixels touching the component that are mostly of the true class."""
    ids = np.unique(labels[component])
    chosen = np.zeros(labels.shape, bool)
    for i in ids:
        sp = labels == i
        if (gt[sp] == class_id).mean() >= 0.6:
            chosen |= sp
    count, groups = cv2.connectedComponents(chosen.astype(np.uint8), connectivity=4)
    strokes = []
    for g in range(1, count):
        member = groups == g
        centres = []
        for i in np.unique(labels[member]):
            ys, xs = np.nonzero(labels == i)
            k = len(ys) // 2  # a pixel of the superpixel itself (a centroid may lie outside it)
            centres.append((float(ys[k]) + 0.5, float(xs[k]) + 0.5))
        path = [centres.pop(0)]
        while centres:  # greedy nearest neighbour: a short path over the group
            j = min(range(len(centres)), key=lambda c: (centres[c][0] - path[-1][0]) ** 2 + (centres[c][1] - path[-1][1]) ** 2)
            path.append(centres.pop(j))
        strokes.append(path)
    return strokes


class Oracle:
    def __init__(self, session: EditingSession, gt: np.ndarray, smart: bool) -> None:
        self.s, self.gt, self.smart = session, gt, smart
        self.labelled = gt != VOID
        self.tools = {cls.__name__: cls(session) for cls in (FillTool, PolygonTool, RegionPickTool,
                                                                  EdgePolygonTool, SuperpixelBrushTool, RefineBoxTool)}
        self.labels = superpixel_labels(session.image, SUPERPIXEL_SIZE) if smart else None
        self.tally = Tally()

    def wrong(self) -> np.ndarray:
        return (self.s.mask != self.gt) & self.labelled

    def agreement(self) -> float:
        return 1.0 - self.wrong().sum() / max(1, self.labelled.sum())

    def candidates(self, component, class_id):
        """(clicks, strokes, run) for each way the tool set can fix this region."""
        ys, xs = np.nonzero(component)
        seed = (float(ys[len(ys) // 2]) + 0.5, float(xs[len(xs) // 2]) + 0.5)
        t = self.tools
        out = [("fill", 1, 0, lambda: click_tool(t["FillTool"], seed))]
        corners = outline(component, 1.5)
        if len(corners) >= 3:
            out.append(("polygon", len(corners), 0, lambda: polygon(t["PolygonTool"], corners)))
        if not self.smart:
            return out
        out.append(("region pick (model)", 1, 0, lambda: click_tool(t["RegionPickTool"], seed, frozenset({"ctrl"}))))
        out.append(("region pick (class)", 1, 0, lambda: click_tool(t["RegionPickTool"], seed, frozenset({"shift"}))))
        coarse = outline(component, 5.0)
        if len(coarse) >= 3:
            out.append(("edge polygon", len(coarse), 0, lambda: polygon(t["EdgePolygonTool"], coarse)))
        strokes = superpixel_strokes(self.labels, self.gt, component, class_id)
        if strokes:
            out.append(("superpixel brush", 0, len(strokes), lambda: [stroke(t["SuperpixelBrushTool"], p) for p in strokes]))
        y0, x0, y1, x1 = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
        if (y1 - y0) >= 6 and (x1 - x0) >= 6:
            box = [(y0 - 2.5, x0 - 2.5), (y1 + 1.5, x1 + 1.5)]
            out.append(("refine in box", 0, 1, lambda: stroke(t["RefineBoxTool"], box)))
        return out

    def fix(self, component, class_id) -> bool:
        """Does the action with the most pixels fixed per action; False when none helps."""
        self.s.pick_class(class_id)
        before = int(self.wrong().sum())
        best = None
        for name, clicks, strokes, run in self.candidates(component, class_id):
            steps = self.s.history.undo_count
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            gain = before - int(self.wrong().sum())
            while self.s.history.undo_count > steps:
                self.s.undo()
            score = gain / (clicks + strokes)
            if gain > 0 and (best is None or score > best[0]):
                best = (score, name, clicks, strokes, run, elapsed)
        if best is None:
            return False
        _, name, clicks, strokes, run, elapsed = best
        self.tally.used[name] += 1
        run()
        self.tally.clicks += clicks
        self.tally.strokes += strokes
        self.tally.fixes += 1
        self.tally.compute_s += elapsed
        return True

    def correct(self, target: float, max_fixes: int = 300) -> Tally:
        skipped = np.zeros(self.gt.shape, bool)
        while self.agreement() < target and self.tally.fixes < max_fixes:
            wrong = self.wrong() & ~skipped
            best = None
            for class_id in np.unique(self.gt[wrong]):
                count, comps, stats, _ = cv2.connectedComponentsWithStats(
                    (wrong & (self.gt == class_id)).astype(np.uint8), connectivity=4)
                if count > 1:
                    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
                    if best is None or stats[i, cv2.CC_STAT_AREA] > best[0]:
                        best = (stats[i, cv2.CC_STAT_AREA], comps == i, int(class_id))
            if best is None:
                break
            _, component, class_id = best
            if not self.fix(component, class_id):
                skipped |= component  # no action helps here: the next largest
        return self.tally


def prefill(frames, threads):
    import torch

    from segstudio.core.resources import default_model_path
    from segstudio.ml.checkpoint import load_checkpoint
    from segstudio.ml.inference import Predictor

    torch.set_num_threads(threads)
    predictor = Predictor(load_checkpoint(default_model_path()), "cpu")
    return {f: predictor.predict(read_image(f)) for f in frames}


def run_frame(frame: Path, prediction, smart: bool, target: float) -> tuple[Tally, float, float]:
    gt = np.asarray(cv2.imread(str(CAMVID / "valannot" / frame.name), cv2.IMREAD_GRAYSCALE))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / frame.name).symlink_to(frame)
        session = EditingSession()
        session.open_project(Project.open(folder))
        session.open_image(frame.stem)
        session.apply_prediction(frame.stem, prediction.mask, prediction.confidence)
        oracle = Oracle(session, gt, smart)
        start_agreement = oracle.agreement()
        tally = oracle.correct(target)
        end_agreement = oracle.agreement()
        session.project.close()
    return tally, start_agreement, end_agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    all_frames = sorted((CAMVID / "val").glob("*.png"))
    frames = all_frames[:: max(1, len(all_frames) // args.frames)][: args.frames]  # spread over the sequence
    predictions = prefill(frames, args.threads)
    rows = {False: [], True: []}
    print("| frame | pre-fill agreement | plain actions | plain time s | smart actions | smart time s |")
    print("|---|---|---|---|---|---|")
    for frame in frames:
        results = {smart: run_frame(frame, predictions[frame], smart, args.target) for smart in (False, True)}
        for smart, r in results.items():
            rows[smart].append(r)
        (p, a0, pa), (s, _, sa) = results[False], results[True]
        print(f"| {frame.stem} | {a0:.3f} | {p.actions} ({pa:.3f}) | {p.seconds:.0f} | {s.actions} ({sa:.3f}) | {s.seconds:.0f} |",
              flush=True)
    mean = {smart: (statistics.mean(r[0].actions for r in rows[smart]), statistics.mean(r[0].seconds for r in rows[smart]))
            for smart in rows}
    print(f"| **mean** | | {mean[False][0]:.1f} | {mean[False][1]:.0f} | {mean[True][0]:.1f} | {mean[True][1]:.0f} |")
    for smart in rows:
        used = sum((r[0].used for r in rows[smart]), Counter())
        print(f"{'smart' if smart else 'plain'} tools chosen: " + ", ".join(f"{k} {v}" for k, v in used.most_common()))
    print(f"\nsmart / plain actions: {mean[True][0] / mean[False][0]:.2f}; time: {mean[True][1] / mean[False][1]:.2f}")


if __name__ == "__main__":
    main()
