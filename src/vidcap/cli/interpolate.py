"""`vidcap interpolate` (slow motion / frame-rate up-conversion) and `vidcap inbetween`."""
from __future__ import annotations

import sys

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_quiet, arg, show

INTERPOLATE_EPILOG = """examples:
  vidcap interpolate clip.mp4 --factor 4 -o slow.mp4                 # 4x slow motion, same fps
  vidcap interpolate clip.mp4 --factor 2 --mode fps -o smooth.mp4    # 25 -> 50 fps, audio kept
  vidcap interpolate clip.mp4 --factor 8 --flow farneback --cut-mode blend -o slow.mp4

Optical flow both ways (OpenCV DIS), both frames warped to each in-between time,
occlusion-aware blending; scene cuts are never morphed.
"""

INBETWEEN_EPILOG = """examples:
  vidcap inbetween first.png last.png --num-frames 14 -o tween.gif
  vidcap inbetween first.png last.png --num-frames 14 -o tween.mp4 --fps 10
  vidcap inbetween first.png last.png --num-frames 6 -o frames/      # PNGs 000.png ... 007.png

The output holds the first frame, the NUM_FRAMES generated ones and the last frame.
Two images of different shots are not morphed (the output says so).
"""


def _add_config_flags(p, fn) -> None:
    arg(p, fn, "flow", choices=["dis", "farneback"], help="optical flow method")
    arg(p, fn, "preset", choices=["ultrafast", "fast", "medium"], help="DIS quality preset")
    arg(p, fn, "flow_scale", type=float, help="resolution of the flow relative to the frames")
    arg(p, fn, "cut_mode", choices=["duplicate", "blend"],
        help="across a scene cut: hold the frame before it (duplicate) or cross-fade (blend)")
    arg(p, fn, "warp", choices=["cubic", "linear"], help="how frames are resampled; linear is faster, cubic sharper")


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("interpolate", help="slow motion or a higher frame rate by generating in-between frames",
                            description="Generate FACTOR-1 frames between every pair of frames of VIDEO.",
                            epilog=INTERPOLATE_EPILOG, formatter_class=FMT)
    p.add_argument("video", metavar="VIDEO", help="input video")
    arg(p, api.interpolate, "factor", type=float, help="frames per input frame: 2, 4, 8 ...")
    p.add_argument("-o", "--out", required=True, help="output video (.mp4, .mkv, .mov, .webm)")
    arg(p, api.interpolate, "mode", choices=["slowmo", "fps"],
        help="slowmo: same fps, FACTOR x longer; fps: FACTOR x fps, same length, audio kept")
    arg(p, api.interpolate, "crf", type=float, help="H.264 quality, lower is better")
    _add_config_flags(p, api.interpolate)
    add_quiet(p)
    p.set_defaults(run=run_interpolate)

    p = commands.add_parser("inbetween", help="generate the frames between a first and a last image",
                            description="Generate NUM_FRAMES evenly spaced in-between frames from FIRST to LAST.",
                            epilog=INBETWEEN_EPILOG, formatter_class=FMT)
    p.add_argument("first", metavar="FIRST", help="first image (png, jpg, ...)")
    p.add_argument("last", metavar="LAST", help="last image, same size")
    arg(p, api.inbetween, "num_frames", type=int, help="frames to generate")
    p.add_argument("-o", "--out", required=True, help="seq.gif, seq.mp4 or a folder/ for PNG files")
    arg(p, api.inbetween, "fps", type=float, help="frame rate of a gif/video output")
    _add_config_flags(p, api.inbetween)
    add_quiet(p)
    p.set_defaults(run=run_inbetween)


def _config(args) -> dict:
    return {k: getattr(args, k) for k in ("flow", "preset", "flow_scale", "cut_mode", "warp")}


def run_interpolate(args) -> int:
    from vidcap.runtime import keep_freed_memory

    keep_freed_memory()  # this process makes and frees frame-sized arrays by the thousand
    with Bars(args, items=False) as bars:
        result = api.interpolate(args.video, args.out, factor=args.factor, mode=args.mode, crf=args.crf,
                                 progress=bars, **_config(args))
    return show(result, args)


def run_inbetween(args) -> int:
    result = api.inbetween(args.first, args.last, args.out, num_frames=args.num_frames, fps=args.fps, **_config(args))
    if result.cut and not args.quiet:
        print(f"vidcap: note: {args.first} and {args.last} look like different shots; the frames repeat them "
              "instead of morphing", file=sys.stderr)
    return show(result, args)
