"""The saved state of an opened folder. The user's images are never written.

Layout, inside the opened folder::

    .segstudio/
        state.json            see below; written atomically
        masks/<key>.png       index PNG (palette-mode, label-set palette embedded)
        confidence/<key>.png  model confidence, grey uint8 0..255 (max softmax)
        models/               fine-tuned checkpoints accepted by the user
        session.lock          {"pid", "host", "opened_at"}, written on open,
                              removed by close(); found on open = the last
                              session crashed, or (its process still runs)
                              another SegStudio has the folder open
        state.json.corrupt-<unix time>   an unreadable state.json, kept aside

``state.json``::

    {"version": 1,
     "labelset": {...LabelSet.to_dict()...},
     "images": {"<key>": {"status": "no_mask|predicted|edited|reviewed",
                          "saved_at": <unix time of the last mask save>,
                          "uncertainty": <1 - mean model confidence, 0..1>}},
     "views": {"<key>": {"zoom": 2.0, "center": [y, x]}},   # free-form, the app's
     "current": "<key>" | null,
     "model": null | "<checkpoint path or name>",
     "settings": {...},            # recent settings, free-form
     "effort": {...},              # correction effort per image (core/effort.py)
     "saved_at": <unix time>}

``key`` is the image's stem, or its full file name when two images share a
stem (``a.png`` and ``a.jpg`` -> keys ``a.png`` and ``a.jpg``, masks
``a.png.png`` and ``a.jpg.png``). Every file is written atomically
(``core.atomic``). A corrupt ``state.json`` is kept aside and the project
starts over from the masks on disk (``warnings`` says so): a mask without a
status counts as EDITED, the user's work, so no model pre-fill overwrites it.
A read-only folder opens with ``writable == False`` (images viewable); every
save then raises ``SaveError``.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import time
from collections import Counter
from enum import Enum
from pathlib import Path

import numpy as np
from PIL import Image

from segstudio.core.atomic import SaveError, atomic_write_bytes, atomic_write_text
from segstudio.core.imageio import PROJECT_DIR_NAME, list_images
from segstudio.core.labels import CAMVID, LabelSet, LabelSetError
from segstudio.core.maskio import MaskFormatError, read_index_png, write_index_png
from segstudio.core.session_lock import owner_is_alive, read_lock, write_lock

log = logging.getLogger(__name__)

STATE_VERSION = 1


class ImageStatus(str, Enum):
    NO_MASK = "no_mask"
    PREDICTED = "predicted"
    EDITED = "edited"
    REVIEWED = "reviewed"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def image_keys(images: list[Path]) -> list[str]:
    """Each image's key (the name of its mask, ``<key>.png``): its stem, or its file name
    where stems collide; a numbered suffix if even those do."""
    counts = Counter(p.stem for p in images)
    keys = [p.stem if counts[p.stem] == 1 else p.name for p in images]
    seen: Counter = Counter()
    taken = Counter(keys)
    out = []
    for key in keys:
        seen[key] += 1
        out.append(key if taken[key] == 1 else f"{key}~{seen[key]}")
    return out


class Project:
    """An opened folder: its images, their masks, statuses and the saved state."""

    def __init__(self, folder: Path, labelset: LabelSet) -> None:
        self.folder = folder
        self.labelset = labelset
        self.dir = folder / PROJECT_DIR_NAME
        self.masks_dir = self.dir / "masks"
        self.confidence_dir = self.dir / "confidence"
        self.models_dir = self.dir / "models"
        self.predictions_dir = self.dir / "predictions"  # the model's own masks, for "accept model here"
        self.images: list[Path] = []
        self.keys: list[str] = []
        self.state: dict = {}
        self.warnings: list[str] = []
        self.writable = True
        self.recovered_from_crash = False
        self.recovery_message: str | None = None
        self.open_elsewhere_pid: int | None = None  # another live session holds session.lock
        self.before_save: list = []  # callables that bring their part of ``state`` up to date

    # --- opening ---------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, labelset: LabelSet | None = None) -> "Project":
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        project = cls(folder, labelset or CAMVID)
        project.images = list_images(folder)
        project.keys = image_keys(project.images)
        try:
            for d in (project.dir, project.masks_dir, project.confidence_dir, project.models_dir):
                d.mkdir(parents=True, exist_ok=True)
            probe = project.dir / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            project.writable = False
            project.warnings.append(
                f"{folder} is read-only ({exc.strerror or exc}): you can look at the images, "
                "but masks cannot be saved here"
            )
        project._load_state(labelset)
        project._check_crash_marker()
        project._remove_stale_temp_files()
        return project

    def _load_state(self, labelset: LabelSet | None) -> None:
        path = self.dir / "state.json"
        state: dict = {}
        if path.exists():
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(state, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                backup = path.with_name(f"state.json.corrupt-{int(time.time())}")
                try:
                    os.replace(path, backup)
                except OSError:
                    pass
                self.warnings.append(
                    f"the project state was unreadable ({exc}); kept it as {backup.name} and "
                    "rebuilt the statuses from the saved masks"
                )
                state = {}
        if isinstance(state.get("version"), int) and state["version"] > STATE_VERSION:
            self.warnings.append(
                f"the project state was written by a newer SegStudio (version {state['version']}); "
                "fields this version does not know are kept as they are"
            )
        state.setdefault("version", STATE_VERSION)
        for name, default in (("images", {}), ("views", {}), ("settings", {})):
            if not isinstance(state.get(name), dict):
                state[name] = default
        state.setdefault("current", None)
        state.setdefault("model", None)
        if labelset is None and "labelset" in state:
            try:
                self.labelset = LabelSet.from_dict(state["labelset"])
            except LabelSetError as exc:
                self.warnings.append(f"the saved label set is invalid ({exc}); using CamVid")
        state["labelset"] = self.labelset.to_dict()
        # A mask on disk without a status (state lost) counts as edited: it is
        # the user's work until proven otherwise, so no model overwrites it.
        for key in self.keys:
            entry = state["images"].setdefault(key, {})
            if not isinstance(entry, dict):
                entry = state["images"][key] = {}
            if entry.get("status") not in {s.value for s in ImageStatus}:
                entry.pop("status", None)
            if (self.masks_dir / f"{key}.png").exists():
                if entry.get("status", ImageStatus.NO_MASK.value) == ImageStatus.NO_MASK.value:
                    entry["status"] = ImageStatus.EDITED.value
            else:
                entry["status"] = ImageStatus.NO_MASK.value
        self.state = state

    def _check_crash_marker(self) -> None:
        marker = self.dir / "session.lock"
        owner = read_lock(marker)
        if owner is not None and owner_is_alive(owner):
            self.open_elsewhere_pid = owner.pid
            self.warnings.append(
                f"This folder is already open in another SegStudio (process {owner.pid}). "
                "Edits to the same image in both windows overwrite each other: close one of them."
            )
            return  # that session owns the marker and its temp files
        if owner is not None:
            self.recovered_from_crash = True
            try:
                since = marker.stat().st_mtime - 1.0
            except OSError:
                since = 0.0
            saved = [k for k in self.keys if self.mask_path(k).exists()]
            during = sum(1 for k in saved if _mtime(self.mask_path(k)) >= since)
            by_status = {s: sum(1 for k in saved if self.status(k) == s) for s in ImageStatus}
            # Every mask on disk is what survived, not only those of the last session: count them all, by status.
            self.recovery_message = (
                f"SegStudio did not close normally last time; recovered {len(saved)} saved mask(s) "
                f"({by_status[ImageStatus.EDITED]} edited, {by_status[ImageStatus.REVIEWED]} reviewed, "
                f"{by_status[ImageStatus.PREDICTED]} predicted; {during} saved during that session). "
                "Edits from the last seconds before it stopped may be missing."
            )
            log.warning("%s: %s", self.folder, self.recovery_message)
            self.warnings.append(self.recovery_message)
        if self.writable:
            try:
                write_lock(marker)
            except OSError:
                pass

    def _remove_stale_temp_files(self) -> None:
        """Temp files a killed save left behind (the real files are intact)."""
        if not self.writable or self.open_elsewhere_pid is not None:
            return
        for folder in (self.dir, self.masks_dir, self.confidence_dir, self.models_dir):
            for tmp in folder.glob(".*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass

    def close(self) -> None:
        """Saves the state and removes the session marker (a clean exit)."""
        if not self.writable:
            return
        self.save_state()
        if self.open_elsewhere_pid is not None:
            return  # the marker is the other session's
        try:
            (self.dir / "session.lock").unlink()
        except FileNotFoundError:
            pass

    # --- images and statuses -------------------------------------------------
    def key_of(self, image: Path) -> str:
        return self.keys[self.images.index(image)]

    def image_path(self, key: str) -> Path:
        return self.images[self.keys.index(key)]

    def index_of(self, key: str) -> int:
        return self.keys.index(key)

    def status(self, key: str) -> ImageStatus:
        """The key's status (NO_MASK for an unknown key)."""
        return ImageStatus(self.state["images"].get(key, {}).get("status", ImageStatus.NO_MASK.value))

    def set_status(self, key: str, status: ImageStatus) -> None:
        self.state["images"].setdefault(key, {})["status"] = ImageStatus(status).value

    def set_uncertainty(self, key: str, value: float) -> None:
        """The model's mean uncertainty (1 - mean confidence) for an image, kept in
        the state so that "most uncertain first" survives reopening the folder."""
        self.state["images"].setdefault(key, {})["uncertainty"] = round(float(value), 5)

    def uncertainties(self) -> dict[str, float]:
        """``{key: mean uncertainty}`` of the images a model has predicted."""
        out = {}
        for key in self.keys:
            value = self.state["images"].get(key, {}).get("uncertainty")
            if isinstance(value, (int, float)) and 0.0 <= value <= 1.0:
                out[key] = float(value)
        return out

    def image_info(self, key: str) -> dict:
        return self.state["images"].setdefault(key, {})

    # --- masks -------------------------------------------------------------
    def mask_path(self, key: str) -> Path:
        return self.masks_dir / f"{key}.png"

    def load_mask(self, key: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The saved mask, or None; MaskFormatError when the file is unusable."""
        path = self.mask_path(key)
        if not path.exists():
            return None
        return read_index_png(path, self.labelset, shape)

    def save_mask(self, key: str, mask: np.ndarray, encoded: bytes | None = None) -> None:
        """Writes the key's mask as an index PNG, atomically; raises SaveError on failure.

        ``encoded`` is the PNG already made by ``maskio.encode_index_png`` (a
        worker thread encodes, so the GUI thread only writes).
        """
        if not self.writable:
            raise SaveError(errno.EROFS, f"cannot save {self.mask_path(key)}: the folder is read-only")
        if encoded is not None:
            atomic_write_bytes(self.mask_path(key), encoded)
        else:
            write_index_png(self.mask_path(key), mask, self.labelset)
        self.image_info(key)["saved_at"] = time.time()

    def save_confidence(self, key: str, confidence: np.ndarray, encoded: bytes | None = None) -> None:
        """Stores a model's confidence (uint8 H x W, 0..255) as a grey PNG, atomically."""
        path = self.confidence_dir / f"{key}.png"
        if not self.writable:
            raise SaveError(errno.EROFS, f"cannot save {path}: the folder is read-only")
        if encoded is not None:
            atomic_write_bytes(path, encoded)
            return
        conf = np.ascontiguousarray(confidence)
        if conf.ndim != 2:
            raise ValueError(f"confidence must be H x W, got shape {conf.shape}")
        if conf.dtype != np.uint8:
            conf = np.clip(conf, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(conf).save(buffer, format="PNG", compress_level=1)
        atomic_write_bytes(path, buffer.getvalue())

    def load_confidence(self, key: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The stored confidence, or None (absent, unreadable or of another size)."""
        path = self.confidence_dir / f"{key}.png"
        if not path.exists():
            return None
        try:
            return read_index_png(path, 256, shape)
        except MaskFormatError:
            return None

    def save_prediction(self, key: str, mask: np.ndarray, encoded: bytes | None = None) -> None:
        """Keeps the model's mask of ``key`` (index PNG, atomic) beside the user's edited one:
        the smart tools pick regions of it and paint it back."""
        if not self.writable:
            raise SaveError(errno.EROFS, f"cannot save the prediction of {key}: the folder is read-only")
        self.predictions_dir.mkdir(exist_ok=True)
        path = self.predictions_dir / f"{key}.png"
        if encoded is not None:
            atomic_write_bytes(path, encoded)
        else:
            write_index_png(path, mask, self.labelset)

    def load_prediction(self, key: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The model's last mask of ``key``, or None (absent, unreadable or of another size)."""
        path = self.predictions_dir / f"{key}.png"
        if not path.exists():
            return None
        try:
            return read_index_png(path, self.labelset, shape)
        except MaskFormatError:
            return None

    def delete_mask(self, key: str) -> None:
        """Removes a key's mask, confidence and verified pixels; its status becomes NO_MASK."""
        if not self.writable:
            raise SaveError(errno.EROFS, f"cannot delete {self.mask_path(key)}: the folder is read-only")
        # verified/<key>.png is core.verified.verified_path (that module imports this one).
        for path in (self.mask_path(key), self.confidence_dir / f"{key}.png", self.dir / "verified" / f"{key}.png"):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.set_status(key, ImageStatus.NO_MASK)

    # --- state ---------------------------------------------------------------
    def save_state(self) -> None:
        """Writes ``state.json`` atomically; raises SaveError on failure."""
        if not self.writable:
            raise SaveError(errno.EROFS, f"cannot save {self.dir / 'state.json'}: the folder is read-only")
        for update in self.before_save:
            update()
        self.state["saved_at"] = time.time()
        atomic_write_text(self.dir / "state.json", json.dumps(self.state, indent=1))

    @property
    def current(self) -> str | None:
        key = self.state.get("current")
        return key if key in self.keys else (self.keys[0] if self.keys else None)

    @current.setter
    def current(self, key: str | None) -> None:
        self.state["current"] = key

    @property
    def model(self) -> str | None:
        """The model choice saved with the folder (a checkpoint path or name)."""
        return self.state.get("model")

    @model.setter
    def model(self, value: str | None) -> None:
        self.state["model"] = None if value is None else str(value)

    def view(self, key: str) -> dict | None:
        return self.state["views"].get(key)

    def set_view(self, key: str, view: dict) -> None:
        self.state["views"][key] = view


__all__ = ["ImageStatus", "MaskFormatError", "Project", "SaveError"]
