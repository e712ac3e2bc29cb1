"""Per-user launchers (menu entries, shortcuts) for the installed SegStudio.

``install_shortcuts()`` puts a launcher in place for the current user and
records every file and folder it created in a small JSON manifest;
``remove_shortcuts()`` deletes exactly those and nothing else.

- Linux (and other XDG desktops): ``$XDG_DATA_HOME/applications/segstudio.desktop``
  (default ``~/.local/share``), the icon copied into
  ``$XDG_DATA_HOME/icons/hicolor/<size>/apps/segstudio.png``; optionally a copy on
  the desktop.
- Windows: ``SegStudio.lnk`` in the Start menu (optionally on the desktop),
  written by PowerShell through the WScript.Shell COM object, with the .ico copied
  into the user data folder.
- macOS: a minimal ``~/Applications/SegStudio.app`` (Info.plist, a launcher
  script, the .icns); optionally a link to it on the desktop.

The launcher runs the interpreter this command runs under (the
``segstudio-gui`` script next to it, else ``python -m segstudio``), or the
bundle's executable when frozen, so it follows the environment SegStudio is
installed in. No Qt here: the CLI calls this.

Why not pyshortcuts (1.9.11, checked): on Linux it writes a bare entry (no
Categories, MimeType, StartupWMClass or ``%f``; the Exec line is split on
spaces, so a venv path with a space breaks), it ignores ``XDG_DATA_HOME``, it has
no way to remove what it made, it needs Python >= 3.11 (we support 3.10) and
pywin32 on Windows. What we need is ~200 lines with no new dependency.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import segstudio

APP_NAME = "SegStudio"
APP_ID = "segstudio"
HICOLOR_SIZES = (16, 32, 48, 64, 128, 256, 512)
CATEGORIES = "Graphics;Science;ImageProcessing;"
COMMENT = "Annotate images pixel by pixel with a segmentation model in the loop"


class ShortcutError(RuntimeError):
    """Installing or removing a launcher failed; the message says why (one line)."""


@dataclass
class Installed:
    """What one install created: files, then folders it made (removed only when empty)."""

    system: str
    files: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def current_system() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def manifest_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "installed-shortcuts.json"


def gui_command(system: str | None = None) -> list[str]:
    """The command a launcher runs: the frozen executable, else segstudio-gui, else python -m segstudio.

    ``sys.executable`` is used as given (a venv's python is a symlink into the base
    interpreter; resolving it would leave the venv).
    """
    system = system or current_system()
    exe = Path(os.path.abspath(sys.executable))
    if getattr(sys, "frozen", False):
        return [str(exe)]
    names = ("segstudio-gui.exe",) if system == "windows" else ("segstudio-gui",)
    for name in names:
        script = exe.parent / name
        if script.is_file():
            return [str(script)]
    if system == "windows":
        pythonw = exe.with_name("pythonw.exe")  # no console window
        exe = pythonw if pythonw.is_file() else exe
    return [str(exe), "-m", "segstudio"]


def _icon(name: str) -> Path | None:
    from segstudio.core.resources import icon_path

    path = icon_path(name)
    return path if path.is_file() else None


# --- the manifest ---------------------------------------------------------------------
def _read_manifest() -> Installed | None:
    path = manifest_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Installed(system=data["system"], files=list(data["files"]), dirs=list(data["dirs"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ShortcutError(f"cannot read {path} ({exc}); remove the launcher files by hand") from exc


def _write_manifest(installed: Installed) -> None:
    path = manifest_path()
    installed.dirs += _mkdirs(path.parent)
    data = {"version": segstudio.__version__, "system": installed.system, "files": installed.files,
            "dirs": installed.dirs}
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _mkdirs(folder: Path) -> list[str]:
    """Create folder and missing parents; return the ones created, outermost first."""
    missing = []
    for parent in [folder, *folder.parents]:
        if parent.exists():
            break
        missing.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    return [str(p) for p in reversed(missing)]


class _Writer:
    """Writes files, remembering each file and each folder it had to create."""

    def __init__(self, installed: Installed) -> None:
        self.installed = installed

    def folder(self, path: Path) -> Path:
        self.installed.dirs += _mkdirs(path)
        return path

    def _record(self, path: Path) -> Path:
        if str(path) not in self.installed.files:
            self.installed.files.append(str(path))
        return path

    def text(self, path: Path, text: str, executable: bool = False) -> Path:
        self.folder(path.parent)
        path.write_text(text, encoding="utf-8", newline="\n")
        if executable:
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return self._record(path)

    def copy(self, source: Path, path: Path) -> Path:
        self.folder(path.parent)
        shutil.copyfile(source, path)
        return self._record(path)

    def external(self, path: Path) -> Path:
        """A file another program wrote for us (a .lnk, a symlink)."""
        return self._record(path)


# --- Linux -----------------------------------------------------------------------------
def _desktop_quote(arg: str) -> str:
    """Quote one Exec argument per the Desktop Entry spec (quoting, then string escaping)."""
    reserved = set(' \t\n"\'\\><~|&;$*?#()`')
    if arg and not (set(arg) & reserved):
        quoted = arg
    else:
        quoted = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return quoted.replace("\\", "\\\\")  # the value is a "string": backslashes doubled again


def _data_home() -> Path:
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def _desktop_dir() -> Path:
    """The XDG desktop folder: user-dirs.dirs when present, else ~/Desktop."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "user-dirs.dirs"
    try:
        for line in config.read_text(encoding="utf-8").splitlines():
            if line.startswith("XDG_DESKTOP_DIR="):
                value = line.split("=", 1)[1].strip().strip('"').replace("$HOME", str(Path.home()))
                if value:
                    return Path(value)
    except OSError:
        pass
    return Path.home() / "Desktop"


