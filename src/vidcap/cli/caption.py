"""`vidcap caption`, `vidcap train caption`, `vidcap evaluate caption`, `vidcap score`."""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from vidcap.cli import add_quiet, print_json

CAPTION_EXAMPLES = """examples:
  vidcap caption clip.mp4
  vidcap caption a.mp4 b.mp4 --beam-size 5 --json
  vidcap caption clip.mp4 --model runs/msvd/best.pt
Without --model the bundled model is used: it was trained on vidcap's generated
video world (coloured shapes that move, bounce, grow, ...), so it describes only that
world's vocabulary. Train your own with `vidcap train caption`.
"""

TRAIN_EXAMPLES = """examples:
  # the generated world (vidcap synth ...): features are extracted on the fly
  vidcap train caption --corpus world/video_corpus.csv --videos world/videos \\
      --splits world/splits.json --out-dir runs/world --num-frames 20 --epochs 60
  # MSVD with features extracted beforehand (vidcap extract YouTubeClips --out feats)
  vidcap train caption --corpus video_corpus.csv --features feats --out-dir runs/msvd
  # MSR-VTT: its JSON carries the train/validate/test split
  vidcap train caption --corpus train_val_videodatainfo.json --features feats --out-dir runs/msrvtt
  # continue an interrupted run exactly where it stopped
  vidcap train caption --corpus video_corpus.csv --features feats --out-dir runs/msvd --resume
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate caption --model runs/world --corpus world/video_corpus.csv \\
      --videos world/videos --splits world/splits.json --split test --beam-size 3
  vidcap evaluate caption --model runs/msvd/best.pt --corpus video_corpus.csv --features feats
Writes <out-dir>/predictions-<split>.json (per video: prediction and references)
and <out-dir>/metrics-<split>.json; prints the metric table.
"""

SCORE_EXAMPLES = """examples:
  vidcap score --refs refs.json --preds preds.json
refs.json: {"video1": ["a man is cooking", ...], ...}; preds.json: {"video1": "a man cooks", ...}
"""


def register(commands, train, evaluate) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = commands.add_parser("caption", help="describe videos in a sentence (S2VT)", epilog=CAPTION_EXAMPLES, formatter_class=fmt)
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--model", default=None, help="checkpoint file or training run folder (default: the bundled model)")
    p.add_argument("--beam-size", type=int, default=None, help="1 = greedy; default: the model's (3 for the bundled one)")
    p.add_argument("--length-penalty", type=float, default=None, help="beam ranking: log p / length**penalty")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_quiet(p)
    p.set_defaults(run=run_caption)

    p = train.add_parser("caption", help="train an S2VT captioner", epilog=TRAIN_EXAMPLES, formatter_class=fmt)
    add_data_args(p)
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True, help="run folder (checkpoints, logs, loss.png)")
    p.add_argument("--backbone", default="mobilenet_v2", help="feature backbone when extracting from --videos")
    p.add_argument("--num-frames", type=int, default=80, help="frames per video when extracting from --videos (seed: 80)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--max-words", type=int, default=20, help="word steps including <eos> (seed: 20)")
    p.add_argument("--variant", choices=["s2vt", "encdec"], default="s2vt",
                   help="s2vt: the seed's fig 5.3; encdec: fig 5.4 (LSTM1's final state starts LSTM2)")
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--min-count", type=int, default=1, help="keep words seen at least this often")
    p.add_argument("--checkpoint-every", type=int, default=10, help="write last.pt every k epochs")
    p.add_argument("--patience", type=int, default=0, help="early stop after k epochs without better val CIDEr (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--beam-size", type=int, default=3, help="default beam size stored in the checkpoint")
    p.add_argument("--length-penalty", type=float, default=0.0, help="default length penalty stored in the checkpoint")
    p.add_argument("--resume", action="store_true", help="continue from <out-dir>/last.pt")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's; 1 suits small models)")
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("caption", help="caption a split and score it (BLEU, METEOR, ROUGE-L, CIDEr)",
                            epilog=EVAL_EXAMPLES, formatter_class=fmt)
    add_eval_args(p)
    p.set_defaults(run=run_evaluate)

    p = commands.add_parser("score", help="COCO caption metrics of predictions against references",
                            epilog=SCORE_EXAMPLES, formatter_class=fmt)
    p.add_argument("--refs", required=True, help='JSON {"id": ["reference", ...]}')
    p.add_argument("--preds", required=True, help='JSON {"id": "caption"}')
    p.add_argument("--tokenize", choices=["ptb", "simple"], default="ptb")
    p.add_argument("--metrics", nargs="+", choices=["bleu", "meteor", "rouge", "cider"],
                   default=["bleu", "meteor", "rouge", "cider"], help="which metrics (METEOR needs java)")
    p.add_argument("--per-video", action="store_true", help="also print each video's scores")
    add_quiet(p)
    p.set_defaults(run=run_score)


