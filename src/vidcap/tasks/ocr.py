"""On-screen text: what is written in each shot of a video, read on its middle frame.

The reader is RapidOCR's PP-OCRv4 (text detection, orientation, recognition; ONNX models
that ship in the ``rapidocr-onnxruntime`` wheel, run by ONNX Runtime on the CPU). One
keyframe per shot -- reading a frame takes seconds -- so text that is on screen for only
part of a shot may be missed. Lines are kept when the recogniser is at least
``min_score`` sure of them, in reading order (top to bottom, then left to right).
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from vidcap.errors import ConfigError, require
from vidcap.progress import Callback, report
from vidcap.results import OcrResult, ShotList, TextLine

log = logging.getLogger(__name__)

OCR_PACKAGE = ('"vidcap[ocr]" && pip install --no-deps rapidocr-onnxruntime==1.4.4 (with its own dependencies it '
               "would replace vidcap's opencv-python-headless by opencv-python)")
MIN_SCORE = 0.5


@lru_cache(maxsize=1)
def load_reader():
    """RapidOCR with its bundled models, built once per process."""
    module = require("rapidocr_onnxruntime", OCR_PACKAGE)
    return module.RapidOCR()


def read_text(rgb: np.ndarray, *, min_score: float = MIN_SCORE) -> list[tuple[list[list[float]], str, float]]:
    """The text lines on one frame ``(H, W, 3) uint8`` RGB: ``[(box (4 corners), text, score)]``
    in reading order, those read with at least ``min_score`` confidence."""
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ConfigError(f"read_text needs an (H, W, 3) uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
    found, _ = load_reader()(np.ascontiguousarray(rgb[..., ::-1]))  # RapidOCR reads OpenCV's BGR order
    lines = [([[float(x), float(y)] for x, y in box], str(text).strip(), float(score))
             for box, text, score in (found or []) if float(score) >= min_score and str(text).strip()]
    # reading order: by line (the top of the box, in steps of half a text height), then left to right
    height = np.median([max(p[1] for p in b) - min(p[1] for p in b) for b, _, _ in lines]) if lines else 1.0
    return sorted(lines, key=lambda x: (round(min(p[1] for p in x[0]) / max(height / 2, 1.0)),
                                        min(p[0] for p in x[0])))


def shot_text(shots: ShotList, frames: dict, times: dict, *, min_score: float = MIN_SCORE,
              progress: Callback | None = None) -> list[TextLine]:
    """The lines read on each shot's middle frame (``frames``/``times``: decoded keyframes by number)."""
    from vidcap.features.shots import keyframes

    out: list[TextLine] = []
    for n, shot in enumerate(shots.shots):
        (i,) = keyframes(shot, 1)
        if i in frames:
            for box, text, score in read_text(frames[i], min_score=min_score):
                out.append(TextLine(shot.start, shot.end, round(times[i], 3), text, score, box))
        report(progress, "ocr", n + 1, len(shots.shots), unit="shot")
    return out


def ocr(video, *, min_score: float = MIN_SCORE, detector: str = "adaptive",
        progress: Callback | None = None) -> OcrResult:
    """The on-screen text of one video: each shot's middle frame read (see the module docstring)."""
    from vidcap.features.shots import detect_shots, keyframes
    from vidcap.io import frames_at

    if not 0.0 <= min_score <= 1.0:
        raise ConfigError(f"min_score must be between 0 and 1, got {min_score!r}")
    load_reader()  # a missing package is said before the video is decoded
    shots = detect_shots(video, detector=detector, progress=progress)
    frames, times = frames_at(video, [keyframes(s, 1)[0] for s in shots.shots])
    lines = shot_text(shots, frames, times, min_score=min_score, progress=progress)
    return OcrResult(str(video), len(shots.shots), lines)
