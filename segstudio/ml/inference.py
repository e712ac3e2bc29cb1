"""Inference at full resolution: sliding-window tiles, bounded memory, OOM backoff.

The scale the network sees
--------------------------
The network sees the image at the scale it was trained at. The checkpoint's
``train_size`` (a JSON dict written by ``ml/train.py``) says which; see
:func:`inference_scale`:

- ``None``, ``{}``, ``{"mode": "native"}``, ``{"mode": "crop", ...}``: trained
  on full-resolution frames (or crops of them): predict at full resolution.
- ``{"mode": "resize", "size": [h, w]}`` (or ``"size": s`` for a square):
  trained on frames resized to h x w: resize the input to h x w, predict,
  upsample the probabilities bilinearly back to the original size.
- ``{"mode": ..., "scale": f}`` (0 < f, optional, any mode but resize):
  trained on frames scaled by ``f`` (e.g. 0.5 for half-resolution crops):
  scale the input by ``f``, predict, upsample back.

An unknown mode is predicted at native scale, with a warning in the log.

Tiles and memory
----------------
At the network's scale, an image larger than the tile goes through tiles
(``tile`` square at most) that are cut so the result *is* whole-image
inference, not a blend that hides seams. A tile's logits differ from the
whole image's only within the network's receptive radius of an edge the tile
shares with a neighbour (the convolutions' zero padding there), and anywhere
if the tile is off the network's pooling grid. So (``ml/receptive_field.py``):

- every tile starts at a multiple of what the network pads to (16 for a
  depth-4 U-Net), and the last tile of a row or column ends at the image's
  edge, where it gets the same reflection padding as the whole image;
- of each tile, only the part at least ``margin`` pixels (the receptive
  radius, rounded up to that multiple; 112 for the shipped U-Net) inside its
  shared edges is kept; neighbours overlap by ``2 x margin`` so the kept parts
  tile the image exactly, each pixel from one tile.

Each kept pixel then saw exactly what it sees in a whole-image pass: tiled and
whole-image masks agree except where float rounding (a different convolution
algorithm for another shape) flips a near-tie. The price is the recomputed
margins: see docs/results.md. A model not from the registry (unknown
receptive field) uses ``overlap`` (default 64) pixels of overlap. The tile is
raised to at least ``4 x margin`` so at least half of it is kept.

Each tile is reduced to class id (argmax) and confidence (max probability x
255) on the device at once and written into the output: the whole image's
C x H x W float32 probabilities (12 x 8000 x 6000 x 4 B = 2.3 GB) are never
held.

When the network's scale differs from the image's (resize/scale), the
probabilities at the network's scale are kept as float16 (small: at most the
training size, or scale^2 of the image) and upsampled to full size band by
band with ``grid_sample`` (identical to ``F.interpolate(bilinear,
align_corners=False)``), again never holding C x H x W at full size.

Out of memory
-------------
``torch.cuda.OutOfMemoryError``, a ``RuntimeError`` saying "out of memory"
(CPU, MPS) or ``MemoryError`` halves the tile batch; at batch 1 it halves the
tile (down to ``MIN_TILE``, or ``2 x margin`` plus one grid step); then the image is retried from the start. The
smaller settings stay for later images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.device import autocast_dtype
from segstudio.ml.inference_model import inference_model
from segstudio.ml.receptive_field import input_multiple, receptive_radius

log = logging.getLogger(__name__)

MIN_TILE = 128
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64  # only for models whose receptive field is unknown
DEFAULT_MULTIPLE = 32  # tile grid for those (what U-Nets pad to anyway)
NATIVE_MODES = ("native", "crop", "full", None)
_UPSAMPLE_BAND_PIXELS = 2_000_000  # output pixels per grid_sample band (C x 2M x 4 B = 96 MB at C=12)


@dataclass
class Prediction:
    mask: np.ndarray  # uint8 H x W class ids
    confidence: np.ndarray  # uint8 H x W, max softmax probability x 255
    mean_uncertainty: float  # 1 - mean max probability over the image, 0..1


def inference_scale(train_size: dict | None, height: int, width: int) -> tuple[int, int]:
    """The (height, width) at which the network sees an ``height x width`` image.

    See the module docstring for how ``train_size`` is read.
    """
    spec = train_size if isinstance(train_size, dict) else {}
    mode = spec.get("mode")
    if mode == "resize":
        size = spec.get("size")
        if isinstance(size, (int, float)) and not isinstance(size, bool) and size > 0:
            return int(size), int(size)
        if isinstance(size, (list, tuple)) and len(size) == 2 and all(int(s) > 0 for s in size):
            return int(size[0]), int(size[1])
        log.warning("train_size %r has no usable size; predicting at native scale", spec)
        return height, width
    if mode not in NATIVE_MODES:
        log.warning("unknown train_size mode %r; predicting at native scale", mode)
    scale = spec.get("scale")
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0 and scale != 1:
        return max(1, round(height * scale)), max(1, round(width * scale))
    return height, width


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors that mean "that batch or tile was too big"."""
    if isinstance(exc, MemoryError):
        return True
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


