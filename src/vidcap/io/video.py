"""One reader interface over PyAV: probe a video, sample frames, stream frames.

Frames come out as ``(H, W, 3) uint8`` RGB, upright (rotation metadata applied),
with their presentation time in seconds from the first frame. Nothing is written
to disk. Every failure is a :class:`~vidcap.errors.DecodeError` that names the
file and the problem.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidcap.errors import ConfigError, DecodeError
from vidcap.io.files import check_readable
from vidcap.io.sampling import even_indices, fps_indices, long_side_size, resize, short_side_size

log = logging.getLogger(__name__)

# Seek instead of decoding forward when the next wanted frame is at least this
# many frames ahead *and* a keyframe lies between here and there.
SEEK_MIN_GAP = 12
SEEK_MODES = ("exact", "fast")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`vidcap.io.probe` learns about a video without decoding it."""

    path: str
    duration: float  # seconds, first frame start to last frame end
    avg_fps: float  # frames / duration, as the container reports it
    real_fps: float  # the stream's base frame rate (r_frame_rate)
    num_frames: int  # exact: counted from the packets, not the header
    width: int  # as displayed, after rotation
    height: int
    rotation: int  # degrees counter-clockwise, one of 0, 90, 180, 270
    codec: str
    pix_fmt: str
    has_audio: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        audio = ", audio" if self.has_audio else ""
        return (f"{self.path}: {self.width}x{self.height}, {self.num_frames} frames, {self.duration:.2f} s, "
                f"{self.avg_fps:.2f} fps, {self.codec}{audio}")


