"""The layers' import direction: core has no torch/Qt, ml has no Qt, cli never imports app."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import segstudio

ROOT = Path(segstudio.__file__).parent

BLOCKER = """
import sys, importlib.abc, pkgutil, importlib
blocked = set(sys.argv[2].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} imported from a layer that must not use it")
sys.meta_path.insert(0, Block())
pkg = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(pkg.__path__, sys.argv[1] + "."):
    importlib.import_module(info.name)
print("ok")
"""


def _run(package: str, blocked: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER, package, blocked], capture_output=True, text=True)


def test_core_imports_neither_torch_nor_qt():
    result = _run("segstudio.core", "torch,torchvision,PySide6")
    assert result.returncode == 0, result.stderr


def test_ml_does_not_import_qt():
    result = _run("segstudio.ml", "PySide6")
    assert result.returncode == 0, result.stderr


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node.col_offset))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.col_offset) for a in node.names]
    return found


def test_cli_never_imports_app_except_the_launch_hand_over():
    for path in (ROOT / "cli").glob("*.py"):
        for module, _ in _imports(path):
            if module.startswith("segstudio.app"):
                assert path.name == "main.py" and module == "segstudio.app.launch", f"{path.name} imports {module}"


def test_core_and_ml_do_not_import_app_or_cli():
    for layer in ("core", "ml"):
        for path in (ROOT / layer).rglob("*.py"):
            for module, _ in _imports(path):
                assert not module.startswith(("segstudio.app", "segstudio.cli")), f"{path} imports {module}"
