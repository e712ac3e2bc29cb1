"""Telling a missing third-party package from a broken SegStudio module.

An ``ImportError`` about a third-party package (PySide6 on a headless
server, torch in a slim install) is the user's to fix: it becomes one line
naming the package to install. An ``ImportError`` inside ``segstudio`` is a
bug and must surface as one, with its traceback; nothing here hides it.
"""

from __future__ import annotations

# import name -> the distribution that provides it (pyproject.toml's dependencies)
DISTRIBUTIONS = {
    "PySide6": "PySide6-Essentials",
    "shiboken6": "PySide6-Essentials",
    "torch": "torch",
    "torchvision": "torchvision",
    "numpy": "numpy",
    "cv2": "opencv-python-headless",
    "PIL": "Pillow",
    "safetensors": "safetensors",
    "tqdm": "tqdm",
    "platformdirs": "platformdirs",
}


def third_party_package(exc: ImportError) -> str | None:
    """The top-level third-party package an import error is about; None when it
    is about a SegStudio module (or names none), i.e. when it is a bug of ours."""
    name = getattr(exc, "name", None)
    if not name:
        return None
    top = name.split(".")[0]
    return None if top == "segstudio" else top


def missing_dependency_message(exc: ImportError) -> str | None:
    """One line for the user when ``exc`` is about a third-party package, else None.

    ``ModuleNotFoundError``: the package is not installed (says what to
    ``pip install``). Any other ``ImportError`` (a shared library that will
    not load, a broken wheel): the package is there but cannot be loaded.
    """
    package = third_party_package(exc)
    if package is None:
        return None
    distribution = DISTRIBUTIONS.get(package, package)
    if isinstance(exc, ModuleNotFoundError):
        return (
            f"the Python package {distribution} is not installed ({exc}); "
            f"install it with: python -m pip install {distribution}"
        )
    return f"the Python package {distribution} is installed but cannot be loaded: {exc}"


__all__ = ["DISTRIBUTIONS", "missing_dependency_message", "third_party_package"]
