"""The inference copy: same outputs as the checkpoint's module, which stays untouched."""

import torch
from torch import nn

from segstudio.ml.inference_model import fold_batch_norm, inference_model
from segstudio.ml.models.registry import build_model, model_config


def _trained_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm running statistics and affine parameters."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model


def test_folding_keeps_the_outputs_and_removes_every_batch_norm():
    model = _trained_statistics(build_model(model_config("unet-bn", base_width=8))).eval()
    x = torch.randn(2, 3, 37, 53)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batch_norm(model)
        got = model(x)
    assert folded == 18  # two per double conv, nine double convs at depth 4
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_the_inference_copy_leaves_the_checkpoint_module_as_it_was():
    model = _trained_statistics(build_model(model_config("unet-bn-dropout", base_width=8))).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = inference_model(model, torch.device("cpu"))
    assert model.training and any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not twin.training and not any(p.requires_grad for p in twin.parameters())
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(twin(x.contiguous(memory_format=torch.channels_last)),
                                   model.eval()(x), rtol=1e-4, atol=1e-4)


def test_a_model_without_batch_norm_is_copied_unchanged():
    model = build_model(model_config("unet", base_width=8)).eval()
    assert fold_batch_norm(model) == 0
