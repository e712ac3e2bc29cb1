"""The copy of a network that inference runs: BatchNorm folded, channels-last.

Inference never runs the checkpoint's own module: retraining starts from it
(and needs its BatchNorm layers), and a folded copy is also what makes the
CPU fast. Measured on the shipped U-Net-BN at 480x360 on 2 CPU threads
(``benchmarks/bench_latency.py``): channels-last memory format
(oneDNN's preferred layout for convolutions) and folding each BatchNorm into
the convolution before it take the forward pass from 251 to 179 ms (median; best 224 -> 147).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batch_norm(module: nn.Module) -> int:
    """Folds every ``Conv2d -> BatchNorm2d`` pair inside an ``nn.Sequential`` into
    the convolution (eval-mode statistics), in place; returns how many were folded.

    Only direct neighbours in a ``Sequential`` are folded: there the order of
    execution is the order of the children, so the pair is certainly
    conv-then-BN with nothing in between.
    """
    folded = 0
    for child in module.children():
        folded += fold_batch_norm(child)
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = module._modules[first], module._modules[second]
            if (isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d and bn.track_running_stats
                    and bn.running_mean is not None):
                module._modules[first] = fuse_conv_bn_eval(conv, bn)
                module._modules[second] = nn.Identity()
                folded += 1
    return folded


def inference_model(model: nn.Module, device: torch.device) -> nn.Module:
    """An eval-mode copy of ``model`` on ``device``, BatchNorm folded, channels-last.

    On MPS the memory format is left alone (channels-last is not faster there).
    """
    twin = copy.deepcopy(model).eval()
    with torch.no_grad():
        fold_batch_norm(twin)
    twin = twin.to(device)
    if device.type in ("cpu", "cuda"):
        twin = twin.to(memory_format=torch.channels_last)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


__all__ = ["fold_batch_norm", "inference_model"]
