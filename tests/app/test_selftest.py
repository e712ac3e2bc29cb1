"""``segstudio --self-test`` from source: passes with a model, fails with a reason otherwise, never hangs."""

import os
import subprocess
import sys

import pytest

from segstudio.core.labels import CAMVID, LabelSet
from segstudio.core.resources import default_model_path
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.models.registry import build_model, model_config


def tiny_model(path, labelset=CAMVID):
    config = model_config("unet-bn", base_width=4, depth=2, num_classes=labelset.num_classes)
    save_checkpoint(path, build_model(config), config, labelset, train_size={"mode": "native"})
    return path


def run_self_test(tmp_path, model=None, extra_env=None, args=("-m", "segstudio", "--self-test")):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "SEGSTUDIO_LOG_DIR": str(tmp_path / "logs"), **(extra_env or {})}
    env.pop("SEGSTUDIO_DEFAULT_MODEL", None)
    if model is not None:
        env["SEGSTUDIO_DEFAULT_MODEL"] = str(model)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600)


def test_self_test_passes_from_source(tmp_path):
    # The shipped default model when there is one (the real check), else a tiny one.
    shipped = default_model_path()
    model = None if shipped.is_file() and "SEGSTUDIO_DEFAULT_MODEL" not in os.environ else tiny_model(
        tmp_path / "default.safetensors")
    result = run_self_test(tmp_path, model)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout
    # It worked in a temp folder: nothing left in the user's settings or home.
    assert not (tmp_path / "cfg" / "SegStudio").exists()


def test_self_test_through_launch_app_with_no_display_at_all(tmp_path):
    """The same through ``segstudio.app.launch.launch_app(["--self-test"])`` directly, with no
    DISPLAY and no QT_QPA_PLATFORM: it must choose offscreen before QApplication exists."""
    model = tiny_model(tmp_path / "m.safetensors")
    code = ("import os, sys; [os.environ.pop(k, None) for k in ('DISPLAY', 'WAYLAND_DISPLAY', 'QT_QPA_PLATFORM')]; "
            "from segstudio.app.launch import launch_app; sys.exit(launch_app(['--self-test']))")
    result = run_self_test(tmp_path, model, args=("-c", code))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout


def test_self_test_fails_with_a_reason_when_the_model_is_missing(tmp_path):
    result = run_self_test(tmp_path, tmp_path / "none.safetensors")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "self-test failed" in result.stdout and "none.safetensors is missing" in result.stdout


def test_self_test_fails_with_a_reason_when_the_model_does_not_fit(tmp_path):
    # A model for other classes: the app refuses it (with a message box in the older
    # controller, which would block an offscreen run forever; the self-test closes it).
    other = LabelSet(names=("a", "b", "c"), colors=((0, 0, 0), (255, 0, 0), (0, 255, 0)), name="other")
    model = tiny_model(tmp_path / "other.safetensors", other)
    result = run_self_test(tmp_path, model, {"SEGSTUDIO_SELFTEST_TIMEOUT": "120"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "self-test failed" in result.stdout and "classes" in result.stdout


def test_the_shipped_default_model_loads():
    from segstudio.ml.checkpoint import load_checkpoint

    assert load_checkpoint(default_model_path()).labelset.names == CAMVID.names