def desktop_entry(command: list[str], icon: str) -> str:
    exec_line = " ".join(_desktop_quote(a) for a in command) + " %f"
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        f"Name={APP_NAME}\n"
        "GenericName=Semantic Segmentation Annotator\n"
        f"Comment={COMMENT}\n"
        f"Exec={exec_line}\n"
        f"TryExec={_desktop_quote(command[0])}\n"
        f"Icon={icon}\n"
        "Terminal=false\n"
        f"Categories={CATEGORIES}\n"
        "Keywords=segmentation;annotation;label;mask;CamVid;\n"
        "MimeType=inode/directory;\n"
        "StartupNotify=true\n"
        f"StartupWMClass={APP_NAME}\n"
    )


def _install_linux(writer: _Writer, desktop: bool) -> None:
    data = _data_home()
    icon = APP_ID  # a theme name still works if no icon file ships
    for size in HICOLOR_SIZES:
        source = _icon(f"segstudio-{size}.png")
        if source is not None:
            target = writer.copy(source, data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png")
            if size == 256:
                icon = str(target)
    svg = _icon("segstudio.svg")
    if svg is not None:
        writer.copy(svg, data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg")
    if icon == APP_ID:
        writer.installed.messages.append("no icon files found in the resources; the menu entry has no icon")
    entry = desktop_entry(gui_command("linux"), icon)
    menu_file = writer.text(data / "applications" / f"{APP_ID}.desktop", entry)
    writer.installed.messages.append(f"menu entry: {menu_file}")
    if desktop:
        # Desktops want launchers there executable (GNOME also asks to "Allow Launching").
        on_desktop = writer.text(_desktop_dir() / f"{APP_ID}.desktop", entry, executable=True)
        writer.installed.messages.append(f"desktop launcher: {on_desktop}")
    _refresh_mime_cache(data / "applications")


def _refresh_mime_cache(applications: Path) -> None:
    """Keep an existing mimeinfo.cache in step (for "Open With" on folders).

    Only when one is there already: menus pick up new entries without it, and
    creating one would leave a file behind that --remove did not make.
    """
    if (applications / "mimeinfo.cache").is_file():
        _quietly(["update-desktop-database", str(applications)])


def _quietly(command: list[str]) -> None:
    """Run a desktop cache tool if it is there; the launcher works without it."""
    if shutil.which(command[0]):
        try:
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            pass


# --- Windows ---------------------------------------------------------------------------
POWERSHELL_LNK = (
    "$ErrorActionPreference = 'Stop'; "
    "$s = (New-Object -ComObject WScript.Shell).CreateShortcut($env:SEGSTUDIO_LNK); "
    "$s.TargetPath = $env:SEGSTUDIO_TARGET; $s.Arguments = $env:SEGSTUDIO_ARGS; "
    "$s.WorkingDirectory = $env:SEGSTUDIO_WORKDIR; $s.Description = $env:SEGSTUDIO_DESC; "
    "if ($env:SEGSTUDIO_ICON) { $s.IconLocation = $env:SEGSTUDIO_ICON + ',0' }; $s.Save()"
)


def _windows_folders() -> tuple[Path, Path]:
    appdata = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    start_menu = appdata / "Microsoft" / "Windows" / "Start Menu" / "Programs"
    desktop = Path(os.environ.get("USERPROFILE") or Path.home()) / "Desktop"
    return start_menu, desktop


def _install_windows(writer: _Writer, desktop: bool, runner=subprocess.run) -> None:
    from platformdirs import user_data_dir

    command = gui_command("windows")
    icon = ""
    source = _icon("segstudio.ico")
    if source is not None:
        icon = str(writer.copy(source, Path(user_data_dir(APP_NAME, appauthor=False)) / "segstudio.ico"))
    start_menu, desktop_dir = _windows_folders()
    targets = [start_menu / f"{APP_NAME}.lnk"] + ([desktop_dir / f"{APP_NAME}.lnk"] if desktop else [])
    for lnk in targets:
        writer.folder(lnk.parent)
        # Values go in through the environment: no quoting of paths into the script.
        env = {**os.environ, "SEGSTUDIO_LNK": str(lnk), "SEGSTUDIO_TARGET": command[0],
               "SEGSTUDIO_ARGS": subprocess.list2cmdline(command[1:]), "SEGSTUDIO_WORKDIR": str(Path.home()),
               "SEGSTUDIO_DESC": COMMENT, "SEGSTUDIO_ICON": icon}
        try:
            result = runner(["powershell", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                             "-Command", POWERSHELL_LNK], env=env, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ShortcutError(f"could not run PowerShell to write {lnk}: {exc}") from exc
        if result.returncode != 0:
            raise ShortcutError(f"PowerShell could not write {lnk}: {(result.stderr or '').strip()[:300]}")
        writer.external(lnk)
        writer.installed.messages.append(f"shortcut: {lnk}")


# --- macOS -----------------------------------------------------------------------------
def _install_macos(writer: _Writer, desktop: bool) -> None:
    app = Path.home() / "Applications" / f"{APP_NAME}.app"
    contents = app / "Contents"
    writer.folder(contents / "MacOS")
    command = " ".join(_sh_quote(a) for a in gui_command("macos"))
    writer.text(contents / "MacOS" / APP_NAME, f'#!/bin/sh\nexec {command} "$@"\n', executable=True)
    info = {
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleIdentifier": "org.segstudio.SegStudio",
        "CFBundleExecutable": APP_NAME,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": segstudio.__version__,
        "CFBundleVersion": segstudio.__version__,
        "CFBundleInfoDictionaryVersion": "6.0",
        "NSHighResolutionCapable": True,
    }
    icns = _icon("segstudio.icns")
    if icns is not None:
        writer.copy(icns, contents / "Resources" / "segstudio.icns")
        info["CFBundleIconFile"] = "segstudio.icns"
    writer.folder(contents)
    (contents / "Info.plist").write_bytes(plistlib.dumps(info))
    writer.external(contents / "Info.plist")
    writer.installed.messages.append(f"app: {app}")
    if desktop:
        link = Path.home() / "Desktop" / f"{APP_NAME}.app"
        writer.folder(link.parent)
        if link.is_symlink() or link.exists():
            raise ShortcutError(f"{link} exists already; not replacing it")
        link.symlink_to(app)
        writer.external(link)
        writer.installed.messages.append(f"desktop link: {link}")


def _sh_quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


# --- the public functions --------------------------------------------------------------
def install_shortcuts(desktop: bool = False, system: str | None = None, runner=subprocess.run) -> Installed:
    """Install the launcher(s) for the current user; replaces an earlier install."""
    system = system or current_system()
    if _read_manifest() is not None:
        remove_shortcuts()
    installed = Installed(system=system)
    writer = _Writer(installed)
    try:
        if system == "linux":
            _install_linux(writer, desktop)
        elif system == "windows":
            _install_windows(writer, desktop, runner)
        elif system == "macos":
            _install_macos(writer, desktop)
        else:
            raise ShortcutError(f"unknown system {system!r}")
    except OSError as exc:
        _remove(installed)
        raise ShortcutError(f"could not install the launcher: {exc}") from exc
    except ShortcutError:
        _remove(installed)
        raise
    _write_manifest(installed)
    installed.files.append(str(manifest_path()))
    return installed


def remove_shortcuts() -> list[Path]:
    """Delete what ``install_shortcuts`` recorded (files, then the folders it made if empty)."""
    installed = _read_manifest()
    if installed is None:
        return []
    removed = _remove(installed)
    path = manifest_path()
    path.unlink(missing_ok=True)
    removed.append(path)
    _remove_dirs(installed.dirs)  # now the manifest's own folder, if we made it
    if installed.system == "linux":
        _refresh_mime_cache(_data_home() / "applications")
    return removed


def _remove(installed: Installed) -> list[Path]:
    removed = []
    for name in installed.files:
        path = Path(name)
        if path.is_symlink() or path.is_file():
            path.unlink()
            removed.append(path)
    _remove_dirs(installed.dirs)
    return removed


def _remove_dirs(dirs: list[str]) -> None:
    """Remove the folders we created, deepest first, each only if empty."""
    for folder in sorted(dirs, key=lambda d: len(Path(d).parts), reverse=True):
        try:
            Path(folder).rmdir()
        except OSError:
            pass  # not empty (something else lives there now) or gone already


__all__ = ["Installed", "ShortcutError", "desktop_entry", "gui_command", "install_shortcuts", "manifest_path",
           "remove_shortcuts"]
