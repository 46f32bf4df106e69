"""Frame features for one video: decode the sampled frames, run the backbone.

:func:`extract` has no side effects beyond a one-time cache of the exported ONNX
model; storing features and handling many videos live in ``store`` / ``pipeline``.
"""
from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np

from vidcap.errors import ConfigError
from vidcap.features.backbones import Backbone, build_model, get_backbone
from vidcap.io import center_crop, sample_frames
from vidcap.results import Features
from vidcap.runtime import cuda_available, device, export_onnx, onnx_session

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "torch" if cuda_available() else "onnx"
    return backend


class Engine:
    """A backbone ready to run: ``engine(frames (B, H, W, 3) uint8) -> (B, D) float32``."""

    def __init__(self, backbone: Backbone, *, backend: str = "auto", pretrained: bool = True, batch_size: int = 32):
        self.backbone = backbone
        self.backend = resolve_backend(backend)
        self.pretrained = pretrained
        self.batch_size = batch_size
        self._lock = threading.Lock()
        if self.backend == "onnx":
            self._session = onnx_session(str(onnx_model(backbone, pretrained=pretrained)))
        else:
            self._device = device()
            self._model = build_model(backbone, pretrained=pretrained).to(self._device)
            if self._device.type == "cuda":
                self._model = self._model.half()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f"frames must be (B, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
        out = np.empty((len(frames), self.backbone.dim), dtype=np.float32)
        for start in range(0, len(frames), self.batch_size):
            batch = np.ascontiguousarray(frames[start : start + self.batch_size])
            out[start : start + len(batch)] = self._run(batch)
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self.backend == "onnx":
            return self._session.run(None, {"frames": batch})[0]
        import torch

        with self._lock, torch.inference_mode():
            x = torch.from_numpy(batch).to(self._device)
            return self._model(x).float().cpu().numpy()

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """Centre-crop frames already resized to the backbone's short side."""
        return np.ascontiguousarray(center_crop(frames, self.backbone.crop))


def onnx_model(backbone: Backbone, *, pretrained: bool = True):
    """The backbone exported to ONNX (once; the file name carries the weights' hash)."""

    def example():
        import torch

        return torch.zeros(2, backbone.crop, backbone.crop, 3, dtype=torch.uint8)

    tag = backbone.weights_hash() if pretrained else "random"
    return export_onnx(f"{backbone.name}-{tag}", lambda: build_model(backbone, pretrained=pretrained), example,
                       input_name="frames", output_name="features")


@lru_cache(maxsize=8)
def get_engine(name: str = "mobilenet_v2", backend: str = "auto", pretrained: bool = True) -> Engine:
    """A shared, ready engine for a backbone (built once per process)."""
    return Engine(get_backbone(name), backend=backend, pretrained=pretrained)


def load_frames(path, engine: Engine, *, num_frames: int | None = 80, fps: float | None = None, short: str = "pad"):
    """Decode the sampled frames of ``path`` at the backbone's input size.

    Returns the :class:`~vidcap.io.Clip` with frames ``(T, crop, crop, 3) uint8``.
    """
    clip = sample_frames(path, num_frames, fps=fps, short=short, short_side=engine.backbone.resize)
    clip.frames = engine.preprocess(clip.frames)
    return clip


def features_of(clip, engine: Engine) -> Features:
    """Run the backbone over a decoded clip; padded rows stay zero."""
    feats = np.zeros((len(clip.frames), engine.backbone.dim), dtype=np.float32)
    if clip.mask.any():
        feats[clip.mask] = engine(clip.frames[clip.mask])
    return Features(feats, clip.timestamps, clip.indices, clip.mask, engine.backbone.name, clip.info.path)


def extract(
    path,
    *,
    backbone: str = "mobilenet_v2",
    num_frames: int | None = 80,
    fps: float | None = None,
    short: str = "pad",
    backend: str = "auto",
) -> Features:
    """Features ``(T, D) float32`` and timestamps of one video's sampled frames."""
    engine = get_engine(backbone, backend)
    return features_of(load_frames(path, engine, num_frames=num_frames, fps=fps, short=short), engine)