@dataclass
class Clip:
    """Sampled frames of one video.

    frames: ``(T, H, W, 3) uint8`` RGB; rows where ``mask`` is False are zeros.
    timestamps: ``(T,) float64`` seconds from the first frame (0 for padding).
    indices: ``(T,) int64`` frame numbers (-1 for padding).
    mask: ``(T,) bool`` True where the row holds a real frame.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray
    mask: np.ndarray
    info: VideoInfo


# --------------------------------------------------------------------------- open


def _open(path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open ``path`` and return its container and first video stream, or raise."""
    path = check_readable(path, "video file")
    if path.stat().st_size == 0:
        raise DecodeError(f"{path}: the file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{path}: cannot be read as a video: not a video, or damaged or truncated ({_reason(exc)})") from exc
    if not container.streams.video:
        kind = "audio only" if container.streams.audio else "no video stream"
        container.close()
        raise DecodeError(f"{path}: has no video stream ({kind})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        container.close()
        raise DecodeError(f"{path}: its video codec is not supported by this FFmpeg build")
    stream.thread_type = "AUTO"
    return container, stream


def _rewind(container, stream) -> None:
    """Go back to the first frame (after a demux pass or an earlier decode)."""
    try:
        container.seek(0, stream=stream)
    except av.error.FFmpegError as exc:
        raise DecodeError(f"{container.name}: cannot seek back to the start ({_reason(exc)})") from exc


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


# --------------------------------------------------------------------------- probe


@dataclass
class _Timeline:
    """Presentation times of every frame, from a demux pass (no decoding)."""

    pts: np.ndarray  # (N,) int64, ascending, in stream time base (empty if unknown)
    keyframe_pts: np.ndarray  # (K,) int64 ascending
    time_base: Fraction
    count: int


def _timeline(container, stream) -> _Timeline:
    pts, keys = [], []
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's flush packet
            count += 1
            p = packet.pts if packet.pts is not None else packet.dts
            if p is not None:
                pts.append(p)
                if packet.is_keyframe:
                    keys.append(p)
    except av.error.FFmpegError as exc:
        log.warning("%s: the container is damaged after %d packets (%s)", container.name, count, _reason(exc))
    if len(pts) != count or len(set(pts)) != count:
        pts = []  # packets without (unique) times: fall back to counting decoded frames
    return _Timeline(
        pts=np.array(sorted(pts), dtype=np.int64),
        keyframe_pts=np.array(sorted(keys), dtype=np.int64),
        time_base=stream.time_base or Fraction(1, 1),
        count=count,
    )


def _rate(value) -> float:
    return float(value) if value else 0.0


def probe(path) -> VideoInfo:
    """Describe a video: duration, fps, exact frame count, size, rotation, codec, audio.

    The frame count is counted from the demuxed packets (cheap: nothing is
    decoded), so it is right even when the container header is wrong.
    """
    container, stream = _open(path)
    with container:
        return _info(path, container, stream, _timeline(container, stream))


def _info(path, container, stream, timeline: _Timeline) -> VideoInfo:
    ctx = stream.codec_context
    rotation = _stream_rotation(container, stream)
    real_fps = _rate(stream.base_rate) or _rate(stream.guessed_rate)
    avg_fps = _rate(stream.average_rate) or real_fps
    n = timeline.count
    if timeline.pts.size >= 2:
        step = np.median(np.diff(timeline.pts)) if timeline.pts.size > 1 else 0
        duration = float((timeline.pts[-1] - timeline.pts[0] + step) * timeline.time_base)
    elif stream.duration:
        duration = float(stream.duration * timeline.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = n / avg_fps if avg_fps else 0.0
    if duration > 0 and n > 1:
        avg_fps = n / duration
    _warn_if_truncated(path, container, stream, n, duration)
    width, height = ctx.width, ctx.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=str(path),
        duration=round(duration, 6),
        avg_fps=round(avg_fps, 6),
        real_fps=round(real_fps, 6),
        num_frames=n,
        width=width,
        height=height,
        rotation=rotation,
        codec=ctx.name,
        pix_fmt=ctx.pix_fmt or "",
        has_audio=bool(container.streams.audio),
    )


def _warn_if_truncated(path, container, stream, count: int, duration: float) -> None:
    """Warn when the header promises more frames or time than the file holds."""
    declared = stream.frames or 0
    if stream.duration:
        header_seconds = float(stream.duration * stream.time_base)
    elif container.duration and not container.streams.audio:  # audio may outlast the video
        header_seconds = container.duration / av.time_base
    else:
        header_seconds = 0.0
    if declared > count:
        log.warning("%s: the header lists %d frames but only %d are present; the file is truncated", path, declared, count)
    elif header_seconds > duration + 0.5 and header_seconds > 1.2 * duration:
        log.warning("%s: the header says %.2f s but frames stop at %.2f s; the file is truncated", path, header_seconds, duration)


def _stream_rotation(container, stream) -> int:
    """Display rotation in degrees (counter-clockwise), read from the first frame."""
    try:
        _rewind(container, stream)
        for frame in container.decode(stream):
            return int(round(getattr(frame, "rotation", 0) or 0)) % 360
    except av.error.FFmpegError:
        return 0
    return 0


# --------------------------------------------------------------------------- decode


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, rotation: int,
            reformatter: VideoReformatter | None = None) -> np.ndarray:
    """One decoded frame as ``(H, W, 3) uint8`` RGB, scaled (before rotation) and upright.

    Pass one ``reformatter`` for all frames of a video: ``frame.to_ndarray`` sets
    up a new swscale context for every frame, which costs as much as the
    conversion itself (same pixels either way).
    """
    reformatter = reformatter if reformatter is not None else VideoReformatter()
    array = reformatter.reformat(frame, format="rgb24").to_ndarray()
    if size is not None:
        w, h = size if rotation in (0, 180) else size[::-1]
        if (w, h) != (frame.width, frame.height):
            array = resize(array, (w, h))
    k = rotation // 90
    return np.ascontiguousarray(np.rot90(array, k)) if k else array


def iter_frames(path, *, size: tuple[int, int] | None = None) -> Iterator[tuple[np.ndarray, float]]:
    """Stream every frame as ``(frame (H, W, 3) uint8 RGB, time in seconds)``.

    ``size=(width, height)`` scales while converting (cheaper than resizing
    afterwards). Memory does not grow with the video's length. A video that is
    damaged part-way yields the frames before the damage and logs a warning.
    """
    container, stream = _open(path)
    with container:
        rotation = _stream_rotation(container, stream)
        _rewind(container, stream)
        start = None
        count = 0
        reformatter = VideoReformatter()
        try:
            for frame in container.decode(stream):
                t = frame.pts if frame.pts is not None else count
                start = t if start is None else start
                seconds = float((t - start) * stream.time_base) if frame.pts is not None else count / (_rate(stream.average_rate) or 1)
                count += 1
                yield _to_rgb(frame, size, rotation, reformatter), seconds
        except av.error.FFmpegError as exc:
            if count == 0:
                raise DecodeError(f"{path}: no frame could be decoded ({_reason(exc)})") from exc
            log.warning("%s: decoding stopped after %d frames (%s); the rest is damaged", path, count, _reason(exc))
    if count == 0:
        raise DecodeError(f"{path}: the video stream holds no decodable frame")


