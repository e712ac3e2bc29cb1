#!/usr/bin/env bash
# Screenshot of the main window for the README: a real window under Xvfb when
# xvfb-run is installed (apt-get install xvfb), else Qt's offscreen platform.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p docs
# The xcb platform needs libxcb-cursor0 (Debian) besides xvfb.
if command -v xvfb-run >/dev/null && ldconfig -p | grep -q libxcb-cursor; then
  QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" "$PY" -m segstudio.app.screenshot docs/screenshot.png
else
  QT_QPA_PLATFORM=offscreen "$PY" -m segstudio.app.screenshot docs/screenshot.png
fi
