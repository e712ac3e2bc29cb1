"""ml.state_files: one reader for weight files, shared by checkpoints and encoder weights."""

import pytest
import torch
from safetensors.torch import save_file

from segstudio.ml.state_files import StateFileError, compare_state, load_checked, read_state_dict

STATE = {"conv.weight": torch.arange(6.0).reshape(2, 3), "conv.bias": torch.zeros(2)}


def test_both_formats_read_the_same_tensors(tmp_path):
    save_file(STATE, tmp_path / "w.safetensors")
    torch.save({"state_dict": {f"module.{k}": v for k, v in STATE.items()}}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        got = read_state_dict(tmp_path / name)
        assert set(got) == set(STATE) and all(torch.equal(got[k], STATE[k]) for k in STATE), name


def test_a_truncated_safetensors_file_is_refused_before_reading_tensors(tmp_path):
    save_file(STATE, tmp_path / "w.safetensors")
    data = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "w.safetensors").write_bytes(data[:-4])
    with pytest.raises(StateFileError, match="truncated or corrupt"):
        read_state_dict(tmp_path / "w.safetensors")


def test_mismatches_are_counted_and_named():
    own = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    state = {"a": torch.zeros(2), "b": torch.zeros(4), "x.10": torch.zeros(1), "x.2": torch.zeros(1)}
    mismatch = compare_state(own, state)
    assert mismatch.missing == ("c",) and mismatch.unexpected == ("x.2", "x.10")
    assert str(mismatch) == ("1 missing keys (e.g. c); 2 unexpected keys (e.g. x.2, x.10); "
                             "1 wrong shapes (e.g. b: file (4,) vs model (3,))")
    assert not compare_state(own, own)


def test_load_checked_copies_nothing_when_anything_does_not_fit():
    module = torch.nn.Linear(3, 2)
    before = module.weight.detach().clone()
    with pytest.raises(StateFileError, match=r"^x does not fit: 1 missing keys \(e\.g\. bias\)"):
        load_checked(module, {"weight": torch.ones(2, 3)}, "x does not fit")
    assert torch.equal(module.weight, before)
    load_checked(module, {"weight": torch.ones(2, 3, dtype=torch.float64), "bias": torch.ones(2)}, "x")
    assert module.weight.dtype == torch.float32 and torch.equal(module.weight, torch.ones(2, 3))
