"""`vidcap info`, `vidcap extract`, `vidcap backbones`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_engine, add_quiet, arg, show

INFO_EXAMPLES = """examples:
  vidcap info clip.mp4
  vidcap info videos/*.mp4 --json | jq '.[].num_frames'
"""

EXTRACT_EXAMPLES = """examples:
  vidcap extract clip.mp4 --out features/
  vidcap extract videos/ --out features/ --num-frames 80 --backbone mobilenet_v2
  vidcap extract list.txt --out features/ --fps 2 --workers 2
  vidcap extract videos/ --out features/ --backbone vgg16 --precision auto
  vidcap extract movies/ --out features/ --seek fast      # long videos: keyframes near the samples
  vidcap extract videos/ --out features/ --fit pad        # the whole frame, not its centre square
  vidcap extract s3://bucket/videos/ --out features/ --engine ray --address head:6379
Each video gives features/<stem>.npy of shape (num_frames, dim) and a <stem>.json
record. Re-running skips videos whose file and parameters are unchanged.
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("info", help="probe videos: duration, fps, frames, size, codec, audio",
                            epilog=INFO_EXAMPLES, formatter_class=FMT)
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    add_quiet(p)
    p.set_defaults(run=run_info)

    p = commands.add_parser("extract", help="extract per-frame CNN features for many videos",
                            epilog=EXTRACT_EXAMPLES, formatter_class=FMT)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders, or .txt lists of paths; "
                   "with --engine ray also object-store URIs (s3://, gs://, file://)")
    p.add_argument("--out", "--out-dir", dest="out_dir", required=True, help="features folder")
    arg(p, api.extract_many, "num_frames", type=int, help="frames sampled evenly per video")
    arg(p, api.extract_many, "fps", type=float, help="sample this many frames per second instead")
    arg(p, api.extract_many, "short", choices=["pad", "repeat"],
        help="videos with fewer frames: pad with zeros and a mask, or repeat frames")
    arg(p, api.extract_many, "backbone", help="see `vidcap backbones`")
    arg(p, api.extract_many, "backend", choices=["auto", "onnx", "torch"], help="auto: torch on a GPU, ONNX Runtime on CPU")
    arg(p, api.extract_many, "precision", choices=["fp32", "bf16", "int8", "auto"],
        help="int8: ONNX Runtime, quantized once (VNNI); bf16: torch autocast; auto: what was measured "
             "faster for the backbone on a CPU like this one (vgg16: int8 with VNNI), else fp32")
    arg(p, api.extract_many, "seek", choices=["exact", "fast"],
        help="fast (approximate): a sample moves to the nearest keyframe when that is less than half the gap "
             "to the next sample away; one decoded picture instead of a GOP's, so long videos decode much faster")
    arg(p, api.extract_many, "fit", choices=["crop", "pad"],
        help="how a frame becomes the backbone's square input: crop keeps the centre square (ImageNet's "
             "transform; a 4:3 frame loses 1/6 of its width each side), pad letterboxes the whole frame")
    arg(p, api.extract_many, "workers", type=int,
        help="decode processes (default: cores - 1; 0 = none); with --engine ray: backbone actors")
    add_engine(p, api.extract_many)
    add_quiet(p)
    p.set_defaults(run=run_extract)

    p = commands.add_parser("backbones", help="list feature backbones and whether their weights are here")
    add_quiet(p)
    p.set_defaults(run=run_backbones)


def run_info(args) -> int:
    from vidcap.errors import VidcapError
    from vidcap.results import Failure

    results = []
    for path in args.videos:
        try:
            results.append(api.probe(path))
        except VidcapError as exc:
            results.append(Failure(path, str(exc)))
    status = show(results, args, many=True)
    return 2 if status and len(args.videos) == 1 else status


def run_extract(args) -> int:
    with Bars(args, items=False) as bars:
        summary = api.extract_many(args.inputs, args.out_dir, backbone=args.backbone, num_frames=args.num_frames,
                                   fps=args.fps, short=args.short, workers=args.workers, backend=args.backend,
                                   precision=args.precision, seek=args.seek, fit=args.fit, engine=args.engine,
                                   address=args.address, progress=bars)
    return show(summary, args)


def run_backbones(args) -> int:
    return show(api.backbones(), args)
