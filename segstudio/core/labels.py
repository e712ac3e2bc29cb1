"""Label sets: the classes a mask may hold, their names, colours and hotkeys.

A label set is the one place that says what a class id means. Masks are
``uint8`` arrays of class ids; the label set turns ids into colours (for
display and colour PNGs) and names (for the palette dock and metrics).
CamVid's 12 classes are the default; users can load a JSON label set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Keys shown beside the first twelve classes in the palette dock.
DEFAULT_HOTKEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "-", "=")


class LabelSetError(ValueError):
    """A label-set definition that cannot be used; the message says why."""


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of classes; the position of a class is its id.

    ``ignore_index`` is the id that means "unlabelled" (CamVid's void). It is
    the value the eraser writes and the id metrics and losses skip.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int | None = None
    name: str = "custom"
    hotkeys: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.names:
            raise LabelSetError("a label set needs at least one class")
        if len(self.names) > 255:
            raise LabelSetError(f"at most 255 classes fit an 8-bit mask, got {len(self.names)}")
        if len(self.colors) != len(self.names):
            raise LabelSetError(
                f"{len(self.names)} class names but {len(self.colors)} colours"
            )
        for color in self.colors:
            if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
                raise LabelSetError(f"colour {color!r} is not an (R, G, B) triple of 0..255")
        if len(set(map(tuple, self.colors))) != len(self.colors):
            raise LabelSetError("two classes share a colour; colour masks could not be read back")
        if self.ignore_index is not None and not 0 <= self.ignore_index < len(self.names):
            raise LabelSetError(
                f"ignore index {self.ignore_index} is not a class id (0..{len(self.names) - 1})"
            )
        if not self.hotkeys:
            object.__setattr__(self, "hotkeys", DEFAULT_HOTKEYS[: len(self.names)])

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def eraser_id(self) -> int:
        """The id the eraser writes: the ignore class, else the last class."""
        return self.ignore_index if self.ignore_index is not None else self.num_classes - 1

    def color_table(self) -> np.ndarray:
        """A 256x3 uint8 lookup table; ids beyond the classes map to magenta."""
        table = np.zeros((256, 3), np.uint8)
        table[:] = (255, 0, 255)
        table[: self.num_classes] = np.asarray(self.colors, np.uint8)
        return table

    def palette(self) -> list[int]:
        """A flat 768-entry palette for palette-mode PNGs (Pillow's putpalette)."""
        return self.color_table().reshape(-1).tolist()

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "classes": [
                {"name": n, "color": list(c)} for n, c in zip(self.names, self.colors)
            ],
            "ignore_index": self.ignore_index,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LabelSet":
        try:
            classes = data["classes"]
            names = tuple(str(c["name"]) for c in classes)
            colors = tuple(tuple(int(v) for v in c["color"]) for c in classes)
        except (KeyError, TypeError, ValueError) as exc:
            raise LabelSetError(
                'a label set is {"classes": [{"name": ..., "color": [r, g, b]}, ...], '
                f'"ignore_index": id or null}}: {exc}'
            ) from exc
        return cls(
            names=names,
            colors=colors,  # type: ignore[arg-type]
            ignore_index=data.get("ignore_index"),
            name=str(data.get("name", "custom")),
        )

    @classmethod
    def load(cls, path: str | Path) -> "LabelSet":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LabelSetError(f"cannot read label set {path}: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")


CAMVID = LabelSet(
    name="camvid",
    names=(
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree",
        "SignSymbol", "Fence", "Car", "Pedestrian", "Bicyclist", "Void",
    ),
    colors=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
        (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
        (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0),
    ),
    ignore_index=11,
)
