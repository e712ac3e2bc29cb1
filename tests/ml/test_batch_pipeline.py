"""The in-memory, batch-augmented training pipeline: exact masks, ignore fill, shapes, fallback."""

import numpy as np
import pytest
import torch
from PIL import Image

from segstudio.ml.batch_pipeline import BatchAugment, DecodedSet, DeviceBatches, PipelineUnsuitable, decode_pairs
from segstudio.ml.data import pair_files
from segstudio.ml.train import EpochStart, TrainConfig, train

torch.set_num_threads(1)
IGNORE = 11
PLAIN = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))  # no normalisation: image values stay 0..1


def decoded_batch(n=4, h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(1, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)  # never 0: padding is
    masks = torch.randint(0, 11, (n, h, w), dtype=torch.uint8, generator=g)
    masks[:, :2] = IGNORE
    return images, masks


def test_decode_pairs_holds_every_pair_once(scene_folder):
    pairs = pair_files(scene_folder / "images", scene_folder / "labels")
    data = decode_pairs(pairs, 12, IGNORE, threads=2)
    assert data.images.shape == (6, 3, 40, 56) and data.images.dtype == torch.uint8
    assert data.masks.shape == (6, 40, 56) and data.masks.dtype == torch.uint8
    for i, (image_path, label_path) in enumerate(pairs):
        assert np.array_equal(data.images[i].permute(1, 2, 0).numpy(), np.asarray(Image.open(image_path)))
        assert np.array_equal(data.masks[i].numpy(), np.asarray(Image.open(label_path)))
    resized = decode_pairs(pairs, 12, IGNORE, size=32)
    assert resized.images.shape == (6, 3, 32, 32) and set(resized.masks.unique().tolist()) <= {0, 3, 8}


def test_a_data_set_over_budget_or_of_mixed_sizes_is_refused_with_the_reason(scene_folder, tmp_path):
    pairs = pair_files(scene_folder / "images", scene_folder / "labels")
    with pytest.raises(PipelineUnsuitable, match=r"6 images of 56x40 need .* over the .* budget \(raise it with --cache-gb\)"):
        decode_pairs(pairs, 12, IGNORE, budget_bytes=1000)
    Image.new("RGB", (20, 10)).save(scene_folder / "images" / "odd.png")
    Image.new("L", (20, 10)).save(scene_folder / "labels" / "odd.png")
    with pytest.raises(PipelineUnsuitable, match="differ in size"):
        decode_pairs(pair_files(scene_folder / "images", scene_folder / "labels"), 12, IGNORE)


def check_augmented(images, masks, x, y, crop):
    n = images.shape[0]
    assert x.shape == (n, 3, *crop) and x.dtype == torch.float32
    assert y.shape == (n, *crop) and y.dtype == torch.int64
    assert set(y.unique().tolist()) <= set(range(12))  # exact ids of the label set, nothing in between
    outside = y == IGNORE
    # Pixels brought in from outside the frame are ignore in the mask and black in the image.
    brought_in = (x == 0).all(dim=1)
    assert brought_in.any() and outside[brought_in].all()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_augmented_masks_stay_exact_ids_and_brought_in_pixels_are_ignore(device):
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    images, masks = decoded_batch()
    augment = BatchAugment.from_aug({"scale", "rotate", "flip", "bright"}, crop=(28, 40), ignore_index=IGNORE,
                                    scale_range=(0.5, 0.7), normalization={"mean": PLAIN["mean"], "std": PLAIN["std"]})
    x, y = augment(images.to(device), masks.to(device), torch.Generator().manual_seed(3))
    assert x.device.type == device and y.device.type == device
    check_augmented(images, masks, x.cpu(), y.cpu(), (28, 40))


def test_crops_and_flips_copy_source_pixels_exactly():
    images, masks = decoded_batch(n=8)
    augment = BatchAugment(crop=(16, 20), flip=True, ignore_index=IGNORE, **PLAIN)
    x, y = augment(images, masks, torch.Generator().manual_seed(0))
    flips = 0
    for i in range(8):
        for flipped in (False, True):
            source = masks[i].long().flip(-1) if flipped else masks[i].long()
            image = images[i].float().flip(-1) / 255 if flipped else images[i].float() / 255
            found = [(r, c) for r in range(24 - 16 + 1) for c in range(32 - 20 + 1)
                     if torch.equal(source[r : r + 16, c : c + 20], y[i])]
            if found:
                r, c = found[0]
                assert torch.allclose(image[:, r : r + 16, c : c + 20], x[i], atol=1e-5)
                flips += flipped
                break
        else:
            pytest.fail(f"sample {i} is not a crop of its source")
    assert 0 < flips < 8  # both kinds drawn


def test_colour_jitter_draws_a_factor_per_sample_and_leaves_masks_alone():
    images, masks = decoded_batch()
    images[:] = images[:1]  # four copies of one frame
    x, y = BatchAugment.from_aug({"color"}, normalization={"mean": PLAIN["mean"], "std": PLAIN["std"]})(
        images, masks, torch.Generator().manual_seed(0))
    assert torch.equal(y, masks.long()) and x.min() >= 0 and x.max() <= 1
    means = x.mean(dim=(1, 2, 3))
    assert len(set(means.tolist())) == 4  # each copy jittered differently


def test_without_geometry_the_batch_is_only_normalised():
    images, masks = decoded_batch()
    x, y = BatchAugment(ignore_index=IGNORE, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(images, masks)
    assert torch.equal(y, masks.long())
    assert torch.allclose(x, (images.float() / 255 - 0.5) / 0.25)


def test_device_batches_shuffle_by_seed_and_cover_the_set():
    images, masks = decoded_batch(n=10)
    masks[:] = torch.arange(10, dtype=torch.uint8).view(10, 1, 1)  # each sample's id in its mask
    batches = DeviceBatches(DecodedSet(images, masks), 3, torch.device("cpu"), BatchAugment(**PLAIN))
    assert len(batches) == 3  # 10 // 3: the last partial batch is dropped, as the DataLoader does
    ids = lambda seed: [int(m[0, 0]) for _, y in batches.epoch(seed) for m in y]
    assert ids(1) == ids(1) and ids(1) != ids(2) and len(set(ids(1))) == 9
    val = DeviceBatches(DecodedSet(images, masks), 3, torch.device("cpu"), BatchAugment(**PLAIN), shuffle=False)
    assert len(val) == 4 and ids.__call__ and [int(y[0, 0, 0]) for _, y in val.epoch(0)] == [0, 3, 6, 9]
    ranks = [DeviceBatches(DecodedSet(images, masks), 2, torch.device("cpu"), BatchAugment(**PLAIN),
                           rank=r, world_size=2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 2


def _config(folder, out, **kw):
    settings = dict(
        train_images=str(folder / "images"), train_labels=str(folder / "labels"),
        val_images=str(folder / "images"), val_labels=str(folder / "labels"),
        out=str(out), model="unet-bn", width=4, epochs=1, batch_size=3, device="cpu", threads=1,
    )
    settings.update(kw)
    return TrainConfig(**settings)


def test_train_says_which_pipeline_and_falls_back_to_streaming(scene_folder, tmp_path):
    events = list(train(_config(scene_folder, tmp_path / "a.safetensors", crop=(24, 32), aug=("scale", "color"))))
    start = next(e for e in events if isinstance(e, EpochStart))
    assert start.pipeline.startswith("in-memory: 6 training + 6 validation images decoded once")
    events = list(train(_config(scene_folder, tmp_path / "b.safetensors", cache_gb=1e-6)))
    start = next(e for e in events if isinstance(e, EpochStart))
    assert start.pipeline.startswith("streaming from disk") and "budget" in start.pipeline
    assert events[-1].best_metrics is not None
    with pytest.raises(ValueError, match="in-memory pipeline cannot take this data set.*budget"):
        list(train(_config(scene_folder, tmp_path / "c.safetensors", cache_gb=1e-6, pipeline="device")))
