"""The receptive radius and pooling grid that tiling relies on, checked against a probe."""

import copy

import pytest
import torch
from torch import nn

from segstudio.ml.inference_model import fold_batch_norm
from segstudio.ml.models.registry import build_model, model_config
from segstudio.ml.receptive_field import input_multiple, receptive_radius


def probed_radius(model: nn.Module, height: int, offsets) -> int:
    """How far one input pixel reaches, measured: every weight made positive and every
    nonlinearity linear (max-pool -> average), so no contribution can cancel or be cut
    by a ReLU; a one-pixel input then lights up exactly the outputs that can see it."""
    probe = copy.deepcopy(model).eval().double()
    fold_batch_norm(probe)
    for module in list(probe.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, (nn.ReLU, nn.Dropout2d, nn.BatchNorm2d)):
                setattr(module, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(module, name, nn.AvgPool2d(child.kernel_size, child.stride))
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
    offsets = list(offsets)  # every phase of the pooling grid, one image each
    width = 32
    x = torch.zeros(len(offsets), 3, height, width, dtype=torch.float64)
    for i, offset in enumerate(offsets):
        x[i, :, height // 2 + offset, width // 2] = 1.0
    with torch.no_grad():
        lit = probe(x).abs().sum(dim=(1, 3)) > 0  # N x rows
    reach = 0
    for i, offset in enumerate(offsets):
        y = height // 2 + offset
        rows = lit[i].nonzero().flatten()
        reach = max(reach, y - int(rows.min()), int(rows.max()) - y)
    return reach


@pytest.mark.parametrize("name, overrides", [
    ("unet-bn", {"base_width": 2, "depth": 2}),
    ("unet-bn", {"base_width": 2, "depth": 4}),
    ("unet", {"base_width": 2, "depth": 3, "upsample": "bilinear"}),
])
def test_unet_radius_matches_the_probe(name, overrides):
    config = model_config(name, **overrides)
    multiple = input_multiple(config)
    assert multiple == 2 ** overrides["depth"]
    measured = probed_radius(build_model(config), 512, range(multiple))
    assert receptive_radius(config) == measured


@pytest.mark.slow
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_vgg16_unet_radius_matches_the_probe(upsample):
    config = model_config("vgg16-unet-bn", upsample=upsample)
    assert receptive_radius(config) == probed_radius(build_model(config), 1024, range(0, 32, 3))


def test_unknown_models_have_no_radius():
    assert receptive_radius({"num_classes": 12}) is None and input_multiple({}) is None
