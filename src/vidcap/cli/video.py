"""`vidcap info`, `vidcap extract`, `vidcap backbones`."""
from __future__ import annotations

import argparse
import sys

from vidcap.cli import add_quiet, print_json

INFO_EXAMPLES = """examples:
  vidcap info clip.mp4
  vidcap info videos/*.mp4 --quiet | jq '.[].num_frames'
"""

EXTRACT_EXAMPLES = """examples:
  vidcap extract clip.mp4 --out features/
  vidcap extract videos/ --out features/ --num-frames 80 --backbone mobilenet_v2
  vidcap extract list.txt --out features/ --fps 2 --workers 2
Each video gives features/<stem>.npy of shape (num_frames, dim) and a <stem>.json
record. Re-running skips videos whose file and parameters are unchanged.
"""


def register(commands, train, evaluate) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    p = commands.add_parser("info", help="probe videos (JSON)", epilog=INFO_EXAMPLES, formatter_class=fmt)
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    add_quiet(p)
    p.set_defaults(run=run_info)

    p = commands.add_parser("extract", help="extract per-frame CNN features for many videos",
                            epilog=EXTRACT_EXAMPLES, formatter_class=fmt)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders, or .txt lists of paths")
    p.add_argument("--out", "--out-dir", dest="out_dir", required=True, help="features folder")
    p.add_argument("--num-frames", type=int, default=80, help="frames sampled evenly per video (default 80)")
    p.add_argument("--fps", type=float, default=None, help="sample this many frames per second instead")
    p.add_argument("--short", choices=["pad", "repeat"], default="pad",
                   help="videos with fewer frames: pad with zeros and a mask, or repeat frames")
    p.add_argument("--backbone", default="mobilenet_v2", help="see `vidcap backbones` (default mobilenet_v2)")
    p.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto",
                   help="auto: torch on a GPU, ONNX Runtime on CPU")
    p.add_argument("--workers", type=int, default=None, help="decode processes (default: cores - 1; 0 = none)")
    add_quiet(p)
    p.set_defaults(run=run_extract)

    p = commands.add_parser("backbones", help="list feature backbones and whether their weights are here")
    add_quiet(p)
    p.set_defaults(run=run_backbones)


def run_info(args) -> int:
    from vidcap.errors import VidcapError
    from vidcap.io import probe

    results, status = [], 0
    for path in args.videos:
        try:
            results.append(probe(path).to_dict())
        except VidcapError as exc:
            results.append({"path": path, "error": str(exc)})
            print(f"vidcap: error: {exc}", file=sys.stderr)
            status = 2
    print_json(results[0] if len(results) == 1 else results)
    return status


def run_extract(args) -> int:
    from vidcap.features import extract_many

    summary = extract_many(
        args.inputs,
        args.out_dir,
        backbone=args.backbone,
        num_frames=args.num_frames,
        fps=args.fps,
        short=args.short,
        workers=args.workers,
        backend=args.backend,
        progress=not args.quiet,
    )
    if args.quiet:
        print_json(summary.to_dict())
    else:
        ok, failed = len(summary.ok), summary.failed
        print(f"{ok} videos ok ({summary.skipped} already done), {len(failed)} failed, "
              f"{summary.seconds:.1f} s → {summary.out_dir}")
        for r in failed:
            print(f"  failed: {r['error']}", file=sys.stderr)
    return 1 if summary.failed else 0


def run_backbones(args) -> int:
    from vidcap.features import BACKBONES

    rows = [{"name": b.name, "dim": b.dim, "input": b.crop, "offline": b.weights_available(),
             "source": b.meta.get("source", "")} for b in BACKBONES.values()]
    if args.quiet:
        print_json(rows)
        return 0
    print(f"{'name':<14}{'dim':>6}{'input':>7}  {'weights here':<13}source")
    for r in rows:
        print(f"{r['name']:<14}{r['dim']:>6}{r['input']:>7}  {'yes' if r['offline'] else 'no':<13}{r['source']}")
    return 0
