import json
import os
import pickle
import struct

import pytest
import torch
from safetensors.torch import save as st_save
from safetensors.torch import save_file

from segstudio.core.labels import CAMVID, LabelSet
from segstudio.ml.checkpoint import (
    NORMALIZATION,
    CheckpointError,
    checkpoint_summary,
    load_checkpoint,
    load_state_dict_file,
    read_metadata,
    save_checkpoint,
)
from segstudio.ml.models.registry import build_model, model_config

torch.set_num_threads(1)
TWO = LabelSet(names=("background", "disc"), colors=((0, 0, 0), (255, 0, 0)), ignore_index=None)


def _trained_like(model):
    """Non-trivial BatchNorm statistics, so a missed buffer would show in the outputs."""
    torch.manual_seed(1)
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    return model.eval()


@pytest.fixture
def saved(tmp_path, tiny_config):
    config = tiny_config("unet-bn-dropout")
    model = _trained_like(build_model(config))
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, config, CAMVID, train_size={"mode": "resize", "size": 224},
                    record={"epochs": 3, "best_metrics": {"mean_iou": 0.5}})
    return path, model, config


def test_round_trip_gives_bit_identical_outputs_and_metadata(saved):
    path, model, config = saved
    loaded = load_checkpoint(path)
    assert not loaded.model.training
    x = torch.randn(2, 3, 37, 53)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    assert loaded.config == config and loaded.labelset == CAMVID and loaded.path == path
    assert loaded.normalization == NORMALIZATION
    assert loaded.train_size == {"mode": "resize", "size": 224} and loaded.record["epochs"] == 3
    meta = read_metadata(path)
    assert meta["config"]["name"] == "unet-bn-dropout" and len(meta["labels"]["classes"]) == 12
    assert meta["format_version"] == "1"
    assert checkpoint_summary(meta) == "unet-bn-dropout, 12 classes, width 4, trained at 224, 3 epochs, val mIoU 0.500"
    # the raw header carries the documented marker and JSON fields
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    raw = json.loads(path.read_bytes()[8 : 8 + n])["__metadata__"]
    assert raw["format"] == "segstudio-checkpoint" and json.loads(raw["labels"]) == CAMVID.to_dict()
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temp file


def test_fp16_checkpoint_is_half_the_size_and_loads_as_float32(saved, tiny_config):
    path, model, config = saved
    half = path.with_name("h.safetensors")
    save_checkpoint(half, model, config, CAMVID, half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    loaded = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), loaded.model(x)
    assert torch.allclose(a, b, rtol=1e-2, atol=1e-2 * a.abs().max().item())


