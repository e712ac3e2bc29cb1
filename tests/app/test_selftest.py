import subprocess
import sys

from segstudio.core.labels import CAMVID
from segstudio.ml.checkpoint import save_checkpoint
from segstudio.ml.models.registry import build_model, model_config


def test_self_test_passes_from_source(tmp_path):
    config = model_config("unet-bn", base_width=4, depth=2)
    model_path = tmp_path / "default.safetensors"
    save_checkpoint(model_path, build_model(config), config, CAMVID, train_size={"mode": "native"})
    env = {**__import__("os").environ, "SEGSTUDIO_DEFAULT_MODEL": str(model_path), "QT_QPA_PLATFORM": "offscreen",
           "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "segstudio", "--self-test"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test passed" in result.stdout


def test_self_test_fails_with_a_reason_when_the_model_is_missing(tmp_path):
    env = {**__import__("os").environ, "SEGSTUDIO_DEFAULT_MODEL": str(tmp_path / "none.safetensors"),
           "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "segstudio", "--self-test"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 1 and "missing" in result.stdout


def test_frozen_style_run_without_stdout_does_not_crash(tmp_path, scene_folder):
    code = (
        "import sys; sys.stdout = None; sys.stderr = None\n"
        "from segstudio.logsetup import setup_logging; setup_logging(windowed=True)\n"
        "from segstudio.cli.main import run_cli\n"
        f"raise SystemExit(run_cli(['train', '--train-images', r'{scene_folder / 'images'}', '--train-labels', "
        f"r'{scene_folder / 'labels'}', '--model', 'unet', '--width', '4', '--epochs', '1', '--crop', '32x32', "
        f"'--out', r'{tmp_path / 'm.safetensors'}', '--device', 'cpu']))\n"
    )
    env = {**__import__("os").environ, "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m.safetensors").exists()
