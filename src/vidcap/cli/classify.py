"""`vidcap classify`, `vidcap train classify`, `vidcap evaluate classify`."""
from __future__ import annotations

import argparse
from pathlib import Path

from vidcap.cli import add_quiet, print_json

CLASSIFY_EXAMPLES = """examples:
  vidcap classify clip.mp4 --model runs/lstm
  vidcap classify long.mp4 --model runs/lstm --window 16 --stride 8 --top-k 5 -o annotated.mp4 --gif out.gif
  vidcap classify clip.mp4 --model runs/two-stream --json
  vidcap classify clip.mp4 --model kinetics400     # torchvision's R(2+1)D-18, weights in the torch hub cache
--window/--stride count frames sampled at the rate the model was trained at.
"""

TRAIN_EXAMPLES = """examples:
  vidcap synth world --num-videos 480                       # a generated dataset of 16 actions
  vidcap train classify world --model lstm --out-dir runs/lstm
  vidcap train classify world --model pool --pool max --out-dir runs/pool
  vidcap train classify world --model two-stream --fusion concat --out-dir runs/two-stream
  vidcap train classify world --model r2plus1d --num-frames 8 --clip-size 32 --width 16 --epochs 24 --patience 24 --out-dir runs/r2plus1d
  vidcap train classify UCF101/ --videos-dir UCF101/videos --model lstm --out-dir runs/ucf   # classInd.txt + trainlist01.txt
  vidcap train classify world --out-dir runs/lstm --resume  # continue exactly where it stopped
DATASET: train|val|test/<Class>/*.mp4 folders, a generated world, or a folder with
classInd.txt and trainlist01.txt/testlist01.txt. Inputs are cached under DATASET/features.
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate classify world --model runs/lstm --split test --confusion confusion.png
"""


def register(commands, train, evaluate) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = commands.add_parser("classify", help="label a video's actions (sliding windows, top-k)", epilog=CLASSIFY_EXAMPLES, formatter_class=fmt)
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--model", required=True, help="run folder or checkpoint from `vidcap train classify`, or kinetics400")
    p.add_argument("--window", type=int, default=16, help="frames per window (default 16)")
    p.add_argument("--stride", type=int, default=8, help="frames between window starts (default 8)")
    p.add_argument("--top-k", dest="top_k", type=int, default=5)
    p.add_argument("-o", "--output", default=None, help="write an annotated video here")
    p.add_argument("--gif", default=None, help="write an annotated GIF here")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_quiet(p)
    p.set_defaults(run=run_classify)

    p = train.add_parser("classify", help="train a video classifier", epilog=TRAIN_EXAMPLES, formatter_class=fmt)
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--model", default="lstm", choices=["pool", "lstm", "r2plus1d", "two-stream"])
    p.add_argument("--out-dir", dest="out_dir", default=None, help="run folder (default runs/classify-<model>)")
    p.add_argument("--videos-dir", dest="videos_dir", default=None, help="split lists: folder the listed paths are relative to")
    p.add_argument("--cache-dir", dest="cache_dir", default=None, help="where inputs are cached (default DATASET/features)")
    p.add_argument("--backbone", default="mobilenet_v2")
    p.add_argument("--num-frames", dest="num_frames", type=int, default=None, help="frames per video (default 16; 8 for r2plus1d)")
    p.add_argument("--pool", default="mean", choices=["mean", "max"])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--fusion", default="avg", choices=["avg", "concat"])
    p.add_argument("--flow-method", dest="flow_method", default="dis", choices=["dis", "farneback"])
    p.add_argument("--flow-size", dest="flow_size", type=int, default=56)
    p.add_argument("--clip-size", dest="clip_size", type=int, default=None, help="r2plus1d input side (default 32; 112 with --pretrained)")
    p.add_argument("--width", type=int, default=None,
                   help="r2plus1d: channels of the first stage (default 16; 64, the full R(2+1)D-18, with --pretrained)")
    p.add_argument("--input-norm", dest="input_norm", default=None, choices=["kinetics", "clip"],
                   help="r2plus1d: Kinetics mean/std only, or each clip standardised too (default: clip from scratch)")
    p.add_argument("--pretrained", default=None, choices=["kinetics400"], help="r2plus1d: start from Kinetics-400 weights")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="default 32 (16 for r2plus1d)")
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 (r2plus1d, with warmup and cosine decay: 2e-3, 3e-4 with --pretrained)")
    p.add_argument("--patience", type=int, default=8, help="early stopping: epochs without better val accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--json", action="store_true")
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("classify", help="accuracy, top-5 and confusion matrix of a classifier", epilog=EVAL_EXAMPLES, formatter_class=fmt)
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--model", required=True, help="run folder or checkpoint")
    p.add_argument("--split", default="test")
    p.add_argument("--videos-dir", dest="videos_dir", default=None)
    p.add_argument("--cache-dir", dest="cache_dir", default=None)
    p.add_argument("--confusion", "--confusion-png", dest="confusion_png", default=None, help="write the confusion matrix PNG here")
    p.add_argument("--json", action="store_true")
    add_quiet(p)
    p.set_defaults(run=run_evaluate)


