import pytest
import torch

from segstudio.ml import device as dev
from segstudio.ml.device import DeviceError, autocast_dtype, choose_device, limit_cpu_threads


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)


def test_auto_falls_back_to_cpu_and_says_why(no_gpu):
    device, reason = choose_device("auto")
    assert device == torch.device("cpu")
    assert reason.startswith("CUDA not available (") and "MPS not available" in reason and "using CPU" in reason
    assert choose_device()[0].type == "cpu" and choose_device(None)[0].type == "cpu"


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Test GPU")
    assert choose_device("auto") == (torch.device("cuda"), "CUDA: Test GPU")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    device, reason = choose_device("AUTO")
    assert device.type == "mps" and "CUDA not available" in reason


def test_explicit_devices(no_gpu):
    assert choose_device("cpu")[0] == torch.device("cpu")
    with pytest.raises(DeviceError, match="CUDA was asked for but is not available"):
        choose_device("cuda")
    with pytest.raises(DeviceError, match="CUDA was asked for"):
        choose_device("cuda:1")
    with pytest.raises(DeviceError, match="MPS was asked for"):
        choose_device("mps")
    with pytest.raises(DeviceError, match="choose one of: auto, cpu, cuda, mps"):
        choose_device("tpu")
    assert issubclass(DeviceError, ValueError)


def test_autocast_dtype(monkeypatch):
    assert autocast_dtype(torch.device("cpu")) is None and autocast_dtype("cpu") is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert autocast_dtype(torch.device("cuda")) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype("cuda") is torch.float16


def test_limit_cpu_threads():
    before = torch.get_num_threads()
    try:
        assert limit_cpu_threads(1) == 1 == torch.get_num_threads()
        assert limit_cpu_threads(0) == 1
        assert limit_cpu_threads(leave_free=10_000) == 1
    finally:
        torch.set_num_threads(before)
