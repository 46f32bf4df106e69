"""Optical flow as a video feature: the motion stream of the two-stream classifier.

For each sampled frame, the dense flow to the next frame (OpenCV DIS or Farneback)
at a small square size, stacked as ``(T, 2, S, S) float32`` pixels (x, y).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

from vidcap.errors import ConfigError, DataError

FLOW_METHODS = ("dis", "farneback")


def optical_flow(prev: np.ndarray, nxt: np.ndarray, *, method: str = "dis") -> np.ndarray:
    """Dense flow from ``prev`` to ``nxt`` (``(H, W, 3) uint8`` RGB) as ``(2, H, W) float32`` pixels (x, y)."""
    import cv2

    if method not in FLOW_METHODS:
        raise ConfigError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
    a = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(nxt, cv2.COLOR_RGB2GRAY)
    if method == "dis":
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    else:
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def pair_indices(indices: np.ndarray, mask: np.ndarray, n_frames: int) -> list[tuple[int, int] | None]:
    """For each sampled frame, the pair (frame, next frame) its flow is taken over.

    The last frame of a video pairs with the one before it; padded rows get None.
    """
    pairs = []
    for i, ok in zip(indices.tolist(), mask.tolist()):
        if not ok or n_frames < 2:
            pairs.append(None)
        elif i + 1 < n_frames:
            pairs.append((i, i + 1))
        else:
            pairs.append((i - 1, i))
    return pairs


def flows_from_frames(frames: dict[int, np.ndarray], pairs, *, method: str = "dis", shape=None) -> np.ndarray:
    """Stack the flow of each pair into ``(T, 2, H, W) float32``; None rows are zeros."""
    if shape is None:
        shape = next(iter(frames.values())).shape[:2]
    out = np.zeros((len(pairs), 2) + tuple(shape), dtype=np.float32)
    for row, pair in enumerate(pairs):
        if pair is not None:
            out[row] = optical_flow(frames[pair[0]], frames[pair[1]], method=method)
    return out


def decode_flow(path, *, num_frames: int, size: int, method: str = "dis", short: str = "pad"):
    """Optical flow at ``num_frames`` evenly spaced frames of a video.

    Returns ``(flows (T, 2, size, size) float32, indices, mask, timestamps)``.
    """
    from vidcap.io import center_crop, frames_at, probe, short_side_size
    from vidcap.io.sampling import even_indices

    info = probe(path)
    indices, mask = even_indices(info.num_frames, num_frames, short=short)
    pairs = pair_indices(indices, mask, info.num_frames)
    wanted = sorted({i for p in pairs if p for i in p})
    frames, times = frames_at(path, wanted, size=short_side_size(info.width, info.height, size))
    missing = set(wanted) - set(frames)
    if missing:
        raise DataError(f"{path}: frames {sorted(missing)[:3]} could not be decoded for optical flow")
    frames = {k: np.ascontiguousarray(center_crop(f, size)) for k, f in frames.items()}
    flows = flows_from_frames(frames, pairs, method=method, shape=(size, size))
    timestamps = np.array([times.get(int(i), 0.0) if m else 0.0 for i, m in zip(indices, mask)])
    return flows, indices, mask, timestamps


# ----------------------------------------------------------------------------- motion features for captions
@dataclass(frozen=True)
class MotionFeatures:
    """The motion stream of a captioner: per sampled frame, the optical flow to the frame
    ``gap`` frames later, summarised in ``dim`` numbers.

    Frames are resized (aspect kept) so their short side is ``size`` pixels; the flow is
    divided by that side and by the time between the two frames, so a value is a
    velocity in frame heights (short sides) per second, whatever the resolution and
    frame rate. One row holds, for each cell of a ``grid x grid`` layout (reading
    order), the mean x and y velocity and the mean speed, then seven numbers for the
    whole frame: the speed-weighted centre of the motion (x, y in [-0.5, 0.5]) and the
    speed-weighted affine fit ``v ~ t + A (p - c)`` (``A``'s four entries, per second:
    growth, shrinking and rotation show in them, never in the means), and the mean speed.
    """

    method: str = "dis"
    size: int = 96
    grid: int = 4
    gap: int = 2

    def __post_init__(self):
        if self.method not in FLOW_METHODS:
            raise ConfigError(f"flow method must be one of {FLOW_METHODS}, got {self.method!r}")
        for k in ("size", "grid", "gap"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"flow {k}={getattr(self, k)} must be a positive integer")
        if self.size < 8 * self.grid:
            raise ConfigError(f"flow size={self.size} is too small for a {self.grid}x{self.grid} grid")

    @property
    def name(self) -> str:
        """The stream's name in feature records and cache folders: every parameter is in it."""
        return f"flow-{self.method}-s{self.size}-g{self.grid}-d{self.gap}"

    @property
    def dim(self) -> int:
        return 3 * self.grid * self.grid + 7

    def to_dict(self) -> dict:
        return {"method": self.method, "size": int(self.size), "grid": int(self.grid), "gap": int(self.gap)}

    @classmethod
    def from_dict(cls, d: dict) -> MotionFeatures:
        return cls(**{k: d[k] for k in ("method", "size", "grid", "gap") if k in d})


