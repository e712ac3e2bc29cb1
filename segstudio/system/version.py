"""Version report shared by ``segstudio --version`` and Help > About."""

from __future__ import annotations

import platform

import segstudio


def version_text(in_use: str | None = None) -> str:
    """The version report; ``in_use`` (the app's loaded model and its device)
    is added after the device that "auto" would choose."""
    lines = [f"SegStudio {segstudio.__version__}", f"Python {platform.python_version()} on {platform.platform()}"]
    torch_lines = []
    try:
        # torch before PySide6: on Windows recent torch fails to load its DLLs otherwise.
        import torch

        cuda = torch.version.cuda or "none"
        torch_lines.append(f"torch {torch.__version__} (CUDA build {cuda})")
        from segstudio.ml.device import choose_device

        device, reason = choose_device("auto")
        torch_lines.append(f"device (auto): {device} ({reason})")
    except Exception as exc:  # a broken torch install must not hide the version
        torch_lines.append(f"torch: unavailable ({exc})")
    try:
        import PySide6
        from PySide6.QtCore import qVersion  # QtCore only: --version stays headless

        lines.append(f"PySide6 {PySide6.__version__} (Qt {qVersion()})")
    except Exception as exc:
        lines.append(f"Qt: unavailable ({exc})")
    if in_use:
        torch_lines.append(in_use)
    return "\n".join(lines + torch_lines)
