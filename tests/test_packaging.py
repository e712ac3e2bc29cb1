"""Packaging: the .desktop file, the icons, install-shortcut (all three systems), the spec, entry points."""

import ast
import configparser
import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import segstudio
from segstudio.system import shortcuts

ROOT = Path(__file__).resolve().parents[1]
DESKTOP_FILE = ROOT / "packaging" / "segstudio.desktop"
ICONS = ROOT / "resources" / "icons"
VALIDATOR = shutil.which("desktop-file-validate")
needs_validator = pytest.mark.skipif(
    VALIDATOR is None, reason="desktop-file-validate not installed (apt-get install desktop-file-utils)")


def validate(path: Path) -> None:
    result = subprocess.run([VALIDATOR, str(path)], capture_output=True, text=True)
    # Hints (e.g. two main categories) are advice; errors and warnings fail.
    problems = [line for line in result.stdout.splitlines() + result.stderr.splitlines()
                if ": error:" in line or ": warning:" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def read_entry(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


# --- the .desktop file and the icons ------------------------------------------------------
@needs_validator
def test_desktop_file_validates():
    validate(DESKTOP_FILE)


def test_desktop_file_keys():
    entry = read_entry(DESKTOP_FILE)
    assert entry["Type"] == "Application" and entry["Name"] == "SegStudio"
    assert entry["Exec"] == "segstudio-gui %f" and entry["Icon"] == "segstudio"
    assert entry["Terminal"] == "false" and entry["MimeType"] == "inode/directory;"
    assert entry["Categories"] == "Graphics;Science;ImageProcessing;"
    assert entry["StartupWMClass"] == "SegStudio"  # Qt's WM_CLASS is the application name


def test_generated_entry_matches_the_packaged_one():
    generated = shortcuts.desktop_entry(["/x/bin/segstudio-gui"], "/icons/segstudio.png")
    path = ROOT / "packaging" / "segstudio.desktop"
    packaged, ours = read_entry(path), dict(
        line.split("=", 1) for line in generated.splitlines()[1:] if "=" in line)
    for key in set(packaged) - {"Exec", "TryExec", "Icon"}:
        assert ours[key] == packaged[key], key


def test_icons_rendered_at_every_size():
    assert (ICONS / "segstudio.svg").is_file()
    import xml.etree.ElementTree as ET

    assert ET.parse(ICONS / "segstudio.svg").getroot().get("viewBox") == "0 0 512 512"
    for size in shortcuts.HICOLOR_SIZES:
        with Image.open(ICONS / f"segstudio-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
            assert im.getpixel((0, 0))[3] == 0 and im.getpixel((size // 2, size // 2))[3] == 255  # round corners
    with Image.open(ICONS / "segstudio.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "segstudio.icns") as icns:
        assert icns.size[0] >= 512


# --- install-shortcut ---------------------------------------------------------------------
@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "APPDATA", "USERPROFILE"):
        monkeypatch.delenv(var, raising=False)
    return home


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.skipif(sys.platform != "linux", reason="XDG paths; other systems are tested with system=...")
def test_install_shortcut_linux_writes_and_removes_its_files(home):
    mine = home / ".local" / "share" / "applications" / "other.desktop"  # the user's own entry
    mine.parent.mkdir(parents=True)
    mine.write_text("[Desktop Entry]\n")
    before = tree(home)
    installed = shortcuts.install_shortcuts(desktop=True)
    entry_path = home / ".local" / "share" / "applications" / "segstudio.desktop"
    assert entry_path.is_file() and (home / "Desktop" / "segstudio.desktop").is_file()
    assert os.access(home / "Desktop" / "segstudio.desktop", os.X_OK)
    entry = read_entry(entry_path)
    exe = entry["Exec"].split()[0]
    assert Path(exe).parent == Path(os.path.abspath(sys.executable)).parent  # this environment
    assert entry["Exec"].endswith(" %f")
    icon = Path(entry["Icon"])
    assert icon.is_absolute() and icon.is_file()
    assert icon == home / ".local/share/icons/hicolor/256x256/apps/segstudio.png"
    for size in shortcuts.HICOLOR_SIZES:
        assert (home / f".local/share/icons/hicolor/{size}x{size}/apps/segstudio.png").is_file()
    if VALIDATOR:
        validate(entry_path)
    manifest = json.loads(shortcuts.manifest_path().read_text())
    assert str(entry_path) in manifest["files"]
    assert str(shortcuts.manifest_path()) in installed.files
    # Installing again replaces, not duplicates.
    shortcuts.install_shortcuts()
    assert not (home / "Desktop" / "segstudio.desktop").exists()
    removed = shortcuts.remove_shortcuts()
    assert entry_path in removed
    assert tree(home) == before  # exactly what it made is gone; the user's entry stays
    assert shortcuts.remove_shortcuts() == []


@pytest.mark.skipif(sys.platform != "linux", reason="XDG paths")
def test_install_shortcut_honours_xdg_data_home(home, tmp_path, monkeypatch):
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    shortcuts.install_shortcuts()
    assert (data / "applications" / "segstudio.desktop").is_file()
    assert shortcuts.manifest_path().is_relative_to(data)
    shortcuts.remove_shortcuts()
    assert not data.exists() or tree(data) == set()


@needs_validator
def test_exec_line_quotes_paths_with_spaces_and_specials(tmp_path):
    path = tmp_path / "segstudio.desktop"
    command = ["/opt/my env/bin/python", "-m", "segstudio"]
    path.write_text(shortcuts.desktop_entry(command, "/opt/my env/icon.png"))
    validate(path)
    exec_line = read_entry(path)["Exec"]
    assert exec_line == '"/opt/my env/bin/python" -m segstudio %f'
    assert shortcuts._desktop_quote('a"$b') == '"a\\\\"\\\\$b"'


def test_install_shortcut_macos_app_bundle(home, monkeypatch):
    installed = shortcuts.install_shortcuts(system="macos", desktop=True)
    app = home / "Applications" / "SegStudio.app" / "Contents"
    info = plistlib.loads((app / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "SegStudio" and info["CFBundleIconFile"] == "segstudio.icns"
    launcher = app / "MacOS" / "SegStudio"
    assert os.access(launcher, os.X_OK) and launcher.read_text().startswith("#!/bin/sh\nexec ")
    assert (app / "Resources" / "segstudio.icns").is_file()
    assert (home / "Desktop" / "SegStudio.app").is_symlink()
    assert installed.system == "macos"
    shortcuts.remove_shortcuts()
    assert tree(home) == set()


def test_install_shortcut_windows_lnk_through_powershell(home, monkeypatch):
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))
    monkeypatch.setenv("USERPROFILE", str(home))
    calls = []

    def fake_powershell(argv, env, **kwargs):
        calls.append((argv, env))
        Path(env["SEGSTUDIO_LNK"]).write_bytes(b"L\0\0\0")  # what WScript.Shell would write
        return subprocess.CompletedProcess(argv, 0, "", "")

    shortcuts.install_shortcuts(system="windows", desktop=True, runner=fake_powershell)
    start_menu = home / "AppData/Roaming/Microsoft/Windows/Start Menu/Programs/SegStudio.lnk"
    assert start_menu.is_file() and (home / "Desktop" / "SegStudio.lnk").is_file()
    argv, env = calls[0]
    assert argv[0] == "powershell" and "WScript.Shell" in argv[-1]
    assert env["SEGSTUDIO_TARGET"] == shortcuts.gui_command("windows")[0]
    assert env["SEGSTUDIO_ICON"].endswith("segstudio.ico") and Path(env["SEGSTUDIO_ICON"]).is_file()
    shortcuts.remove_shortcuts()
    assert tree(home) == set()


def test_install_shortcut_windows_failure_leaves_nothing(home, monkeypatch):
    monkeypatch.setenv("APPDATA", str(home / "AppData" / "Roaming"))

    def failing(argv, env, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "COM object not available")

    with pytest.raises(shortcuts.ShortcutError, match="COM object not available"):
        shortcuts.install_shortcuts(system="windows", runner=failing)
    assert tree(home) == set() and not shortcuts.manifest_path().exists()


@pytest.mark.skipif(sys.platform != "linux", reason="XDG paths")
def test_install_shortcut_command(home):
    env = {**os.environ, "HOME": str(home)}
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env.pop(var, None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "segstudio", "install-shortcut", *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=120)
    result = run()
    assert result.returncode == 0, result.stderr
    assert "segstudio.desktop" in result.stdout and "--remove" in result.stdout
    assert (home / ".local/share/applications/segstudio.desktop").is_file()
    result = run("--remove")
    assert result.returncode == 0 and "removed" in result.stdout
    assert tree(home) == set()


def test_gui_command_prefers_the_gui_script_next_to_the_interpreter(tmp_path, monkeypatch):
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "python").write_text("")
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    assert shortcuts.gui_command("linux") == [str(bindir / "python"), "-m", "segstudio"]
    (bindir / "segstudio-gui").write_text("")
    assert shortcuts.gui_command("linux") == [str(bindir / "segstudio-gui")]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert shortcuts.gui_command("linux") == [str(bindir / "python")]


# --- the bundle spec and the entry points ----------------------------------------------------
def test_pyinstaller_spec_is_one_folder_windowed():
    spec = ROOT / "packaging" / "pyinstaller" / "segstudio.spec"
    tree_ = ast.parse(spec.read_text())
    calls = {n.func.id: n for n in ast.walk(tree_) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"Analysis", "EXE", "COLLECT"} <= set(calls)  # COLLECT: one folder, not one file
    gui = [n for n in ast.walk(tree_) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "EXE"
           and any(k.arg == "name" and k.value.value == "SegStudio" for k in n.keywords)][0]
    assert any(k.arg == "console" and k.value.value is False for k in gui.keywords)
    assert (ROOT / "packaging" / "pyinstaller" / "launch_segstudio.py").is_file()
    for icon in ("segstudio.ico", "segstudio.icns"):
        assert (ICONS / icon).is_file()


def test_entry_points_declared_and_importable():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["segstudio"] == "segstudio.__main__:main"
    assert project["gui-scripts"]["segstudio-gui"] == "segstudio.__main__:gui_main"
    from segstudio.__main__ import gui_main, main

    assert callable(main) and callable(gui_main)


def test_version_reports_qt_torch_and_device():
    result = subprocess.run([sys.executable, "-m", "segstudio", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"SegStudio {segstudio.__version__}")
    for word in ("Python", "PySide6", "Qt", "torch", "CUDA build", "device (auto):"):
        assert word in out, word


BUNDLE = Path(os.environ.get("SEGSTUDIO_BUNDLE_DIR") or ROOT / "dist" / "SegStudio")
CLI_EXE = BUNDLE / ("segstudio-cli.exe" if sys.platform == "win32" else "segstudio-cli")


@pytest.mark.skipif(not CLI_EXE.is_file(), reason=f"no bundle at {BUNDLE} (make bundle, or set SEGSTUDIO_BUNDLE_DIR)")
def test_bundle_self_test(tmp_path):
    """After ``make bundle``: the frozen app passes the self-test (a tiny model if none ships)."""
    from segstudio.core.labels import CAMVID
    from segstudio.ml.checkpoint import save_checkpoint
    from segstudio.ml.models.registry import build_model, model_config

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "SEGSTUDIO_LOG_DIR": str(tmp_path)}
    env.pop("SEGSTUDIO_DEFAULT_MODEL", None)
    if not (BUNDLE / "_internal" / "resources" / "models" / "default.safetensors").is_file():
        config = model_config("unet-bn", base_width=4, depth=2)
        save_checkpoint(tmp_path / "m.safetensors", build_model(config), config, CAMVID, train_size={"mode": "native"})
        env["SEGSTUDIO_DEFAULT_MODEL"] = str(tmp_path / "m.safetensors")
    result = subprocess.run([str(CLI_EXE), "--self-test"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout


def test_a_plain_wheel_carries_every_module_and_every_resource(tmp_path):
    """Not only an editable install: the wheel has each module of segstudio/ (pyproject.toml
    lists the packages) and each file of the top-level resources/ as segstudio/resources/."""
    import zipfile

    pytest.importorskip("setuptools")
    source = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    for folder in ("segstudio", "resources"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("segstudio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "segstudio").rglob("*.py")}
    assert modules - names == set()
    resources = {f"segstudio/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "resources").rglob("*") if p.is_file()}
    assert resources - names == set()
    for required in ("segstudio/resources/icons/segstudio.png", "segstudio/resources/icons/segstudio.svg",
                     "segstudio/resources/models/default.safetensors"):
        assert required in names, required
    assert any(n.startswith("segstudio/resources/samples/") and n.endswith(".jpg") for n in names)
