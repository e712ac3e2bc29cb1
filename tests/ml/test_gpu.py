"""On a real CUDA device: an AMP training step, CPU-vs-CUDA agreement, a real out-of-memory back-off.

Opt-in (``-m gpu``, ``make test-gpu``); skipped where CUDA is absent. The CPU
suite only simulates these paths (a model that raises OutOfMemoryError).
"""

import numpy as np
import pytest
import torch

from segstudio.core.resources import default_model_path
from segstudio.ml.checkpoint import load_checkpoint, read_metadata
from segstudio.ml.inference import Predictor

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def sample_frame():
    from segstudio.core.imageio import read_image
    from segstudio.core.resources import sample_folder

    return read_image(sorted(sample_folder().glob("*.jpg"))[0])


def test_a_training_run_with_amp_on_cuda(scene_folder, tmp_path):
    from segstudio.ml.train import EpochEnd, TrainConfig, TrainDone, train

    out = tmp_path / "amp.safetensors"
    config = TrainConfig(
        train_images=str(scene_folder / "images"), train_labels=str(scene_folder / "labels"),
        val_images=str(scene_folder / "images"), val_labels=str(scene_folder / "labels"),
        out=str(out), model="unet-bn", width=8, epochs=2, batch_size=3, lr=0.01, device="cuda", amp=True,
    )
    events = list(train(config))
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert ends and all(np.isfinite(e.train_loss) for e in ends)
    assert any(isinstance(e, TrainDone) for e in events)
    assert read_metadata(out)["record"]["settings"]["amp"] is True
    assert load_checkpoint(out).config["base_width"] == 8


@pytest.mark.skipif(not default_model_path().exists(), reason="the shipped model is not there")
def test_cpu_and_cuda_predict_the_same_mask():
    image = sample_frame()
    checkpoint = load_checkpoint(default_model_path())
    cpu = Predictor(checkpoint, "cpu").predict(image)
    cuda = Predictor(checkpoint, "cuda").predict(image)  # under bf16/fp16 autocast
    agree = (cpu.mask == cuda.mask).mean()
    assert agree >= 0.99, f"CPU and CUDA masks agree on {agree:.3%} of pixels"
    assert np.abs(cpu.confidence.astype(int) - cuda.confidence).mean() < 2


@pytest.mark.skipif(not default_model_path().exists(), reason="the shipped model is not there")
def test_a_real_cuda_out_of_memory_backs_off_and_completes():
    """The caching allocator is capped to 0.5 GB, so tiles of 2048 px really do not fit."""
    checkpoint = load_checkpoint(default_model_path())
    image = np.ascontiguousarray(np.tile(sample_frame(), (9, 9, 1))[:3000, :4000])
    reference = Predictor(checkpoint, "cuda", tile=512, batch_size=1).predict(image)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(0.5e9 / total)
    try:
        predictor = Predictor(checkpoint, "cuda", tile=2048, batch_size=4)
        with pytest.raises(torch.cuda.OutOfMemoryError):  # the setting really is too big
            predictor.model(torch.zeros(4, 3, 2048, 2048, device="cuda", dtype=torch.float32))
        torch.cuda.empty_cache()
        prediction = predictor.predict(image)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert predictor.batch_size < 4 or predictor.tile < 2048  # it backed off
    assert prediction.mask.shape == image.shape[:2]
    assert (prediction.mask == reference.mask).mean() >= 0.999  # tiles equal the whole image: same answer