_is_oom = is_out_of_memory  # the old private name


Span = tuple[int, int, int, int]  # (input start, input end, kept start, kept end) along one axis


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _layout(length: int, tile: int, margin: int, multiple: int) -> list[Span]:
    """The tiles along one axis of ``length`` pixels: ``(in0, in1, keep0, keep1)`` each.

    Inputs are at most ``tile`` long and start at multiples of ``multiple``;
    the last ends at ``length``. Each keeps what lies ``margin`` or more
    inside its edges shared with a neighbour; the kept spans partition
    ``[0, length)``. Needs ``tile >= 2 * margin + multiple`` to advance.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    if tile < 2 * margin + multiple:
        raise ValueError(f"a {tile}-pixel tile cannot keep anything with a {margin}-pixel margin")
    spans: list[Span] = []
    start = kept = 0
    while True:
        end = min(length, start + tile)
        keep_end = length if end == length else end - margin
        spans.append((start, end, kept, keep_end))
        if end == length:
            return spans
        kept = keep_end
        start = (kept - margin) // multiple * multiple


class Predictor:
    """Keeps a checkpoint's model on a device and predicts masks for RGB images.

    ``device``: a ``torch.device`` or name; ``None`` keeps the device the
    model is on (the CPU after ``load_checkpoint``). The model is moved there
    once, in eval mode (channels-last on CUDA); on CUDA/MPS it runs under
    autocast (bf16 where supported, else fp16). ``tile`` and ``batch_size``
    are the tiling settings at the network's scale. ``overlap`` (pixels shared
    by neighbouring tiles, twice the ``margin`` each crops) defaults to what
    the network's receptive field needs for tiles to equal the whole image
    (see the module docstring); a smaller one trades exactness for speed.
    """

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        device: torch.device | str | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
        batch_size: int | None = None,
        flip_tta: bool = False,
    ) -> None:
        if device is None:
            try:
                device = next(checkpoint.model.parameters()).device
            except StopIteration:
                device = torch.device("cpu")
        self.checkpoint = checkpoint
        self.device = torch.device(device)
        # A folded, channels-last copy: the checkpoint's own module stays as it is
        # (retraining starts from it) and inference gets the fast layout.
        self.model = inference_model(checkpoint.model, self.device)
        config = checkpoint.config or {}
        self.multiple = input_multiple(config) or DEFAULT_MULTIPLE
        if overlap is None:
            radius = receptive_radius(config)
            overlap = 2 * _round_up(radius, self.multiple) if radius is not None else DEFAULT_OVERLAP
        self.margin = max(0, int(overlap)) // 2
        # The smallest tile that still advances; OOM back-off stops there.
        self.min_tile = max(MIN_TILE, _round_up(2 * self.margin + self.multiple, self.multiple))
        # At least half of each tile's side is kept, or the margins cost more than the tiles.
        self.tile = max(_round_up(4 * self.margin, self.multiple), self.min_tile,
                        int(tile) // self.multiple * self.multiple)
        # One tile at a time on the CPU (threads already use every core); a few on a GPU.
        self.batch_size = int(batch_size) if batch_size else (4 if self.device.type != "cpu" else 1)
        self.num_classes = int(checkpoint.config.get("num_classes", checkpoint.labelset.num_classes))
        norm = checkpoint.normalization or {}
        self._mean = torch.tensor(norm.get("mean", (0.485, 0.456, 0.406)), dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(norm.get("std", (0.229, 0.224, 0.225)), dtype=torch.float32).view(1, 3, 1, 1)
        self._mean_dev, self._std_dev = self._mean.to(self.device), self._std.to(self.device)
        self._amp = autocast_dtype(self.device)
        ignore = checkpoint.labelset.ignore_index
        # The ignore class (void) is skipped by the loss, so its logit is never
        # trained and means nothing: it must never be predicted.
        self._ignore = ignore if ignore is not None and 0 <= ignore < self.num_classes else None
        self.train_size = checkpoint.train_size
        # Test-time augmentation: the mean of the logits of each input and of its mirror image.
        self.flip_tta = bool(flip_tta)

    def reload_weights(self) -> None:
        """Rebuilds the inference copy from ``checkpoint.model``: call it after
        changing the checkpoint's weights (an accepted retrain), or inference
        keeps running the old ones."""
        self.model = inference_model(self.checkpoint.model, self.device)

    @property
    def resize_to(self) -> tuple[int, int] | None:
        """The fixed (h, w) of a resize-mode checkpoint, else ``None``."""
        spec = self.train_size or {}
        return inference_scale(spec, 0, 0) if spec.get("mode") == "resize" else None

    # --- the network on a batch ---------------------------------------------------
    def to_input(self, images: np.ndarray) -> torch.Tensor:
        """N x H x W x 3 uint8 -> the network's input: normalised float N x 3 x H x W on the
        device, channels-last where that is faster (what ``self.model`` is fed)."""
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean_dev) / self._std_dev
        return x.contiguous(memory_format=torch.channels_last) if self.device.type != "mps" else x.contiguous()

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self._amp, enabled=self._amp is not None):
            logits = self.model(x)
            if self.flip_tta:
                logits = (logits.float() + self.model(x.flip(-1)).float().flip(-1)) / 2
        logits = logits.float()
        if self._ignore is not None:
            logits[:, self._ignore] = float("-inf")
        return logits

    @property
    def overlap(self) -> int:
        """Pixels shared by neighbouring tiles (twice the margin each crops)."""
        return 2 * self.margin

    @torch.inference_mode()
    def predict_logits(self, image: np.ndarray) -> torch.Tensor:
        """Whole-image logits (1 x C x H x W, float32, CPU) at the image's own size; no tiling.

        The ignore class's logit is ``-inf``. For tests and small images.
        """
        return self._logits(self.to_input(image[None])).cpu()

    # --- public ---------------------------------------------------------------------
    def predict(self, image: np.ndarray) -> Prediction:
        """The mask and per-pixel confidence of an H x W x 3 uint8 RGB image, at full size."""
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            shape = getattr(image, "shape", None)
            raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {shape} {getattr(image, 'dtype', type(image))}")
        while True:
            try:
                return self._predict_once(image)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                if not is_out_of_memory(exc):
                    raise
                reason = f"{type(exc).__name__}: {exc}"
            # Outside the except block, so the traceback's tensors are already freed.
            self._back_off(reason)

    def predict_many(
        self,
        images: Iterable[tuple[str, np.ndarray]],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[tuple[str, Prediction]]:
        """Yields ``(key, prediction)`` for ``(key, image)`` pairs until exhausted or ``should_stop()``.

        ``images`` may be a lazy generator (reading each image when asked), so
        a folder is never held in memory.
        """
        for key, image in images:
            if should_stop():
                return
            yield key, self.predict(image)

    # --- internals ------------------------------------------------------------------
    def _back_off(self, reason: str) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if self.batch_size > 1:
            self.batch_size //= 2
        elif self.tile // 2 >= self.min_tile:
            self.tile = self.tile // 2 // self.multiple * self.multiple
        else:
            raise MemoryError(
                f"out of memory on {self.device} even with one {self.tile}x{self.tile} tile at a time"
            )
        log.warning("%s on %s: retrying with batch %d, tile %d", reason.splitlines()[0][:200], self.device,
                    self.batch_size, self.tile)

    def _predict_once(self, image: np.ndarray) -> Prediction:
        h, w = image.shape[:2]
        sh, sw = inference_scale(self.train_size, h, w)
        mask = np.empty((h, w), np.uint8)
        conf = np.empty((h, w), np.uint8)
        if (sh, sw) == (h, w):
            for (y0, x0), probs in self._tiles(image):
                best, ids = probs.max(dim=0)
                rows, cols = slice(y0, y0 + probs.shape[1]), slice(x0, x0 + probs.shape[2])
                mask[rows, cols] = ids.to(torch.uint8).cpu().numpy()
                conf[rows, cols] = (best * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
        else:
            import cv2

            shrink = sh * sw < h * w
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            store = np.empty((self.num_classes, sh, sw), np.float16)
            for (y0, x0), probs in self._tiles(small):
                store[:, y0 : y0 + probs.shape[1], x0 : x0 + probs.shape[2]] = probs.half().cpu().numpy()
            _upsample_reduce(store, mask, conf)
        return Prediction(mask, conf, float(1.0 - conf.mean(dtype=np.float64) / 255.0))

    @torch.inference_mode()
    def _tiles(self, image: np.ndarray) -> Iterator[tuple[tuple[int, int], torch.Tensor]]:
        """Yields ``((row0, col0), probabilities C x rows x cols)`` on the device for the kept
        part of each tile; the kept parts cover the image once. See the module docstring."""
        h, w = image.shape[:2]
        rows = _layout(h, self.tile, self.margin, self.multiple)
        cols = _layout(w, self.tile, self.margin, self.multiple)
        for y0, y1, ky0, ky1 in rows:
            # Tiles of one shape run as one batch (all of a row but the last, usually).
            i = 0
            while i < len(cols):
                width = cols[i][1] - cols[i][0]
                batch = [cols[i]]
                while (len(batch) < self.batch_size and i + len(batch) < len(cols)
                       and cols[i + len(batch)][1] - cols[i + len(batch)][0] == width):
                    batch.append(cols[i + len(batch)])
                i += len(batch)
                tiles = np.stack([image[y0:y1, x0:x1] for x0, x1, _, _ in batch])
                probs = torch.softmax(self._logits(self.to_input(tiles)), dim=1)
                for p, (x0, _, kx0, kx1) in zip(probs, batch):
                    yield (ky0, kx0), p[:, ky0 - y0 : ky1 - y0, kx0 - x0 : kx1 - x0]


def _upsample_reduce(store: np.ndarray, mask: np.ndarray, conf: np.ndarray) -> None:
    """Bilinear upsampling of C x h x w probabilities to ``mask.shape``, band by band, reduced at once."""
    h, w = mask.shape
    probs = torch.from_numpy(store).float()[None]  # 1 x C x sh x sw
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    band = max(1, _UPSAMPLE_BAND_PIXELS // max(1, w))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        ys = (torch.arange(r0, r1, dtype=torch.float32) + 0.5) / h * 2 - 1
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None]
        # The same sampling as F.interpolate(mode="bilinear", align_corners=False).
        up = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
        best, ids = up.max(dim=0)
        mask[r0:r1] = ids.numpy()
        conf[r0:r1] = (best * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).numpy()