def motion_pairs(indices: np.ndarray, mask: np.ndarray, n_frames: int, gap: int,
                 first: int = 0) -> list[tuple[int, int] | None]:
    """For each sampled frame, the pair ``(frame, frame + gap)`` its motion is taken over
    (``(frame - gap, frame)`` near the end; the gap shrinks for very short videos), both
    frames in ``[first, n_frames)`` (a window of a longer video: its motion is its own).

    Padded rows get None. A video needs at least 2 frames (DataError otherwise).
    """
    if n_frames - first < 2:
        raise DataError(f"a video of {n_frames - first} frame(s) has no motion: optical flow needs at least 2 frames")
    gap = min(int(gap), n_frames - first - 1)
    pairs = []
    for i, ok in zip(indices.tolist(), mask.tolist()):
        if not ok:
            pairs.append(None)
        elif i + gap < n_frames:
            pairs.append((i, i + gap))
        else:
            pairs.append((max(first, i - gap), i))
    return pairs


def summarise_flow(flow: np.ndarray, dt: float, grid: int) -> np.ndarray:
    """One row of :class:`MotionFeatures` from a flow field ``(2, H, W)`` float32 (pixels
    over ``dt`` seconds): ``(3 * grid * grid + 7,) float32``."""
    _, H, W = flow.shape
    side = float(min(H, W))
    v = flow / (side * max(dt, 1e-6))  # (2, H, W): short sides per second
    speed = np.sqrt(v[0] ** 2 + v[1] ** 2)  # (H, W)
    rows = np.linspace(0, H, grid + 1).round().astype(int)
    cols = np.linspace(0, W, grid + 1).round().astype(int)
    cells = []
    for r0, r1 in itertools.pairwise(rows):
        for c0, c1 in itertools.pairwise(cols):
            cells += [v[0, r0:r1, c0:c1].mean(), v[1, r0:r1, c0:c1].mean(), speed[r0:r1, c0:c1].mean()]
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    px, py = (xs + 0.5) / side - W / (2 * side), (ys + 0.5) / side - H / (2 * side)  # centred, short side = 1
    w = speed.ravel()
    total = float(w.sum())
    affine = np.zeros(4, np.float32)
    cx = cy = 0.0
    if total > 1e-6:
        cx, cy = float(w @ px.ravel()) / total, float(w @ py.ravel()) / total
        P = np.stack([np.ones_like(w), px.ravel() - cx, py.ravel() - cy], 1)  # (HW, 3)
        Pw = P * w[:, None]
        gram = P.T @ Pw + 1e-4 * np.eye(3)
        coef = np.linalg.solve(gram, Pw.T @ v.reshape(2, -1).T)  # (3, 2): t, d/dx, d/dy for vx, vy
        affine = np.array([coef[1, 0], coef[2, 0], coef[1, 1], coef[2, 1]], np.float32)
    return np.array(cells + [cx, cy, *affine, speed.mean()], dtype=np.float32)