def _rewrite_metadata(path, **changes):
    """The same tensors under edited metadata (values are JSON-encoded for you)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = dict(f.metadata())
    for key, value in changes.items():
        meta[key] = json.dumps(value) if not isinstance(value, str) else value
    path.write_bytes(st_save(tensors, metadata=meta))


def test_wrong_architecture_is_refused_with_a_message(saved):
    path, _, config = saved
    _rewrite_metadata(path, config={**config, "arch": "resnet50"})
    with pytest.raises(CheckpointError, match="unknown architecture 'resnet50'"):
        load_checkpoint(path)


def test_wrong_class_count_is_refused(saved, tiny_config):
    path, model, config = saved
    _rewrite_metadata(path, labels=TWO.to_dict())
    with pytest.raises(CheckpointError, match="12 classes but its label set has 2"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="12 classes but the label set 2"):
        save_checkpoint(path.with_name("x.safetensors"), model, config, TWO)
    # a config claiming 2 classes over a 12-class head: the head's shapes say so
    _rewrite_metadata(path, config={**config, "num_classes": 2})
    head = r"wrong shapes.*head\.weight: file \(12, 4, 1, 1\) vs model \(2, 4, 1, 1\)"
    with pytest.raises(CheckpointError, match=head):
        load_checkpoint(path)


def test_missing_unexpected_and_mismatched_keys_are_named(saved, tiny_config):
    path, _, _ = saved
    wider = r"wrong shapes \(e\.g\. encoders\.0\.0\.weight: file \(4, 3, 3, 3\) vs model \(8"
    with pytest.raises(CheckpointError, match=wider):
        load_state_dict_file(path, tiny_config("unet-bn-dropout", base_width=8), CAMVID)
    unexpected = r"99 unexpected keys \(e\.g\. bottleneck\.1\.bias, bottleneck\.1\.num_batches_tracked"
    with pytest.raises(CheckpointError, match=unexpected) as info:
        load_state_dict_file(path, tiny_config("unet"), CAMVID)  # no BatchNorm in "unet"
    assert "missing keys (e.g. encoders.0.0.bias" in str(info.value)


def test_not_a_segstudio_checkpoint(tmp_path, tiny_config):
    config = tiny_config("unet")
    model = build_model(config).eval()
    save_file(model.state_dict(), tmp_path / "bare.safetensors")
    with pytest.raises(CheckpointError, match="not a SegStudio checkpoint.*--arch"):
        load_checkpoint(tmp_path / "bare.safetensors")
    loaded = load_state_dict_file(tmp_path / "bare.safetensors", config, CAMVID)  # with an explicit arch
    x = torch.randn(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_truncated_and_oversized_headers_are_refused(saved):
    path, _, _ = saved
    data = path.read_bytes()
    folder = path.parent
    (folder / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(folder / "cut.safetensors")
    (folder / "cut_header.safetensors").write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="header claims .* bytes but the file has 100"):
        read_metadata(folder / "cut_header.safetensors")
    (folder / "huge.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{}" * 10)
    with pytest.raises(CheckpointError, match="header claims 1099511627776 bytes"):
        load_checkpoint(folder / "huge.safetensors")
    (folder / "short.safetensors").write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="too short"):
        load_checkpoint(folder / "short.safetensors")
    (folder / "text.safetensors").write_bytes(struct.pack("<Q", 5) + b"hello")
    with pytest.raises(CheckpointError, match="corrupt safetensors header"):
        load_checkpoint(folder / "text.safetensors")


REFUSED = (
    r"needs arbitrary pickle code to load \((it asks for posix\.(system|mkdir)|Unsupported operand 149)\); "
    "SegStudio never runs that"
)


class SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class MkdirPayload(SystemPayload):
    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pt_with_a_pickle_payload_is_refused_and_never_runs(tmp_path, tiny_config):
    marker = tmp_path / "pwned"
    torch.save({"head.weight": SystemPayload(str(marker))}, tmp_path / "evil.pt")  # torch's zip format
    with open(tmp_path / "evil.pth", "wb") as handle:  # a bare legacy pickle
        pickle.dump({"state_dict": MkdirPayload(str(marker))}, handle, protocol=2)
    with open(tmp_path / "evil4.pt", "wb") as handle:  # protocol 4 fails at its first opcode
        pickle.dump({"state_dict": MkdirPayload(str(marker))}, handle, protocol=4)
    for name in ("evil.pt", "evil.pth", "evil4.pt"):
        with pytest.raises(CheckpointError, match=REFUSED):
            load_checkpoint(tmp_path / name)
        with pytest.raises(CheckpointError, match="never runs that"):
            load_state_dict_file(tmp_path / name, tiny_config("unet"), CAMVID)
        assert not marker.exists()


def test_plain_pt_state_dicts_load_with_an_explicit_architecture(tmp_path, tiny_config):
    config = tiny_config("unet-bn")
    model = _trained_like(build_model(config))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="without SegStudio metadata.*--arch"):
        load_checkpoint(tmp_path / "plain.pt")
    loaded = load_state_dict_file(tmp_path / "plain.pt", config, CAMVID)
    x = torch.randn(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    # plain data (dicts, strings, tensors) with our metadata is a full checkpoint
    torch.save({"config": config, "labels": CAMVID.to_dict(), "state_dict": model.state_dict()}, tmp_path / "full.pth")
    assert load_checkpoint(tmp_path / "full.pth").labelset == CAMVID
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        load_state_dict_file(tmp_path / "junk.pt", config, CAMVID)


def test_vgg_checkpoint_round_trip(tmp_path):
    config = model_config("vgg16-unet-bn", num_classes=2)
    model = _trained_like(build_model(config))
    save_checkpoint(tmp_path / "v.safetensors", model, config, TWO, half=True)
    loaded = load_checkpoint(tmp_path / "v.safetensors")
    assert loaded.labelset == TWO and loaded.config["encoder_batch_norm"] is True
    assert torch.equal(loaded.model.features[41].running_var, model.features[41].running_var.half().float())
