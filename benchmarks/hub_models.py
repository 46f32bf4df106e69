"""The real cost of torchvision's Kinetics-400 classifiers in `vidcap classify`, on the CPU.

The published weights cannot be downloaded here, but their cost does not depend on
their values: each architecture is built with random weights, saved where torchvision
keeps its weights (a temporary ``TORCH_HOME``), and `vidcap classify --model
torchvision:NAME` runs on one generated 10 s video (25 fps, 320x240, moving shapes)
with each model's own frames, frame rate, size and default windows (its clip length,
stride half of it). Baseline in the same run: decoding and preprocessing alone (the
same frames, resized and cropped as the model wants them), so ``x decode`` says how
many times the decoding the model costs. Models run in turns, ``--repeats`` times each,
best time kept. Accuracy is not measured (random weights); see docs/models.md for the
published numbers.

    python benchmarks/hub_models.py                      # r3d_18 r2plus1d_18 s3d mvit_v2_s swin3d_t
    python benchmarks/hub_models.py --models s3d --threads 1 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: float = 10.0, fps: int = 25, size=(240, 320)) -> Path:
    from vidcap import api

    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(int(seconds * fps)):
        f = np.zeros((h, w, 3), np.uint8)
        f[..., 2] = (xx * 255 // w).astype(np.uint8)
        cx, cy = (40 + 3 * i) % w, h // 2 + int(40 * np.sin(i / 10))
        f[(xx - cx) ** 2 + (yy - cy) ** 2 < 30**2] = (230, 60, 40)
        f[abs(xx - (w - 1 - (2 * i) % w)) < 12, :] = (40, 200, 60)[:]
        frames.append(f)
    api.write_video(path, np.stack(frames), fps)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["r3d_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)

    import torch
    import torchvision.models.video as tvv

    from vidcap import api
    from vidcap.tasks import hub
    from vidcap.tasks.classify import VideoClassifier

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="vidcap-hub-bench-"))
    os.environ["TORCH_HOME"] = str(work / "torch")
    os.environ["HF_HUB_OFFLINE"] = "1"  # never fetch
    video = make_video(work / "ten_seconds.mp4")
    info = api.probe(video)
    clfs = {}
    for name in args.models:
        torch.manual_seed(0)
        path = hub.torchvision_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(getattr(tvv, name)(weights=None).state_dict(), path)
        clfs[name] = VideoClassifier.load(f"torchvision:{name}")
    best = {n: {"decode": float("inf"), "total": float("inf")} for n in args.models}
    windows = {}
    for _ in range(args.repeats):
        for name, clf in clfs.items():  # in turns, so a busy machine slows every model alike
            step = max(1.0, info.avg_fps / clf.frame_rate)
            indices = np.unique(np.round(np.arange(0, info.num_frames - 1 + 1e-9, step)).astype(np.int64))
            t0 = time.perf_counter()
            clf.inputs(video, indices, info.num_frames)
            best[name]["decode"] = min(best[name]["decode"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            (result,) = api.classify(video, clf)
            best[name]["total"] = min(best[name]["total"], time.perf_counter() - t0)
            windows[name] = (len(result.windows), result.window, clf.clip_size)
    print(f"# {info.duration:.1f} s video, {info.width}x{info.height} at {info.avg_fps:g} fps; torch threads "
          f"{args.threads}; best of {args.repeats}; CPU: {os.cpu_count()} cores visible; torch {torch.__version__}")
    print(f"{'model':<14}{'windows':>8}{'frames':>8}{'size':>6}{'decode s':>10}{'total s':>9}{'s/window':>10}"
          f"{'x decode':>10}{'x real time':>13}")
    for name in args.models:
        n, frames, size = windows[name]
        d, t = best[name]["decode"], best[name]["total"]
        print(f"{name:<14}{n:>8}{frames:>8}{size:>6}{d:>10.2f}{t:>9.2f}{(t - d) / n:>10.2f}{t / d:>10.1f}"
              f"{t / info.duration:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
