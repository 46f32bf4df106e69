"""Real-time factor of `vidcap subtitles` (speech) and `vidcap describe` (visual captions)
on a ~45 s clip: espeak-ng sentences with known placement muxed into generated-world video.

Real-time factor (RTF) = processing seconds / media seconds (lower is faster; 0.1 means
ten times faster than playback). Rows, each measured in this run:

* audio decode: vidcap's streamed PyAV decode to 16 kHz mono vs. faster-whisper's own
  ``decode_audio`` (whole file) as the baseline;
* transcribe: vidcap's ``transcribe`` (Silero VAD, word timestamps, word times snapped to
  the voice activity, chunked) vs. the baseline: plain ``WhisperModel.transcribe`` of the
  file (no VAD, no word timestamps), with word error rate and segment-time error of each;
* visual captions: decode + per-window sampling + MobileNetV2 + S2VT vs. the baseline of
  only decoding every frame at the same size;
* describe: both together, merged.

    python benchmarks/subtitles.py [--model CAPTION_CKPT] [--window 5] [--threads 2]

Needs espeak-ng (apt-get install espeak-ng).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clips import ESPEAK_RATE as RATE  # noqa: E402
from clips import speak  # noqa: E402

from vidcap.metrics.speech import word_error_rate as wer  # noqa: E402
SENTENCES = [
    "The weather is lovely today.",
    "Please open the window and let some fresh air in.",
    "My brother plays the guitar every evening.",
    "We will meet again next week in the park.",
    "The train to the city leaves at seven.",
    "She bought a red bicycle last summer.",
    "Children were playing football in the garden.",
    "Turn left at the bank and walk to the station.",
    "The kitchen smells of fresh bread and coffee.",
    "He forgot his umbrella at the office.",
    "A small boat sailed slowly across the lake.",
    "Thank you all for listening so carefully.",
]
GAPS = [1.0, 1.5, 1.2, 2.0, 1.0, 1.6, 1.3, 1.8, 1.1, 1.5, 1.2, 1.4]


def make_clip(folder: Path, seconds: float) -> tuple[Path, list[tuple[str, float, float]], float]:
    import av

    from vidcap.data.synthetic import generate_world
    from vidcap.io import iter_frames

    parts, known, t = [], [], 0.0
    for i, (text, gap) in enumerate(zip(SENTENCES, GAPS)):
        parts.append(np.zeros(int(gap * RATE), np.float32))
        t += gap
        x = speak(text, folder / f"s{i}.wav")
        parts.append(x)
        known.append((text, t, t + len(x) / RATE))
        t += len(x) / RATE
    audio = np.concatenate(parts)
    seconds = max(seconds, audio.size / RATE + 1.0)
    audio = np.concatenate([audio, np.zeros(int(seconds * RATE) - audio.size, np.float32)])

    clip_seconds = 9
    n_clips = int(np.ceil(seconds / clip_seconds))
    world = folder / "world"
    generate_world(world, num_videos=n_clips, seed=7, level="easy", size=(320, 240), seconds=clip_seconds, workers=1)
    videos = sorted((world / "videos").glob("*.mp4"))
    frames = [f for v in videos for f, _ in iter_frames(v)][: int(round(seconds * 25))]

    path = folder / "talk.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
        as_ = out.add_stream("aac", rate=RATE)
        as_.layout = "mono"
        packets = []
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = i
            packets += vs.encode(vf)
        packets += vs.encode()
        for k in range(0, audio.size, 1024):
            af = av.AudioFrame.from_ndarray(audio[None, k : k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = RATE, k, Fraction(1, RATE)
            packets += as_.encode(af)
        packets += as_.encode()
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base)):
            out.mux(p)
    return path, known, len(frames) / 25


def timed(fn, repeats: int = 1):
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="caption checkpoint (default: the bundled model)")
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=45.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for the caption model (default 1)")
    ap.add_argument("--repeats", type=int, default=2, help="best of N for the fast rows")
    args = ap.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed: apt-get install espeak-ng")

    import torch
    from faster_whisper import decode_audio as fw_decode

    from vidcap.features import get_engine
    from vidcap.io import iter_frames, probe, short_side_size
    from vidcap.io.audio import iter_audio
    from vidcap.tasks.speech import load_model, transcribe
    from vidcap.tasks.subtitles import describe, visual_captions
    from vidcap.tasks.caption import Captioner

    torch.set_num_threads(args.threads or 1)
    with tempfile.TemporaryDirectory() as tmp:
        video, known, seconds = make_clip(Path(tmp), args.seconds)
        reference = " ".join(t for t, _, _ in known)
        print(f"clip: {seconds:.1f} s, 320x240 @ 25 fps, {len(known)} espeak-ng sentences, AAC 22.05 kHz mono\n")

        rows = []
        load_s, whisper = timed(lambda: load_model())
        cap_load_s, cap = timed(lambda: Captioner.load(args.model))

        ours, _ = timed(lambda: sum(b.size for b in iter_audio(video)), args.repeats)
        base, _ = timed(lambda: fw_decode(str(video)).size, args.repeats)
        rows.append(("audio decode (16 kHz mono)", ours, base, "faster_whisper.decode_audio", ""))

        transcribe(video)  # warm-up (VAD session, first-call costs)
        ours, tr = timed(lambda: transcribe(video))
        errs = [abs(s.start - k[1]) for s, k in zip(tr.segments, known)] + [abs(s.end - k[2]) for s, k in zip(tr.segments, known)]
        ours_note = (f"WER {wer(reference, tr.text):.1%}, {len(tr.segments)}/{len(known)} segments, "
                     f"time error mean {np.mean(errs):.2f} s max {np.max(errs):.2f} s")

        def plain():
            segs, _ = whisper.transcribe(str(video), language="en", beam_size=5, vad_filter=False)
            return list(segs)

        base, segs = timed(plain)
        base_note = f"baseline WER {wer(reference, ' '.join(s.text for s in segs)):.1%}, {len(segs)} segments"
        rows.append(("transcribe (VAD + word times)", ours, base, "plain WhisperModel.transcribe", ours_note + "; " + base_note))

        visual_captions(video, captioner=cap, window=args.window)  # warm-up (ONNX session)
        ours, visual = timed(lambda: visual_captions(video, captioner=cap, window=args.window))
        engine = get_engine(cap.backbone)
        info = probe(video)
        size = short_side_size(info.width, info.height, engine.backbone.resize)
        base, _ = timed(lambda: sum(1 for _ in iter_frames(video, size=size)), args.repeats)
        rows.append((f"visual captions ({args.window:g} s windows)", ours, base, "decode every frame only",
                     f"{int(np.ceil(seconds / args.window))} windows -> {len(visual)} after merging"))

        ours, d = timed(lambda: describe(video, captioner=cap, window=args.window))
        rows.append(("describe (visual + speech)", ours, None, "", f"{len(d.timeline)} timeline events, {len(d.cues)} SRT cues"))

    print(f"model load: Whisper tiny.en {load_s:.2f} s, caption model {cap_load_s:.2f} s (once per process)\n")
    print(f"| {'stage':32} | {'seconds':>7} | {'RTF':>6} | {'baseline s':>10} | {'baseline RTF':>12} | {'ours/baseline':>13} | baseline |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 8}|{'-' * 12}|{'-' * 14}|{'-' * 15}|----------|")
    for name, ours, base, base_name, _ in rows:
        b = f"{base:10.2f}" if base is not None else f"{'':10}"
        brtf = f"{base / seconds:12.3f}" if base is not None else f"{'':12}"
        ratio = f"{ours / base:13.2f}" if base is not None else f"{'':13}"
        print(f"| {name:32} | {ours:7.2f} | {ours / seconds:6.3f} | {b} | {brtf} | {ratio} | {base_name} |")
    print()
    for name, *_, note in rows:
        if note:
            print(f"{name}: {note}")


if __name__ == "__main__":
    main()
