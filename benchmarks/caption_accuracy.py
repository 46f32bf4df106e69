"""Does a caption model name the right colour, shape and action? Scored on a fresh generated world.

Generates ``--num-videos`` easy videos with a seed no bundled model was trained on
(the training world is seed 11), captions every video with each model (beam 3 by
default) and checks, with the world's ``labels.csv``:

* colour: the caption contains one of ``synthetic.COLOR_WORDS[color]`` (as a word);
* shape: the caption contains one of ``synthetic.SHAPE_WORDS[shape]`` (as a word);
* action: the caption contains one of the action's phrasings -- ``synthetic.VERBS``
  (present or progressive, "rolls to the left" for a rolling ball) for one object;
  for two, one of ``synthetic.PAIR_TEMPLATES`` with its noun phrases left open:
  "{a} and {b} collide" matches "a red ball and a blue box collide" (its pieces
  "and", "collide" in this order, as whole words);
* all three at once.

For two-object videos colour and shape are those of the actor (``labels.csv``).
Column "action (old)" is the scoring of ``tests/test_caption_cli.py`` (and of the
first README figure): a template with its placeholders deleted must appear as one
string, so "and  collide" (two spaces) never matches and every "A and B <verb>"
caption counts as wrong. All models see the same videos in the same run; chance
for the action is about 1/16.

    python benchmarks/caption_accuracy.py                        # the bundled model
    python benchmarks/caption_accuracy.py bundled=src/vidcap/assets/s2vt_synth.pt new=runs/grid \\
        --num-videos 40 --seed 90210 --per-action
"""
from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def action_phrases(label: str) -> set[str]:
    """The old scoring (tests/test_caption_cli.py): templates with the placeholders deleted."""
    from vidcap.data import synthetic

    if label in synthetic.VERBS:
        phrases = {p for pair in synthetic.VERBS[label] for p in pair if p}
        if label in synthetic._ROLL:
            phrases |= set(synthetic._ROLL[label])
        return phrases
    return {t.replace("{a}", "").replace("{b}", "").strip() for t in synthetic.PAIR_TEMPLATES[label]}


def action_patterns(label: str) -> list[list[str]]:
    """Each phrasing of ``label`` as the pieces that must appear, in order, as whole words."""
    from vidcap.data import synthetic

    if label in synthetic.VERBS:
        return [[p] for p in sorted(action_phrases(label))]
    return [[x.strip() for x in re.split(r"\{[ab]\}", t) if x.strip()] for t in synthetic.PAIR_TEMPLATES[label]]


def _in_order(caption: str, pieces: list[str]) -> bool:
    text, at = f" {caption} ", 0
    for piece in pieces:
        at = text.find(f" {piece} ", at)
        if at < 0:
            return False
        at += len(piece) + 1
    return True


def score(row: dict, caption: str) -> dict[str, bool]:
    from vidcap.data import synthetic

    words = caption.split()
    hit = {
        "colour": any(w in words for w in synthetic.COLOR_WORDS[row["color"]]),
        "shape": any(w in words for w in synthetic.SHAPE_WORDS[row["shape"]]),
        "action": any(_in_order(caption, p) for p in action_patterns(row["label"])),
    }
    hit["all three"] = all(hit.values())
    hit["action (old)"] = any(p in caption for p in action_phrases(row["label"]))
    return hit


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=["bundled"],
                    help="NAME=PATH (checkpoint or run folder) or just PATH; 'bundled' is the packaged model")
    ap.add_argument("--num-videos", type=int, default=40)
    ap.add_argument("--seed", type=int, default=90210, help="world seed (the bundled model was trained on seed 11)")
    ap.add_argument("--level", default="easy")
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--world", default=None, help="keep the generated world in this folder (default: a temporary one)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for decoding")
    ap.add_argument("--per-action", action="store_true", help="also print the action accuracy per action class")
    ap.add_argument("--show", action="store_true", help="print every caption next to its label")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from vidcap.data.synthetic import generate_world
    from vidcap.tasks.caption import Captioner

    models = []
    for spec in args.models:
        name, _, path = spec.rpartition("=")
        name = name or spec
        models.append((name, None if path == "bundled" else path))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.world) if args.world else Path(tmp) / "world"
        if not (root / "labels.csv").is_file():
            generate_world(root, num_videos=args.num_videos, seed=args.seed, level=args.level, workers=1)
        with open(root / "labels.csv", newline="", encoding="utf-8") as f:
            labels = list(csv.DictReader(f))
        videos = [root / "videos" / f"{row['video']}.mp4" for row in labels]
        results = []
        for name, path in models:
            cap = Captioner.load(path)
            t = time.perf_counter()
            captions = [r.caption for r in cap.caption(videos, beam_size=args.beam_size)]
            seconds = time.perf_counter() - t
            hits = [score(row, c) for row, c in zip(labels, captions)]
            results.append((name, cap, captions, hits, seconds))

    n = len(labels)
    keys = ["colour", "shape", "action", "all three", "action (old)"]
    print(f"{n} videos, level {args.level}, seed {args.seed}, beam {args.beam_size}; "
          f"{sum(r['num_objects'] == '2' for r in labels)} with two objects")
    print(f"| model | backbone | feature dim | {' | '.join(keys)} |")
    print("|---|---|---|" + "---|" * len(keys))
    for name, cap, _, hits, _ in results:
        cells = [f"{100 * sum(h[k] for h in hits) / n:.0f} %" for k in keys]
        print(f"| {name} | {cap.backbone} | {cap.feature_dim} | {' | '.join(cells)} |")
    if args.per_action:
        per = defaultdict(list)
        for i, row in enumerate(labels):
            per[row["label"]].append(i)
        print(f"\naction named right, per class (videos): {' | '.join(name for name, *_ in results)}")
        for label in sorted(per):
            idx = per[label]
            cells = [f"{sum(hits[i]['action'] for i in idx)}/{len(idx)}" for _, _, _, hits, _ in results]
            print(f"  {label:<14} {'  '.join(f'{c:>6}' for c in cells)}")
    if args.show:
        for i, row in enumerate(labels):
            print(f"{row['video']} [{row['color']} {row['shape']} {row['label']}]")
            for name, _, captions, hits, _ in results:
                print(f"    {name}: {captions[i]}{'' if hits[i]['action'] else '   (action wrong)'}")


if __name__ == "__main__":
    main()
