"""`segstudio train` then `segstudio eval` on generated images, in-process."""

import json

import pytest

from segstudio.ml.checkpoint import read_metadata


def _train_args(folder, out, *extra):
    return (
        "train", "--train-images", folder / "images", "--train-labels", folder / "labels",
        "--val-images", folder / "images", "--val-labels", folder / "labels",
        "--model", "unet-bn", "--width", "4", "--out", out, "--epochs", "2", "--batch-size", "3",
        "--lr", "0.01", "--device", "cpu", "--threads", "1", "--seed", "1", *extra,
    )


def test_train_then_eval_json(cli, scene_folder, tmp_path):
    out = tmp_path / "model.safetensors"
    code, stdout, _ = cli(*_train_args(scene_folder, out, "--crop", "32x40", "--aug", "flip,rotate,scale,bright",
                                       "--class-weights", "auto"))
    assert code == 0 and out.is_file() and (tmp_path / "model.resume.pt").is_file()
    epoch_lines = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert len(epoch_lines) == 2 and "pixel acc" in epoch_lines[0] and "mIoU" in epoch_lines[0]
    assert read_metadata(out)  # a SegStudio checkpoint

    code, stdout, _ = cli("eval", "--model", out, "--images", scene_folder / "images",
                          "--labels", scene_folder / "labels", "--device", "cpu", "--json")
    assert code == 0
    report = json.loads(stdout)  # exactly one JSON object, nothing else
    assert {"pixel_accuracy", "mean_class_accuracy", "mean_iou", "per_class_iou",
            "confusion_matrix", "class_names"} <= set(report)
    assert len(report["class_names"]) == 11 and "Void" not in report["class_names"]
    assert report["size"] == "full" and report["images"] == 6

    code, stdout, _ = cli("eval", "--model", out, "--images", scene_folder / "images",
                          "--labels", scene_folder / "labels", "--device", "cpu", "--size", "24")
    assert code == 0 and "mean IoU" in stdout and "Road" in stdout and "confusion matrix" in stdout


def test_resume_from_the_cli(cli, scene_folder, tmp_path):
    out = tmp_path / "m.safetensors"
    assert cli(*_train_args(scene_folder, out, "--size", "32"))[0] == 0
    code, stdout, _ = cli(*_train_args(scene_folder, out, "--size", "32", "--resume", tmp_path / "m.resume.pt"))
    assert code == 0 and "epoch" not in stdout.split("done")[0]  # both epochs already done
    args = list(_train_args(scene_folder, out, "--size", "32", "--resume", tmp_path / "m.resume.pt"))
    args[args.index("--epochs") + 1] = "3"
    code, stdout, _ = cli(*args)
    assert code == 0 and "epoch   3/3" in stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--class-weights", "1,2"), "12"),
        (("--aug", "blur"), "blur"),
    ],
)
def test_user_errors_are_one_line(cli, scene_folder, tmp_path, extra, message):
    code, _, err = cli(*_train_args(scene_folder, tmp_path / "x.safetensors", *extra))
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_labels_folder(cli, scene_folder, tmp_path):
    args = list(_train_args(scene_folder, tmp_path / "x.safetensors"))
    args[args.index("--train-labels") + 1] = tmp_path / "nowhere"
    code, _, err = cli(*args)
    assert code == 2 and "nowhere" in err and len(err.strip().splitlines()) == 1


def camvid_layout(scene_folder, data):
    """CamVid's train/trainannot/val/valannot folders, pointing at the generated scenes."""
    data.mkdir()
    for a, b in (("train", "images"), ("trainannot", "labels"), ("val", "images"), ("valannot", "labels")):
        (data / a).symlink_to(scene_folder / b, target_is_directory=True)
    return data


def test_reproduce_one_row_writes_table(cli, scene_folder, tmp_path):
    data = camvid_layout(scene_folder, tmp_path / "camvid")
    code, stdout, _ = cli("reproduce", "--data", data, "--out", tmp_path / "rep", "--epochs", "1", "--size", "32",
                          "--width", "4", "--configs", "unet", "--device", "cpu", "--threads", "1")
    assert code == 0
    table = (tmp_path / "rep" / "results.md").read_text()
    assert "| U-Net |" in table and "0.596" in table
    rows = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert len(rows) == 1 and rows[0]["pixel_accuracy"] is not None
    code, _, err = cli("reproduce", "--data", data, "--out", tmp_path / "rep", "--configs", "bogus")
    assert code == 2 and "bogus" in err


def test_reproduce_runs_the_augmentation_rows_on_another_base(cli, scene_folder, tmp_path):
    data = camvid_layout(scene_folder, tmp_path / "camvid")
    code, _, _ = cli("reproduce", "--data", data, "--out", tmp_path / "rep", "--epochs", "1", "--size", "32",
                     "--width", "4", "--configs", "8", "--augmentation-base", "unet-bn", "--device", "cpu",
                     "--threads", "1")
    assert code == 0
    (row,) = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert row["model"] == "unet-bn" and row["aug"] == "rotate" and row["name"] == "U-Net + BN, rotation aug"
    assert "on unet-bn (study: vgg16-unet-bn-dropout)" in row["note"] and row["pixel_accuracy"] is not None
    assert (tmp_path / "rep" / "row8-unet-bn-rotate.safetensors").exists()
    code, _, err = cli("reproduce", "--data", data, "--out", tmp_path / "rep", "--augmentation-base", "resnet")
    assert code == 2 and "resnet" in err


def test_recipe_options_reach_training_and_evaluation(cli, scene_folder, tmp_path):
    out = tmp_path / "recipe.safetensors"
    code, stdout, _ = cli(*_train_args(scene_folder, out, "--crop", "32x40", "--aug", "scale,flip,color",
                                       "--scale-range", "0.75,1.5", "--loss", "ohem", "--depth", "2",
                                       "--tta", "flip", "--epochs", "1"))
    assert code == 0 and stdout.startswith("data: in-memory: 6 training + 6 validation images")
    from segstudio.ml.checkpoint import load_checkpoint

    loaded = load_checkpoint(out)
    assert loaded.config["depth"] == 2
    settings = loaded.record["settings"]
    assert settings["loss"] == "ohem" and settings["flip_tta"] and list(settings["scale_range"]) == [0.75, 1.5]
    code, stdout, _ = cli("eval", "--model", out, "--images", scene_folder / "images", "--labels",
                          scene_folder / "labels", "--device", "cpu", "--json", "--tta", "flip", "--batch-size", "3")
    report = json.loads(stdout)
    assert code == 0 and report["tta"] == "flip" and report["images"] == 6
    code, stdout, _ = cli(*_train_args(scene_folder, tmp_path / "s.safetensors", "--pipeline", "stream",
                                       "--epochs", "1", "--size", "32"))
    assert code == 0 and stdout.startswith("data: streaming from disk (0 worker processes)")
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it before anything runs
        cli(*_train_args(scene_folder, out, "--scale-range", "2,1"))
    assert exit_info.value.code == 2


def test_reproduce_takes_the_pipeline_options(cli, scene_folder, tmp_path):
    data = camvid_layout(scene_folder, tmp_path / "camvid")
    code, stdout, _ = cli("reproduce", "--data", data, "--out", tmp_path / "rep", "--epochs", "1", "--size", "32",
                          "--width", "4", "--configs", "2", "--device", "cpu", "--threads", "1",
                          "--pipeline", "stream", "--workers", "0", "--cache-gb", "1")
    assert code == 0 and "data: streaming from disk" in stdout
