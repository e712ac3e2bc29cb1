import json

import numpy as np
import pytest
import torch
from torch import nn

from segstudio.ml.encoder_weights import EncoderWeightsError, freeze_encoder, imagenet_cache_path
from segstudio.ml.models import MODEL_NAMES, UNet, VGG16UNet, build_model, model_config
from segstudio.ml.models.vgg_unet import ENCODER_CHANNELS

torch.set_num_threads(1)


def test_registry_names_are_the_studys_six_and_the_lite_unets():
    assert MODEL_NAMES == (
        "unet", "unet-bn", "unet-bn-dropout", "vgg16-unet", "vgg16-unet-bn", "vgg16-unet-bn-dropout",
        "lite0-unet", "lite1-unet", "lite2-unet",
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registry_model_gives_logits_for_odd_sizes(name, tiny_config):
    torch.manual_seed(0)
    model = build_model(tiny_config(name)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 37, 53))
    assert out.shape == (1, 12, 37, 53) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["unet", "unet-bn-dropout"])
def test_small_unets_at_camvid_size_and_batch_two(name, tiny_config):
    model = build_model(tiny_config(name, base_width=2)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 360, 480)).shape == (1, 12, 360, 480)
        assert model(torch.randn(2, 3, 5, 3)).shape == (2, 12, 5, 3)  # smaller than the padding


def test_configs_are_json_and_rebuild_the_same_network(tiny_config):
    for name in MODEL_NAMES:
        config = tiny_config(name)
        assert json.loads(json.dumps(config)) == config
        assert config["num_classes"] == 12 and config["arch"] in ("unet", "vgg16_unet", "lite_unet")
    assert model_config("vgg16-unet-bn")["encoder_batch_norm"] is True
    assert model_config("vgg16-unet")["encoder_batch_norm"] is False
    assert model_config("unet-bn-dropout")["dropout"] == 0.5
    config = model_config("unet", base_width=3, depth=2, num_classes=5, upsample="bilinear")
    a, b = build_model(config), build_model(json.loads(json.dumps(config)))
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]
    assert a(torch.randn(1, 3, 9, 11)).shape == (1, 5, 9, 11)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: model_config("resnet"), "choose one of: unet, unet-bn, .*vgg16-unet-bn-dropout"),
        (lambda: model_config("vgg16-unet", base_width=8), "no option 'base_width'.*encoder_batch_norm"),
        (lambda: model_config("unet", upsample="nearest"), "upsample must be one of transpose, bilinear"),
        (lambda: model_config("unet", dropout=1.5), "dropout"),
        (lambda: model_config("unet", num_classes=0), "num_classes"),
        (lambda: model_config("vgg16-unet", depth=4), "5 poolings"),
        (lambda: build_model({"arch": "resnet"}), "unknown architecture 'resnet'; known: unet, vgg16_unet, lite_unet"),
        (lambda: build_model({**model_config("unet"), "widht": 3}), "unknown option.*'widht'"),
        (lambda: build_model(model_config("unet"), encoder_weights="imagenet"), "pretrained encoder.*vgg16-unet.*lite0-unet.*not to unet"),
    ],
)
def test_unknown_names_and_options_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unet_structure_follows_the_study():
    model = UNet(base_width=4, depth=3, batch_norm=True, dropout=0.5)
    assert len(model.encoders) == 3 and len(model.decoders) == 3
    assert isinstance(model.decoders[0].up, nn.ConvTranspose2d) and model.decoders[0].up.kernel_size == (2, 2)
    convs = [m for m in model.encoders[0] if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (3, 3)]
    # Dropout2d in the bottleneck and each decoder block, nowhere in the contracting path.
    assert sum(isinstance(m, nn.Dropout2d) for m in model.modules()) == 1 + 3
    assert not any(isinstance(m, nn.Dropout2d) for m in model.encoders.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in UNet(base_width=4).modules())
    bilinear = UNet(base_width=4, depth=2, upsample="bilinear")
    assert isinstance(bilinear.decoders[0].up[0], nn.Upsample)
    # kaiming (fan_out) init: std ~ sqrt(2 / (out_channels * 9))
    w = UNet(base_width=16).encoders[1][0].weight
    assert abs(w.std().item() - (2 / (32 * 9)) ** 0.5) < 0.03


def test_vgg_encoder_stages_have_the_contracted_channels_and_strides():
    model = VGG16UNet(encoder_batch_norm=True, batch_norm=True).eval()
    with torch.no_grad():
        *skips, bottom = model.encode(torch.randn(1, 3, 64, 96))
    assert [s.shape[1] for s in skips] == list(ENCODER_CHANNELS)
    assert [64 // s.shape[2] for s in skips] == [1, 2, 4, 8, 16]
    assert bottom.shape[2:] == (2, 3)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.features)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.decoders.modules())
    plain = VGG16UNet()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    # torchvision's vgg16().features numbering, so its state dicts map key for key
    assert "28.weight" in plain.features.state_dict() and "41.running_var" in model.features.state_dict()


