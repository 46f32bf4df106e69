"""Face detectors with one interface: RGB frame → boxes + scores (they load their own weights).

* ``"haar"`` — OpenCV's Viola–Jones cascade, the seed's
  ``haarcascade_frontalface_default.xml`` from ``cv2.data.haarcascades``
  (opencv < 5). Fast; frontal faces only. Its score is the number of raw
  detections merged into the box (``detectMultiScale2``), not a probability.
* ``"mtcnn"`` — the three-stage MTCNN whose weights ship in the
  ``facenet-pytorch`` wheel. Slower, finds turned and small faces; its score is
  the output network's face probability.

Every detector returns :class:`FaceDetections` with ``boxes (N, 4) float32``
as ``x1, y1, x2, y2`` pixels of the input frame and ``scores (N,) float32``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vidcap.errors import ConfigError, MissingDependencyError, ModelError

log = logging.getLogger(__name__)


@dataclass
class FaceDetections:
    boxes: np.ndarray  # (N, 4) float32, x1 y1 x2 y2 in pixels
    scores: np.ndarray  # (N,) float32, detector-specific confidence

    def __len__(self) -> int:
        return len(self.boxes)

    @staticmethod
    def empty() -> "FaceDetections":
        return FaceDetections(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32))


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ConfigError(f"a face detector needs an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    return frame


DETECTORS: dict[str, Callable[..., "FaceDetector"]] = {}


def register_detector(name: str):
    """Class decorator adding a detector to :data:`DETECTORS` (names are unique)."""

    def wrap(cls):
        if name in DETECTORS:
            raise ConfigError(f"face detector {name!r} is registered twice")
        DETECTORS[name] = cls
        cls.name = name
        return cls

    return wrap


class FaceDetector:
    name = ""

    def detect(self, frame: np.ndarray) -> FaceDetections:  # pragma: no cover - interface
        """``(H, W, 3) uint8`` RGB frame → :class:`FaceDetections`."""
        raise NotImplementedError


@register_detector("haar")
class HaarDetector(FaceDetector):
    """OpenCV Haar cascade with the seed's settings (scale 1.1, 5 neighbours, 35 px).

    ``max_width``: frames wider than this are shrunk before detection (boxes are
    mapped back), which bounds the cost on large frames; None keeps full size.
    """

    def __init__(self, *, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_size: int = 35, max_width: int | None = 640):
        import cv2

        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise MissingDependencyError(
                "this OpenCV build has no Haar cascades (opencv 5 dropped them); "
                "install `opencv-python-headless<5`"
            )
        path = cascade if "/" in cascade else cv2.data.haarcascades + cascade
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise ModelError(f"OpenCV could not load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.max_width = max_width

    def detect(self, frame: np.ndarray) -> FaceDetections:
        import cv2

        grey = cv2.cvtColor(_check_frame(frame), cv2.COLOR_RGB2GRAY)
        scale = 1.0
        if self.max_width and grey.shape[1] > self.max_width:
            scale = self.max_width / grey.shape[1]
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        min_size = max(int(round(self.min_size * scale)), 20)
        rects, counts = self.cascade.detectMultiScale2(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_size, min_size), flags=cv2.CASCADE_SCALE_IMAGE,
        )
        if len(rects) == 0:
            return FaceDetections.empty()
        rects = np.asarray(rects, np.float32) / scale
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
        return FaceDetections(boxes.astype(np.float32), np.asarray(counts, np.float32).reshape(-1))


@register_detector("mtcnn")
class MTCNNDetector(FaceDetector):
    """MTCNN from facenet-pytorch's shipped P/R/O-net weights, on CPU (or ``device``).

    ``min_score``: drop faces whose O-net probability is lower; ``min_size``:
    smallest face searched for, in pixels.
    """

    def __init__(self, *, min_score: float = 0.9, min_size: int = 20, device: str = "cpu"):
        try:
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise MissingDependencyError(
                "the MTCNN detector needs facenet-pytorch's weights; install it with "
                "`pip install --no-deps facenet-pytorch==2.6.0 requests`"
            ) from exc
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_size, device=device)
        self.min_score = min_score

    def detect(self, frame: np.ndarray) -> FaceDetections:
        import torch

        frame = _check_frame(frame)
        with torch.inference_mode():
            boxes, probs = self.mtcnn.detect(frame)
        if boxes is None:
            return FaceDetections.empty()
        # facenet-pytorch returns object arrays under numpy 2: cast explicitly.
        boxes = np.asarray(boxes).astype(float).reshape(-1, 4)
        probs = np.asarray(probs).astype(float).reshape(-1)
        keep = probs >= self.min_score
        h, w = frame.shape[:2]
        boxes = boxes[keep]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return FaceDetections(boxes.astype(np.float32), probs[keep].astype(np.float32))


def get_detector(name: str = "haar", **kwargs) -> FaceDetector:
    """Build a registered face detector by name (``"haar"`` or ``"mtcnn"``)."""
    if name not in DETECTORS:
        raise ConfigError(f"unknown face detector {name!r}; choose one of {', '.join(sorted(DETECTORS))}")
    return DETECTORS[name](**kwargs)
