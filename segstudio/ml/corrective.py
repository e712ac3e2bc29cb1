"""Corrective training: learn from the pixels a person verified, keep the rest of what the model knew.

The pieces ``ml.finetune`` and ``ml.continuous`` share:

- ``encode_targets``: one uint8 target per image. A verified pixel holds its
  class id (the ignore class stays ignored); an unverified pixel holds
  ``num_classes + teacher class`` (the previous model's answer, for
  distillation) or ``UNLABELLED`` (255, no loss at all). One integer map,
  so the usual paired crops/flips move targets and teacher labels together.
- ``CorrectiveLoss``: cross-entropy on verified pixels (class-balanced by the
  verified pixel counts) + ``distill_weight`` x cross-entropy toward the
  teacher's labels on unverified pixels.
- ``freeze_batchnorm``: BatchNorm layers stay in eval mode while fine-tuning.
  Measured (docs/results.md, "Retraining from corrections"): re-estimating
  BN statistics from a few crops of a handful of frames shifts every
  feature map and costs mean IoU on images the model was not trained on.
- ``param_groups``: a lower learning rate for the encoder.
- ``corrective_step``: one optimisation step: ``ml.train.train_step`` with
  the corrective loss as its criterion (BatchNorm frozen around it).
- ``agreement_truth``: a partly verified held-out image is also judged on
  its unverified pixels against the previous model's answer (agreement),
  so that the check shows forgetting as well as fixed errors.
- ``confusion_per_image``: held-out images checked one by one, as
  auto-segment predicts them, so the check can report its uncertainty.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from segstudio.ml.metrics import ConfusionMatrix
from segstudio.ml.train import train_step

UNLABELLED = 255


def encode_targets(
    mask: np.ndarray,
    verified: np.ndarray | None,
    num_classes: int,
    teacher: np.ndarray | None = None,
) -> np.ndarray:
    """The training target of one image (see the module docstring); ``verified=None`` = all verified."""
    if 2 * num_classes >= UNLABELLED:
        raise ValueError(f"{num_classes} classes do not fit the corrective target encoding")
    mask = np.asarray(mask, np.uint8)
    if verified is None:
        return mask.copy()
    if verified.shape != mask.shape:
        raise ValueError(f"verified pixels are {verified.shape} but the mask is {mask.shape}")
    if teacher is None:
        unverified = np.full(mask.shape, UNLABELLED, np.uint8)
    else:
        unverified = (teacher.astype(np.uint8) + num_classes).astype(np.uint8)
    return np.where(verified, mask, unverified).astype(np.uint8)


def verified_only(mask: np.ndarray, verified: np.ndarray | None, ignore_index: int | None) -> np.ndarray:
    """The mask with unverified pixels set to the ignore index: the truth a held-out check may use."""
    if verified is None:
        return mask
    return np.where(verified, mask, UNLABELLED if ignore_index is None else ignore_index).astype(np.uint8)


def agreement_truth(verified: np.ndarray | None, previous_answer: np.ndarray | None,
                    ignore_index: int | None) -> np.ndarray | None:
    """The previous model's answer on the unverified pixels (verified ones ignored); None when all are verified.

    A partly corrected image's verified pixels are the previous model's
    errors, so judged on them alone it scores ~0 before and any change looks
    better. ``confusion_per_image`` also judges the unverified pixels for
    agreement with the previous model, with the same total weight as the
    verified ones: a model that forgets (changes what nobody corrected) then
    scores lower, and a random change loses more than it gains.
    """
    if verified is None or previous_answer is None or verified.all():
        return None
    void = UNLABELLED if ignore_index is None else ignore_index
    return np.where(verified, void, previous_answer).astype(np.uint8)


class CorrectiveLoss(nn.Module):
    """Cross-entropy on verified pixels + ``distill_weight`` x cross-entropy toward the teacher elsewhere."""

    def __init__(
        self, num_classes: int, ignore_index: int | None, class_weights: torch.Tensor | None = None,
        distill_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_classes, self.ignore_index, self.distill_weight = num_classes, ignore_index, distill_weight
        self.register_buffer("class_weights", class_weights if class_weights is not None else None)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        n = self.num_classes
        logits = logits.float()
        verified = targets < n
        if self.ignore_index is not None:
            verified &= targets != self.ignore_index
        loss = logits.sum() * 0.0  # keeps the graph when a batch has no usable pixel
        if verified.any():
            weight = self.class_weights.to(logits.device) if self.class_weights is not None else None
            loss = loss + F.cross_entropy(logits, torch.where(verified, targets, -100), weight=weight,
                                          ignore_index=-100)
        taught = (targets >= n) & (targets < 2 * n)
        if self.distill_weight > 0 and taught.any():
            loss = loss + self.distill_weight * F.cross_entropy(
                logits, torch.where(taught, targets - n, -100), ignore_index=-100)
        return loss


def verified_class_counts(targets: list[np.ndarray], num_classes: int) -> np.ndarray:
    """Verified pixels per class over the training targets (teacher and unlabelled pixels left out)."""
    counts = np.zeros(num_classes, np.int64)
    for target in targets:
        counts += np.bincount(target.ravel(), minlength=256)[:num_classes]
    return counts


def freeze_batchnorm(model: nn.Module) -> int:
    """Puts every BatchNorm layer in eval mode (running statistics fixed); returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            count += 1
    return count


