"""COOT's ablation: with and without cycle consistency and the contextual transformer, in one run.

Generates two multi-event worlds (``vidcap synth --events 2..6``, 5 s per event): one to train
on (``--train-videos``, seed 31; its YouCook2 file's training subset, validation picks the best
epoch) and one the models never saw (``--test-videos``, seed 32, every video). Extracts
MobileNetV2 features at 4 frames a second once per world, trains every variant
(``vidcap train coot``) with each seed for ``--epochs`` epochs, and scores the best checkpoint
on the unseen world: paragraph->video, video->paragraph among its videos, sentence->clip,
clip->sentence among all its events (clips: the annotated segments). The seeds' spread is the
noise a difference must beat.

Videos and paragraphs are scored both by COOT's video/paragraph vectors (p2v, v2p) and "by
clips" (the mean over the paragraph's sentences of the best clip's cosine in the video).
Baseline in the same run: the bundled joint embedding (MIL-NCE, one sentence <-> one clip, no
paragraph side; trained on 1000 single-event videos of another world) on the same clips:
sentence->clip by cosine, paragraph->video by clips (it has no paragraph vectors: "nan").

    python benchmarks/coot_ablation.py                      # 300 + 100 videos, 30 epochs, seeds 0 1
    python benchmarks/coot_ablation.py --epochs 10 --seeds 0 --train-videos 100 --test-videos 40
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = {  # name: (context, cycle_weight)
    "COOT (CoT + cycle 0.01)": (True, 0.01),
    "COOT, cycle 0.1": (True, 0.1),
    "no cycle consistency": (True, 0.0),
    "no contextual transformer": (False, 0.01),
    "neither": (False, 0.0),
}


def baseline(gt, feats) -> dict:
    """The bundled MIL-NCE embedding on the annotated clips (see the module docstring)."""
    from vidcap.metrics.retrieval import retrieval_metrics
    from vidcap.models.coot import CootConfig
    from vidcap.tasks.coot import best_clip_scores, event_tensors
    from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

    rmodel = RetrievalModel.load(DEFAULT_MODEL)
    data = event_tensors(gt, feats, CootConfig(feature_dim=rmodel.feature_dim, clip_frames=rmodel.num_frames))
    valid = data.events.numpy()
    clips = rmodel.embed_videos(data.clips.numpy()[valid], data.clip_mask.numpy()[valid])  # (N, E)
    owner = np.repeat(np.arange(len(data)), valid.sum(1))
    sentences = rmodel.embed_text([s for n in data.names for s in gt[n].sentences])  # (N, E), the same order
    cos = sentences @ clips.T
    para = best_clip_scores(cos, owner)
    videos, events = retrieval_metrics(para, np.arange(len(data))), retrieval_metrics(cos, np.arange(len(cos)))
    return {"p2v": {k: float("nan") for k in videos["t2v"]}, "v2p": {k: float("nan") for k in videos["v2t"]},
            "p2v_clips": videos["t2v"], "v2p_clips": videos["v2t"], "s2c": events["t2v"], "c2s": events["v2t"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench-out" / "coot"), help="worlds, features, runs")
    parser.add_argument("--train-videos", type=int, default=300)
    parser.add_argument("--test-videos", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=[v for v in VARIANTS if v != "COOT, cycle 0.1"])
    args = parser.parse_args()

    from vidcap import api
    from vidcap.runtime import cpu_model
    from vidcap.tasks.coot import event_features
    from vidcap.tasks.dense import load_events

    out = Path(args.out)
    worlds = {"train": (out / "train", args.train_videos, 31), "test": (out / "test", args.test_videos, 32)}
    for folder, n, seed in worlds.values():
        if not (folder / "events.json").exists():
            api.synth(folder, num_videos=n, events=(2, 6), seed=seed)
    train, test = worlds["train"][0], worlds["test"][0]
    gt = load_events(test / "events.json")
    feats, _ = event_features(gt, list(gt), test / "videos", out / "features-test")
    n_events = sum(len(v.events) for v in gt.values())
    print(f"CPU: {cpu_model()}; load average {os.getloadavg()[0]:.2f}")
    print(f"train: {args.train_videos} videos (seed 31, training subset; validation picks the best epoch); "
          f"test: {len(gt)} unseen videos (seed 32), {n_events} events; {args.epochs} epochs\n")

    rows = [("bundled MIL-NCE embedding (baseline)", "-", baseline(gt, feats), None)]
    for name in args.variants:
        context, cycle = VARIANTS[name]
        for seed in args.seeds:
            run = out / "runs" / f"{name.split(' (')[0].replace(' ', '-').replace(',', '')}-{seed}"
            started = time.perf_counter()
            result = api.train_coot(train / "youcook2.json", train / "videos", run, features=out / "features-train",
                                    resume=(run / "last.pt").exists(), epochs=args.epochs, seed=seed,
                                    context=context, cycle_weight=cycle)
            seconds = statistics.median(r["seconds"] for r in result.history) if result.history else None
            metrics = api.evaluate_coot(test / "events.json", test / "videos", model=result.best,
                                        cache=out / "features-test").metrics
            rows.append((name, seed, metrics, seconds))
            print(f"  {name}, seed {seed}: p2v R@1 {metrics['p2v']['R@1']:.1f}, s2c R@1 {metrics['s2c']['R@1']:.1f} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)

    head = ("| model | seed | p2v R@1 | p2v R@5 | v2p R@1 | p2v by clips R@1 | v2p by clips R@1 | s2c R@1 | s2c R@5 "
            "| s2c MdR | c2s R@1 | s/epoch |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"\nunseen world: {len(gt)} videos (chance R@1 {100 / len(gt):.1f} %), {n_events} events "
          f"(chance {100 / n_events:.2f} %)\n{head}")
    for name, seed, m, sec in rows:
        print(f"| {name} | {seed} | {m['p2v']['R@1']:.1f} | {m['p2v']['R@5']:.1f} | {m['v2p']['R@1']:.1f} "
              f"| {m['p2v_clips']['R@1']:.1f} | {m['v2p_clips']['R@1']:.1f} | {m['s2c']['R@1']:.1f} | {m['s2c']['R@5']:.1f} | {m['s2c']['MdR']:g} | {m['c2s']['R@1']:.1f} "
              f"| {'-' if sec is None else f'{sec:.1f}'} |")
    if len(args.seeds) > 1:
        print(f"\nmean over seeds {args.seeds} (± half the seeds' range)\n"
              "| model | p2v R@1 | p2v by clips R@1 | s2c R@1 | c2s R@1 |\n|---|---|---|---|---|")
        for name in args.variants:
            got = [m for n, _, m, _ in rows if n == name]
            cells = []
            for d in ("p2v", "p2v_clips", "s2c", "c2s"):
                v = [m[d]["R@1"] for m in got]
                cells.append(f"{statistics.mean(v):.1f} ± {(max(v) - min(v)) / 2:.1f}")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
