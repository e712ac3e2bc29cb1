"""Folder pre-fill: throughput, the longest GUI-thread stall, and peak memory on a huge image.

Run (offscreen):
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.bench_prefill \
        [--model FILE] [--device auto|cpu|cuda|mps] [--count 12] [--sizes 480x360,1920x1080] [--skip-huge]

Three measurements:

1. ``predict`` images/s: ``Predictor.predict`` alone on decoded images (the model's share).
2. pre-fill images/s and the longest GUI stall: the app's ``AutoSegmentController``
   pre-fills a generated folder in its worker thread inside a real (offscreen)
   main window, while a 10 ms ``QTimer`` on the GUI thread records the gaps
   between its ticks; the longest gap minus 10 ms is the longest time the GUI
   thread could not react. The issue's bar is 100 ms.
3. peak RSS predicting one 8000x6000 image, in a fresh process (``--huge-only``),
   so that Qt and the folder runs do not count.

With no ``--model`` the shipped model is used when it exists, else a stand-in
(``unet-bn``, width 16, untrained: same cost as a trained one of that size).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import torch  # noqa: E402,F401  (torch before Qt: Windows DLL order)

STAND_IN = {"name": "unet-bn", "base_width": 16}


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # macOS reports bytes, Linux kB


def current_rss_mb() -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def resolve_model(path: str | None, tmp: str) -> tuple[str, str]:
    """(checkpoint path, description)."""
    from segstudio.core.resources import default_model_path

    if path:
        return path, path
    default = default_model_path()
    if default.exists():
        return str(default), f"shipped model {default}"
    from segstudio.core.labels import CAMVID
    from segstudio.ml.checkpoint import save_checkpoint
    from segstudio.ml.models.registry import build_model, model_config

    config = model_config(STAND_IN["name"], base_width=STAND_IN["base_width"])
    out = os.path.join(tmp, "stand-in.safetensors")
    save_checkpoint(out, build_model(config), config, CAMVID, train_size={"mode": "native"})
    return out, f"stand-in {STAND_IN['name']} width {STAND_IN['base_width']} (no shipped model)"


def scene(rng, h, w) -> np.ndarray:
    """A smooth gradient with blocks and noise: compresses and decodes like a photo, not like static.

    Made at most 1000 pixels wide and resized up, so that making an 8000x6000
    one costs no more memory than the image itself.
    """
    if w > 1000:
        import cv2

        small = scene(rng, max(1, h * 1000 // w), 1000)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) * 127 // max(1, h + w)], -1)
    for _ in range(8):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        base[y0 : y0 + h // 5, x0 : x0 + w // 6] = rng.integers(0, 255, 3)
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def make_folder(root: str, w: int, h: int, count: int) -> str:
    folder = os.path.join(root, f"{w}x{h}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(scene(rng, h, w)).save(os.path.join(folder, f"f{i:03d}.jpg"), quality=90)
    return folder


def predict_rate(model_path: str, device: str, folder: str, limit: int = 4) -> float:
    from segstudio.core.imageio import list_images, read_image
    from segstudio.ml.checkpoint import load_checkpoint
    from segstudio.ml.device import choose_device
    from segstudio.ml.inference import Predictor

    predictor = Predictor(load_checkpoint(model_path), choose_device(device)[0])
    if predictor.device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))  # as the controller does: comparable
    images = [read_image(p) for p in list_images(folder)[:limit]]
    predictor.predict(images[0])  # warm-up (cuDNN, allocator)
    start = time.perf_counter()
    for image in images:
        predictor.predict(image)
    return len(images) / (time.perf_counter() - start)


def prefill(app, folder: str, model_path: str, device: str, tmp: str) -> dict:
    """Pre-fills ``folder`` with the app's controller; images/s and GUI-thread gaps."""
    from PySide6.QtCore import QSettings, QTimer

    from segstudio.app.autosegment import install_autosegment
    from segstudio.app.main_window import MainWindow
    from segstudio.app.settings import Settings

    settings = Settings(QSettings(os.path.join(tmp, f"s{time.monotonic_ns()}.ini"), QSettings.Format.IniFormat))
    settings.device = device
    window = MainWindow(settings=settings)
    controller = install_autosegment(window, interactive=False)
    controller.model_choice = model_path
    window.show()
    window.open_folder(folder)
    controller.with_model(lambda: None)  # load first: the run measures pre-fill, not loading
    while controller.is_busy():
        app.processEvents()
        time.sleep(0.002)
    if controller.predictor is None:
        raise SystemExit("the model did not load")
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    reports = []
    controller.finished.connect(reports.append)
    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(10)
    start = time.perf_counter()
    last[0] = start
    controller.segment("folder")
    while not reports:
        app.processEvents()
        time.sleep(0.001)  # an idle event loop: the timer, the worker's queued results
    elapsed = time.perf_counter() - start
    timer.stop()
    count = len(reports[0].applied)
    window.workers.stop_all()
    window.close()
    gaps_ms = np.array(gaps) * 1000
    return {
        "rate": count / elapsed,
        "count": count,
        "stall_ms": float(gaps_ms.max() - 10) if gaps else 0.0,
        "p99_ms": float(np.percentile(gaps_ms, 99) - 10) if gaps else 0.0,
    }


def huge(model_path: str, device: str, tile: int) -> None:
    """Prints the time and peak RSS of predicting one 8000x6000 image (run in a fresh process)."""
    from segstudio.ml.checkpoint import load_checkpoint
    from segstudio.ml.device import choose_device
    from segstudio.ml.inference import Predictor

    predictor = Predictor(load_checkpoint(model_path), choose_device(device)[0], tile=tile)
    image = scene(np.random.default_rng(0), 6000, 8000)
    before = current_rss_mb() or peak_rss_mb()
    start = time.perf_counter()
    prediction = predictor.predict(image)
    seconds = time.perf_counter() - start
    print(f"8000x6000 on {predictor.device} (tile {predictor.tile}): {seconds:.1f} s, peak RSS "
          f"{peak_rss_mb():.0f} MB (RSS before predicting {before:.0f} MB: torch, the model, the 144 MB image); "
          f"mask {prediction.mask.shape}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint; default: the shipped model, else a stand-in")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--count", type=int, default=12, help="images per folder")
    parser.add_argument("--sizes", default="480x360,1920x1080", help="WxH list")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--skip-huge", action="store_true")
    parser.add_argument("--huge-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-prefill-")
    model_path, description = resolve_model(args.model, tmp)
    if args.huge_only:
        huge(model_path, args.device, args.tile)
        return
    from PySide6.QtWidgets import QApplication

    from segstudio.ml.device import choose_device

    device, reason = choose_device(args.device)
    app = QApplication.instance() or QApplication([])
    print(f"model: {description}; device: {device} ({reason}); cores: {os.cpu_count()}")
    print("| images | predict only (images/s) | folder pre-fill (images/s) | longest GUI stall (ms) | p99 gap (ms) |")
    print("|---|---|---|---|---|")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        folder = make_folder(tmp, w, h, args.count)
        rate = predict_rate(model_path, args.device, folder)
        result = prefill(app, folder, model_path, args.device, tmp)
        print(f"| {result['count']} x {w}x{h} | {rate:.2f} | {result['rate']:.2f} | {result['stall_ms']:.0f} "
              f"| {result['p99_ms']:.0f} |", flush=True)
    if not args.skip_huge:
        subprocess.run([sys.executable, "-m", "benchmarks.bench_prefill", "--huge-only", "--model", model_path,
                        "--device", args.device, "--tile", str(args.tile)], check=False)


if __name__ == "__main__":
    main()
