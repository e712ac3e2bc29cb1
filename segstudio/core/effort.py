"""Correction effort per image and per model version (Qt-free).

What it costs to turn a model's pre-fill into a correct mask, measured as
the user works, so that the folder shows whether retraining paid off:

- ``changed_pixels``: pixels whose class now differs from the baseline (the
  model's pre-fill; for an image no model touched, the mask as it was before
  its first edit). Kept exact through undo and redo: every step's before and
  after patches are compared with the baseline inside the step's rect only,
  so a stroke and its undo add up to zero and a brush stroke costs its own
  rect, never the whole image.
- ``strokes`` and ``clicks``: pointer presses on the canvas that changed
  position by a pixel or more before the release (strokes) or not (clicks).
  Undo and redo are not actions of their own and never subtract actions
  (the work was done); they only move ``changed_pixels``.
- ``active_s``: editing time, the sum of the gaps between consecutive
  activities on the same image (press, move, release, edit, undo), gaps over
  ``IDLE_GAP_S`` left out as idle.
- ``model``: the model version that pre-filled the image (``None``: none did).

An image counts in its version's means once someone worked on it (an action)
or reviewed it: an untouched pre-fill says nothing yet. A new pre-fill of an
image with effort closes its record (kept under ``earlier``, so the old
version's means keep it) and starts a new one.

Stored in the project state (``state.json``, written atomically by
``Project.save_state``)::

    "effort": {"images":  {"<key>": {record}},
               "earlier": [{"key": "<key>", ...record}]}

with ``record`` = ``{"model", "changed_pixels", "pixels", "strokes", "clicks",
"active_s", "reviewed", "baseline"}``; ``baseline`` is ``"file"`` (a PNG in
``.segstudio/effort/<key>.png``, written atomically) or ``"void"`` (every
pixel the eraser class: an image that had no mask).
"""

from __future__ import annotations

import csv
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TextIO

import numpy as np

from segstudio.core.atomic import atomic_write_bytes
from segstudio.core.maskio import MaskFormatError, encode_index_png, read_index_png
from segstudio.core.undo import UndoStep

log = logging.getLogger(__name__)

IDLE_GAP_S = 30.0
NO_MODEL = "(no model)"  # how images no model pre-filled are grouped in the summary
_BASELINE_CACHE = 4  # baselines kept in memory (an 8000x6000 one is 48 MB)


@dataclass
class ImageEffort:
    model: str | None = None
    changed_pixels: int = 0
    pixels: int = 0
    strokes: int = 0
    clicks: int = 0
    active_s: float = 0.0
    reviewed: bool = False
    baseline: str | None = None  # "file" | "void" | None (not known yet)

    @property
    def actions(self) -> int:
        return self.strokes + self.clicks

    @property
    def counted(self) -> bool:
        """Whether the image enters its version's means: worked on or reviewed."""
        return self.actions > 0 or self.reviewed or self.changed_pixels > 0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["active_s"] = round(self.active_s, 3)
        return out

    @classmethod
    def from_dict(cls, data) -> "ImageEffort":
        """Tolerant of a hand-edited or older state: unknown fields dropped, bad values reset."""
        rec = cls()
        if not isinstance(data, dict):
            return rec
        for f in fields(cls):
            value = data.get(f.name, getattr(rec, f.name))
            if f.name in ("changed_pixels", "pixels", "strokes", "clicks"):
                value = int(value) if isinstance(value, (int, float)) and value >= 0 else 0
            elif f.name == "active_s":
                value = float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0
            elif f.name == "reviewed":
                value = bool(value)
            elif f.name in ("model", "baseline"):
                value = value if isinstance(value, str) else None
            setattr(rec, f.name, value)
        return rec


def _diff_count(patch: np.ndarray, base: np.ndarray) -> int:
    return int(np.count_nonzero(patch != base))


