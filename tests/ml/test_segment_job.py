"""segment_job merges a prediction into saved verified pixels on the worker, except for open images."""

from types import SimpleNamespace

import numpy as np
from PIL import Image

from segstudio.core.project import Project
from segstudio.core.verified import merge_prediction, save_verified
from segstudio.ml.jobs import segment_job

H, W = 12, 16


class FixedPredictor:
    """Predicts the same mask for every image (the job's contract, no model)."""

    device = SimpleNamespace(type="cpu")

    def __init__(self, mask):
        self.mask = mask

    def predict(self, image):
        return SimpleNamespace(mask=self.mask, confidence=np.full((H, W), 200, np.uint8), mean_uncertainty=0.1)


def run(job):
    gen, events = job(lambda: False), []
    try:
        while True:
            events.append(next(gen))
    except StopIteration:
        return events


def test_the_worker_merges_saved_verified_pixels_and_skips_open_images(tmp_path):
    for key in ("a", "b", "c"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / f"{key}.png")
    project = Project.open(tmp_path)
    saved = np.full((H, W), 5, np.uint8)
    verified = np.zeros((H, W), bool)
    verified[2:6, 3:9] = True
    for key in ("a", "b"):
        project.save_mask(key, saved)
        save_verified(project, key, verified)
    predicted = np.full((H, W), 1, np.uint8)
    items = [(k, project.image_path(k)) for k in ("a", "b", "c")]
    events = run(segment_job(FixedPredictor(predicted), items, cpu_threads=1, labelset=project.labelset,
                             project=project, open_keys=frozenset({"b"})))
    by_key = {e.key: e for e in events}
    merged = by_key["a"].merged
    assert merged is not None and merged.keeps_verified
    assert np.array_equal(merged.mask, merge_prediction(saved, verified, predicted)[0])
    assert (merged.mask[verified] == 5).all() and (merged.mask[~verified] == 1).all()
    assert np.array_equal(by_key["a"].mask, predicted)  # the raw prediction still travels
    assert by_key["b"].merged is None  # open in the GUI: merged there, from memory
    assert by_key["c"].merged is None  # nothing saved: the plain fast path
    project.close()