def sample_frames(
    path,
    num_frames: int | None = 80,
    *,
    fps: float | None = None,
    short: str = "pad",
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    long_side: int | None = None,
    seek: str = "exact",
) -> Clip:
    """Decode only the frames needed: ``num_frames`` evenly spaced, or ``fps`` per second.

    Indices follow the seed: ``np.round(np.linspace(0, n_frames - 1, num_frames))``.
    Videos with fewer frames than asked are padded with a mask (``short="pad"``)
    or repeat frames (``short="repeat"``). ``size=(width, height)`` decodes at a
    reduced size; ``short_side=N`` decodes with the shorter side scaled to N,
    ``long_side=N`` with the longer side scaled to N (aspect kept). Frames are
    reached by seeking when the next one is far ahead, and on the way H.264/HEVC
    pictures that no other picture refers to are not decoded at all (the sampled
    frames are the same, bit for bit).

    ``seek="fast"`` (approximate) takes, in place of a sampled frame, the keyframe
    nearest to it when that keyframe is less than half the gap to the nearer
    neighbouring sample away: a keyframe decodes on its own, so on long videos most
    samples cost one decoded picture instead of every reference picture since the
    last keyframe. The samples stay in order and distinct; ``indices`` and ``timestamps``
    are those of the frames returned.

    Returns a :class:`Clip` with ``frames (T, H, W, 3) uint8`` RGB.
    """
    if seek not in SEEK_MODES:
        raise ConfigError(f"seek must be one of {SEEK_MODES}, got {seek!r}")
    container, stream = _open(path)
    with container:
        timeline = _timeline(container, stream)
        info = _info(path, container, stream, timeline)
        if timeline.count == 0:
            raise DecodeError(f"{path}: the video stream holds no frames")
        if short_side is not None:
            size = short_side_size(info.width, info.height, short_side)
        elif long_side is not None:
            size = long_side_size(info.width, info.height, long_side)
        try:
            return _sample(path, container, stream, timeline, info, num_frames, fps, short, size, seek)
        except _Truncated as cut:
            if cut.decoded >= timeline.count:
                raise DecodeError(f"{path}: some frames could not be located by their timestamps") from None
            log.warning(
                "%s: only the first %d of %d frames decode; sampling from those", path, cut.decoded, timeline.count
            )
            timeline = _Timeline(timeline.pts[: cut.decoded], timeline.keyframe_pts, timeline.time_base, cut.decoded)
            try:
                return _sample(path, container, stream, timeline, info, num_frames, fps, short, size, seek)
            except _Truncated:
                raise DecodeError(f"{path}: the video is damaged and its frames cannot be read reliably") from None