class EffortLog:
    """The effort records of one project; the editing session feeds it (see the module docstring)."""

    def __init__(self, project, clock: Callable[[], float] = time.monotonic) -> None:
        self.project = project
        self.clock = clock
        self.dir = Path(project.dir) / "effort"
        section = project.state.get("effort")
        if not isinstance(section, dict):
            section = project.state["effort"] = {}
        if not isinstance(section.get("images"), dict):
            section["images"] = {}
        if not isinstance(section.get("earlier"), list):
            section["earlier"] = []
        self._section = section
        self._records: dict[str, ImageEffort] = {}
        self._baselines: OrderedDict[str, np.ndarray] = OrderedDict()
        self._last_key: str | None = None
        self._last_t: float | None = None
        self._press_yx = None
        self._dragged = False
        project.before_save.append(self.flush)  # active time accrues in memory between stored events

    # --- records ---------------------------------------------------------------
    def record(self, key: str) -> ImageEffort:
        """The key's current record (a fresh one when none is stored)."""
        rec = self._records.get(key)
        if rec is None:
            rec = self._records[key] = ImageEffort.from_dict(self._section["images"].get(key))
        return rec

    def _store(self, key: str) -> None:
        self._section["images"][key] = self.record(key).to_dict()

    def baseline_path(self, key: str) -> Path:
        return self.dir / f"{key}.png"

    # --- what the session reports ------------------------------------------------
    def prefilled(self, key: str, mask: np.ndarray, model: str | None, encoded: bytes | None = None) -> None:
        """A model's mask became ``key``'s mask: it is the new baseline (written to disk)."""
        old = self.record(key)
        if old.counted:
            self._section["earlier"].append({"key": key, **old.to_dict()})
        rec = self._records[key] = ImageEffort(model=model, pixels=int(np.size(mask)))
        self._baselines.pop(key, None)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.baseline_path(key), encoded or encode_index_png(mask, self.project.labelset))
            rec.baseline = "file"
            self._remember_baseline(key, np.array(mask, np.uint8))
        except OSError as exc:
            log.warning("could not keep the pre-fill of %s for effort counting: %s", key, exc)
        self._store(key)

    def mask_changed(self, key: str, mask: np.ndarray, kind: str, step: UndoStep | None) -> None:
        """An edit, undo or redo of ``step`` was applied to ``mask`` (the image's live mask)."""
        rec = self.record(key)
        self.activity(key)
        if step is None:
            self._store(key)
            return
        before, after = (step.after, step.before) if kind == "undo" else (step.before, step.after)
        base = self._baseline(key, rec, mask, step if kind == "edit" else None)
        if base is not None:
            y0, x0, y1, x1 = step.rect
            region = base[y0:y1, x0:x1]
            rec.changed_pixels = max(0, rec.changed_pixels + _diff_count(after, region) - _diff_count(before, region))
        self._store(key)

    def add_changed(self, key: str, delta: int) -> None:
        """A change made outside the history (a saved mask rewritten): moves the pixel count."""
        rec = self.record(key)
        rec.changed_pixels = max(0, rec.changed_pixels + int(delta))
        self._store(key)

    def read_baseline(self, key: str, shape: tuple) -> np.ndarray | None:
        """The key's baseline (``None``: none yet), read without touching this log's state:
        safe to call from a worker thread."""
        rec = ImageEffort.from_dict(self._section["images"].get(key))
        if rec.baseline == "void":
            return np.full(shape, self.project.labelset.eraser_id, np.uint8)
        if rec.baseline != "file":
            return None
        try:
            return read_index_png(self.baseline_path(key), self.project.labelset, shape)
        except (MaskFormatError, OSError):
            return None

    def reviewed(self, key: str) -> None:
        rec = self.record(key)
        rec.reviewed = True
        self.activity(key)
        self._store(key)

    def pointer(self, key: str | None, kind: str, yx=None) -> None:
        """Canvas input on ``key``: "press", "move" (while pressed) or "release"."""
        if key is None:
            return
        self.activity(key)
        if kind == "press":
            self._press_yx, self._dragged = yx, False
        elif kind == "move":
            if not self._dragged and yx is not None and self._press_yx is not None:
                self._dragged = max(abs(yx[0] - self._press_yx[0]), abs(yx[1] - self._press_yx[1])) >= 1.0
        elif kind == "release" and self._press_yx is not None:
            rec = self.record(key)
            if self._dragged:
                rec.strokes += 1
            else:
                rec.clicks += 1
            self._press_yx = None
            self._store(key)

    def activity(self, key: str) -> None:
        """Adds the time since the last activity on the same image, unless it was an idle gap.

        Cheap (called on every mouse move): the record in the state is
        updated with the next stored event (release, edit, review)."""
        now = self.clock()
        if key == self._last_key and self._last_t is not None and 0 <= now - self._last_t <= IDLE_GAP_S:
            self.record(key).active_s += now - self._last_t
        self._last_key, self._last_t = key, now

    def flush(self) -> None:
        """Writes the in-memory records into the state (before it is saved)."""
        for key in self._records:
            self._store(key)

    # --- the baseline ---------------------------------------------------------------
    def _remember_baseline(self, key: str, base: np.ndarray) -> None:
        self._baselines[key] = base
        self._baselines.move_to_end(key)
        while len(self._baselines) > _BASELINE_CACHE:
            self._baselines.popitem(last=False)

    def _baseline(self, key: str, rec: ImageEffort, mask: np.ndarray, first_step: UndoStep | None):
        base = self._baselines.get(key)
        if base is not None and base.shape == mask.shape:
            self._baselines.move_to_end(key)
            return base
        if rec.baseline == "void":
            base = np.full(mask.shape, self.project.labelset.eraser_id, np.uint8)
        elif rec.baseline == "file":
            try:
                base = read_index_png(self.baseline_path(key), self.project.labelset, mask.shape)
            except (MaskFormatError, OSError) as exc:
                log.warning("effort baseline of %s unreadable (%s): pixel counts paused", key, exc)
                return None
        elif first_step is not None:
            base = self._first_baseline(key, rec, mask, first_step)
        if base is not None:
            self._remember_baseline(key, base)
        return base

    def _first_baseline(self, key: str, rec: ImageEffort, mask: np.ndarray, step: UndoStep):
        """No model pre-filled ``key``: the mask before this first edit is the baseline."""
        base = mask.copy()
        y0, x0, y1, x1 = step.rect
        base[y0:y1, x0:x1] = step.before
        rec.pixels = int(mask.size)
        eraser = self.project.labelset.eraser_id
        if not np.any(base != eraser):
            rec.baseline = "void"
            return base
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.baseline_path(key), encode_index_png(base, self.project.labelset))
            rec.baseline = "file"
        except OSError as exc:
            log.warning("could not keep the starting mask of %s for effort counting: %s", key, exc)
        return base


