"""Auto-segment's merge of a saved image, done off the GUI thread.

For an image that is not open but has a saved mask and verified pixels, the
worker reads both files, applies ``core.verified.merge_prediction`` and
encodes the merged mask, so the GUI thread only writes files. The files'
stamps (inode, mtime_ns, size) are taken before the read; the GUI writes the
merge only while they are unchanged (``is_current``), else it merges again
from memory: a merge made from files the user has since saved over is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segstudio.core.maskio import MaskFormatError, encode_index_png
from segstudio.core.verified import VerifiedFormatError, load_verified, merge_prediction, verified_path

FileStamp = tuple[int, int, int] | None  # (inode, mtime_ns, size); None: no file


@dataclass(frozen=True)
class SavedMerge:
    """``merge_prediction(saved mask, saved verified, prediction)`` and the stamps of the files it read."""

    key: str
    mask: np.ndarray  # the merged mask (verified pixels as saved, the prediction elsewhere)
    mask_png: bytes  # encode_index_png(mask)
    keeps_verified: bool  # some pixel is verified (the image keeps a person's status)
    stamps: tuple[FileStamp, FileStamp]  # saved mask, verified file


def _stamp(path: Path) -> FileStamp:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def saved_stamps(project, key: str) -> tuple[FileStamp, FileStamp]:
    return _stamp(project.mask_path(key)), _stamp(verified_path(project, key))


def merge_saved(project, key: str, predicted: np.ndarray) -> SavedMerge | None:
    """The merge of ``predicted`` into ``key``'s saved files; None when there is no saved
    mask or verified file, a file is unreadable or changed while read (the GUI merges then)."""
    predicted = np.asarray(predicted, np.uint8)
    stamps = saved_stamps(project, key)
    if stamps[0] is None or stamps[1] is None:
        return None
    try:
        mask = project.load_mask(key, predicted.shape)
        verified = load_verified(project, key, predicted.shape)
    except (MaskFormatError, VerifiedFormatError, OSError):
        return None
    if mask is None or saved_stamps(project, key) != stamps:
        return None
    merged = merge_prediction(mask, verified, predicted)[0]
    return SavedMerge(key, merged, encode_index_png(merged, project.labelset), bool(verified.any()), stamps)


def is_current(project, merge: SavedMerge) -> bool:
    """Whether the files ``merge`` was made from are still the saved ones."""
    return saved_stamps(project, merge.key) == merge.stamps


__all__ = ["SavedMerge", "is_current", "merge_saved", "saved_stamps"]
