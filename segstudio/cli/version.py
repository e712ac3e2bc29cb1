"""Version report shared by ``segstudio --version`` and Help > About."""

from __future__ import annotations

import platform

import segstudio


def version_text() -> str:
    lines = [f"SegStudio {segstudio.__version__}", f"Python {platform.python_version()}"]
    try:
        import torch

        cuda = torch.version.cuda or "none"
        lines.append(f"torch {torch.__version__} (CUDA build {cuda})")
        from segstudio.ml.device import choose_device

        device, reason = choose_device("auto")
        lines.append(f"device: {device} ({reason})")
    except Exception as exc:  # a broken torch install must not hide the version
        lines.append(f"torch: unavailable ({exc})")
    return "\n".join(lines)