def frames_at(path, indices, *, size: tuple[int, int] | None = None) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Decode the frames with the given frame numbers: ``({index: (H, W, 3) uint8 RGB}, {index: seconds})``.

    The same decoding as :func:`sample_frames` (seeks far ahead, drops unneeded
    pictures, exact). Indices past the end of the video are left out of the result.
    """
    container, stream = _open(path)
    with container:
        timeline = _timeline(container, stream)
        info = _info(path, container, stream, timeline)
        wanted = np.unique(np.asarray(list(indices), dtype=np.int64))
        wanted = wanted[(wanted >= 0) & (wanted < timeline.count)]
        decoded = _decode_indices(path, container, stream, timeline, wanted, size, info.rotation)
    times = _times(timeline, info)
    return decoded, {i: float(times[i]) for i in decoded}


def _times(timeline: _Timeline, info: VideoInfo) -> np.ndarray:
    """Seconds from the first frame of every frame."""
    if timeline.pts.size:
        return (timeline.pts - timeline.pts[0]).astype(np.float64) * float(timeline.time_base)
    return np.arange(timeline.count) / (info.avg_fps or 1.0)


class _Truncated(Exception):
    def __init__(self, decoded: int):
        self.decoded = decoded


def _sample(path, container, stream, timeline, info, num_frames, fps, short, size, seek) -> Clip:
    n = timeline.count
    times = _times(timeline, info)
    if fps is not None:
        indices, mask = fps_indices(times, fps)
    else:
        indices, mask = even_indices(n, num_frames, short=short)
    if seek == "fast":
        indices = _nearest_keyframes(timeline, indices, mask)
    wanted = np.unique(indices[mask])
    decoded = _decode_indices(path, container, stream, timeline, wanted, size, info.rotation)
    if len(decoded) < len(wanted):
        raise _Truncated(_count_decodable(container, stream))
    first = next(iter(decoded.values()))
    frames = np.zeros((len(indices),) + first.shape, dtype=np.uint8)
    for row, (i, ok) in enumerate(zip(indices, mask)):
        if ok:
            frames[row] = decoded[int(i)]
    timestamps = np.where(mask, times[np.clip(indices, 0, n - 1)], 0.0)
    return Clip(frames=frames, timestamps=timestamps, indices=indices, mask=mask, info=info)


def _nearest_keyframes(timeline: _Timeline, indices: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``indices`` with each sampled frame moved to its nearest keyframe where that
    keyframe is nearer than half the gap to either neighbouring sample (strictly, so
    two samples never meet)."""
    if not np.isin(timeline.keyframe_pts, timeline.pts).any():
        return indices  # no keyframe known by its time: nothing to move to
    keys = np.searchsorted(timeline.pts, timeline.keyframe_pts[np.isin(timeline.keyframe_pts, timeline.pts)])
    out = indices.copy()
    rows = np.flatnonzero(mask)
    sampled = indices[rows]
    gaps = np.diff(sampled).astype(np.float64)
    room = np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]) / 2  # half the gap to the nearer neighbour
    after = np.clip(np.searchsorted(keys, sampled), 0, keys.size - 1)
    before = np.clip(after - 1, 0, keys.size - 1)
    nearest = np.where(np.abs(keys[before] - sampled) <= np.abs(keys[after] - sampled), keys[before], keys[after])
    move = np.abs(nearest - sampled) < room
    out[rows[move]] = nearest[move]
    return out


def _decode_indices(path, container, stream, timeline, wanted, size, rotation) -> dict[int, np.ndarray]:
    """Decode the frames with the given indices (sorted, unique); index → RGB array.

    Pictures that are neither wanted nor referenced by other pictures are dropped
    undecoded (see :class:`_Packets`). Should a wanted frame still go by unseen
    while pictures were being dropped, dropping stops and the decoder seeks back
    to decode it again, so dropping never loses a frame or puts a neighbour in
    its place.
    """
    out: dict[int, np.ndarray] = {}
    if wanted.size == 0:
        return out
    by_pts = timeline.pts.size > 0
    target_pts = timeline.pts[wanted] if by_pts else wanted
    pts_to_index = dict(zip(target_pts.tolist(), wanted.tolist()))
    pos = 0  # next entry of target_pts to fill
    current = -1  # pts (or index) of the last decoded frame, -1 before any
    seeked_for = None  # seek at most once per goal, so a coarse index cannot loop
    start_pts = timeline.pts[0] if by_pts else 0
    can_seek = by_pts
    # Dropping needs packet times that name the frames: wanted packets are found by them.
    packets = _Packets(container, stream, keep=pts_to_index, drop=by_pts and _can_drop_nonref(stream))
    retry = False  # a goal went by unseen while pictures were dropped
    reformatter = VideoReformatter()
    _rewind(container, stream)
    decoded_count = 0
    try:
        while pos < len(target_pts):
            goal = target_pts[pos]
            if retry:
                log.debug("%s: frame %d went by unseen while dropping pictures; decoding it again",
                          path, pts_to_index[goal])
                packets.stop_dropping()
                container.seek(int(goal), stream=stream, backward=True, any_frame=False)
                seeked_for, retry = goal, False
            elif can_seek and goal != seeked_for and _should_seek(timeline, current, goal):
                container.seek(int(goal), stream=stream, backward=True, any_frame=False)
                seeked_for = goal
            restarted = False
            for frame in packets.frames():
                decoded_count += 1
                current = (frame.pts if frame.pts is not None else start_pts) if by_pts else decoded_count - 1
                index = pts_to_index.get(current)
                if by_pts and current > target_pts[pos]:  # the goal went by unseen
                    if packets.dropped:
                        retry = restarted = True
                        break
                    if index is None:
                        index = pts_to_index[target_pts[pos]]  # inexact timing: take the next frame
                if index is not None and index not in out:
                    out[index] = _to_rgb(frame, size, rotation, reformatter)
                while pos < len(target_pts) and pts_to_index[target_pts[pos]] in out:
                    pos += 1
                if pos >= len(target_pts):
                    return out
                goal = target_pts[pos]
                if can_seek and goal != seeked_for and _should_seek(timeline, current, goal):
                    restarted = True
                    break
            if not restarted:
                if packets.dropped:  # the stream ended short of a goal while dropping
                    retry = True
                    continue
                break  # end of stream
    except av.error.FFmpegError as exc:
        log.debug("%s: decode error after %d frames: %s", path, decoded_count, _reason(exc))
    finally:
        packets.stop_dropping()
    return out


