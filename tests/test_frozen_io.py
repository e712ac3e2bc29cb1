"""Windowed/frozen runs: no stdout/stderr, freeze_support, no DataLoader workers when frozen.

Each run is a subprocess that sets ``sys.stdout = sys.stderr = None`` first,
as pythonw, ``segstudio-gui`` on Windows and a ``console=False`` bundle do.
"""

import os
import subprocess
import sys
import textwrap

import pytest


def run_windowed(code: str, tmp_path, timeout=300) -> tuple[subprocess.CompletedProcess, str]:
    """Runs ``code`` with no standard streams; returns the result and what reached console.log."""
    prelude = "import sys\nsys.stdout = None\nsys.stderr = None\n"
    logs = tmp_path / "logs"
    env = {**os.environ, "HOME": str(tmp_path), "SEGSTUDIO_LOG_DIR": str(logs), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, timeout=timeout)
    console = logs / "console.log"
    return result, console.read_text(encoding="utf-8") if console.is_file() else ""


def test_training_progress_without_stdout_goes_to_the_log(tmp_path, scene_folder):
    # Through the real entry point: __main__.main() redirects the streams itself.
    out = tmp_path / "m.safetensors"
    result, console = run_windowed(f"""
        from segstudio.__main__ import main
        raise SystemExit(main(['train', '--train-images', r'{scene_folder / 'images'}',
                               '--train-labels', r'{scene_folder / 'labels'}', '--model', 'unet', '--width', '4',
                               '--epochs', '1', '--crop', '32x32', '--out', r'{out}', '--device', 'cpu']))
    """, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr + console
    assert out.exists()
    assert "epoch" in console and "done" in console  # the CLI's progress lines, kept


def test_tqdm_and_print_without_stdout(tmp_path):
    result, console = run_windowed("""
        from segstudio.system.logsetup import setup_logging
        setup_logging(windowed=True)
        import logging
        from tqdm import tqdm
        for _ in tqdm(range(50), desc="progress-bar"):
            pass
        print("a print line")
        logging.getLogger("segstudio.test").warning("a log line")
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "progress-bar" in console and "a print line" in console
    assert "a log line" in (tmp_path / "logs" / "segstudio.log").read_text(encoding="utf-8")


def test_without_the_redirect_a_progress_bar_crashes(tmp_path):
    """The control case: why the redirect is needed (print() to None is dropped, tqdm raises)."""
    result, _ = run_windowed("from tqdm import tqdm\nfor _ in tqdm(range(3)): pass", tmp_path)
    assert result.returncode != 0


def test_version_without_stdout_lands_in_the_log(tmp_path):
    result, console = run_windowed("""
        sys.argv = ["segstudio-gui", "--version"]
        from segstudio.__main__ import gui_main
        raise SystemExit(gui_main())
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SegStudio" in console and "torch" in console


def test_unwritable_log_folder_falls_back_to_devnull(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    prelude = "import sys\nsys.stdout = None\nsys.stderr = None\n"
    code = prelude + ("from segstudio.system.logsetup import setup_logging\nsetup_logging(windowed=True)\n"
                      "from tqdm import tqdm\nfor _ in tqdm(range(3)): pass\nprint('ok')\n")
    env = {**os.environ, "SEGSTUDIO_LOG_DIR": str(blocker / "logs")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr


def test_main_calls_freeze_support(monkeypatch):
    import multiprocessing

    import segstudio.__main__ as entry

    called = []
    monkeypatch.setattr(multiprocessing, "freeze_support", lambda: called.append(True))
    monkeypatch.setattr("segstudio.cli.main.run_cli", lambda argv: 0)
    assert entry.main(["--version"]) == 0
    assert called


def test_frozen_app_uses_no_dataloader_workers(monkeypatch):
    train = pytest.importorskip("segstudio.ml.train")
    from segstudio.ml.distributed import DistContext

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    loader, _ = train.make_loader(list(range(8)), 2, True, DistContext(), 0, num_workers=4)
    assert loader.num_workers == 0
    monkeypatch.setattr(sys, "frozen", False)
    loader, _ = train.make_loader(list(range(8)), 2, True, DistContext(), 0, num_workers=2)
    assert loader.num_workers == 2
