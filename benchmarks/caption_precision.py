"""Does S2VT trained in bf16 caption as well as in fp32? Same world, same seeds, in one run.

Generates a world (``--num-videos`` easy videos, seed 5), extracts MobileNetV2 features
once, then trains the default captioner (attention, hidden 256, Adam 1e-3, dropout 0.3,
min count 2) for ``--epochs`` epochs in fp32 and in bf16 autocast
(``vidcap train caption --precision bf16``), each with two seeds, and scores the best
checkpoint of every run on the test split (greedy, pycocoevalcap, PTB tokenizer). The
noise is the spread between the fp32 seeds: bf16 is "within noise" when its
difference from fp32 is no larger than that. Also printed: each run's best validation
CIDEr-D and lowest validation loss (the split that picks the best checkpoint). Also prints each run's training seconds
per epoch (the same machine, one after another) and the CPU's features.

    python benchmarks/caption_precision.py                       # 600 videos, 30 epochs, seeds 0 1
    python benchmarks/caption_precision.py --epochs 60 --seeds 0 1 2
    python benchmarks/caption_precision.py --num-videos 300 --epochs 15 --out /tmp/cp
"""
from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench-out" / "caption-precision"), help="world, features, runs")
    parser.add_argument("--num-videos", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    from vidcap import api
    from vidcap.runtime import cpu_features, cpu_model

    out = Path(args.out)
    world, features = out / "world", out / "features"
    if not (world / "splits.json").exists():
        api.synth(world, num_videos=args.num_videos, seed=5)
    api.extract_many([world / "videos"], features, num_frames=16)
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu_features().items())
    print(f"CPU: {cpu_model()} ({flags}); load average {os.getloadavg()[0]:.2f}")
    print(f"{args.num_videos} videos, {args.epochs} epochs, test split greedy\n")

    rows = []
    for precision in ("fp32", "bf16"):
        for seed in args.seeds:
            run = out / f"run-{precision}-{seed}"
            result = api.train_caption(world / "video_corpus.csv", run, features=features, resume=run.exists(),
                                       epochs=args.epochs, hidden=256, lr=1e-3, dropout=0.3, min_count=2,
                                       num_frames=16, precision=precision, seed=seed, patience=args.epochs)
            scores = api.evaluate_caption(result.best, world / "video_corpus.csv", features=features,
                                          split="test", beam_size=1).metrics
            per_epoch = statistics.median(row["seconds"] for row in result.history)  # training + validation
            val_cider = max(float(row["val_cider"]) for row in result.history)
            val_loss = min(float(row["val_loss"]) for row in result.history)
            rows.append((precision, seed, result.best_epoch, scores["Bleu_4"], scores["CIDEr"], per_epoch,
                         val_cider, val_loss))

    print("| precision | seed | best epoch | test BLEU-4 | test CIDEr-D | best val CIDEr-D | min val loss | s / epoch |\n"
          "|---|---|---|---|---|---|---|---|")
    for precision, seed, epoch, bleu, cider, sec, vc, vl in rows:
        print(f"| {precision} | {seed} | {epoch} | {bleu:.3f} | {cider:.3f} | {vc:.3f} | {vl:.3f} | {sec:.1f} |")
    for name, col in (("val CIDEr-D", 6), ("val loss", 7)):
        means = {p: statistics.mean(r[col] for r in rows if r[0] == p) for p in ("fp32", "bf16")}
        print(f"mean best {name}: fp32 {means['fp32']:.3f}, bf16 {means['bf16']:.3f}")
    cider = {(p, s): c for p, s, _, _, c, *_ in rows}
    fp32 = [cider["fp32", s] for s in args.seeds]
    bf16 = [cider["bf16", s] for s in args.seeds]
    noise = max(fp32) - min(fp32)
    gap = abs(statistics.mean(bf16) - statistics.mean(fp32))
    print(f"\nfp32 seed spread (noise) {noise:.3f}; |mean bf16 - mean fp32| {gap:.3f}; "
          f"same-seed differences {', '.join(f'{b - f:+.3f}' for b, f in zip(bf16, fp32))}; "
          f"within noise: {'yes' if gap <= noise else 'no'}")


if __name__ == "__main__":
    main()
