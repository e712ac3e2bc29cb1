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
At the network's scale, an image larger than the tile goes through
overlapping tiles (``tile`` square, ``overlap`` pixels shared by
neighbours). Each tile's softmax probabilities are multiplied by a weight
window that ramps from near zero at the tile's edges to 1 over ``overlap``
pixels, accumulated in float32 on the CPU, and divided by the summed weight:
a weighted mean, so pixels covered by one tile get that tile's exact value,
and seams (where zero padding of a tile border changes the logits) get little
weight. For a network whose receptive field fits inside the overlap the
result equals whole-image inference up to float rounding in those ramps.

The whole image's C x H x W float32 probabilities would not fit (12 classes x
8000 x 6000 x 4 B = 2.3 GB), so tiles are run one row of tiles ("band") at a
time: the accumulator holds only ``tile`` rows (C x tile x W; 200 MB for an
8000-wide image and 512 tiles), and when the next band starts at row ``y0``,
rows above ``y0`` are final (no later tile reaches them): they are reduced
to class id (argmax) and confidence (max probability x 255) at once and
dropped. This is exact: the same weighted mean as holding everything.

When the network's scale differs from the image's (resize/scale), the
probabilities at the network's scale are kept as float16 (small: at most the
training size, or scale^2 of the image) and upsampled to full size band by
band with ``grid_sample`` (identical to ``F.interpolate(bilinear,
align_corners=False)``), again never holding C x H x W at full size.

Out of memory
-------------
``torch.cuda.OutOfMemoryError``, a ``RuntimeError`` saying "out of memory"
(CPU, MPS) or ``MemoryError`` halves the tile batch; at batch 1 it halves the
tile (down to ``MIN_TILE``); then the image is retried from the start. The
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

log = logging.getLogger(__name__)

MIN_TILE = 128
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 64
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


def _weight_window(h: int, w: int, overlap: int) -> np.ndarray:
    """1 in the middle, ramping down towards the edges over ``overlap`` pixels (never 0)."""

    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            edge = (np.arange(k, dtype=np.float32) + 0.5) / k
            r[:k] = edge
            r[n - k :] = edge[::-1]
        return np.maximum(r, 1e-3)

    return np.outer(ramp(h), ramp(w)).astype(np.float32)


