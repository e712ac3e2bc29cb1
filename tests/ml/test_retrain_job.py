"""ml.jobs.retrain_job hands finetune the verified pixels, read from files on the worker thread."""

import numpy as np
from PIL import Image

import segstudio.ml.finetune as finetune_module
from segstudio.core.verified import encode_verified_png
from segstudio.ml.jobs import retrain_job


def test_verified_pixels_reach_finetune_and_images_with_none_are_left_out(tmp_path, monkeypatch):
    paths, masks = {}, {}
    for key in ("a", "b", "c"):
        paths[key] = tmp_path / f"{key}.png"
        Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(paths[key])
        masks[key] = np.zeros((8, 10), np.uint8)
    on_disk = np.zeros((8, 10), bool)
    on_disk[2:4, 3:6] = True
    (tmp_path / "a-verified.png").write_bytes(encode_verified_png(on_disk))
    verified = {"a": tmp_path / "a-verified.png", "b": np.zeros((8, 10), bool)}  # "c": all verified (legacy)
    seen = {}

    def fake_finetune(checkpoint, images, masks, settings, device, should_stop, verified=None):
        seen.update(images=sorted(images), masks=sorted(masks), verified=verified)
        return "result"
        yield

    monkeypatch.setattr(finetune_module, "finetune", fake_finetune)
    gen = retrain_job(None, paths, masks, None, "cpu", verified=verified)(lambda: False)
    try:
        next(gen)
    except StopIteration as stop:
        assert stop.value == "result"
    assert seen["images"] == ["a", "c"] and seen["masks"] == ["a", "c"]
    assert sorted(seen["verified"]) == ["a"] and np.array_equal(seen["verified"]["a"], on_disk)
