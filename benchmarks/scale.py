"""Scale-out: the local pipeline vs ``--engine ray`` on this machine, and the per-stage costs a
cluster plan is built from, in one run.

1. Throughput: the same 100 generated videos (vidcap synth: 160x120, 3 s, 25 fps), 16 frames
   each through MobileNetV2 (ONNX Runtime), into a fresh feature store per run:
     local   the local pipeline (decode processes + the backbone in this process)
     ray-1   --engine ray with one backbone actor (decode in Ray tasks), on a local Ray
     ray-2   the same with two backbone actors
   The three runs take turns, --rounds times (the load of a shared machine drifts); each
   row gives the median, fastest and slowest. The Ray instance is started once before and
   warmed by a first job of 4 videos (like a running cluster; both timed apart); each Ray
   run includes starting its actors and loading the model in them.
2. Per-stage costs of one video, for the plan in docs/scale.md, on this machine's CPU (wall and
   CPU seconds of one process, every thread counted; --stages-only runs only these):
     decode    80 evenly spaced frames of a 60 s 1280x720 H.264 clip, per second of video
     features  MobileNetV2 on those 80 frames (224x224)
     caption   the bundled S2VT captioner on the 80 feature rows (beam 3)
     speech    Whisper tiny.en (int8, CTranslate2) on espeak-ng speech, per second of audio

Usage: python benchmarks/scale.py [--videos 100] [--rounds 3] [--out DIR] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

NUM_FRAMES = 16


def throughput(videos: Path, out: Path, rounds: int) -> tuple[list[dict], dict]:
    """``rounds`` times the runs local, ray-1, ray-2 in turn (on a shared machine the load
    drifts; each row gives the median, fastest and slowest of its runs). The Ray instance
    is started and its worker processes warmed by a first job of 4 videos before the timed
    runs, as on a running cluster (both timed apart); it stays up, idle, during the local runs."""
    import statistics

    import ray

    from vidcap import api

    def timed(folder: str, **kw) -> float:
        shutil.rmtree(out / folder, ignore_errors=True)
        t0 = time.perf_counter()
        summary = api.extract_many(videos, out / folder, num_frames=NUM_FRAMES, **kw)
        assert len(summary.ok) == n and not summary.failed, summary.render()
        return time.perf_counter() - t0

    n = len(list(videos.glob("*.mp4")))
    runs = {"local": ("local", {}), "ray-1": ("ray1", {"engine": "ray", "workers": 1}),
            "ray-2": ("ray2", {"engine": "ray", "workers": 2})}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    env = dict(os.environ)
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    setup = {"ray_start_s": time.perf_counter() - t0}
    try:
        t0 = time.perf_counter()
        api.extract_many(sorted(videos.glob("*.mp4"))[:4], out / "warm", num_frames=NUM_FRAMES, engine="ray")
        setup["first_job_4_videos_s"] = time.perf_counter() - t0
        for _ in range(rounds):
            for name, (folder, kw) in runs.items():
                seconds[name].append(timed(folder, **kw))
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(env)
    base = statistics.median(seconds["local"])
    rows = [{"run": name, "videos": n, "seconds": s, "median_s": statistics.median(s),
             "videos_per_s": n / statistics.median(s), "vs_local": base / statistics.median(s)}
            for name, s in seconds.items()]
    return rows, setup


def clock(fn, repeat: int = 1):
    """``(fn's last result, wall seconds, CPU seconds of this process)`` per call, over ``repeat`` calls.
    CPU seconds (every thread of the process) are what a cluster plan needs: on a shared
    machine the wall time mostly measures the other processes."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - t0) / repeat, (time.process_time() - c0) / repeat


def stage_costs(work: Path) -> dict:
    """Per-stage costs (wall and CPU seconds) of one process on this machine; see the module docstring."""
    import numpy as np
    from extract import make_long_clip

    from vidcap.features.extract import features_of, get_engine, load_frames
    from vidcap.tasks.caption import Captioner
    from vidcap.tasks.speech import transcribe

    clip_path = make_long_clip(work / "long720p.mp4")
    engine = get_engine("mobilenet_v2")
    load_frames(clip_path, engine, num_frames=80)  # warm the decoder and the session
    clip, *decode = clock(lambda: load_frames(clip_path, engine, num_frames=80))
    feats, *features = clock(lambda: features_of(clip, engine))
    cap = Captioner.load(None)
    cap.caption_features(np.zeros((cap.num_frames, cap.feature_dim), np.float32))  # warm
    rows = np.resize(feats.features, (cap.num_frames, feats.features.shape[1]))
    _, *caption = clock(lambda: cap.caption_features(rows), repeat=5)
    wav = work / "speech.wav"
    text = ("Scaling out a video toolkit means running the same work on many machines. " * 6).strip()
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True)
    transcribe(wav)  # load the model once
    transcript, *speech = clock(lambda: transcribe(wav))
    audio_seconds = max(w.end for w in transcript.words) if transcript.words else 1.0
    return {"decode_per_video_second": [t / 60.0 for t in decode], "features_per_video": features,
            "caption_per_video": caption, "speech_per_audio_second": [t / audio_seconds for t in speech],
            "speech_audio_seconds": audio_seconds}


def print_throughput(rows: list[dict], setup: dict, rounds: int, load: float) -> None:
    print(f"## Throughput: {rows[0]['videos']} videos, {NUM_FRAMES} frames each, {os.cpu_count()} cores, "
          f"{rounds} rounds (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)\n")
    print("| run | median s | fastest–slowest s | videos/s (median) | vs local (medians) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['median_s']:.1f} | {min(r['seconds']):.1f}–{max(r['seconds']):.1f} | "
              f"{r['videos_per_s']:.2f} | {r['vs_local']:.2f}x |")
    print(f"\nnot in the rows: starting the local Ray instance {setup['ray_start_s']:.1f} s; its first job "
          f"(4 videos, starting its worker processes) {setup['first_job_4_videos_s']:.1f} s\n")


def print_stages(costs: dict, load: float) -> None:
    print(f"## Per-stage costs on this CPU (one process; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)\n")
    print("| stage | wall ms | CPU ms (all threads) | per |\n|---|---|---|---|")
    speech = f"second of audio ({costs['speech_audio_seconds']:.0f} s of speech)"
    for label, key, unit in (("decode 80 frames of 720p H.264", "decode_per_video_second", "second of video"),
                             ("features (MobileNetV2, 80 frames)", "features_per_video", "video"),
                             ("caption (S2VT, beam 3)", "caption_per_video", "video"),
                             ("speech (Whisper tiny.en int8)", "speech_per_audio_second", speech)):
        wall, cpu = costs[key]
        print(f"| {label} | {wall * 1000:.1f} | {cpu * 1000:.1f} | {unit} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind, in turn")
    parser.add_argument("--stages-only", action="store_true", help="only the per-stage costs")
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()
    from vidcap import api

    work = Path(args.out or tempfile.mkdtemp(prefix="vidcap-scale-"))
    world = work / "world"
    if not (world / "videos").is_dir():
        api.synth(world, num_videos=args.videos, seed=21)
    shutil.rmtree(work / "warm", ignore_errors=True)
    numbers: dict = {}
    if not args.stages_only:
        load = os.getloadavg()[0]
        rows, setup = throughput(world / "videos", work, args.rounds)
        print_throughput(rows, setup, args.rounds, load)
        numbers.update({"throughput": rows, **setup})
    load = os.getloadavg()[0]
    numbers["stages"] = costs = stage_costs(work)
    print_stages(costs, load)
    if args.json:
        Path(args.json).write_text(json.dumps({**numbers, "load_after": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
