"""Shots: where a video cuts from one camera take to the next (PySceneDetect's detectors).

:func:`detect_cuts` runs a detector over frames already in memory; :func:`detect_shots`
streams a video file through it (decoded small, by the one reader in :mod:`vidcap.io`)
and returns the shots with their times. Both detectors compare consecutive frames in HSV
colour space: ``content`` cuts where the change exceeds a fixed threshold (27 of 255 by
default), ``adaptive`` where it stands out from the change of the frames around it (3x
their mean, and at least 15), which keeps fast camera moves from counting as cuts.
``benchmarks/shots.py`` measures both, and the interpolation's own flow-based test, on
videos with known cuts.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from vidcap.errors import ConfigError, require
from vidcap.progress import Callback, report
from vidcap.results import Shot, ShotList

log = logging.getLogger(__name__)

DETECTORS = ("adaptive", "content")
SCENEDETECT = "scenedetect==0.7.2 --no-deps (it asks for opencv-python, which would replace vidcap's " \
              "opencv-python-headless)"
WIDTH = 256  # frames are compared at this width (PySceneDetect's own default working size)


def _detector(name: str, threshold: float | None, min_frames: int):
    require("scenedetect", SCENEDETECT)
    from scenedetect.detectors import AdaptiveDetector, ContentDetector

    if name == "content":
        return ContentDetector(threshold=27.0 if threshold is None else float(threshold), min_scene_len=min_frames)
    if name == "adaptive":
        return AdaptiveDetector(adaptive_threshold=3.0 if threshold is None else float(threshold),
                                min_scene_len=min_frames)
    raise ConfigError(f"detector must be one of {DETECTORS}, got {name!r}")


def _check(detector: str, min_shot: float, threshold: float | None = None) -> None:
    if detector not in DETECTORS:
        raise ConfigError(f"detector must be one of {DETECTORS}, got {detector!r}")
    if not min_shot >= 0:
        raise ConfigError(f"min_shot must be a number of seconds >= 0, got {min_shot!r}")
    if threshold is not None and not threshold > 0:
        raise ConfigError(f"threshold must be a positive number, got {threshold!r}")


class CutFinder:
    """Feed frames one at a time (``(H, W, 3) uint8`` RGB); :attr:`cuts` holds the frame
    numbers that start a new shot (never 0). Call :meth:`finish` after the last frame."""

    def __init__(self, fps: float, *, detector: str = "adaptive", threshold: float | None = None,
                 min_shot: float = 0.5):
        _check(detector, min_shot, threshold)
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._det = _detector(detector, threshold, max(1, round(min_shot * self.fps)))  # says if it is missing
        from scenedetect.common import FrameTimecode

        self._timecode = FrameTimecode
        self.frames = 0
        self.cuts: list[int] = []

    def __call__(self, rgb: np.ndarray) -> None:
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # the detectors read OpenCV's channel order
        found = self._det.process_frame(self._timecode(self.frames, self.fps), bgr)
        self.cuts += [int(tc.frame_num) for tc in found]
        self.frames += 1

    def finish(self) -> list[int]:
        if self.frames:
            self.cuts += [int(tc.frame_num) for tc in self._det.post_process(self._timecode(self.frames - 1, self.fps))]
        self.cuts = sorted({c for c in self.cuts if 0 < c < self.frames})
        return self.cuts


def detect_cuts(frames: Iterable[np.ndarray], fps: float, *, detector: str = "adaptive",
                threshold: float | None = None, min_shot: float = 0.5) -> list[int]:
    """The frame numbers where a new shot starts, in ``frames`` (each ``(H, W, 3) uint8`` RGB).

    ``threshold``: the detector's own (``content``: mean HSV change, default 27;
    ``adaptive``: ratio to the neighbours' change, default 3). ``min_shot``: seconds
    a shot lasts at least.
    """
    finder = CutFinder(fps, detector=detector, threshold=threshold, min_shot=min_shot)
    for frame in frames:
        finder(frame)
    return finder.finish()


def _small(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    if w <= WIDTH:
        return rgb
    import cv2

    return cv2.resize(rgb, (WIDTH, max(2, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)


def is_cut(a: np.ndarray, b: np.ndarray, *, threshold: float = 27.0) -> bool:
    """Whether two frames (``(H, W, 3) uint8`` RGB, same size) belong to different shots:
    the ``content`` detector on the pair alone (for callers that see only two frames)."""
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
        raise ConfigError(f"is_cut needs two (H, W, 3) frames of one size, got {a.shape} and {b.shape}")
    return bool(detect_cuts([_small(a), _small(b)], 25.0, detector="content", threshold=threshold, min_shot=0))


def detect_shots(path, *, detector: str = "adaptive", threshold: float | None = None, min_shot: float = 0.5,
                 progress: Callback | None = None) -> ShotList:
    """The shots of a video file: each one's first and last frame and its times (seconds).

    Every frame is decoded (at :data:`WIDTH` pixels wide) and compared with the one
    before. A video without a cut is one shot.
    """
    from vidcap.io import iter_frames, probe

    _check(detector, min_shot, threshold)
    info = probe(path)
    w, h = info.width, info.height
    size = (WIDTH, max(2, 2 * round(h * WIDTH / w / 2))) if w > WIDTH else None
    fps = info.avg_fps or 25.0
    finder = CutFinder(fps, detector=detector, threshold=threshold, min_shot=min_shot)
    times: list[float] = []
    for frame, t in iter_frames(path, size=size):
        finder(frame)
        times.append(t)
        if len(times) % 100 == 0:
            report(progress, "shots", t, info.duration, unit="s")
    cuts = finder.finish()
    step = times[-1] - times[-2] if len(times) > 1 else 1.0 / fps
    end = times[-1] + step
    starts = [0, *cuts]
    ends = [*cuts, len(times)]
    shots = [Shot(i, round(times[a], 4), round(times[b] if b < len(times) else end, 4), a, b - 1)
             for i, (a, b) in enumerate(zip(starts, ends))]
    log.debug("%s: %d shot(s) (%s detector)", path, len(shots), detector)
    return ShotList(str(path), detector, float(fps), round(end, 4), shots)


def keyframes(shot: Shot, n: int) -> list[int]:
    """``n`` frame numbers spread evenly inside a shot (the centres of ``n`` equal parts;
    fewer when the shot is shorter); ``n=1`` is its middle frame."""
    if n < 1:
        raise ConfigError(f"keyframes per shot must be at least 1, got {n}")
    length = shot.end_frame - shot.start_frame + 1
    return sorted({shot.start_frame + int((k + 0.5) * length / n) for k in range(n)})