def motion_features(path, *, num_frames: int, short: str = "pad", stream: MotionFeatures = MotionFeatures(),
                    sampled: tuple[np.ndarray, np.ndarray] | None = None, within: tuple[int, int] | None = None):
    """The motion rows of a video at the frames the RGB stream samples.

    ``sampled``: the ``(indices, mask)`` of those frames (default: ``num_frames`` evenly
    spaced, as :func:`vidcap.io.sample_frames` takes them); ``within``: the frames
    ``[first, stop)`` of one window, which its flow pairs do not leave. Returns ``(features (T, dim)
    float32, indices, mask, timestamps)``; padded rows are zeros. Raises DecodeError for
    an unreadable video and DataError for one without motion (a single frame).
    """
    from vidcap.io import frames_at, probe, short_side_size
    from vidcap.io.sampling import even_indices

    info = probe(path)
    if info.num_frames < 2:
        raise DataError(f"{path} has only {info.num_frames} frame: this model reads motion (optical flow between "
                        "frames) and needs a video of at least 2 frames")
    indices, mask = sampled if sampled is not None else even_indices(info.num_frames, num_frames, short=short)
    first, stop = within if within is not None else (0, info.num_frames)
    stop = min(stop, info.num_frames)
    first = min(first, stop - 2)  # a one-frame window (a video's last frame) takes the frame before it
    pairs = motion_pairs(indices, mask, stop, stream.gap, first=first)
    wanted = sorted({i for p in pairs if p for i in p})
    frames, times = frames_at(path, wanted, size=short_side_size(info.width, info.height, stream.size))
    missing = set(wanted) - set(frames)
    if missing:
        raise DataError(f"{path}: frames {sorted(missing)[:3]} could not be decoded for optical flow")
    fps = info.avg_fps or 25.0
    out = np.zeros((len(pairs), stream.dim), dtype=np.float32)
    for row, pair in enumerate(pairs):
        if pair is not None:
            a, b = pair
            dt = times[b] - times[a] if times[b] > times[a] else (b - a) / fps
            out[row] = summarise_flow(optical_flow(frames[a], frames[b], method=stream.method), dt, stream.grid)
    timestamps = np.array([times.get(int(i), 0.0) if m else 0.0 for i, m in zip(indices, mask)])
    return out, indices, mask, timestamps


def _motion_job(path: str, num_frames: int, short: str, stream: MotionFeatures):
    """Worker: one video's motion rows, or the error message (never raises)."""
    from vidcap.errors import VidcapError

    try:
        return motion_features(path, num_frames=num_frames, short=short, stream=stream), None
    except VidcapError as exc:
        return None, str(exc)


def extract_motion_many(inputs, out_dir, *, num_frames: int, short: str = "pad",
                        stream: MotionFeatures = MotionFeatures(), workers: int | None = None,
                        progress=None):
    """Motion features of every video in ``inputs``, stored like a backbone's in the feature
    store ``out_dir`` (``<name>.npy (T, dim)`` + record; the stream's parameters and the
    OpenCV version are in the record's key, so a changed parameter computes them again).

    Returns an :class:`~vidcap.results.ExtractSummary`; failed videos are recorded.
    """
    import time
    from concurrent.futures import as_completed

    import cv2

    from vidcap.features.store import FeatureStore, Params, remove_stale_temps
    from vidcap.io.files import find_videos
    from vidcap.parallel import check_main_guard, process_pool
    from vidcap.progress import report
    from vidcap.results import ExtractSummary

    started = time.perf_counter()
    videos = find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {inputs!r}")
    workers = max(1, (os.cpu_count() or 2) - 1) if workers is None else int(workers)
    if workers and len(videos) > 1:
        check_main_guard()  # before anything is written
    store = FeatureStore(out_dir)
    remove_stale_temps(store.root)
    params = Params(stream.name, f"opencv-{cv2.__version__}", int(num_frames), None, short)
    names = store.assign_names(videos)
    summary = ExtractSummary(out_dir=str(store.root))
    todo = []
    for video, name in zip(videos, names):
        if video.is_file() and store.is_current(name, video, params):
            summary.records.append(store.read_record(name))
            summary.skipped += 1
        else:
            todo.append((video, name))
    report(progress, "motion", summary.skipped, len(videos))

    def finish(video, name, result, error):
        if error is not None:
            record = store.save_failure(name, video, params, error)
        else:
            feats, indices, mask, timestamps = result
            record = store.save(name, video, params, feats, timestamps=timestamps, indices=indices, mask=mask,
                                extra={"flow": stream.to_dict()})
        summary.records.append(record)
        report(progress, "motion", len(summary.records), len(videos), info={"failed": len(summary.failed)})

    try:
        if workers == 0 or len(todo) <= 1:
            for video, name in todo:
                finish(video, name, *_motion_job(str(video), num_frames, short, stream))
        else:
            with process_pool(workers) as pool:
                jobs = {pool.submit(_motion_job, str(v), num_frames, short, stream): (v, n) for v, n in todo}
                for job in as_completed(jobs):
                    finish(*jobs[job], *job.result())
    finally:
        summary.seconds = time.perf_counter() - started
        store.write_manifest()
    return summary
