"""Speed of the synthetic video world: 1,000 easy videos, parallel vs one process.

Rows (all in this run, same code, same seed, same decoded frames and tables):

  parallel   generate_world(workers=<CPUs>): one process per core, each encoder
             single-threaded (so the encoding does not depend on the core count)
  1 process  generate_world(workers=1): the baseline
  render     rendering alone (vectorised numpy + OpenCV anti-aliasing), per video
  encode     H.264 encoding alone (PyAV, x264 veryfast, crf 18), per video, and
             with x264's default preset (medium) for comparison

The variants alternate over several rounds so that other work on a shared machine
slows both alike; CPU ms/video (this process + its workers) does not depend on the
load, wall time does.

    python benchmarks/synth.py                        # 1,000 easy videos
    python benchmarks/synth.py --num-videos 200 --level hard
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def world_digest(root: Path) -> str:
    """Digest of what a world promises: decoded frames, parsed tables and JSON, link targets
    (not the encoded bytes, which are not promised)."""
    from vidcap.io.video import iter_frames

    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_symlink():
            h.update(os.readlink(p).encode())
        elif p.suffix in (".mp4", ".mkv"):
            for frame, _ in iter_frames(p):
                h.update(frame.tobytes())
        elif p.suffix == ".csv":
            with open(p, newline="", encoding="utf-8") as f:
                h.update(json.dumps(list(csv.reader(f))).encode())
        elif p.suffix == ".json":
            h.update(json.dumps(json.loads(p.read_text(encoding="utf-8")), sort_keys=True).encode())
    return h.hexdigest()[:16]


def stage_times(level: str, n: int, size=(160, 120), fps=25, seconds=3) -> tuple[float, float, float]:
    """Mean ms per video: rendering only, encoding only, and encoding with x264's
    default preset (medium) instead of veryfast (one process)."""
    from vidcap.data.synthetic import LEVELS, video_name
    from vidcap.data.synthetic.captions import _make_workers
    from vidcap.data.synthetic.plans import _class_labels, _heldout, _plan
    from vidcap.data.synthetic.render import _image_tracks, _render
    from vidcap.io.writers import write_video

    n_frames = round(fps * seconds)
    ctx = {"out_dir": "", "seed": 0, "level": level, "size": size, "fps": fps, "factor": 1,
           "num_frames": n_frames, "dense_frames": n_frames, "camera": LEVELS[level].camera,
           "heldout": _heldout(0), "workers": _make_workers(0)}
    labels = _class_labels(n, 0)
    render = encode = encode_medium = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            t0 = time.perf_counter()
            plan = _plan(i, "train", labels[i], video_name(i, seconds), ctx)
            tracks = _image_tracks(plan, ctx)
            frames = [_render(plan, tracks, j, ctx)[0] for j in range(n_frames)]
            t1 = time.perf_counter()
            write_video(Path(tmp) / "v.mp4", frames, fps, options={"preset": "veryfast"})
            t2 = time.perf_counter()
            write_video(Path(tmp) / "v.mp4", frames, fps)
            t3 = time.perf_counter()
            render += t1 - t0
            encode += t2 - t1
            encode_medium += t3 - t2
    return 1000 * render / n, 1000 * encode / n, 1000 * encode_medium / n


def timed_world(out: Path, n: int, workers: int, level: str, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its workers) for one world."""
    from vidcap.data.synthetic import generate_world

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    c, t = cpu(), time.perf_counter()
    generate_world(out, num_videos=n, seed=seed, level=level, workers=workers)
    return time.perf_counter() - t, cpu() - c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=1000)
    parser.add_argument("--baseline-videos", type=int, default=None,
                        help="videos for the 1-process baseline (default: the same number)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="the variants alternate in this many rounds, so a busy machine hits both alike")
    parser.add_argument("--level", default="easy")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()

    base_n = args.baseline_videos or args.num_videos
    variants = [(f"parallel ({args.workers} processes)", args.num_videos, args.workers),
                ("1 process (baseline)", base_n, 1)]
    totals = {label: [0, 0.0, 0.0] for label, _, _ in variants}  # videos, wall s, cpu s
    load = []
    root = Path(tempfile.mkdtemp(prefix="vidcap-synth-bench-"))
    try:
        for r in range(args.rounds):
            for label, n, workers in variants:
                part = n // args.rounds + (1 if r < n % args.rounds else 0)
                wall, cpu = timed_world(root / f"w{workers}-{r}", part, workers, args.level, seed=r)
                totals[label][0] += part
                totals[label][1] += wall
                totals[label][2] += cpu
                load.append(os.getloadavg()[0])
        # the same seed gives the same world whatever the number of processes
        same = world_digest(root / f"w{args.workers}-0") == world_digest(root / "w1-0") \
            if args.num_videos // args.rounds == base_n // args.rounds else None
        size_kb = np.mean([p.stat().st_size for p in root.glob("w1-*/videos/*.mp4")]) / 1e3
        render_ms, encode_ms, medium_ms = stage_times(args.level, 24)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    base = totals[variants[1][0]]
    base_rate = base[0] / base[1]
    print(f"\nsynthetic world, level={args.level}, 160x120, 75 frames/video, {os.cpu_count()} CPUs, "
          f"{args.rounds} alternating rounds, load average {min(load):.1f}-{max(load):.1f}\n")
    print("| variant | videos | wall s | videos/s | wall ms/video | CPU ms/video | speed-up | 1,000 videos |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, _, _ in variants:
        n, wall, cpu = totals[label]
        rate = n / wall
        print(f"| {label} | {n} | {wall:.1f} | {rate:.1f} | {1000 / rate:.0f} | {1000 * cpu / n:.0f} | "
              f"{rate / base_rate:.2f}x | {1000 / rate:.0f} s |")
    total = render_ms + encode_ms
    print("\n| stage (1 process, 24 videos) | ms/video | share |\n|---|---:|---:|")
    print(f"| render (numpy + OpenCV LINE_AA) | {render_ms:.0f} | {render_ms / total:.0%} |")
    print(f"| encode (PyAV libx264 veryfast) | {encode_ms:.0f} | {encode_ms / total:.0%} |")
    print(f"| (encode with x264's default preset medium) | {medium_ms:.0f} | |")
    print(f"\nmp4 size: {size_kb:.1f} kB/video"
          + ("" if same is None else f"; parallel and 1-process worlds decode the same: {same}"))


if __name__ == "__main__":
    main()