def test_small_unet_overfits_a_two_class_image():
    torch.manual_seed(0)
    yy, xx = np.mgrid[:32, :32]
    target = torch.from_numpy(((yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 100).astype(np.int64))[None]
    image = target.float()[None].repeat(1, 3, 1, 1) * 0.5 + torch.randn(1, 3, 32, 32) * 0.1
    model = build_model(model_config("unet-bn", base_width=8, depth=3, num_classes=2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    accuracy = 0.0
    for step in range(200):
        logits = model(image)
        loss = nn.functional.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19:
            model.eval()
            with torch.no_grad():
                accuracy = (model(image).argmax(1) == target).float().mean().item()
            model.train()
            if accuracy > 0.98:
                break
    assert accuracy > 0.95, f"pixel accuracy {accuracy:.3f} after {step + 1} steps"


def test_freeze_encoder_stops_only_encoder_gradients(tiny_config):
    model = build_model(tiny_config("unet-bn"))
    assert freeze_encoder(model) > 0
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in model.encoders.parameters())
    assert all(p.grad is not None for p in model.decoders.parameters())
    freeze_encoder(model, frozen=False)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="no encoder"):
        freeze_encoder(nn.Linear(2, 2))


def _vgg_features_state(batch_norm=False, seed=0):
    """A randomly initialised torchvision VGG16 ``features`` (its own make_layers, key for key)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(seed)
    features = make_layers(cfgs["D"], batch_norm=batch_norm)
    for m in features.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so a missed copy shows
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return features.state_dict()


def _assert_encoder_equals(model, features_state):
    own = model.features.state_dict()
    assert own.keys() == features_state.keys()
    for key, value in features_state.items():
        assert torch.equal(own[key], value), key


def test_local_encoder_weights_pth_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    features = _vgg_features_state()
    # A whole torchvision VGG state dict: features.N... plus classifier keys to ignore.
    full = {f"features.{k}": v for k, v in features.items()}
    full["classifier.0.weight"] = torch.randn(8, 4)
    full["classifier.0.bias"] = torch.randn(8)
    torch.save(full, tmp_path / "vgg16.pth")
    _assert_encoder_equals(build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "vgg16.pth"), features)
    save_file(features, tmp_path / "features.safetensors")  # features only
    model = build_model(model_config("vgg16-unet"), encoder_weights=str(tmp_path / "features.safetensors"))
    _assert_encoder_equals(model, features)
    assert model(torch.randn(1, 3, 37, 53)).shape == (1, 12, 37, 53)

    bn = _vgg_features_state(batch_norm=True)
    save_file(bn, tmp_path / "bn.safetensors")
    _assert_encoder_equals(
        build_model(model_config("vgg16-unet-bn-dropout"), encoder_weights=tmp_path / "bn.safetensors"), bn
    )
    with pytest.raises(EncoderWeightsError, match="do not fit the VGG16-BN encoder.*missing"):
        build_model(model_config("vgg16-unet-bn"), encoder_weights=tmp_path / "vgg16.pth")
    with pytest.raises(EncoderWeightsError, match="does not exist"):
        build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "nope.pth")


@pytest.mark.slow
def test_weights_of_a_real_torchvision_vgg16_load(tmp_path):
    from torchvision.models import vgg16

    reference = vgg16(weights=None).state_dict()
    torch.save(reference, tmp_path / "vgg16.pth")
    model = build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "vgg16.pth")
    _assert_encoder_equals(model, {k[9:]: v for k, v in reference.items() if k.startswith("features.")})


def test_encoder_weights_file_with_a_pickle_payload_is_refused(tmp_path):
    import os
    import pickle

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    with open(tmp_path / "evil.pth", "wb") as handle:
        pickle.dump({"features.0.weight": Payload()}, handle, protocol=2)
    with pytest.raises(EncoderWeightsError, match="never runs"):
        build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "evil.pth")
    assert not marker.exists()


@pytest.mark.parametrize(
    "name, filename", [("vgg16-unet", "vgg16-397923af.pth"), ("vgg16-unet-bn", "vgg16_bn-6c64b313.pth")]
)
def test_imagenet_offline_names_the_file_and_where_to_put_it(name, filename, empty_hub_dir, offline):
    with pytest.raises(EncoderWeightsError) as info:
        build_model(model_config(name), encoder_weights="imagenet")
    message = str(info.value)
    assert f"https://download.pytorch.org/models/{filename}" in message
    assert str(empty_hub_dir / "checkpoints" / filename) in message
    assert "--encoder-weights FILE" in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_imagenet_reads_the_hub_cache_without_downloading(empty_hub_dir, offline):
    features = _vgg_features_state(seed=3)
    target = imagenet_cache_path(encoder_batch_norm=False)
    assert target == empty_hub_dir / "checkpoints" / "vgg16-397923af.pth"
    target.parent.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in features.items()}, target)
    _assert_encoder_equals(build_model(model_config("vgg16-unet"), encoder_weights="imagenet"), features)

    target.write_bytes(b"half a download")
    with pytest.raises(EncoderWeightsError, match="delete that file"):
        build_model(model_config("vgg16-unet"), encoder_weights="imagenet")


def test_building_a_model_never_downloads(empty_hub_dir, offline):
    for name in ("vgg16-unet", "vgg16-unet-bn"):
        build_model(model_config(name))
    assert not (empty_hub_dir / "checkpoints").exists()


def test_benchmark_script_prints_a_markdown_table(capsys):
    from benchmarks.bench_models import main

    before = torch.get_num_threads()
    try:
        assert main(["--models", "unet", "--batch-sizes", "1", "--repeats", "1", "--device", "cpu",
                     "--size", "16x24", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    out = capsys.readouterr().out
    assert "| device | model | params (M) | batch | inference (images/s) | training step (s) |" in out
    assert "| unet | 31.0 | 1 |" in out