def add_data_args(p) -> None:
    p.add_argument("--corpus", required=True, help="MSVD video_corpus.csv or MSR-VTT JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", help="folder of videos named <VideoID>_<Start>_<End>.<ext> (features are extracted)")
    src.add_argument("--features", help="folder of <name>.npy (T, D) feature files")
    p.add_argument("--splits", default=None, help="splits.json {train: [...], val: [...], test: [...]} (default: random by video)")


def add_eval_args(p) -> None:
    """Arguments of `vidcap evaluate caption` (also usable for a task-less `vidcap evaluate`)."""
    p.add_argument("--model", default=None, help="checkpoint file or run folder (default: the bundled model)")
    add_data_args(p)
    p.add_argument("--split", default="test")
    p.add_argument("--beam-size", type=int, default=None, help="default: the model's")
    p.add_argument("--length-penalty", type=float, default=None)
    p.add_argument("--tokenize", choices=["ptb", "simple"], default="ptb")
    p.add_argument("--metrics", nargs="+", choices=["bleu", "meteor", "rouge", "cider"],
                   default=["bleu", "meteor", "rouge", "cider"], help="which metrics (METEOR needs java)")
    p.add_argument("--out-dir", "--out", dest="out_dir", default=None,
                   help="where predictions/metrics JSON go (default: the run folder, when --model is one)")
    add_quiet(p)


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
    os.replace(tmp, path)


def run_caption(args) -> int:
    from vidcap.train.checkpoint import Captioner

    cap = Captioner.load(args.model)
    results = cap.caption(args.videos, beam_size=args.beam_size, length_penalty=args.length_penalty,
                          errors="record" if len(args.videos) > 1 else "raise")
    if args.json or args.quiet:
        print_json([r.to_dict() for r in results] if len(results) > 1 else results[0].to_dict())
    else:
        for r in results:
            if r.error is None:
                print(f"{r.video}: {r.caption}" if len(results) > 1 else r.caption)
    failed = [r for r in results if r.error is not None]
    for r in failed:
        print(f"vidcap: skipped {r.error}", file=sys.stderr)
    return 1 if failed else 0


def run_train(args) -> int:
    from vidcap.train.caption import train_caption

    result = train_caption(
        args.corpus, args.out_dir, features=args.features, videos=args.videos, splits=args.splits,
        backbone=args.backbone, num_frames=args.num_frames, resume=args.resume, progress=not args.quiet,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden, max_words=args.max_words,
        variant=args.variant, cell=args.cell, dropout=args.dropout, min_count=args.min_count,
        checkpoint_every=args.checkpoint_every, patience=args.patience, seed=args.seed,
        beam_size=args.beam_size, length_penalty=args.length_penalty, threads=args.threads,
    )
    summary = result.to_dict()
    summary.pop("history")
    print_json(summary)
    return 0


def format_table(metrics: dict) -> str:
    keys = [k for k in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr") if k in metrics]
    head = " | ".join(f"{k:>8}" for k in keys)
    row = " | ".join(f"{metrics[k]:8.4f}" for k in keys)
    return f"{head}\n{row}"


def run_evaluate(args) -> int:
    from vidcap.train.caption import evaluate_caption

    out_dir = Path(args.out_dir) if args.out_dir else (Path(args.model) if args.model and Path(args.model).is_dir() else None)
    result = evaluate_caption(
        args.model, args.corpus, features=args.features, videos=args.videos, splits=args.splits, split=args.split,
        beam_size=args.beam_size, length_penalty=args.length_penalty, tokenize=args.tokenize,
        metrics=tuple(args.metrics), cache_dir=(out_dir / "features") if out_dir and args.videos else None, progress=not args.quiet,
    )
    if out_dir is not None:
        per_video = {k: {"prediction": v, "references": result.references[k]} for k, v in result.predictions.items()}
        _write_json(out_dir / f"predictions-{args.split}.json", per_video)
        _write_json(out_dir / f"metrics-{args.split}.json", {"split": args.split, "beam_size": result.beam_size, **result.metrics})
    if args.quiet:
        print_json({"split": args.split, "beam_size": result.beam_size, **result.metrics})
    else:
        for k, v in list(result.predictions.items())[:10]:
            print(f"{k}: {v}    [ref: {result.references[k][0]}]")
        if len(result.predictions) > 10:
            print(f"... {len(result.predictions) - 10} more")
        print(f"\n{args.split} split, {len(result.predictions)} videos, beam size {result.beam_size}")
        print(format_table(result.metrics))
    return 0


def run_score(args) -> int:
    from vidcap.metrics.caption import load_refs_preds, score_captions

    refs, preds = load_refs_preds(args.refs, args.preds)
    print_json(score_captions(refs, preds, metrics=tuple(args.metrics), tokenize=args.tokenize, per_video=args.per_video))
    return 0
