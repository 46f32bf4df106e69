"""`vidcap interpolate` (slow motion / frame-rate up-conversion) and `vidcap inbetween`."""
from __future__ import annotations

import argparse
from pathlib import Path

from vidcap.errors import ConfigError, DecodeError

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
"""


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--flow", choices=["dis", "farneback"], default="dis", help="optical flow method (default dis)")
    p.add_argument("--preset", choices=["ultrafast", "fast", "medium"], default="medium",
                   help="DIS quality preset (default medium)")
    p.add_argument("--flow-scale", dest="flow_scale", type=float, default=0.5,
                   help="resolution of the flow relative to the frames (default 0.5)")
    p.add_argument("--cut-mode", dest="cut_mode", choices=["duplicate", "blend"], default="duplicate",
                   help="across a scene cut: hold the frame before it (duplicate, default) or cross-fade (blend)")
    p.add_argument("--warp", choices=["cubic", "linear"], default="cubic",
                   help="how frames are resampled; linear is faster, cubic sharper (default cubic)")


def register(commands, train, evaluate) -> None:
    from vidcap.cli import add_quiet

    p = commands.add_parser(
        "interpolate",
        help="slow motion or a higher frame rate by generating in-between frames",
        description="Generate FACTOR-1 frames between every pair of frames of VIDEO.",
        epilog=INTERPOLATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", metavar="VIDEO", help="input video")
    p.add_argument("--factor", type=float, default=2, help="frames per input frame: 2, 4, 8 ... (default 2)")
    p.add_argument("-o", "--out", required=True, help="output video (.mp4, .mkv, .mov, .webm)")
    p.add_argument("--mode", choices=["slowmo", "fps"], default="slowmo",
                   help="slowmo: same fps, FACTOR x longer; fps: FACTOR x fps, same length, audio kept")
    p.add_argument("--crf", type=float, default=18, help="H.264 quality, lower is better (default 18)")
    _add_config_flags(p)
    add_quiet(p)
    p.set_defaults(run=run_interpolate)

    p = commands.add_parser(
        "inbetween",
        help="generate the frames between a first and a last image",
        description="Generate NUM_FRAMES evenly spaced in-between frames from FIRST to LAST.",
        epilog=INBETWEEN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("first", metavar="FIRST", help="first image (png, jpg, ...)")
    p.add_argument("last", metavar="LAST", help="last image, same size")
    p.add_argument("--num-frames", dest="num_frames", type=int, default=14, help="frames to generate (default 14)")
    p.add_argument("-o", "--out", required=True, help="seq.gif, seq.mp4 or a folder/ for PNG files")
    p.add_argument("--fps", type=float, default=8, help="frame rate of a gif/video output (default 8)")
    _add_config_flags(p)
    add_quiet(p)
    p.set_defaults(run=run_inbetween)


def _config(args):
    from vidcap.models.interpolate import InterpolationConfig

    return InterpolationConfig(flow=args.flow, preset=args.preset, flow_scale=args.flow_scale,
                               cut_mode=args.cut_mode, warp=args.warp)


def run_interpolate(args) -> int:
    from tqdm import tqdm

    from vidcap.cli import print_json
    from vidcap.io import probe
    from vidcap.models.interpolate import interpolate_video

    total = probe(args.video).num_frames
    with tqdm(total=total, unit="frame", desc="interpolate", disable=args.quiet) as bar:
        result = interpolate_video(
            args.video, args.out, args.factor, args.mode, config=_config(args), crf=args.crf,
            progress=lambda done: bar.update(done - bar.n),
        )
    print_json(result.to_dict())
    return 0


def read_image(path):
    """An image file as ``(H, W, 3) uint8`` RGB, or a DecodeError naming the file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"{path}: no such image file")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DecodeError(f"{path}: not a readable image (png, jpg, bmp, tiff, webp)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def run_inbetween(args) -> int:
    import numpy as np
    from tqdm import tqdm

    from vidcap.cli import print_json
    from vidcap.models.interpolate import inbetween

    first, last = read_image(args.first), read_image(args.last)
    with tqdm(total=1, desc="inbetween", disable=args.quiet) as bar:
        middle = inbetween(first, last, args.num_frames, config=_config(args))
        bar.update(1)
    frames = np.concatenate([first[None], middle, last[None]])
    out = Path(args.out)
    written = write_sequence(out, frames, fps=args.fps, as_dir=args.out.endswith(("/", "\\")) or out.is_dir())
    print_json({"out": str(out), "frames": int(len(frames)), "generated": int(len(middle)), "files": written})
    return 0


def write_sequence(out: Path, frames, *, fps: float, as_dir: bool) -> int:
    """Write frames as numbered PNGs in a folder, or as a gif/video; returns the number of files."""
    from vidcap.io.files import atomic_path

    if as_dir or out.suffix == "":
        import cv2

        out.mkdir(parents=True, exist_ok=True)
        width = max(3, len(str(len(frames) - 1)))
        for i, frame in enumerate(frames):
            with atomic_path(out / f"{i:0{width}d}.png") as tmp:
                if not cv2.imwrite(str(tmp), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
                    raise DecodeError(f"could not write {tmp}")
                tmp.chmod(0o644)  # the temporary file is private; the image is not
        return len(frames)
    from vidcap.io.writers import CONTAINERS, write_video

    if out.suffix.lower() not in CONTAINERS:
        raise ConfigError(
            f"cannot write {str(out)!r}: use a folder/ or one of {', '.join(sorted(CONTAINERS))}"
        )
    h, w = frames.shape[1:3]
    pix_fmt = "yuv444p" if (out.suffix.lower() != ".gif" and (h % 2 or w % 2)) else None
    write_video(out, frames, fps, pix_fmt=pix_fmt)
    return 1
