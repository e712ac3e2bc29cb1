"""The layers' import direction (DEVELOPERS.md):

* importing every module of ``segstudio.core`` never imports torch,
  torchvision or PySide6; of ``segstudio.ml`` never PySide6 (checked in a
  fresh interpreter with a meta-path finder that refuses those packages and
  names the segstudio module that asked);
* ``segstudio.cli`` never imports ``segstudio.app``, except the lazy hand-over
  inside ``segstudio/cli/main.py``'s ``run_cli``;
* ``segstudio.app`` never imports ``segstudio.cli``, except ``segstudio.cli.version``;
* core and ml import neither app nor cli.
Modules that do not exist yet are simply not found.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import segstudio

ROOT = Path(segstudio.__file__).parent

BLOCKER = r"""
import importlib, importlib.abc, pkgutil, sys, traceback
package, blocked = sys.argv[1], set(sys.argv[2].split(","))

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


def test_ml_does_not_import_qt():
    pytest.importorskip("torch")
    result = _run("segstudio.ml", "PySide6")
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names of the enclosing functions) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, list[str]]] = []

    def visit(node, scopes):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from X import y" as X.y: "from segstudio import app" is segstudio.app,
            # "from segstudio.cli import version" is segstudio.cli.version
            found.extend((f"{node.module}.{a.name}", scopes) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name, scopes) for a in node.names)
        inner = scopes + [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else scopes
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, [])
    return found


def _is(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_cli_never_imports_app_except_the_lazy_hand_over_in_run_cli():
    for path in sorted((ROOT / "cli").rglob("*.py")):
        for module, scopes in _imports(path):
            if _is(module, "segstudio.app"):
                allowed = path.name == "main.py" and path.parent == ROOT / "cli" and "run_cli" in scopes
                assert allowed, f"{path.relative_to(ROOT)} imports {module} (only run_cli may, lazily)"


def test_app_never_imports_cli_except_version():
    for path in sorted((ROOT / "app").rglob("*.py")):
        for module, _ in _imports(path):
            if _is(module, "segstudio.cli"):
                assert _is(module, "segstudio.cli.version"), f"{path.relative_to(ROOT)} imports {module}"


def test_core_and_ml_do_not_import_app_or_cli():
    for layer in ("core", "ml"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for module, _ in _imports(path):
                assert not (_is(module, "segstudio.app") or _is(module, "segstudio.cli")), (
                    f"{path.relative_to(ROOT)} imports {module}"
                )


def test_the_static_check_sees_lazy_and_from_imports(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text(
        "from segstudio import app\nfrom segstudio.cli import version\n"
        "def run_cli():\n    import segstudio.app.launch\n"
    )
    found = _imports(sample)
    assert ("segstudio.app", []) in found and ("segstudio.app.launch", ["run_cli"]) in found
    assert ("segstudio.cli.version", []) in found
