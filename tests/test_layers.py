"""The layers' import direction and the import graph (DEVELOPERS.md), with no exceptions.

Layers, lowest first; a module imports its own layer or lower ones only::

    segstudio            the package root (__version__)
    segstudio.core       numpy, OpenCV, Pillow
    segstudio.ml         torch
    segstudio.system     version report, logging, launchers: shared by cli and app
    segstudio.cli | segstudio.app   siblings: neither imports the other
    segstudio.__main__   chooses between cli and app

Checked statically over every import in every file, lazy ones inside
functions included (a lazy upward import is still an upward import), and
the graph of imports among segstudio modules must have no cycle. In fresh
interpreters, with a meta-path finder that refuses packages and names the
segstudio module that asked: importing core loads neither torch nor Qt, ml
and cli and system load no Qt, and every segstudio module imports.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

import segstudio

ROOT = Path(segstudio.__file__).parent

# Rank of each layer; cli and app share one, so neither may import the other.
LAYERS = {
    "segstudio": 0,
    "segstudio.core": 1,
    "segstudio.ml": 2,
    "segstudio.system": 3,
    "segstudio.cli": 4,
    "segstudio.app": 4,
    "segstudio.__main__": 5,
}

BLOCKER = r"""
import importlib, importlib.abc, pkgutil, sys, traceback
package, blocked = sys.argv[1], set(filter(None, sys.argv[2].split(",")))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Block())
failures = []
pkg = importlib.import_module(package)
names = [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
for name in names:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if "blocked import" not in str(exc):
            raise
        # the innermost segstudio frame is the module that imported upward
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "segstudio" in f.filename]
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        failures.append(f"{name}: {exc} (at {where})")
for line in failures:
    print(line)
sys.exit(1 if failures else 0)
"""


def _run(package: str, blocked: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, package, blocked], capture_output=True, text=True, timeout=180
    )


def test_core_imports_neither_torch_nor_qt():
    result = _run("segstudio.core", "torch,torchvision,PySide6")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("package", ["segstudio.ml", "segstudio.system", "segstudio.cli"])
def test_headless_layers_do_not_import_qt(package):
    result = _run(package, "PySide6")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_segstudio_module_imports():
    """A broken module fails here, loudly; nothing in the package skips one that does not import."""
    result = _run("segstudio", "")
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- the static import graph


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _resolve(name: str, known: set[str]) -> str | None:
    """The module that ``name`` (a module, or a module's attribute) is, or None if not ours."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(imported segstudio module, line) for every import in the file, lazy ones included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: "from . import x", "from ..core import y"
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from segstudio.ml import checkpoint" imports segstudio.ml.checkpoint
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, known)
            if resolved and resolved != module:
                found.append((resolved, node.lineno))
    return found


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, over segstudio modules only."""
    modules = modules_of(root)
    known = set(modules)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for target, line in imports_of(module, path, known):
            edges[target] = min(line, edges.get(target, line))
    return graph


def layer_of(module: str) -> str:
    return max((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), key=len)


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Imports into a higher layer, or into a sibling layer of the same rank (cli <-> app)."""
    found = []
    for module, edges in graph.items():
        layer = layer_of(module)
        for target, line in edges.items():
            other = layer_of(target)
            if other != layer and LAYERS[other] >= LAYERS[layer]:
                found.append(f"{module} (line {line}) imports {target}: {layer} may not import {other}")
    return found


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle (a list of modules, the first repeated at the end), or None."""
    try:
        graphlib.TopologicalSorter({m: set(edges) for m, edges in graph.items()}).prepare()
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))  # graphlib lists it against the arrows
    return None


def test_every_module_belongs_to_a_layer():
    for module in modules_of(ROOT):
        assert layer_of(module) in LAYERS


def test_no_layer_imports_upward_or_sideways():
    assert upward_imports(import_graph(ROOT)) == []


def test_no_import_cycles():
    cycle = find_cycle(import_graph(ROOT))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# ---------------------------------------------------------------- the checks check


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "segstudio"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_graph_sees_lazy_relative_and_from_imports(tmp_path):
    root = _package(tmp_path, {
        "core/__init__.py": "", "core/a.py": "", "ml/__init__.py": "",
        "ml/b.py": "from segstudio.core import a\nfrom ..core.a import x\n",
        "ml/c.py": "def f():\n    import segstudio.ml.b\n    from . import b\n",
    })
    graph = import_graph(root)
    assert graph["segstudio.ml.b"] == {"segstudio.core.a": 1}
    assert graph["segstudio.ml.c"] == {"segstudio.ml.b": 2}


def test_an_upward_or_sideways_import_is_caught(tmp_path):
    root = _package(tmp_path, {
        "core/__init__.py": "def f():\n    from segstudio.ml import m\n",
        "ml/__init__.py": "", "ml/m.py": "",
        "cli/__init__.py": "", "cli/main.py": "from segstudio.app.launch import launch_app\n",
        "app/__init__.py": "", "app/launch.py": "from segstudio.system import version\n",
        "system/__init__.py": "", "system/version.py": "",
    })
    found = sorted(upward_imports(import_graph(root)))
    assert len(found) == 2, found
    assert found[0].startswith("segstudio.cli.main (line 1) imports segstudio.app.launch")
    assert found[0].endswith("segstudio.cli may not import segstudio.app")
    assert found[1].startswith("segstudio.core (line 2) imports segstudio.ml.m")


def test_a_cycle_is_caught_and_named(tmp_path):
    root = _package(tmp_path, {
        "ml/__init__.py": "",
        "ml/checkpoint.py": "from segstudio.ml.registry import build\n",
        "ml/registry.py": "def build():\n    from segstudio.ml.weights import load\n",
        "ml/weights.py": "from segstudio.ml import checkpoint\n",
    })
    cycle = find_cycle(import_graph(root))
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 4
    assert set(cycle) == {"segstudio.ml.checkpoint", "segstudio.ml.registry", "segstudio.ml.weights"}
