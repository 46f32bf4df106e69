"""Audio in and out (PyAV): decode a media file's audio track, and the one audio muxer.

:func:`iter_audio` streams the first audio track as ``(n,) float32`` mono blocks in
``[-1, 1]`` at a chosen sample rate, with sample 0 at the first video frame's time
(the zero of every vidcap timestamp). :func:`mux_audio` puts the audio of a source
file beside the video stream of a freshly written one (annotated, subtitled or
interpolated videos keep their sound).
"""
from __future__ import annotations

import heapq
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from vidcap.errors import DecodeError, NoAudioError
from vidcap.io.files import atomic_path, check_readable

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


def _open_audio(path):
    import av

    p = check_readable(path, "media file")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{p}: cannot be read as a media file ({exc})") from exc
    if not container.streams.audio:
        container.close()
        raise NoAudioError(f"{p} has no audio track, so there is no speech to transcribe")
    return container, container.streams.audio[0]


def _video_start(container) -> float:
    """Start time (s) of the first video stream, the zero of vidcap's timestamps."""
    if not container.streams.video:
        return 0.0
    v = container.streams.video[0]
    if v.start_time is None or v.time_base is None:
        return 0.0
    return float(v.start_time * v.time_base)


def iter_audio(path, *, sample_rate: int = SAMPLE_RATE, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Stream the first audio track as ``(n,) float32`` mono blocks at ``sample_rate``.

    Block ``k`` starts where block ``k - 1`` ended; sample 0 is the first video
    frame's time (silence is prepended when the audio starts later, samples are
    dropped when it starts earlier). Blocks hold about ``block_seconds`` of audio.
    Raises :class:`~vidcap.errors.NoAudioError` when there is no audio track.
    """
    import av

    container, stream = _open_audio(path)
    with container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        zero = _video_start(container)
        skip = None  # samples to drop (>0) or silence to add (<0) at the start
        block = int(block_seconds * sample_rate)
        pending: list[np.ndarray] = []
        size = 0
        decoded = 0

        def emit(arrays):
            nonlocal skip, size
            for a in arrays:
                if skip and skip > 0:
                    cut = min(skip, a.size)
                    a = a[cut:]
                    skip -= cut
                if a.size:
                    pending.append(a)
                    size += a.size

        try:
            for frame in container.decode(stream):
                if skip is None:
                    t = frame.time if frame.time is not None else zero
                    skip = int(round((zero - t) * sample_rate))
                    if skip < 0:
                        pending.append(np.zeros(-skip, dtype=np.float32))
                        size += -skip
                        skip = 0
                decoded += 1
                emit(np.asarray(f.to_ndarray(), dtype=np.float32).reshape(-1) for f in resampler.resample(frame))
                if size >= block:
                    yield from _split_blocks(pending, block)
                    size = sum(a.size for a in pending)
        except av.error.FFmpegError as exc:
            if decoded == 0:
                raise DecodeError(f"{path}: its audio track cannot be decoded ({exc})") from exc
            log.warning("%s: audio decoding stopped after %d frames (%s); the rest is damaged", path, decoded, exc)
        emit(np.asarray(f.to_ndarray(), dtype=np.float32).reshape(-1) for f in resampler.resample(None))
        if pending:
            yield from _split_blocks(pending, block)
        if pending:
            yield pending.pop()


def _split_blocks(pending: list[np.ndarray], block: int) -> Iterator[np.ndarray]:
    data = np.concatenate(pending)
    pending.clear()
    k = 0
    while data.size - k >= block:
        yield data[k : k + block]
        k += block
    if k < data.size:
        pending.append(data[k:])


def decode_audio(path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole first audio track as ``(n,) float32`` mono (use :func:`iter_audio` for long files)."""
    blocks = list(iter_audio(path, sample_rate=sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


# --------------------------------------------------------------------------- muxing
def mux_audio(video_only, source, dst) -> Path:
    """Write ``dst``: the video stream of ``video_only`` plus the first audio stream of ``source``.

    The audio packets are copied unchanged when ``dst``'s container takes their codec,
    else re-encoded (AAC; Opus for WebM). Audio is aligned so that its time 0 is the
    source's first video frame, as in every vidcap timestamp. Written atomically.
    """
    import av

    dst = Path(dst)
    with atomic_path(dst) as tmp:
        with av.open(str(video_only)) as vin, av.open(str(source)) as ain:
            vs, as_ = vin.streams.video[0], ain.streams.audio[0]
            try:
                _remux(vin, vs, ain, as_, tmp, copy_audio=True)
            except (av.error.FFmpegError, ValueError) as exc:
                log.info("copying the %s audio into %s failed (%s); re-encoding it", as_.codec_context.name, dst, exc)
                vin.seek(0)
                ain.seek(0)
                try:
                    _remux(vin, vs, ain, as_, tmp, copy_audio=False)
                except av.error.FFmpegError as exc2:
                    raise DecodeError(f"copying the audio of {source} into {dst} failed: {exc2}") from exc2
    return dst


def _format_of(path: Path) -> str | None:
    from vidcap.io.writers import CONTAINERS

    entry = CONTAINERS.get(path.suffix.lower())
    return entry[0] if entry else None


def _remux(vin, vs, ain, as_, dst: Path, *, copy_audio: bool) -> None:
    import av

    v_src = ain.streams.video[0] if ain.streams.video else None
    zero = float(v_src.start_time * v_src.time_base) if v_src is not None and v_src.start_time is not None else 0.0
    with av.open(str(dst), "w", format=_format_of(dst)) as out:
        ov = out.add_stream_from_template(vs)
        if copy_audio:
            oa = out.add_stream_from_template(as_)
        else:
            codec = "libopus" if out.format.name == "webm" else "aac"
            oa = out.add_stream(codec, rate=48000 if codec == "libopus" else as_.codec_context.sample_rate or 44100)
            oa.layout = as_.codec_context.layout.name if as_.codec_context.layout else "stereo"

        def when(p) -> float:
            t = p.dts if p.dts is not None else p.pts
            return float(t * p.time_base) if t is not None else 0.0

        def video_packets():
            for p in vin.demux(vs):
                if p.size:  # not the demuxer's empty flush packet
                    yield when(p), 0, p, ov

        def audio_packets():
            if copy_audio:
                offset = None
                for p in ain.demux(as_):
                    if not p.size:
                        continue
                    offset = int(round(zero / p.time_base)) if offset is None else offset
                    p.pts = p.pts - offset if p.pts is not None else None
                    p.dts = p.dts - offset if p.dts is not None else None
                    yield when(p), 1, p, oa
            else:
                for frame in ain.decode(as_):
                    frame.pts = None
                    for p in oa.encode(frame):
                        yield when(p), 1, p, oa
                for p in oa.encode():
                    yield when(p), 1, p, oa

        counter = iter(range(1 << 62))
        merged = heapq.merge(((t, k, next(counter), p, s) for t, k, p, s in video_packets()),
                             ((t, k, next(counter), p, s) for t, k, p, s in audio_packets()))
        for _, _, _, packet, stream in merged:
            packet.stream = stream
            out.mux(packet)
    log.debug("muxed the audio of %s into %s", ain.name, dst)
