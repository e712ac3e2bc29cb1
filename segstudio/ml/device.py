"""Choosing the compute device, and saying why."""

from __future__ import annotations

import os

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device that was asked for but is not there (or an unknown name)."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _why_no_cuda() -> str:
    if torch.version.cuda is None:
        return "torch built without CUDA"
    return "no CUDA GPU found (or its driver is not usable)"


def _why_no_mps() -> str:
    backend = getattr(torch.backends, "mps", None)
    if backend is not None and not backend.is_built():
        return "torch built without MPS"
    return "no Apple GPU"


def _cuda_description(index: int = 0) -> str:
    try:
        return f"CUDA: {torch.cuda.get_device_name(index)}"
    except Exception:  # a name is nice to have, never a reason to fail
        return "CUDA"


def choose_device(preference: str = "auto") -> tuple[torch.device, str]:
    """The device to run on and a human-readable reason.

    ``auto`` picks CUDA, then Apple MPS, then the CPU (the reason says why the
    faster ones were passed over); ``cuda``/``mps`` that are not there raise
    ``DeviceError``; ``cuda:1`` picks a given GPU.
    """
    pref = (preference or "auto").strip().lower()
    kind, _, index = pref.partition(":")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"CUDA was asked for but is not available ({_why_no_cuda()}); use --device cpu or auto")
        n = int(index) if index.isdigit() else 0
        if n >= torch.cuda.device_count():
            raise DeviceError(f"cuda:{n} was asked for but only {torch.cuda.device_count()} CUDA device(s) exist")
        device = torch.device("cuda", n) if index else torch.device("cuda")
        return device, _cuda_description(n) + " (chosen)"
    if index:
        raise DeviceError(f"unknown device {preference!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if kind == "mps":
        if not _mps_available():
            raise DeviceError(f"Apple MPS was asked for but is not available ({_why_no_mps()}); use --device cpu")
        return torch.device("mps"), "Apple MPS (chosen)"
    if kind == "cpu":
        return torch.device("cpu"), f"CPU (chosen; {torch.get_num_threads()} threads)"
    if kind != "auto":
        raise DeviceError(f"unknown device {preference!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if torch.cuda.is_available():
        return torch.device("cuda"), _cuda_description(0)
    if _mps_available():
        return torch.device("mps"), f"Apple MPS (CUDA not available: {_why_no_cuda()})"
    return torch.device("cpu"), (
        f"CUDA not available ({_why_no_cuda()}); MPS not available ({_why_no_mps()}); "
        f"using CPU ({torch.get_num_threads()} threads)"
    )


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision dtype for a device: bf16 on CUDA where supported, else fp16; None on the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return None


def limit_cpu_threads(n: int | None = None, leave_free: int = 1) -> int:
    """Caps torch's intra-op threads to ``n`` (default: all cores but ``leave_free``); returns the count."""
    if n is None:
        n = (os.cpu_count() or 1) - leave_free
    torch.set_num_threads(max(1, int(n)))
    return torch.get_num_threads()
