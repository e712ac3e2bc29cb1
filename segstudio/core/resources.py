"""Where the bundled resources (samples, default model, icons) are found.

In a source checkout or an editable install they are in the repository's
``resources/``; in a PyInstaller bundle under ``sys._MEIPASS``; anywhere,
``SEGSTUDIO_RESOURCES`` overrides. ``SEGSTUDIO_DEFAULT_MODEL`` points the
app at another default model (tests and the self-test use it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import segstudio


def resources_dir() -> Path:
    candidates = []
    if os.environ.get("SEGSTUDIO_RESOURCES"):
        candidates.append(Path(os.environ["SEGSTUDIO_RESOURCES"]))
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        candidates.append(Path(sys._MEIPASS) / "resources")
    package = Path(segstudio.__file__).resolve().parent
    candidates += [package / "resources", package.parent / "resources"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


def sample_folder() -> Path | None:
    folder = resources_dir() / "samples"
    return folder if folder.is_dir() else None


def default_model_path() -> Path:
    override = os.environ.get("SEGSTUDIO_DEFAULT_MODEL")
    return Path(override) if override else resources_dir() / "models" / "default.safetensors"


def icon_path(name: str = "segstudio.png") -> Path:
    return resources_dir() / "icons" / name
