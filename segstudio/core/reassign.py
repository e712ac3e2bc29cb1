"""Class reassignment across a folder: every pixel of class A becomes B (Qt-free).

Two kinds of images, two paths (the app's dialog and the CLI use both):

- images in memory (``EditingSession.documents``): ``EditingSession.replace_class``
  changes the live mask as one undo step per image, through the session's
  after-edit rules (status, autosave, effort);
- every other image with a saved mask: ``saved_reassign_job`` rewrites the
  mask file atomically, in a worker, and reports per image what changed so
  the caller updates the status (PREDICTED/EDITED -> EDITED, REVIEWED stays)
  and the effort count on its own thread.

``saved_count_job`` gives the preview (pixels that would change per image)
for the images not in memory without blocking the caller: reading masks is
the slow part of a big folder. A protected class A is refused
(``ReassignError``): protected pixels are never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from segstudio.core.documents import class_counts
from segstudio.core.maskio import MaskFormatError, write_index_png

BaselineReader = Callable[[str, tuple], "np.ndarray | None"]


class ReassignError(ValueError):
    """A reassignment that must not run (a protected or unknown class); the message says why."""


def check_classes(source: int, target: int, num_classes: int, protected: Iterable[int] = ()) -> None:
    """Raises ``ReassignError`` unless A -> B is a real change the rules allow."""
    for name, cid in (("from", source), ("to", target)):
        if not 0 <= cid < num_classes:
            raise ReassignError(f"class {name} {cid} is not in the label set (0..{num_classes - 1})")
    if source == target:
        raise ReassignError("the two classes are the same: nothing would change")
    if source in frozenset(protected):
        raise ReassignError(f"class {source} is protected: its pixels are never overwritten")


def replace_class(mask: np.ndarray, source: int, target: int) -> np.ndarray:
    """A copy of ``mask`` with every ``source`` pixel set to ``target``."""
    return np.where(mask == source, np.uint8(target), mask).astype(np.uint8, copy=False)


@dataclass(frozen=True)
class ReassignEvent:
    """One image done by a job: ``changed`` pixels (0: none of class A); ``effort_delta``:
    the change in pixels differing from the effort baseline (``None``: no baseline);
    ``error``: why the mask could not be read or written."""

    key: str
    index: int
    total: int
    changed: int = 0
    effort_delta: int | None = None
    error: str | None = None


def saved_count_job(project, keys: list[str], source: int) -> Callable:
    """Job: a ``ReassignEvent`` per saved mask (``changed`` = pixels of class ``source``)."""

    def job(should_stop):
        total = len(keys)
        for i, key in enumerate(keys, start=1):
            if should_stop():
                return None
            try:
                mask = project.load_mask(key)
            except (MaskFormatError, OSError) as exc:
                yield ReassignEvent(key, i, total, error=str(exc))
                continue
            changed = 0 if mask is None else int(class_counts(mask)[source])
            yield ReassignEvent(key, i, total, changed=changed)
        return total

    return job


def saved_reassign_job(project, keys: list[str], source: int, target: int,
                       baseline: BaselineReader | None = None) -> Callable:
    """Job: rewrites each saved mask of ``keys`` with ``source`` -> ``target`` (atomic
    writes; a mask without class ``source`` is left alone), a ``ReassignEvent`` per image.

    ``baseline(key, shape)`` (read-only) gives the effort baseline, so the
    event can say how the pixels-changed-from-pre-fill count moves. Cancel
    stops between images: each mask is either rewritten or untouched.
    """

    def job(should_stop):
        total = len(keys)
        for i, key in enumerate(keys, start=1):
            if should_stop():
                return None
            try:
                mask = project.load_mask(key)
                if mask is None:
                    yield ReassignEvent(key, i, total)
                    continue
                hit = mask == source
                changed = int(np.count_nonzero(hit))
                if changed:
                    delta = None
                    base = baseline(key, mask.shape) if baseline is not None else None
                    if base is not None:
                        delta = int(np.count_nonzero(base[hit] != target)) - int(np.count_nonzero(base[hit] != source))
                    mask[hit] = target
                    if not project.writable:
                        raise OSError(f"cannot save {project.mask_path(key)}: the folder is read-only")
                    # Not project.save_mask: it writes into project.state, which the GUI thread owns.
                    write_index_png(project.mask_path(key), mask, project.labelset)
                    yield ReassignEvent(key, i, total, changed=changed, effort_delta=delta)
                else:
                    yield ReassignEvent(key, i, total)
            except (MaskFormatError, OSError) as exc:
                yield ReassignEvent(key, i, total, error=str(exc))
        return total

    return job


def run_job(job) -> list[ReassignEvent]:
    """Runs a job to the end on this thread (the CLI, tests); returns its events."""
    return list(job(lambda: False))


__all__ = ["ReassignError", "ReassignEvent", "check_classes", "replace_class", "run_job", "saved_count_job",
           "saved_reassign_job"]
