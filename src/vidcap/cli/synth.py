"""`vidcap synth`: generate the synthetic video world (captions, labels, ground truth)."""
from __future__ import annotations

import argparse

EPILOG = """examples:
  vidcap synth data/world --num-videos 1000 --seed 0 --level easy
  vidcap synth data/hard --num-videos 200 --level hard --size 224x224 --stats
  vidcap synth data/slowmo --num-videos 50 --high-fps-factor 4      # in-between frames as ground truth
  vidcap synth data/world --num-videos 100 --contact-sheet docs/sheet.png

writes videos/<VideoID>_<Start>_<End>.mp4, video_corpus.csv (MSVD columns), labels.csv,
splits.json, classes/<split>/<label>/*.mp4 (links), gt/<video>.json and world.json.
"""


def parse_size(text: str) -> tuple[int, int]:
    """``"160x120"`` -> ``(160, 120)`` (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got {text!r}") from exc
    return w, h


def register(commands, train, evaluate) -> None:
    from vidcap.cli import add_quiet

    p = commands.add_parser(
        "synth",
        help="generate a captioned, labelled synthetic video dataset",
        description="Generate a procedural video world in MSVD layout with action labels, "
                    "train/val/test/compositional splits and per-frame ground truth.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    p.add_argument("--num-videos", dest="num_videos", type=int, required=True, help="how many videos")
    p.add_argument("--seed", type=int, default=0, help="world seed; same seed, same bytes (default 0)")
    p.add_argument("--level", choices=["easy", "medium", "hard"], default="easy", help="difficulty (default easy)")
    p.add_argument("--size", type=parse_size, default=(160, 120), help="WIDTHxHEIGHT, even (default 160x120)")
    p.add_argument("--fps", type=float, default=25, help="frame rate (default 25)")
    p.add_argument("--seconds", type=float, default=3, help="length of each video (default 3)")
    p.add_argument("--high-fps-factor", dest="high_fps_factor", type=int, default=None,
                   help="also write hfr/<video>.mkv at FACTOR x fps (lossless ground truth for interpolation)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    p.add_argument("--crf", type=float, default=18, help="H.264 quality, lower is better (default 18)")
    p.add_argument("--stats", action="store_true", help="also print the caption statistics")
    p.add_argument("--contact-sheet", dest="contact_sheet", default=None, metavar="PNG",
                   help="also save a contact sheet of example frames and captions")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from vidcap.cli import print_json
    from vidcap.data.synthetic import caption_stats, contact_sheet, generate_world

    summary = generate_world(
        args.out_dir, num_videos=args.num_videos, seed=args.seed, level=args.level, size=args.size,
        fps=args.fps, seconds=args.seconds, high_fps_factor=args.high_fps_factor, workers=args.workers,
        crf=args.crf, progress=not args.quiet,
    )
    result = {"summary": summary.to_dict()}
    if args.stats:
        result["caption_stats"] = caption_stats(args.out_dir)
    if args.contact_sheet:
        result["contact_sheet"] = str(contact_sheet(args.out_dir, args.contact_sheet))
    print_json(result)
    return 0