def param_groups(model: nn.Module, lr: float, encoder_lr_factor: float = 1.0) -> list[dict]:
    """Optimizer groups: the encoder (``model.encoder_modules()``, when the model has one) at a lower rate."""
    params = [p for p in model.parameters() if p.requires_grad]
    if encoder_lr_factor == 1.0 or not hasattr(model, "encoder_modules"):
        return [{"params": params, "lr": lr}]
    encoder_ids = {id(p) for p in model.encoder_modules().parameters()}
    encoder = [p for p in params if id(p) in encoder_ids]
    rest = [p for p in params if id(p) not in encoder_ids]
    return [{"params": rest, "lr": lr}, {"params": encoder, "lr": lr * encoder_lr_factor}]


def corrective_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module,
    images: torch.Tensor, targets: torch.Tensor, device: torch.device, amp_dtype: torch.dtype | None = None,
    batchnorm_frozen: bool = True,
) -> float:
    """One ``ml.train.train_step`` with the corrective loss; BatchNorm frozen when asked."""
    model.train()
    if batchnorm_frozen:
        freeze_batchnorm(model)
    loss = train_step(model, images.to(device), targets.to(device), optimizer, criterion, amp_dtype=amp_dtype)
    return float(loss)


@torch.no_grad()
def confusion_per_image(checkpoint, model: nn.Module, images: list[np.ndarray], truths: list[np.ndarray],
                        device: torch.device, agreements: list[np.ndarray | None] | None = None) -> list[np.ndarray]:
    """One confusion matrix per image (rows truth) of ``model`` predicting as the app does.

    ``ml.inference.Predictor`` runs a folded copy of ``model`` (the checkpoint's
    other fields give normalisation, input size and labels), with its sliding
    window for big photos: the check measures what auto-segment would produce.
    ``agreements[i]`` (``agreement_truth``), when given, adds image i's
    agreement matrix scaled to the same pixel count as its verified one.
    """
    from segstudio.ml.inference import Predictor

    labels = checkpoint.labelset
    predictor = Predictor(dataclasses.replace(checkpoint, model=model), device)
    agreements = agreements or [None] * len(images)
    matrices = []
    for image, truth, agreement in zip(images, truths, agreements):
        matrices.append(judged_matrix(predictor.predict(image).mask, truth, agreement, labels.num_classes,
                                      labels.ignore_index))
    return matrices


def judged_matrix(predicted: np.ndarray, truth: np.ndarray, agreement: np.ndarray | None, num_classes: int,
                  ignore_index: int | None) -> np.ndarray:
    """The confusion matrix of one held-out image: verified pixels, plus agreement scaled to the same weight."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    cm.update(predicted, truth)
    if agreement is None:
        return cm.matrix
    agree = ConfusionMatrix(num_classes, ignore_index)
    agree.update(predicted, agreement)
    ids = [c for c in range(num_classes) if c != ignore_index]  # rows that count for IoU
    verified_count, agreement_count = int(cm.matrix[ids].sum()), int(agree.matrix[ids].sum())
    if agreement_count:
        cm.matrix += np.rint(agree.matrix * (verified_count / agreement_count)).astype(np.int64)
    return cm.matrix


def metrics_of(matrices: list[np.ndarray], num_classes: int, ignore_index: int | None) -> dict:
    """``ConfusionMatrix.compute()`` of the summed matrices."""
    cm = ConfusionMatrix(num_classes, ignore_index)
    for matrix in matrices:
        cm.matrix += matrix
    return cm.compute()
