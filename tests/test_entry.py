"""``python -m segstudio``: the CLI or the app, and what a missing package looks like."""

import subprocess
import sys

import segstudio.__main__ as entry
from segstudio.system.dependencies import missing_dependency_message

# Runs segstudio.__main__.main(ARGV) in a fresh interpreter where the named
# module cannot be found, as if it were not installed.
WITHOUT = r"""
import importlib.abc, sys
missing = sys.argv[1]

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == missing or name.startswith(missing + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from segstudio.__main__ import main
sys.exit(main(sys.argv[2:]))
"""


def _run_without(module: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT, module, *argv], capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})


def test_a_sub_command_goes_to_the_cli_anything_else_to_the_app(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr("segstudio.cli.main.run_cli", lambda argv: calls.append(("cli", argv)) or 0)
    monkeypatch.setattr("segstudio.app.launch.launch_app", lambda argv: calls.append(("app", argv)) or 0)
    folder = str(tmp_path)
    for argv in (["eval", "--help"], ["--version"], [], [folder], ["--self-test"], ["--labelset", "x.json", folder]):
        assert entry.main(argv) == 0
    assert calls == [("cli", ["eval", "--help"]), ("cli", ["--version"]), ("app", []), ("app", [folder]),
                     ("app", ["--self-test"]), ("app", ["--labelset", "x.json", folder])]


def test_an_unknown_word_is_an_error_listing_the_commands_not_an_empty_window(monkeypatch, capsys, tmp_path):
    opened = []
    monkeypatch.setattr("segstudio.app.launch.launch_app", lambda argv: opened.append(argv) or 0)
    assert entry.main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "'trian' is neither a command nor a folder" in err and "Did you mean 'train'?" in err
    assert "import-masks" in err and "install-shortcut" in err  # every command listed
    assert entry.main(["--labelset", "x.json", "qwzx"]) == 2
    assert "Did you mean" not in capsys.readouterr().err  # nothing close: no guess
    (tmp_path / "a.png").write_bytes(b"")
    assert entry.main([str(tmp_path / "a.png")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert opened == []


def test_a_missing_third_party_package_is_one_line_naming_it():
    result = _run_without("PySide6", "--self-test")
    assert result.returncode == 2, result.stderr
    assert "PySide6-Essentials is not installed" in result.stderr
    assert "pip install PySide6-Essentials" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_segstudio_module_is_a_bug_shown_with_its_traceback():
    result = _run_without("segstudio.app.crash", "--self-test")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "segstudio.app.crash" in result.stderr


def test_the_message_tells_ours_from_theirs():
    assert missing_dependency_message(ModuleNotFoundError("x", name="segstudio.ml.train")) is None
    assert missing_dependency_message(ImportError("no name")) is None
    assert "opencv-python-headless is not installed" in missing_dependency_message(ModuleNotFoundError("x", name="cv2"))
    broken = missing_dependency_message(ImportError("libEGL.so.1: cannot open", name="PySide6.QtGui"))
    assert broken.startswith("the Python package PySide6-Essentials is installed but cannot be loaded")
