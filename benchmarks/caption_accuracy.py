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

With ``--eval-world DIR`` (a generated world with ``splits.json``, any level; repeatable)
every model is also scored with the COCO metrics (BLEU-4, METEOR, ROUGE-L, CIDEr-D,
pycocoevalcap with the PTB tokenizer) on that world's test and compositional splits,
greedy and beam 3; features are extracted for the scored videos only and cached per
backbone and frame fit in ``DIR/.bench-features``. ``--confusion`` prints, per model,
which action each caption names against the true one (a caption that names no action or
two counts as "none"), and which shape it names first on the one-object videos.
``--by-crop`` splits the shape's score on the one-object videos by where the object is:
mostly outside the centre square a centre crop keeps, or not. ``--attention-plot PNG``
draws the attention weights of the first attention model over one video's frames, word
by word.

    python benchmarks/caption_accuracy.py                        # the bundled model
    python benchmarks/caption_accuracy.py bundled=src/vidcap/assets/s2vt_synth.pt new=runs/grid \\
        --num-videos 40 --seed 90210 --per-action
    python benchmarks/caption_accuracy.py old=old.pt flow=runs/flow --eval-world worlds/easy worlds/medium \\
        --confusion --attention-plot docs/caption_attention.png
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
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


def named_action(caption: str) -> str:
    """The action class a caption names: the one whose matching phrasing is longest
    ("none" when no phrasing matches or two classes tie)."""
    from vidcap.data import synthetic

    best: dict[str, int] = {}
    for label in synthetic.CLASSES:
        lengths = [sum(map(len, p)) for p in action_patterns(label) if _in_order(caption, p)]
        if lengths:
            best[label] = max(lengths)
    if not best:
        return "none"
    top = max(best.values())
    winners = [k for k, v in best.items() if v == top]
    return winners[0] if len(winners) == 1 else "none"


def named_shape(caption: str) -> str:
    """The first shape a caption names ("none" when it names none)."""
    from vidcap.data import synthetic

    for w in caption.split():
        for shape, names in synthetic.SHAPE_WORDS.items():
            if w in names:
                return shape
    return "none"


