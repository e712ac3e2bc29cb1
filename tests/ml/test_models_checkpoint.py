import os
import pickle

import numpy as np
import pytest
import torch

from segstudio.core.labels import CAMVID, LabelSet
from segstudio.ml.checkpoint import CheckpointError, load_checkpoint, load_state_dict_file, read_metadata, save_checkpoint
from segstudio.ml.encoder_weights import EncoderWeightsError
from segstudio.ml.models.registry import MODEL_NAMES, build_model, model_config

torch.set_num_threads(1)


def small(name, **kw):
    return model_config(name, **({"base_width": 4} if name.startswith("unet") else {}), **kw)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_registry_model_gives_logits_for_odd_sizes(name):
    model = build_model(small(name)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 37, 53)).shape == (2, 12, 37, 53)
        if name.startswith("unet"):
            assert model(torch.randn(1, 3, 360, 480)).shape == (1, 12, 360, 480)


def test_bilinear_upsampling_and_unknown_options():
    model = build_model(model_config("unet", base_width=4, upsample="bilinear")).eval()
    assert model(torch.randn(1, 3, 21, 30)).shape == (1, 12, 21, 30)
    with pytest.raises(ValueError, match="choose one of"):
        model_config("resnet")
    with pytest.raises(ValueError, match="no option"):
        model_config("vgg16-unet", base_width=8)


def test_small_unet_overfits_a_two_class_image():
    torch.manual_seed(0)
    yy, xx = np.mgrid[:32, :32]
    target = torch.from_numpy(((yy - 16) ** 2 + (xx - 16) ** 2 < 80).astype(np.int64))[None]
    image = target.float()[None].repeat(1, 3, 1, 1) * 0.5 + torch.randn(1, 3, 32, 32) * 0.1
    model = build_model(model_config("unet-bn", base_width=8, num_classes=2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(image), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    acc = (model(image).argmax(1) == target).float().mean().item()
    assert acc > 0.95


def test_checkpoint_round_trip_is_bit_identical(tmp_path):
    config = small("unet-bn-dropout")
    model = build_model(config).eval()
    save_checkpoint(tmp_path / "m.safetensors", model, config, CAMVID, train_size={"mode": "native"}, record={"epochs": 3})
    loaded = load_checkpoint(tmp_path / "m.safetensors")
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    assert loaded.labelset == CAMVID and loaded.record["epochs"] == 3
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["config"]["name"] == "unet-bn-dropout" and len(meta["labels"]["classes"]) == 12


def test_fp16_checkpoint_loads_close(tmp_path):
    config = small("unet-bn")
    model = build_model(config).eval()
    save_checkpoint(tmp_path / "h.safetensors", model, config, CAMVID, half=True)
    assert (tmp_path / "h.safetensors").stat().st_size < 0.6 * sum(p.numel() * 4 for p in model.parameters()) + 4096
    loaded = load_checkpoint(tmp_path / "h.safetensors")
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded.model(x), atol=5e-2)


def test_wrong_architecture_or_classes_refused(tmp_path):
    config = small("unet")
    save_checkpoint(tmp_path / "m.safetensors", build_model(config), config, CAMVID)
    other = model_config("unet", base_width=8)
    with pytest.raises(CheckpointError, match="wrong shapes"):
        load_state_dict_file(tmp_path / "m.safetensors", other, CAMVID)
    two = LabelSet(names=("a", "b"), colors=((0, 0, 0), (1, 1, 1)))
    with pytest.raises(CheckpointError, match="12 classes but the label set 2"):
        save_checkpoint(tmp_path / "x.safetensors", build_model(config), config, two)


def test_truncated_and_oversized_headers_refused(tmp_path):
    config = small("unet")
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, build_model(config), config, CAMVID)
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt|truncated"):
        load_checkpoint(tmp_path / "cut.safetensors")
    (tmp_path / "big.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "big.safetensors")
    (tmp_path / "text.safetensors").write_text("hello, not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.safetensors")


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump({"weight": Payload(marker)}, handle)
    with pytest.raises(CheckpointError, match="never runs"):
        load_state_dict_file(tmp_path / "evil.pt", small("unet"), CAMVID)
    assert not os.path.exists(marker)


def _vgg_features():
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["D"], batch_norm=False)


def test_local_encoder_weights_load(tmp_path):
    from safetensors.torch import save_file

    # torchvision's key layout ("features.N...") without building the 138M-parameter classifier.
    reference = _vgg_features()
    torch.save({f"features.{k}": v for k, v in reference.state_dict().items()}, tmp_path / "vgg16.pth")
    model = build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "vgg16.pth")
    assert torch.equal(model.features[0].weight, reference[0].weight)
    save_file(dict(reference.state_dict()), tmp_path / "features.safetensors")
    model = build_model(model_config("vgg16-unet"), encoder_weights=tmp_path / "features.safetensors")
    assert torch.equal(model.features[28].weight, reference[28].weight)
    with pytest.raises(EncoderWeightsError, match="do not fit"):
        build_model(model_config("vgg16-unet-bn"), encoder_weights=tmp_path / "vgg16.pth")


def test_imagenet_offline_names_the_file_to_download(tmp_path, monkeypatch):
    import urllib.error

    torch.hub.set_dir(str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(EncoderWeightsError) as info:
        build_model(model_config("vgg16-unet"), encoder_weights="imagenet")
    assert "vgg16-397923af.pth" in str(info.value) and "checkpoints" in str(info.value)