def _can_drop_nonref(stream) -> bool:
    """Whether the decoder's ``skip_frame="NONREF"`` drops exactly the pictures that
    no other picture refers to: H.264 (nal_ref_idc 0), and HEVC (the *_N picture
    types) when the stream has one temporal sub-layer, as a *_N picture may be
    referenced from a higher sub-layer."""
    ctx = stream.codec_context
    if ctx.name == "h264":
        return True
    if ctx.name == "hevc":
        # hvcC (mp4, mkv): numTemporalLayers is in bits 3-5 of byte 21. Without an
        # hvcC (Annex B parameter sets) the layer count is unknown: don't drop.
        extra = ctx.extradata or b""
        return len(extra) > 22 and extra[0] == 1 and (extra[21] >> 3) & 7 == 1
    return False


class _Packets:
    """Decoded frames from the container's current position, dropping unneeded ones.

    With ``drop``, each packet whose pts is not in ``keep`` goes to the decoder
    with ``skip_frame="NONREF"``: a picture that no other picture refers to is
    dropped undecoded (and never comes out), a reference picture is decoded as
    usual. Packets in ``keep`` (and any without a pts) are decoded in full. The
    setting holds per packet, frame threads included: FFmpeg copies it from the
    codec context when it hands the packet to a thread.
    """

    def __init__(self, container, stream, *, keep, drop: bool):
        self.container, self.stream, self.keep = container, stream, keep
        self.drop = drop
        self.dropped = False  # a packet went in with NONREF since the last frames() call
        self._mode = "DEFAULT"

    def _set(self, mode: str) -> None:
        if mode != self._mode:
            self.stream.codec_context.skip_frame = mode
            self._mode = mode

    def stop_dropping(self) -> None:
        self.drop = False
        self._set("DEFAULT")

    def frames(self) -> Iterator[av.VideoFrame]:
        self.dropped = False
        for packet in self.container.demux(self.stream):
            if self.drop:
                if packet.pts is None or packet.pts in self.keep:
                    self._set("DEFAULT")
                else:
                    self._set("NONREF")
                    self.dropped = True
            yield from packet.decode()


def _should_seek(timeline: _Timeline, current, goal) -> bool:
    """Seek when a keyframe lies after the current position and at or before the goal,
    and the goal is far enough ahead that decoding forward would cost more."""
    if current >= goal:
        return current > goal  # behind us: must seek back
    keys = timeline.keyframe_pts
    k = np.searchsorted(keys, goal, side="right") - 1
    if k < 0 or keys[k] <= current:
        return False
    gap = np.searchsorted(timeline.pts, goal) - np.searchsorted(timeline.pts, current)
    return gap >= SEEK_MIN_GAP


def _count_decodable(container, stream) -> int:
    _rewind(container, stream)
    count = 0
    try:
        for _ in container.decode(stream):
            count += 1
    except av.error.FFmpegError:
        pass
    if count == 0:
        raise DecodeError(f"{container.name}: no frame could be decoded (corrupt or unsupported)")
    return count
