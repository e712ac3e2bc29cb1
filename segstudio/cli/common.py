"""Helpers shared by the CLI sub-commands: the user-error type, progress output that survives no console."""

from __future__ import annotations

import sys

from tqdm import tqdm


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 2, no traceback."""


def close_project_quietly(project) -> None:
    """Closes the project (removes its session marker); a read-only folder is fine."""
    try:
        project.close()
    except OSError:
        pass


def stderr_or_none():
    """``sys.stderr``, or None in a windowed app where it does not exist."""
    return sys.stderr if sys.stderr is not None else None


def progress_bar(total: int, desc: str, **kwargs) -> tqdm:
    stream = stderr_or_none()
    return tqdm(total=total, desc=desc, file=stream, disable=stream is None, leave=False, dynamic_ncols=True, **kwargs)


def echo(text: str = "") -> None:
    """print() that does nothing where there is no stdout (frozen, windowed)."""
    if sys.stdout is not None:
        print(text, flush=True)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def parse_hw(text: str) -> tuple[int, int]:
    """``"HxW"`` (or a single ``N`` for a square) as (height, width)."""
    import argparse

    try:
        parts = [int(v) for v in text.lower().replace(" ", "").split("x")]
        if len(parts) == 1:
            parts = parts * 2
        h, w = parts
        if h <= 0 or w <= 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 256x256, got {text!r}") from None
    return h, w


def format_metrics_table(metrics: dict, class_names: list[str]) -> str:
    lines = [
        f"pixel accuracy       {metrics['pixel_accuracy']:.4f}",
        f"mean class accuracy  {metrics['mean_class_accuracy']:.4f}",
        f"mean IoU             {metrics['mean_iou']:.4f}",
        "",
        f"{'class':<12} {'IoU':>7} {'acc':>7}",
    ]
    for cid, iou, acc in zip(metrics["class_ids"], metrics["per_class_iou"], metrics["per_class_accuracy"]):
        name = class_names[cid] if cid < len(class_names) else str(cid)
        lines.append(f"{name:<12} {_f(iou):>7} {_f(acc):>7}")
    return "\n".join(lines)


def _f(value) -> str:
    return "   -   " if value is None else f"{value:.4f}"
