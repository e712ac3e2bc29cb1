"""Choosing the compute device, and saying why."""

from __future__ import annotations

import os

import torch


class DeviceError(ValueError):
    """A device that was asked for but is not there."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def choose_device(preference: str = "auto") -> tuple[torch.device, str]:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; the reason says why."""
    preference = (preference or "auto").lower()
    cuda_ok = torch.cuda.is_available()
    if preference == "cuda":
        if not cuda_ok:
            built = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU was found"
            raise DeviceError(f"CUDA was asked for but is not available ({built})")
        return torch.device("cuda"), f"CUDA: {torch.cuda.get_device_name(0)}"
    if preference == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS was asked for but is not available on this machine")
        return torch.device("mps"), "Apple MPS"
    if preference == "cpu":
        return torch.device("cpu"), "CPU (chosen)"
    if preference != "auto":
        raise DeviceError(f"unknown device {preference!r}; choose auto, cpu, cuda or mps")
    if cuda_ok:
        return torch.device("cuda"), f"CUDA: {torch.cuda.get_device_name(0)}"
    if _mps_available():
        return torch.device("mps"), "Apple MPS (CUDA not available)"
    why = "torch built without CUDA" if torch.version.cuda is None else "no CUDA GPU found"
    return torch.device("cpu"), f"CPU (CUDA not available: {why}; MPS not available)"


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU has it, else fp16 on GPUs; None (no autocast) on the CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def limit_cpu_threads(n: int | None = None, leave_free: int = 1) -> int:
    """Caps torch's intra-op threads (default: all cores but ``leave_free``)."""
    if n is None:
        n = max(1, (os.cpu_count() or 1) - leave_free)
    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()
