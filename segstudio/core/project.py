"""The saved state of an opened folder. The user's images are never written.

Layout, inside the opened folder::

    .segstudio/
        state.json          statuses, current image, per-image view, model choice
        masks/<key>.png     index PNG (palette embedded) per image with a mask
        confidence/<key>.png  model confidence 0..255 per predicted image
        models/             fine-tuned checkpoints accepted by the user
        session.lock        present while the folder is open; left behind by a crash

``key`` is the image's stem, or its full file name when two images share a
stem (``a.png`` and ``a.jpg``). Every file is written atomically. A
corrupt ``state.json`` is kept aside as ``state.json.corrupt-<time>`` and
the project starts over from the masks on disk.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from enum import Enum
from pathlib import Path

import numpy as np

from segstudio.core.atomic import SaveError, atomic_write_text
from segstudio.core.imageio import PROJECT_DIR_NAME, list_images
from segstudio.core.labels import CAMVID, LabelSet, LabelSetError
from segstudio.core.maskio import MaskFormatError, read_index_png, write_index_png

STATE_VERSION = 1


class ImageStatus(str, Enum):
    NO_MASK = "no_mask"
    PREDICTED = "predicted"
    EDITED = "edited"
    REVIEWED = "reviewed"


class Project:
    def __init__(self, folder: Path, labelset: LabelSet) -> None:
        self.folder = folder
        self.labelset = labelset
        self.dir = folder / PROJECT_DIR_NAME
        self.masks_dir = self.dir / "masks"
        self.confidence_dir = self.dir / "confidence"
        self.models_dir = self.dir / "models"
        self.images: list[Path] = []
        self.keys: list[str] = []
        self.state: dict = {}
        self.warnings: list[str] = []
        self.writable = True
        self.recovered_from_crash = False

    # --- opening ---------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, labelset: LabelSet | None = None) -> "Project":
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a folder")
        project = cls(folder, labelset or CAMVID)
        project.images = list_images(folder)
        counts = Counter(p.stem for p in project.images)
        project.keys = [p.stem if counts[p.stem] == 1 else p.name for p in project.images]
        try:
            for d in (project.dir, project.masks_dir, project.confidence_dir, project.models_dir):
                d.mkdir(parents=True, exist_ok=True)
            probe = project.dir / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            project.writable = False
            project.warnings.append(
                f"{folder} is read-only ({exc.strerror}): you can look, but edits cannot be saved here"
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
        state.setdefault("version", STATE_VERSION)
        state.setdefault("images", {})
        state.setdefault("views", {})
        state.setdefault("current", None)
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
            if (self.masks_dir / f"{key}.png").exists():
                if entry.get("status", ImageStatus.NO_MASK.value) == ImageStatus.NO_MASK.value:
                    entry["status"] = ImageStatus.EDITED.value
            else:
                entry["status"] = ImageStatus.NO_MASK.value
        self.state = state

    def _check_crash_marker(self) -> None:
        marker = self.dir / "session.lock"
        if marker.exists():
            self.recovered_from_crash = True
            saved = sum(1 for k in self.keys if (self.masks_dir / f"{k}.png").exists())
            self.warnings.append(
                f"SegStudio did not close normally last time; recovered {saved} saved mask(s). "
                "Edits from the last 2 seconds before the crash may be missing."
            )
        if self.writable:
            try:
                marker.write_text(str(os.getpid()))
            except OSError:
                pass

    def _remove_stale_temp_files(self) -> None:
        """Temp files a killed save left behind (the real files are intact)."""
        if not self.writable:
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
        return ImageStatus(self.state["images"].get(key, {}).get("status", ImageStatus.NO_MASK.value))

    def set_status(self, key: str, status: ImageStatus) -> None:
        self.state["images"].setdefault(key, {})["status"] = ImageStatus(status).value

    def image_info(self, key: str) -> dict:
        return self.state["images"].setdefault(key, {})

    # --- masks -------------------------------------------------------------
    def mask_path(self, key: str) -> Path:
        return self.masks_dir / f"{key}.png"

    def load_mask(self, key: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        path = self.mask_path(key)
        if not path.exists():
            return None
        return read_index_png(path, self.labelset, shape)

    def save_mask(self, key: str, mask: np.ndarray) -> None:
        if not self.writable:
            raise SaveError(30, f"cannot save {self.mask_path(key)}: the folder is read-only")
        write_index_png(self.mask_path(key), mask, self.labelset)
        self.image_info(key)["saved_at"] = time.time()

    def save_confidence(self, key: str, confidence: np.ndarray) -> None:
        from segstudio.core.maskio import atomic_write_bytes  # same writer, grey PNG
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(confidence, dtype=np.uint8), mode="L").save(buffer, format="PNG", compress_level=1)
        atomic_write_bytes(self.confidence_dir / f"{key}.png", buffer.getvalue())

    def load_confidence(self, key: str) -> np.ndarray | None:
        path = self.confidence_dir / f"{key}.png"
        if not path.exists():
            return None
        try:
            return read_index_png(path, 256)
        except MaskFormatError:
            return None

    # --- state ---------------------------------------------------------------
    def save_state(self) -> None:
        if not self.writable:
            raise SaveError(30, f"cannot save {self.dir / 'state.json'}: the folder is read-only")
        atomic_write_text(self.dir / "state.json", json.dumps(self.state, indent=1))

    @property
    def current(self) -> str | None:
        key = self.state.get("current")
        return key if key in self.keys else (self.keys[0] if self.keys else None)

    @current.setter
    def current(self, key: str | None) -> None:
        self.state["current"] = key

    def view(self, key: str) -> dict | None:
        return self.state["views"].get(key)

    def set_view(self, key: str, view: dict) -> None:
        self.state["views"][key] = view


__all__ = ["ImageStatus", "MaskFormatError", "Project", "SaveError"]