def _layout(length: int, tile: int, overlap: int, multiple: int = 32) -> tuple[int, list[int]]:
    """(tile length, start offsets) covering ``[0, length)`` with at most ``tile`` per tile.

    The fewest tiles that fit, each as short as they can be while neighbours
    still share at least ``overlap`` pixels (so a 1080-row image with 512
    tiles uses three tiles of 416 rows, not three of 512), rounded up to a
    multiple of ``multiple`` (what U-Nets pad to anyway) where that fits.
    """
    if length <= tile:
        return length, [0]
    overlap = min(overlap, tile // 2)
    n = -(-(length - overlap) // (tile - overlap))  # ceil
    size = -(-(length + (n - 1) * overlap) // n)
    size = min(tile, -(-size // multiple) * multiple)
    last = length - size
    starts = sorted({round(i * last / (n - 1)) for i in range(n)}) if n > 1 else [0]
    return size, starts


class Predictor:
    """Keeps a checkpoint's model on a device and predicts masks for RGB images.

    ``device``: a ``torch.device`` or name; ``None`` keeps the device the
    model is on (the CPU after ``load_checkpoint``). The model is moved there
    once, in eval mode (channels-last on CUDA); on CUDA/MPS it runs under
    autocast (bf16 where supported, else fp16). ``tile``/``overlap``/
    ``batch_size`` are the sliding-window settings at the network's scale.
    """

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        device: torch.device | str | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
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
        self.tile = max(1, int(tile))
        self.overlap = max(0, min(int(overlap), self.tile // 2))
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

    @torch.inference_mode()
    def _probabilities(self, images: np.ndarray, weight: torch.Tensor | None = None) -> np.ndarray:
        """N x H x W x 3 uint8 -> N x C x H x W float32 softmax probabilities (x ``weight``) on the CPU."""
        probs = torch.softmax(self._logits(self.to_input(images)), dim=1)
        if weight is not None:
            probs = probs * weight
        if self.device.type != "cpu":
            probs = probs.half()  # halves the copy; probabilities need no more precision
        return probs.cpu().float().numpy()

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
        elif self.tile // 2 >= MIN_TILE:
            self.tile //= 2
            self.overlap = min(self.overlap, self.tile // 4)
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
        if (sh, sw) == (h, w) and self._one_tile(h, w):
            self._reduce_whole(image, mask, conf)
        elif (sh, sw) == (h, w):
            self._tiled(image, lambda r0, probs: _reduce(probs, mask[r0 : r0 + probs.shape[1]],
                                                          conf[r0 : r0 + probs.shape[1]]))
        else:
            import cv2

            shrink = sh * sw < h * w
            small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
            store = np.empty((self.num_classes, sh, sw), np.float16)

            def keep(r0: int, probs: np.ndarray) -> None:
                store[:, r0 : r0 + probs.shape[1]] = probs

            self._tiled(small, keep)
            _upsample_reduce(store, mask, conf)
        return Prediction(mask, conf, float(1.0 - conf.mean(dtype=np.float64) / 255.0))

    def _one_tile(self, h: int, w: int) -> bool:
        return len(_layout(h, self.tile, self.overlap)[1]) == 1 and len(_layout(w, self.tile, self.overlap)[1]) == 1

    @torch.inference_mode()
    def _reduce_whole(self, image: np.ndarray, mask: np.ndarray, conf: np.ndarray) -> None:
        """One tile at native scale: softmax, max and argmax on the device, in one pass
        over the logits (numpy's argmax and max are single-threaded and cost ~30 ms)."""
        best, ids = torch.softmax(self._logits(self.to_input(image[None])), dim=1)[0].max(dim=0)
        mask[...] = ids.to(torch.uint8).cpu().numpy()
        conf[...] = (best * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def _tiled(self, image: np.ndarray, finalise: Callable[[int, np.ndarray], None]) -> None:
        """Runs tiles band by band; calls ``finalise(row0, probs C x rows x W)`` for rows that are final."""
        h, w = image.shape[:2]
        tile, overlap = self.tile, self.overlap
        th, ys = _layout(h, tile, overlap)
        tw, xs = _layout(w, tile, overlap)
        if len(ys) == 1 and len(xs) == 1:  # one tile: no blending at all
            finalise(0, self._probabilities(image[None])[0])
            return
        weight_np = _weight_window(th, tw, overlap)
        weight = torch.from_numpy(weight_np).to(self.device)
        c = self.num_classes
        acc = np.zeros((c, th, w), np.float32)  # weighted probabilities of rows [base, base + th)
        wsum = np.zeros((th, w), np.float32)
        base = 0
        for y0 in ys:
            shift = y0 - base
            if shift:  # rows [base, y0) are final: no later tile reaches them
                finalise(base, _normalise(acc[:, :shift], wsum[:shift]))
                acc[:, : th - shift] = acc[:, shift:]  # numpy copes with the overlap
                acc[:, th - shift :] = 0
                wsum[: th - shift] = wsum[shift:]
                wsum[th - shift :] = 0
                base = y0
            for b in range(0, len(xs), self.batch_size):
                batch_xs = xs[b : b + self.batch_size]
                batch = np.stack([image[y0 : y0 + th, x0 : x0 + tw] for x0 in batch_xs])
                probs = self._probabilities(batch, weight)
                for x0, p in zip(batch_xs, probs):
                    acc[:, :, x0 : x0 + tw] += p
                    wsum[:, x0 : x0 + tw] += weight_np
        rows = h - base
        finalise(base, _normalise(acc[:, :rows], wsum[:rows]))


def _normalise(acc: np.ndarray, wsum: np.ndarray) -> np.ndarray:
    """Weighted sums to the weighted mean, in place (these rows are final: no temporary copy)."""
    np.divide(acc, wsum[None], out=acc)
    return acc


def _reduce(probs: np.ndarray, mask_out: np.ndarray, conf_out: np.ndarray) -> None:
    """C x r x w probabilities -> class ids and confidence (max probability x 255)."""
    mask_out[...] = probs.argmax(axis=0)
    conf_out[...] = np.clip(probs.max(axis=0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


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