def print_confusion(title: str, classes: list[str], pairs: list[tuple[str, str]]):
    """A markdown table: how often each named class (columns) was given for each true one (rows)."""
    table = defaultdict(lambda: defaultdict(int))
    for true, named in pairs:
        table[true][named] += 1
    print(f"\n{title}")
    cols = [c for c in [*classes, "none"] if any(table[r][c] for r in table)]
    print("| true \\ named | " + " | ".join(c.replace("_", " ") for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for r in [c for c in classes if c in table]:
        print(f"| {r.replace('_', ' ')} | " + " | ".join(str(table[r][c] or "") for c in cols) + " |")


def outside_crop(gt: dict, resize: int = 256, crop: int = 224) -> float:
    """How much of the actor's box lies outside the centre square that ``fit="crop"`` keeps
    (short side scaled to ``resize``, centre ``crop`` square), averaged over the frames it is visible in."""
    side = crop * min(gt["width"], gt["height"]) / resize  # the kept square, in the video's pixels
    x0, y0 = (gt["width"] - side) / 2, (gt["height"] - side) / 2
    actor = next(o["id"] for o in gt["objects"] if o["role"] == "actor")
    fractions = []
    for frame in gt["frames"]:
        for o in frame["objects"]:
            if o["id"] != actor or not o["visible"]:
                continue
            left, top, right, bottom = o["bbox"]
            area = max(right - left, 1e-6) * max(bottom - top, 1e-6)
            inside = (max(0.0, min(right, x0 + side) - max(left, x0))
                      * max(0.0, min(bottom, y0 + side) - max(top, y0)))
            fractions.append(1 - inside / area)
    return sum(fractions) / len(fractions) if fractions else 0.0


def coco_scores(cap, world: Path, split: str, beam: int) -> dict:
    """COCO metrics of a model on one split of a generated world (features cached per backbone and fit)."""
    from vidcap.train.caption import evaluate_caption

    cache = world / ".bench-features" / f"{cap.backbone}-{cap.num_frames}-{cap.fit}"
    res = evaluate_caption(cap.path, world / "video_corpus.csv", videos=world / "videos", splits=world / "splits.json",
                           split=split, beam_size=beam, cache_dir=cache)
    return res.metrics


def plot_attention(cap, video: Path, path: Path) -> str:
    """Attention weights of ``cap`` (an attention model) over ``video``'s frames, word by word."""
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    from vidcap.data.vocab import BOS, EOS
    from vidcap.features.extract import extract
    from vidcap.tasks.caption import Captioner

    tc = Captioner.load(cap.path, backend="torch")
    f = extract(video, backbone=tc.backbone, num_frames=tc.num_frames, short=tc.short, fit=tc.fit)
    feats = f.features
    if tc.flow is not None:
        from vidcap.features.flow import MotionFeatures, motion_features

        motion, *_ = motion_features(video, num_frames=tc.num_frames, stream=MotionFeatures.from_dict(tc.flow),
                                     sampled=(f.indices, f.mask))
        feats = np.concatenate([feats, motion], axis=1)
    x, m = torch.from_numpy(feats)[None], torch.from_numpy(f.mask)[None]
    (ids,), _ = tc.model.generate(x, m, beam_size=1)
    words = [tc.vocab.itos[i] for i in ids] + ["<eos>"]
    with torch.no_grad():
        alpha = tc.model.attention(x, m, torch.tensor([[BOS, *ids, EOS]]))[0].numpy()  # (M, T)
    fig = Figure(figsize=(7, 0.35 * len(words) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(alpha, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(words)), words)
    times = f.timestamps[f.mask]
    ax.set_xticks(range(len(times)), [f"{t:.1f}" for t in times], fontsize=7)
    ax.set_xlabel("sampled frame (seconds)")
    ax.set_title(f"{video.stem}: attention over the frames at each word")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return " ".join(words[:-1])


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
    ap.add_argument("--eval-world", nargs="*", type=Path, default=[],
                    help="generated worlds whose test and compositional splits get COCO metrics")
    ap.add_argument("--confusion", action="store_true", help="print the action each caption names against the true one")
    ap.add_argument("--by-crop", action="store_true",
                    help="shape named right on the one-object videos whose object lies mostly outside the centre "
                         "square a centre crop keeps, against the others")
    ap.add_argument("--attention-plot", type=Path, default=None,
                    help="PNG: the first attention model's weights over one video's frames")
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
        outside = {i: outside_crop(json.loads((root / "gt" / f"{row['video']}.json").read_text()))
                   for i, row in enumerate(labels) if args.by_crop and row["num_objects"] == "1"}
        results = []
        for name, path in models:
            cap = Captioner.load(path)
            t = time.perf_counter()
            captions = [r.caption for r in cap.caption(videos, beam_size=args.beam_size)]
            seconds = time.perf_counter() - t
            hits = [score(row, c) for row, c in zip(labels, captions)]
            results.append((name, cap, captions, hits, seconds))
        if args.attention_plot is not None:
            att = next((cap for _, cap, *_ in results if cap.config.get("variant") == "attention"), None)
            if att is None:
                sys.exit("--attention-plot: none of the models is an attention model")
            one = next(i for i, row in enumerate(labels) if row["num_objects"] == "1")
            said = plot_attention(att, videos[one], args.attention_plot)
            print(f"attention of {att.path} on {videos[one].stem} [{labels[one]['label']}] ({said!r}) -> "
                  f"{args.attention_plot}")

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
    if args.confusion:
        from vidcap.data.synthetic import CLASSES, SHAPE_WORDS

        single = [i for i, row in enumerate(labels) if row["num_objects"] == "1"]
        for name, _, captions, _, _ in results:
            print_confusion(f"{name}: action named (columns) for the true action (rows), {n} videos", list(CLASSES),
                            [(row["label"], named_action(c)) for row, c in zip(labels, captions)])
            print_confusion(f"{name}: first shape named (columns) for the true shape (rows), the {len(single)} "
                            "one-object videos", list(SHAPE_WORDS),
                            [(labels[i]["shape"], named_shape(captions[i])) for i in single])
    if args.by_crop:
        single = sorted(outside)
        groups = {"mostly outside the centre crop": [i for i in single if outside[i] > 0.5],
                  "mostly inside": [i for i in single if outside[i] <= 0.5]}
        print(f"\nshape named right on the {len(single)} one-object videos, by where the object is "
              "(its box outside the 224/256 centre square, mean over frames)")
        print("| model | " + " | ".join(f"{k} ({len(v)})" for k, v in groups.items()) + " |")
        print("|---|" + "---|" * len(groups))
        for name, _, _, hits, _ in results:
            print(f"| {name} | " + " | ".join(f"{sum(hits[i]['shape'] for i in v)}/{len(v)}" for v in groups.values())
                  + " |")
    if args.eval_world:
        cols = [(w, split, beam) for w in args.eval_world for split in ("test", "test_compositional") for beam in (1, 3)]
        print("\nCOCO metrics (pycocoevalcap, PTB): BLEU-4 / METEOR / CIDEr-D per world, split and decoding")
        print("| model | " + " | ".join(f"{json.loads((w / 'world.json').read_text()).get('level', w.name)} "
                                       f"{'comp.' if split != 'test' else 'test'} {'greedy' if b == 1 else f'beam {b}'}"
                                       for w, split, b in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for name, cap, *_ in results:
            cells = []
            for w, split, b in cols:
                m = coco_scores(cap, w, split, b)
                cells.append(f"{m['Bleu_4']:.3f} / {m['METEOR']:.3f} / **{m['CIDEr']:.3f}**")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.show:
        for i, row in enumerate(labels):
            print(f"{row['video']} [{row['color']} {row['shape']} {row['label']}]")
            for name, _, captions, hits, _ in results:
                print(f"    {name}: {captions[i]}{'' if hits[i]['action'] else '   (action wrong)'}")


if __name__ == "__main__":
    main()
