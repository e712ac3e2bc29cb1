"""Can Qt open a window here? A Qt-free check run before ``QApplication`` exists.

On Linux, Qt's X11 platform plugin (``libqxcb.so``) needs system libraries a
fresh Debian/Ubuntu lacks (``libxcb-cursor0``, ``libxcb-icccm4``, ...). Without
them, or without a display, Qt aborts the process (SIGABRT) with a message
naming only the first missing piece. ``window_problem()`` finds every missing
library with ``ldd`` on the plugin, maps each to its Debian package and
returns one clear paragraph with the exact ``apt-get install`` line, or says
there is no display and names the commands that need none.

``python -m segstudio.system.qt_platform`` prints the verdict (exit 1 when
there is a problem): the same check, for a terminal or CI.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# soname -> Debian/Ubuntu package: what Qt 6's xcb plugin loads (ldd on
# libqxcb.so and libQt6XcbQpa.so.6) beyond a minimal system. .ci/run installs
# XCB_PACKAGES; tests/system/test_qt_platform.py keeps the two in step.
SONAME_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
XCB_PACKAGES = tuple(dict.fromkeys(SONAME_PACKAGES.values()))

HEADLESS_HINT = (
    "The commands that need no window still work: segstudio train | eval | predict | finetune | export "
    "| import-masks (segstudio --help), and segstudio --self-test."
)

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def xcb_plugin_files() -> list[Path]:
    """PySide6's xcb platform plugin and the Qt library behind it (those present), found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(list(spec.submodule_search_locations)[0]) / "Qt"
    candidates = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"]
    return [p for p in candidates if p.is_file()]


def run_ldd(path: Path) -> str:
    """``ldd PATH``'s output ('' when ldd is absent or fails: then nothing is reported missing)."""
    try:
        return subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def missing_sonames(ldd_output: str) -> list[str]:
    """The ``=> not found`` libraries of one ``ldd`` output, in order, once each."""
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd_output)))


def install_command(sonames: list[str]) -> str:
    """The ``apt-get install`` line for every missing library at once (ldd lists them all, so
    one install suffices; apt brings their own dependencies). A soname we do not know is named
    as-is, for ``apt-file search``."""
    packages = dict.fromkeys(SONAME_PACKAGES.get(soname, soname) for soname in sonames)
    return "sudo apt-get install -y " + " ".join(packages)


def display_opens(display: str) -> bool:
    """True when an X server answers on ``display`` (``xcb_connect`` through ctypes; no Qt)."""
    name = ctypes.util.find_library("xcb") or "libxcb.so.1"
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return True  # cannot tell without libxcb; the library check reports it missing
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)  # also frees the error object of a failed connection


def uses_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will pick its xcb platform: Linux with no other platform asked for or offered (Wayland)."""
    if not platform.startswith("linux"):
        return False
    requested = env.get("QT_QPA_PLATFORM", "")
    if requested:
        return requested.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def window_problem(env: Mapping[str, str] | None = None, platform: str = sys.platform,
                   ldd: Callable[[Path], str] = run_ldd, plugin_files: list[Path] | None = None,
                   display_check: Callable[[str], bool] = display_opens) -> str | None:
    """Why Qt could not open a window here (a paragraph for the user), or ``None``."""
    env = os.environ if env is None else env
    if not uses_xcb(env, platform):
        return None
    files = xcb_plugin_files() if plugin_files is None else plugin_files
    missing = list(dict.fromkeys(s for path in files for s in missing_sonames(ldd(path))))
    if missing:
        return (
            "SegStudio cannot open a window: Qt's X11 platform needs system libraries that are missing "
            f"({', '.join(missing)}). Install them with:\n    {install_command(missing)}\n{HEADLESS_HINT}"
        )
    display = env.get("DISPLAY", "")
    if not display:
        return f"SegStudio cannot open a window: there is no display (DISPLAY is not set).\n{HEADLESS_HINT}"
    if not display_check(display):
        return f"SegStudio cannot open a window: no X server answers on DISPLAY={display}.\n{HEADLESS_HINT}"
    return None


def main() -> int:
    problem = window_problem()
    print(problem or "Qt can open a window here.")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["HEADLESS_HINT", "SONAME_PACKAGES", "XCB_PACKAGES", "display_opens", "install_command",
           "missing_sonames", "uses_xcb", "window_problem", "xcb_plugin_files"]
