"""Continuous mode, Qt-free: keep training while the person annotates; offer only better models.

``continuous_training(...)`` is a generator (the app's Worker runs it on a
QThread and turns its events into signals). It trains in rounds of
``check_every_s`` seconds of training. At the end of each round it checks the
model on the held-out corrections; when ``ml.holdout.judge`` finds it better
than the best so far (mean IoU up, no present class down by more than
``max_class_drop``) it yields ``CandidateBetter`` with the new weights, and
that becomes the best. Then it asks ``list_corrections()`` again, so newly
saved corrections join the next round; when the held-out set changed, the
best model is re-measured on it first, so every comparison is on the same
images. ``should_stop`` is read after every step (and while waiting for
corrections): the generator returns within one training step.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from segstudio.ml import corrective as corr
from segstudio.ml.checkpoint import LoadedCheckpoint
from segstudio.ml.device import autocast_dtype
from segstudio.ml.finetune import FinetuneSettings, build_training, check, prepare_corrections
from segstudio.ml.holdout import Uncertainty, Verdict, iou_uncertainty, judge
from segstudio.ml.train import seed_everything


@dataclass
class Correction:
    """One corrected image as the caller lists it; ``verified=None`` means every pixel is verified."""

    image: np.ndarray
    mask: np.ndarray
    verified: np.ndarray | None = None


@dataclass
class ContinuousProgress:
    round: int
    step: int
    loss: float | None
    train_images: int
    holdout_images: int
    best_miou: float | None


@dataclass
class CheckResult:
    """A round's check that found no better model (the verdict says why)."""

    round: int
    step: int
    verdict: Verdict


@dataclass
class CandidateBetter:
    """A model better than the best so far on the held-out corrections: offer or swap it in."""

    round: int
    step: int
    state_dict: dict
    metrics: dict
    verdict: Verdict
    uncertainty: Uncertainty
    train_keys: list[str]
    holdout_keys: list[str]


@dataclass
class WaitingForCorrections:
    """Nothing to learn from yet; the generator polls ``list_corrections`` again."""

    corrected: int


def continuous_training(
    checkpoint: LoadedCheckpoint,
    list_corrections: Callable[[], dict[str, Correction]],
    settings: FinetuneSettings,
    device: torch.device,
    should_stop: Callable[[], bool] = lambda: False,
    check_every_s: float = 60.0,
    min_images: int = 2,
    poll_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator:
    """Yields ``ContinuousProgress`` per step, ``CheckResult``/``CandidateBetter`` per round; never returns a value.

    ``checkpoint.model`` is never modified; ``CandidateBetter.state_dict`` is a
    CPU copy the caller may load into it (and ``Predictor.reload_weights``).
    """
    if settings.threads:
        torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    labelset = checkpoint.labelset
    n, ignore, names = labelset.num_classes, labelset.ignore_index, list(labelset.names)
    amp = autocast_dtype(device)
    model = copy.deepcopy(checkpoint.model).to(device)
    best_model = copy.deepcopy(checkpoint.model).to(device)
    teachers: dict = {}  # the starting model's answer per key, for distillation
    holdout: tuple[str, ...] = tuple(settings.previous_holdout)
    data = best_cms = optimizer = scheduler = criterion = batches = None
    round_no = step = 0
    while not should_stop():
        corrections = list_corrections()
        if len(corrections) < min_images:
            yield WaitingForCorrections(len(corrections))
            waited = 0.0
            while waited < poll_s and not should_stop():
                time.sleep(min(0.05, poll_s))
                waited += 0.05
            continue
        round_no += 1
        round_settings = dataclasses.replace(settings, previous_holdout=holdout)
        data = prepare_corrections(
            checkpoint, {k: c.image for k, c in corrections.items()}, {k: c.mask for k, c in corrections.items()},
            {k: c.verified for k, c in corrections.items() if c.verified is not None}, round_settings, device,
            teachers)
        if best_cms is None or tuple(data.holdout_keys) != holdout:
            best_cms = check(best_model, data, checkpoint, device)  # the same images for every comparison
        holdout = tuple(data.holdout_keys)
        best = corr.metrics_of(best_cms, n, ignore)
        if optimizer is None:  # kept across rounds: Adam's moments stay meaningful
            criterion, optimizer, scheduler = build_training(model, data, labelset, settings)
        else:
            criterion = build_training(model, data, labelset, settings)[0]  # class balance of the new data
        loader = DataLoader(data.train_set, batch_size=min(settings.batch_size, len(data.train_set)), shuffle=True,
                            generator=torch.Generator().manual_seed(settings.seed + round_no))
        batches = iter(loader)
        round_end = clock() + check_every_s
        loss = None
        while clock() < round_end:
            try:
                image_t, target_t = next(batches)
            except StopIteration:
                batches = iter(loader)
                continue
            loss = corr.corrective_step(model, optimizer, criterion, image_t, target_t, device, amp,
                                        settings.freeze_batchnorm)
            scheduler.step()
            step += 1
            yield ContinuousProgress(round_no, step, loss, len(data.train_keys), len(data.holdout_keys),
                                     best["mean_iou"])
            if should_stop():
                return
        after_cms = check(model, data, checkpoint, device)
        after = corr.metrics_of(after_cms, n, ignore)
        verdict = judge(best, after, names, settings.max_class_drop)
        if not verdict.better:
            yield CheckResult(round_no, step, verdict)
            continue
        best_model.load_state_dict(model.state_dict())
        uncertainty = iou_uncertainty(best_cms, after_cms, n, ignore, seed=settings.seed)
        best_cms = after_cms
        yield CandidateBetter(round_no, step, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                              after, verdict, uncertainty, list(data.train_keys), list(data.holdout_keys))

