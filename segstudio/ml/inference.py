"""Inference at full resolution: sliding-window tiles, bounded memory, OOM backoff.

The network sees the image at the scale it was trained for. The checkpoint's
``train_size`` says which: ``{"mode": "native"}`` (trained on crops of
full-size frames: predict at full size) or ``{"mode": "resize", "size":
[h, w]}`` (trained on resized frames: resize, predict, upsample the logits).

Large images go through overlapping tiles whose softmax probabilities are
blended with a weight that falls off towards tile edges. Tiles are processed
band by band (a row of tiles at a time), and rows that no later tile touches
are finalised at once, so memory holds one band of probabilities, not the
whole image's (12 classes x 8000 x 6000 x 4 bytes would be 2.3 GB).

Out of memory halves the tile batch, then the tile size, and goes on.
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

log = logging.getLogger(__name__)

MIN_TILE = 128


@dataclass
class Prediction:
    mask: np.ndarray  # uint8 H x W class ids
    confidence: np.ndarray  # uint8 H x W, max softmax probability x 255
    mean_uncertainty: float  # 1 - mean max probability, over the image


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _weight_window(h: int, w: int, overlap: int) -> np.ndarray:
    """1 in the middle, ramping down to a small value over ``overlap`` pixels at edges."""
    def ramp(n: int) -> np.ndarray:
        r = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k > 0:
            edge = (np.arange(k, dtype=np.float32) + 0.5) / k
            r[:k] = edge
            r[n - k :] = edge[::-1]
        return np.maximum(r, 1e-3)

    return np.outer(ramp(h), ramp(w))


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


class Predictor:
    """Keeps a checkpoint's model on a device and predicts masks for RGB images."""

    def __init__(
        self,
        checkpoint: LoadedCheckpoint,
        device: torch.device | str | None = None,
        tile: int = 512,
        overlap: int = 64,
        batch_size: int = 4,
    ) -> None:
        self.checkpoint = checkpoint
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = checkpoint.model.to(self.device).eval()
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.tile = tile
        self.overlap = overlap
        self.batch_size = batch_size
        self.num_classes = int(checkpoint.config.get("num_classes", checkpoint.labelset.num_classes))
        norm = checkpoint.normalization
        self._mean = torch.tensor(norm["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(norm["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self._amp = autocast_dtype(self.device)
        ignore = checkpoint.labelset.ignore_index
        self._ignore = ignore if ignore is not None and ignore < self.num_classes else None
        size = checkpoint.train_size or {}
        self.resize_to = tuple(size["size"]) if size.get("mode") == "resize" and size.get("size") else None

    # --- the network on a batch -------------------------------------------------
    def _to_input(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        x = (x - self._mean) / self._std
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cuda" else x

    @torch.inference_mode()
    def _probabilities(self, images: np.ndarray) -> np.ndarray:
        """N x H x W x 3 uint8 -> N x C x H x W float32 softmax probabilities."""
        x = self._to_input(images)
        with torch.autocast(self.device.type, dtype=self._amp, enabled=self._amp is not None):
            logits = self.model(x).float()
        if self._ignore is not None:
            # The ignore class (void) is never trained (ignored by the loss), so
            # its logit means nothing: it must never be predicted.
            logits[:, self._ignore] = float("-inf")
        return torch.softmax(logits, dim=1).cpu().numpy()

    def predict_logits(self, image: np.ndarray) -> torch.Tensor:
        """Whole-image logits (1 x C x H x W), no tiling: for tests and small images."""
        with torch.inference_mode():
            return self.model(self._to_input(image[None])).float().cpu()

    # --- public -------------------------------------------------------------------
    def predict(self, image: np.ndarray) -> Prediction:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {image.shape} {image.dtype}")
        while True:
            try:
                if self.resize_to is not None:
                    return self._predict_resized(image)
                return self._predict_tiled(image)
            except Exception as exc:
                if not _is_oom(exc):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.batch_size > 1:
                    self.batch_size //= 2
                elif self.tile > MIN_TILE:
                    self.tile //= 2
                    self.overlap = min(self.overlap, self.tile // 4)
                else:
                    raise
                log.warning("out of memory: retrying with batch %d, tile %d", self.batch_size, self.tile)

    def predict_many(
        self, images: Iterable[tuple[str, np.ndarray]], should_stop: Callable[[], bool] = lambda: False
    ) -> Iterator[tuple[str, Prediction]]:
        for key, image in images:
            if should_stop():
                return
            yield key, self.predict(image)

    # --- strategies ---------------------------------------------------------------
    def _predict_resized(self, image: np.ndarray) -> Prediction:
        import cv2

        h, w = image.shape[:2]
        th, tw = self.resize_to
        small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
        probs = torch.from_numpy(self._probabilities(small[None]))  # 1 x C x th x tw
        mask = np.empty((h, w), np.uint8)
        conf = np.empty((h, w), np.uint8)
        band = max(1, 4_000_000 // max(1, w))  # ~4 M pixels of probabilities at a time
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
        for r0 in range(0, h, band):
            r1 = min(h, r0 + band)
            ys = (torch.arange(r0, r1, dtype=torch.float32) + 0.5) / h * 2 - 1
            gy, gx = torch.meshgrid(ys, xs, indexing="ij")
            grid = torch.stack([gx, gy], dim=-1)[None]
            # Same sampling as F.interpolate(bilinear, align_corners=False), one band at a time.
            up = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
            best, ids = up.max(dim=0)
            mask[r0:r1] = ids.numpy().astype(np.uint8)
            conf[r0:r1] = (best.numpy() * 255).round().astype(np.uint8)
        return Prediction(mask, conf, float(1 - conf.mean() / 255))

    def _predict_tiled(self, image: np.ndarray) -> Prediction:
        h, w = image.shape[:2]
        tile, overlap = self.tile, self.overlap
        th, tw = min(tile, h), min(tile, w)
        stride_y, stride_x = max(1, th - overlap), max(1, tw - overlap)
        ys, xs = _starts(h, th, stride_y), _starts(w, tw, stride_x)
        weight = _weight_window(th, tw, overlap) if len(ys) > 1 or len(xs) > 1 else np.ones((th, tw), np.float32)
        mask = np.empty((h, w), np.uint8)
        conf = np.empty((h, w), np.uint8)
        c = self.num_classes
        acc = np.zeros((c, th, w), np.float32)  # probabilities of rows [base, base + th)
        wsum = np.zeros((th, w), np.float32)
        base = 0
        for band_index, y0 in enumerate(ys):
            shift = y0 - base
            if shift:  # rows before y0 are final: no later tile reaches them
                self._finalise(acc[:, :shift], wsum[:shift], mask[base:y0], conf[base:y0])
                acc = np.concatenate([acc[:, shift:], np.zeros((c, shift, w), np.float32)], axis=1)
                wsum = np.concatenate([wsum[shift:], np.zeros((shift, w), np.float32)], axis=0)
                base = y0
            for b in range(0, len(xs), self.batch_size):
                batch_xs = xs[b : b + self.batch_size]
                batch = np.stack([image[y0 : y0 + th, x0 : x0 + tw] for x0 in batch_xs])
                probs = self._probabilities(batch)
                for x0, p in zip(batch_xs, probs):
                    acc[:, :, x0 : x0 + tw] += p * weight
                    wsum[:, x0 : x0 + tw] += weight
        self._finalise(acc[:, : h - base], wsum[: h - base], mask[base:], conf[base:])
        return Prediction(mask, conf, float(1 - conf.mean() / 255))

    @staticmethod
    def _finalise(acc: np.ndarray, wsum: np.ndarray, mask_out: np.ndarray, conf_out: np.ndarray) -> None:
        probs = acc / np.maximum(wsum, 1e-12)[None]
        mask_out[...] = probs.argmax(axis=0).astype(np.uint8)
        conf_out[...] = (probs.max(axis=0) * 255).round().astype(np.uint8)