def run_classify(args) -> int:
    from vidcap.classify import classify_video
    from vidcap.viz.annotate import annotate_classification

    result = classify_video(args.video, args.model, window=args.window, stride=args.stride, top_k=args.top_k)
    if args.output or args.gif:
        annotate_classification(args.video, result, args.output, gif=args.gif)
    if args.json or args.quiet:
        print_json(result)
        return 0
    for w in result.windows:
        tops = ", ".join(f"{lab} {p:.2f}" for lab, p in zip(w.labels, w.probs))
        print(f"{w.start:7.2f}-{w.end:7.2f}s  {tops}")
    print(f"video: {result.label} ({result.prob:.2f})")
    print("top actions:")
    for lab, p in result.top_k:
        print(f"  {lab}: {p * 100:5.2f}%")
    for out in (args.output, args.gif):
        if out:
            print(f"wrote {out}")
    return 0


def run_train(args) -> int:
    from vidcap.data.folders import load_dataset
    from vidcap.train.classify import ClassifyConfig, train_classifier

    options = dict(model=args.model, backbone=args.backbone, num_frames=args.num_frames,
                   pool=args.pool, hidden=args.hidden, fusion=args.fusion, flow_method=args.flow_method,
                   flow_size=args.flow_size, clip_size=args.clip_size, pretrained=args.pretrained,
                   width=args.width, input_norm=args.input_norm, epochs=args.epochs, batch_size=args.batch_size,
                   lr=args.lr, patience=args.patience, seed=args.seed)
    out_dir = args.out_dir or f"runs/classify-{args.model}"
    dataset = load_dataset(args.dataset, videos_dir=args.videos_dir)
    result = train_classifier(dataset, out_dir, config=ClassifyConfig(**options), cache_dir=args.cache_dir,
                              resume=args.resume, progress=not args.quiet, epochs=args.epochs)
    if args.json or args.quiet:
        print_json(result)
        return 0
    print(f"trained {result.model} for {result.epochs_run} epochs ({result.seconds:.0f} s); best epoch {result.best_epoch}, "
          f"val accuracy {result.best_val_acc}")
    if result.test:
        print(f"test accuracy {result.test['acc']:.3f}")
    if result.skipped:
        print(f"{len(result.skipped)} unreadable videos skipped (listed in {Path(out_dir) / 'skipped.json'})")
    print(f"run folder: {out_dir}")
    return 0


def run_evaluate(args) -> int:
    from vidcap.data.folders import load_dataset
    from vidcap.train.classify import evaluate_classifier

    dataset = load_dataset(args.dataset, videos_dir=args.videos_dir)
    result = evaluate_classifier(args.model, dataset, split=args.split, cache_dir=args.cache_dir,
                                 confusion_png=args.confusion_png, progress=not args.quiet)
    if args.json or args.quiet:
        print_json(result)
        return 0
    print(f"{result.split}: {result.num_videos} videos, accuracy {result.accuracy:.3f}, top-5 {result.top5:.3f}")
    for cls, acc in result.per_class.items():
        print(f"  {cls:16s} {acc:.2f}")
    if result.confusion_png:
        print(f"confusion matrix: {result.confusion_png}")
    return 0
