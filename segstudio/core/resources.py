"""Where the bundled resources (samples, default model, icons) are found.

In the repository they sit at the top, in ``resources/`` (beside
``segstudio/``), which is also where an editable install (``pip install -e``)
finds them; the wheel installs them as package data in
``segstudio/resources/`` (pyproject.toml maps the folder); in a PyInstaller
bundle they are under ``sys._MEIPASS``; anywhere,
``SEGSTUDIO_RESOURCES`` overrides. ``SEGSTUDIO_DEFAULT_MODEL`` points the
app at another default model (tests and the self-test use it).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import segstudio


def resource_candidates() -> list[Path]:
    """Where ``resources/`` is looked for, in order."""
    candidates = []
    if os.environ.get("SEGSTUDIO_RESOURCES"):
        candidates.append(Path(os.environ["SEGSTUDIO_RESOURCES"]))
    package = Path(segstudio.__file__).resolve().parent
    candidates += [package / "resources", package.parent / "resources"]
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        candidates.append(Path(sys._MEIPASS) / "resources")
    return candidates


def resources_dir() -> Path:
    """The first existing of: ``$SEGSTUDIO_RESOURCES``, ``<package>/resources``
    (an installed wheel), ``<package>/../resources`` (the repository, an
    editable install), ``sys._MEIPASS/resources`` (a PyInstaller bundle). When
    none exists, the installed wheel's path, so that messages name a sensible place."""
    candidates = resource_candidates()
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return Path(segstudio.__file__).resolve().parent / "resources"


def sample_folder() -> Path | None:
    """``resources/samples`` (a few CamVid frames for a first run), or None."""
    folder = resources_dir() / "samples"
    return folder if folder.is_dir() else None


def user_sample_copy(data_dir: Path | None = None) -> Path | None:
    """A copy of the sample images in the user's data folder (made on first use), or None.

    The app writes ``.segstudio/`` into the folder it opens; the bundled samples
    live inside the installed package (read-only in a system install or a
    bundle, and a source checkout should stay clean), so the user edits a copy.
    Falls back to the bundled folder itself when the copy cannot be made.
    """
    samples = sample_folder()
    if samples is None:
        return None
    if data_dir is None:
        from platformdirs import user_data_dir

        data_dir = Path(user_data_dir("SegStudio", appauthor=False))
    target = data_dir / "samples"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for image in samples.iterdir():
            if image.is_file() and not (target / image.name).exists():
                shutil.copy2(image, target / image.name)
    except OSError:
        return samples
    return target


def default_model_path() -> Path:
    """``$SEGSTUDIO_DEFAULT_MODEL``, else ``resources/models/default.safetensors``
    (the path may not exist: callers check)."""
    override = os.environ.get("SEGSTUDIO_DEFAULT_MODEL")
    return Path(override) if override else resources_dir() / "models" / "default.safetensors"


def icon_path(name: str = "segstudio.png") -> Path:
    """``resources/icons/<name>``."""
    return resources_dir() / "icons" / name


__all__ = ["default_model_path", "icon_path", "resource_candidates", "resources_dir", "sample_folder",
           "user_sample_copy"]
