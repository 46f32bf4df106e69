"""`make demo`: caption videos the bundled model has never seen, and score the captions.

1. Generate a small world of captioned videos (``vidcap synth``) with a seed the
   bundled model was not trained on.
2. Caption its held-out test videos with the bundled S2VT model (raw video in,
   sentence out: decode, MobileNetV2 features, beam search).
3. Print each caption beside two of its human-style references, then BLEU-4,
   METEOR, ROUGE-L and CIDEr of all of them (pycocoevalcap).

Everything runs offline. ``python -m vidcap.demo --help`` for the options.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vidcap.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default="out/demo", help="where the generated world goes (default: %(default)s)")
    ap.add_argument("--num-videos", type=int, default=60, help="videos to generate (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=2026, help="world seed; the bundled model was trained on seed 11")
    ap.add_argument("--show", type=int, default=8, help="captions to print (default: %(default)s)")
    ap.add_argument("--beam-size", type=int, default=3)
    args = ap.parse_args(argv)

    from vidcap import api
    from vidcap.cli.common import Bars
    from vidcap.data.captions import load_msvd, load_splits
    from vidcap.errors import VidcapError

    out = Path(args.out_dir)
    try:
        print(f"1) generating {args.num_videos} videos (seed {args.seed}) in {out}/ ...")
        with Bars(args) as bars:
            api.synth(out, num_videos=args.num_videos, seed=args.seed, level="easy", progress=bars)
        corpus = load_msvd(out / "video_corpus.csv", videos_dir=out / "videos")
        splits = load_splits(out / "splits.json")
        held_out = [n for s in ("test", "test_compositional") for n in splits.get(s, []) if n in corpus.captions]
        videos = [out / "videos" / f"{n}.mp4" for n in held_out]

        captioner = api.load_captioner()
        print(f"2) captioning {len(videos)} held-out videos with the bundled model "
              f"({captioner.backbone}, {captioner.num_frames} frames, beam {args.beam_size}) ...")
        start = time.perf_counter()
        with Bars(args, items=False) as bars:
            results = api.caption(videos, model=captioner, beam_size=args.beam_size, progress=bars)
        seconds = time.perf_counter() - start
        preds = {n: r.caption for n, r in zip(held_out, results)}
        refs = {n: corpus.captions[n] for n in held_out}

        width = min(shutil.get_terminal_size((100, 20)).columns, 110)
        print(f"\n{'video':<24} caption  /  two of its references")
        print("-" * width)
        for name in held_out[: args.show]:
            print(f"{name:<24} {preds[name]}")
            for ref in refs[name][:2]:
                print(f"{'':<24}   ref: {ref}")
        print("-" * width)
        metrics = api.score_captions(refs, preds)
        print("3) " + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
        print(f"{len(videos)} videos captioned in {seconds:.1f} s ({seconds / max(len(videos), 1):.2f} s per video)")
    except VidcapError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
