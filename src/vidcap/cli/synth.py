"""`vidcap synth`: generate the synthetic video world (captions, labels, ground truth)."""
from __future__ import annotations

import argparse

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_quiet, arg, default_of, machine

EPILOG = """examples:
  vidcap synth data/world --num-videos 1000 --seed 0 --level easy
  vidcap synth data/hard --num-videos 200 --level hard --size 224x224 --stats
  vidcap synth data/slowmo --num-videos 50 --high-fps-factor 4      # in-between frames as ground truth
  vidcap synth data/world --num-videos 100 --contact-sheet docs/sheet.png
  vidcap synth data/events --num-videos 200 --events 2..6   # several actions per video, 5 s each

writes videos/<VideoID>_<Start>_<End>.mp4, video_corpus.csv (MSVD columns), labels.csv,
splits.json, classes/<split>/<label>/*.mp4 (links), gt/<video>.json and world.json.
With --events also events.json (ActivityNet Captions layout) and youcook2.json.
The same seed and options give the same frames, captions and tables.
"""


def parse_size(text: str) -> tuple[int, int]:
    """``"160x120"`` -> ``(160, 120)`` (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got {text!r}") from exc
    return w, h


def parse_events(text: str) -> tuple[int, int]:
    """``"2..6"`` -> ``(2, 6)``, ``"3"`` -> ``(3, 3)``: events per video, at least 1."""
    lo, sep, hi = text.partition("..")
    try:
        pair = (int(lo), int(hi) if sep else int(lo))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"events must look like 2..6 or 3, got {text!r}") from exc
    if not 1 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"events must be MIN..MAX with 1 <= MIN <= MAX, got {text!r}")
    return pair


def register(commands, train, evaluate) -> None:
    p = commands.add_parser(
        "synth", help="generate a captioned, labelled synthetic video dataset",
        description="Generate a procedural video world in MSVD layout with action labels, "
                    "train/val/test/compositional splits and per-frame ground truth.",
        epilog=EPILOG, formatter_class=FMT)
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    p.add_argument("--num-videos", dest="num_videos", type=int, required=True, help="how many videos")
    arg(p, api.synth, "seed", type=int, help="world seed")
    arg(p, api.synth, "level", choices=["easy", "medium", "hard"], help="difficulty")
    p.add_argument("--size", type=parse_size, default=default_of(api.synth, "size"),
                   help="WIDTHxHEIGHT, even (default 160x120)")
    arg(p, api.synth, "fps", type=float, help="frame rate")
    p.add_argument("--seconds", type=float, default=None,
                   help=f"length of each video, or of each event with --events "
                        "(default 3; 5 per event with --events)")
    p.add_argument("--events", type=parse_events, default=None, metavar="MIN..MAX",
                   help="multi-event videos: MIN..MAX (or N) actions in sequence per video, with scene "
                        "continuations and shot cuts; writes events.json and youcook2.json")
    arg(p, api.synth, "high_fps_factor", type=int,
        help="also write hfr/<video>.mkv at FACTOR x fps (lossless ground truth for interpolation)")
    arg(p, api.synth, "workers", type=int, help="processes (default: one per CPU)")
    arg(p, api.synth, "crf", type=float, help="H.264 quality, lower is better")
    p.add_argument("--stats", action="store_true", help="also print the caption statistics")
    p.add_argument("--contact-sheet", dest="contact_sheet", default=None, metavar="PNG",
                   help="also save a contact sheet of example frames and captions")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    with Bars(args, items=False) as bars:
        summary = api.synth(args.out_dir, num_videos=args.num_videos, seed=args.seed, level=args.level,
                            size=args.size, fps=args.fps, seconds=args.seconds, high_fps_factor=args.high_fps_factor,
                            workers=args.workers, crf=args.crf, events=args.events, progress=bars)
    from vidcap.data.synthetic import caption_stats, contact_sheet
    from vidcap.io.files import to_json

    out = {"summary": summary}
    if args.stats:
        out["caption_stats"] = caption_stats(args.out_dir)
    if args.contact_sheet:
        out["contact_sheet"] = str(contact_sheet(args.out_dir, args.contact_sheet))
    if machine(args):
        print(to_json(out))
    else:
        print(summary.render())
        if args.stats:
            print(to_json(out["caption_stats"]))
        if args.contact_sheet:
            print(f"contact sheet: {out['contact_sheet']}")
    return 0
