"""Train/val subsets by a stable rule that never splits a video sequence.

Video frames named ``<sequence>_<frame number>`` (CamVid: ``0016E5_07959``,
``Seq05VD_f02340``) are near-duplicates of their neighbours: a frame in val
whose neighbour is in train measures memory, not generalisation. So the unit
of the split is the sequence when the names show more than one; otherwise
(``IMG_0001``, ``IMG_0002``... all one "sequence", or names without a frame
number) it is the single image.

Each unit goes to val when a hash of its name falls below the val fraction:
the same name always lands in the same subset, whatever else is exported,
on every machine (``hashlib``, not Python's salted ``hash``). When that
leaves a subset empty but there are at least two units, the unit whose hash
is nearest to the boundary moves, so both subsets exist (then, and only
then, the assignment depends on the other names exported).
"""

from __future__ import annotations

import hashlib
import re

TRAIN, VAL = "train", "val"
# <sequence><separator><optional 'f'><frame digits>, e.g. 0016E5_07959, Seq05VD_f02340, clip-0001
_FRAME_NAME = re.compile(r"^(?P<sequence>.+?)[_\-.]f?(?P<frame>\d+)$", re.IGNORECASE)


def sequence_of(key: str) -> str | None:
    """The video sequence a frame name shows, or None (``0016E5_07959`` -> ``0016E5``)."""
    match = _FRAME_NAME.match(key)
    return match.group("sequence") if match else None


def _unit_hash(unit: str) -> float:
    digest = hashlib.sha1(unit.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_subsets(keys: list[str], val_fraction: float = 0.2) -> dict[str, str]:
    """key -> ``"train"`` or ``"val"``; frames of one sequence share a subset."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"the val fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    named = {sequence_of(key) for key in keys} - {None}
    by_sequence = len(named) > 1  # one "sequence" only is a camera's IMG_0001.. numbering
    # A name without a frame number is a unit of its own ("\0" keeps it apart from a sequence name).
    units = {key: (sequence_of(key) if by_sequence else None) or f"\0{key}" for key in keys}
    hashes = {unit: _unit_hash(unit) for unit in set(units.values())}
    in_val = {unit for unit, h in hashes.items() if h < val_fraction}
    if len(hashes) >= 2 and not in_val:
        in_val = {min(hashes, key=hashes.get)}
    elif len(hashes) >= 2 and len(in_val) == len(hashes):
        in_val.discard(max(hashes, key=hashes.get))
    return {key: VAL if units[key] in in_val else TRAIN for key in keys}


__all__ = ["TRAIN", "VAL", "assign_subsets", "sequence_of"]
