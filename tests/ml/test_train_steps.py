"""The training loop's public pieces: one step, one epoch, the LR schedule (also by time), losses, flip TTA."""

import types

import pytest
import torch
from torch import nn

import segstudio.ml.train as train_module
from segstudio.ml.losses import OhemCrossEntropy, build_criterion
from segstudio.ml.train import StepProgress, StepResult, TrainConfig, evaluate, lr_factor, train, train_epoch, train_step

torch.set_num_threads(1)


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 1))


def batches(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(2, 3, 16, 16, generator=g), torch.randint(0, 12, (2, 16, 16), generator=g)) for _ in range(n)]


def test_train_step_updates_the_weights_and_returns_a_detached_loss():
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, masks = batches(1)[0]
    loss = train_step(model, images, masks, optimizer, nn.CrossEntropyLoss(ignore_index=11))
    assert loss.ndim == 0 and not loss.requires_grad and float(loss) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_train_epoch_runs_any_iterable_of_batches_and_steps_the_scheduler():
    model = tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    results = list(train_epoch(model, batches(3), optimizer, nn.CrossEntropyLoss(), torch.device("cpu"),
                               scheduler=scheduler))
    assert len(results) == 3 and all(isinstance(r, StepResult) for r in results)
    assert all(r.images == 2 and 0 <= r.data_wait_s <= r.step_s for r in results)
    assert scheduler.last_epoch == 3 and model.training
    losses = [r.loss for r in train_epoch(model, batches(3) * 10, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"))]
    assert losses[-1] < losses[0]  # it learns


def test_lr_schedule_warms_up_decays_and_follows_a_time_budget():
    assert lr_factor(0, 100, warmup_steps=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, warmup_steps=10) == pytest.approx(1.0)
    assert lr_factor(55, 100, warmup_steps=10) == pytest.approx(0.5 ** 0.9)
    assert lr_factor(100, 100) == 0.0
    # Far from the last step but half the time gone: half-way down; the budget spent: zero.
    assert lr_factor(20, 10_000, elapsed_s=30, budget_s=60) == pytest.approx(0.5 ** 0.9)
    assert lr_factor(20, 10_000, elapsed_s=61, budget_s=60) == 0.0
    assert lr_factor(9_000, 10_000, elapsed_s=1, budget_s=60) == pytest.approx(0.1 ** 0.9)  # steps ahead


def test_a_time_limited_run_decays_its_learning_rate(scene_folder, tmp_path, monkeypatch):
    clock = {"t": 0.0}

    def monotonic():  # every reading of the clock is 0.5 s later: the 1-minute budget ends the run
        clock["t"] += 0.5
        return clock["t"]

    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(monotonic=monotonic, perf_counter=monotonic))
    config = TrainConfig(
        train_images=str(scene_folder / "images"), train_labels=str(scene_folder / "labels"),
        out=str(tmp_path / "t.safetensors"), model="unet-bn", width=4, epochs=1000, batch_size=3,
        lr=1e-2, warmup_epochs=0, device="cpu", threads=1, minutes=1.0,
    )
    events = list(train(config))
    lrs = [e.lr for e in events if isinstance(e, StepProgress)]
    assert events[-1].stopped_early == "time budget reached"
    assert 10 < len(lrs) < 100  # 1000 epochs asked: the steps alone would keep the rate near 1e-2
    assert lrs[0] > 0.8e-2 and lrs[-1] < 0.15e-2 and lrs == sorted(lrs, reverse=True)


def test_ohem_keeps_the_hard_pixels_and_skips_ignore():
    logits = torch.zeros(1, 3, 2, 4)
    target = torch.zeros(1, 2, 4, dtype=torch.long)
    logits[0, 0, 0, :] = 10.0  # top row: confidently right (easy)
    target[0, 1, 3] = 2  # one pixel of the bottom row: to be ignored
    ohem = OhemCrossEntropy(ignore_index=2, threshold=0.7, min_kept=0.1)
    hard = nn.functional.cross_entropy(logits, target, ignore_index=2, reduction="none")[0, 1, :3]
    assert float(ohem(logits, target)) == pytest.approx(float(hard.mean()))  # bottom row only
    assert float(ohem(logits, target)) > float(nn.CrossEntropyLoss(ignore_index=2)(logits, target))
    logits[0, 0] = 10.0  # everything easy: the hardest min_kept share still trains
    assert float(ohem(logits, target)) > 0
    assert float(ohem(logits, torch.full_like(target, 2))) == 0.0
    assert isinstance(build_criterion("ohem", None, 11), OhemCrossEntropy)
    with pytest.raises(ValueError, match="ce, ohem"):
        build_criterion("focal", None, 11)


def test_flip_tta_averages_the_frame_and_its_mirror():
    model = tiny_model().eval()
    images, masks = batches(1)[0]
    plain, _ = evaluate(model, [(images, masks)], torch.device("cpu"), 12, 11)
    tta, _ = evaluate(model, [(images, masks)], torch.device("cpu"), 12, 11, flip_tta=True)
    with torch.no_grad():
        mean = (model(images) + model(images.flip(-1)).flip(-1)) / 2
    manual = train_module.ConfusionMatrix(12, 11)
    manual.update(train_module.predict_classes(mean, 11), masks)
    assert tta["confusion_matrix"] == manual.compute()["confusion_matrix"] != plain["confusion_matrix"]
