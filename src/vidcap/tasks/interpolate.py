"""Frame interpolation on files: slow motion and higher frame rates of a video, in-betweening
of two images. The algorithms are :mod:`vidcap.models.interpolate`'s; this module reads,
writes and keeps the audio."""
from __future__ import annotations

import fractions
import logging
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from vidcap.errors import ConfigError, DecodeError
from vidcap.models.interpolate import (MODES, InterpolationConfig, StreamStats, check_pair, check_factor,
                                       interpolate_frames, interpolate_times)
from vidcap.progress import Callback, report
from vidcap.results import InbetweenResult, InterpolationResult

log = logging.getLogger(__name__)


def interpolate_video(
    path: str | os.PathLike,
    out: str | os.PathLike,
    factor: int = 2,
    mode: str = "slowmo",
    *,
    config: InterpolationConfig | None = None,
    crf: float = 18,
    progress: Callback | None = None,
) -> InterpolationResult:
    """Make a video ``factor`` times slower (``"slowmo"``) or ``factor`` times smoother (``"fps"``).

    slowmo: same frame rate, ``factor`` times longer, audio dropped (it would no
    longer match). fps: ``factor`` times the frame rate, same duration, the audio
    stream copied unchanged. Both write ``factor * n`` frames for ``n`` input
    frames (the last frame is held for its own slot). The video is decoded and
    encoded as a stream: memory does not depend on its length. ``progress`` gets the
    input frames done. The output appears atomically; it may not be the input.
    """
    from vidcap.io import iter_frames, probe
    from vidcap.io.audio import mux_audio
    from vidcap.io.files import AtomicFile, check_output
    from vidcap.io.writers import VideoWriter

    factor = check_factor(factor)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} is not one of {MODES}")
    cfg = config or InterpolationConfig()
    path, out = Path(path), check_output(out, path)
    info = probe(path)
    if info.num_frames < 2:
        raise ConfigError(f"{path} has {info.num_frames} frame(s); interpolation needs a video of at least two frames")
    in_rate = _stream_rate(path, info)
    out_rate = in_rate if mode == "slowmo" else in_rate * factor
    keep_audio = mode == "fps" and info.has_audio
    if mode == "slowmo" and info.has_audio:
        log.info("%s: audio is dropped in slow motion (it would no longer match the picture)", path)
    stats = StreamStats()
    silent = AtomicFile(out) if keep_audio else None  # the picture alone, before the sound is added

    def counted() -> Iterator[np.ndarray]:
        for frame, _t in iter_frames(path):
            yield frame
            report(progress, "interpolate", stats.input_frames, info.num_frames, unit="frame")

    try:
        with VideoWriter(silent.tmp if silent else out, out_rate, crf=crf) as writer:
            for frame in interpolate_frames(counted(), factor, config=cfg, stats=stats):
                writer.write(frame)
        if keep_audio:
            mux_audio(silent.tmp, path, out)
    finally:
        if silent is not None:
            silent.discard()
    log.info("%s -> %s: %d -> %d frames, %d scene cut(s)", path, out, stats.input_frames, stats.output_frames,
             stats.scene_cuts)
    return InterpolationResult(
        path=str(out), mode=mode, factor=factor, input_frames=stats.input_frames,
        output_frames=stats.output_frames, input_fps=float(in_rate), output_fps=float(out_rate),
        duration=float(stats.output_frames / out_rate), scene_cuts=stats.scene_cuts, audio=keep_audio,
    )


def _stream_rate(path: Path, info) -> fractions.Fraction:
    """The exact frame rate of the first video stream (avg rate, else base rate)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if rate:
        return fractions.Fraction(rate)
    fps = info.avg_fps or info.real_fps
    if not fps or fps <= 0:
        raise DecodeError(f"{path}: the video stream has no frame rate; cannot time the output frames")
    return fractions.Fraction(fps).limit_denominator(100_000)


def inbetween_files(first, last, out, *, num_frames: int = 14, fps: float = 8,
                    config: InterpolationConfig | None = None) -> InbetweenResult:
    """The frames between two images, written with them to ``out``: a GIF or video, or a
    folder of numbered PNGs (``out`` ending in ``/`` or an existing folder).

    When the two images look like different shots the frames are not morphed (each half
    repeats the nearer image) and the result says so (``cut``).
    """
    from vidcap.io.images import read_image

    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ConfigError(f"num_frames={num_frames!r} must be a positive integer")
    a, b = check_pair(read_image(first), read_image(last))
    times = [(i + 1) / (num_frames + 1) for i in range(int(num_frames))]
    middle, cut = interpolate_times(a, b, times, config or InterpolationConfig())
    if cut:
        log.warning("%s and %s look like different shots; the frames repeat them instead of morphing", first, last)
    frames = np.stack([a, *middle, b])
    as_dir = str(out).endswith(("/", "\\")) or Path(out).is_dir() or Path(out).suffix == ""
    written = write_sequence(Path(out), frames, fps=fps, as_dir=as_dir)
    return InbetweenResult(str(Path(out)), int(len(frames)), int(len(middle)), written, cut)


def write_sequence(out: Path, frames, *, fps: float, as_dir: bool) -> int:
    """Write frames as numbered PNGs in a folder, or as a gif/video; returns the number of files."""
    from vidcap.io.images import write_image
    from vidcap.io.writers import CONTAINERS, write_video

    if as_dir:
        width = max(3, len(str(len(frames) - 1)))
        for i, frame in enumerate(frames):
            write_image(out / f"{i:0{width}d}.png", frame)
        return len(frames)
    if out.suffix.lower() not in CONTAINERS:
        raise ConfigError(f"cannot write {str(out)!r}: use a folder/ or one of {', '.join(sorted(CONTAINERS))}")
    write_video(out, frames, fps)
    return 1