# --- reports ------------------------------------------------------------------------------
CSV_FIELDS = ("kind", "key", "model", "images", "changed_pixels", "changed_fraction", "strokes", "clicks",
              "actions", "active_s", "reviewed", "replaced")
MEAN_FIELDS = ("changed_pixels", "changed_fraction", "strokes", "clicks", "actions", "active_s")


def image_rows(state: dict) -> list[dict]:
    """One row per image record in ``state["effort"]`` (current ones, then replaced ones)."""
    section = state.get("effort") if isinstance(state.get("effort"), dict) else {}
    images = section.get("images") if isinstance(section.get("images"), dict) else {}
    earlier = section.get("earlier") if isinstance(section.get("earlier"), list) else []
    entries = [(key, data, False) for key, data in images.items()]
    entries += [(data.get("key", "?"), data, True) for data in earlier if isinstance(data, dict)]
    rows = []
    for key, data, replaced in entries:
        rec = ImageEffort.from_dict(data)
        rows.append({
            "kind": "image", "key": key, "model": rec.model or NO_MODEL, "images": 1,
            "changed_pixels": rec.changed_pixels,
            "changed_fraction": round(rec.changed_pixels / rec.pixels, 6) if rec.pixels else 0.0,
            "strokes": rec.strokes, "clicks": rec.clicks, "actions": rec.actions,
            "active_s": round(rec.active_s, 3), "reviewed": int(rec.reviewed), "replaced": int(replaced),
            "counted": rec.counted,
        })
    return rows


def version_summary(rows: list[dict]) -> list[dict]:
    """Per model version, the mean of each measure over its counted images (in first-seen order)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["counted"]:
            groups.setdefault(row["model"], []).append(row)
    out = []
    for model, members in groups.items():
        n = len(members)
        summary = {"kind": "version", "key": "", "model": model, "images": n, "reviewed": sum(r["reviewed"] for r in members),
                   "replaced": sum(r["replaced"] for r in members)}
        for name in MEAN_FIELDS:
            summary[name] = round(sum(r[name] for r in members) / n, 6)
        out.append(summary)
    return out


def write_effort_csv(state: dict, out: TextIO) -> int:
    """Writes the image rows then the version rows as CSV; returns the number of rows."""
    rows = image_rows(state)
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    summary = version_summary(rows)
    writer.writerows(rows + summary)
    return len(rows) + len(summary)


__all__ = ["CSV_FIELDS", "IDLE_GAP_S", "NO_MODEL", "EffortLog", "ImageEffort", "image_rows", "version_summary",
           "write_effort_csv"]
