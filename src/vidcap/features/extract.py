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
from vidcap.features.backbones import (
    MIN_CHECK_COSINE,
    Backbone,
    auto_precision,
    build_model,
    calibration_frames,
    check_precision,
    get_backbone,
)
from vidcap.io import FITS, center_crop, long_side_size, pad_square, sample_frames, short_side_size
from vidcap.results import Features
from vidcap.runtime import (cpu_flags, cuda_available, device, export_onnx, int8_reduce_range, onnx_session,
                            quantize_onnx)

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")


def resolve_precision(name: str, precision: str) -> str:
    """``precision`` with ``"auto"`` decided for backbone ``name`` on this machine."""
    if check_precision(precision) == "auto":
        return auto_precision(name, cpu_flags(), gpu=cuda_available())
    return precision


def resolve_backend(backend: str, precision: str = "fp32") -> str:
    """The backend that runs ``precision``: int8 is an ONNX Runtime model, bf16 torch's
    oneDNN (or CUDA) autocast; fp32 runs in torch on a GPU, ONNX Runtime on a CPU."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    needs = {"int8": "onnx", "bf16": "torch"}.get(precision)
    if needs is not None:
        if backend not in ("auto", needs):
            raise ConfigError(f"precision {precision!r} runs with backend {needs!r}, not {backend!r}")
        return needs
    if backend == "auto":
        return "torch" if cuda_available() else "onnx"
    return backend


class Engine:
    """A backbone ready to run: ``engine(frames (B, H, W, 3) uint8) -> (B, D) float32``.

    ``precision``: ``"fp32"``; ``"int8"`` (ONNX Runtime, statically quantized once and
    checked against fp32); ``"bf16"`` (torch autocast); ``"auto"``: what was measured
    faster for this backbone on a CPU like this one, within tolerance
    (:func:`vidcap.features.backbones.auto_precision`). ``self.precision`` is the one
    that runs -- it keys the feature store.
    """

    def __init__(self, backbone: Backbone, *, backend: str = "auto", pretrained: bool = True, batch_size: int = 32,
                 precision: str = "fp32"):
        self.backbone = backbone
        self.requested = check_precision(precision)
        self.precision = resolve_precision(backbone.name, precision)
        self.backend = resolve_backend(backend, self.precision)
        self.pretrained = pretrained
        self.batch_size = batch_size
        self.cosine = None  # int8: lowest per-frame cosine against fp32 on held-out photos
        self._lock = threading.Lock()
        if self.backend == "onnx":
            path = onnx_model(backbone, pretrained=pretrained)
            if self.precision == "int8":
                int8_path, self.cosine = int8_model(backbone, pretrained=pretrained)
                if self.cosine >= MIN_CHECK_COSINE:
                    path = int8_path
                elif self.requested == "auto":
                    log.warning("%s in int8 is too far from fp32 (cosine %.4f < %s); running fp32",
                                backbone.name, self.cosine, MIN_CHECK_COSINE)
                    self.precision = "fp32"
                else:
                    path = int8_path
                    log.warning("%s in int8: features differ from fp32 (lowest cosine %.4f on held-out photos)",
                                backbone.name, self.cosine)
            self._session = onnx_session(str(path))
        else:
            self._device = device()
            self._model = build_model(backbone, pretrained=pretrained).to(self._device)
            if self._device.type == "cuda" and self.precision == "fp32":
                self._model = self._model.half()

    @property
    def weights_key(self) -> str:
        """What the feature store keys the weights by: their hash ("random" for untrained),
        with the int8 recipe when the quantized model runs."""
        key = self.backbone.weights_hash() if self.pretrained else "random"
        return f"{key}+int8-{INT8_TAG}" if self.precision == "int8" else key

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

        bf16 = torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with self._lock, torch.inference_mode(), bf16:
            x = torch.from_numpy(batch).to(self._device)
            return self._model(x).float().cpu().numpy()

    def decode_size(self, width: int, height: int, fit: str = "crop") -> tuple[int, int]:
        """(width, height) to decode a video at before :meth:`preprocess` (:func:`fit_size`)."""
        return fit_size(width, height, resize=self.backbone.resize, crop=self.backbone.crop, fit=fit)

    def preprocess(self, frames: np.ndarray, fit: str = "crop") -> np.ndarray:
        """Frames decoded at :meth:`decode_size` made the backbone's square input (:func:`fit_frames`)."""
        return fit_frames(frames, self.backbone.crop, fit)


def onnx_model(backbone: Backbone, *, pretrained: bool = True):
    """The backbone exported to ONNX (once; the file name carries the weights' hash)."""

    def example():
        import torch

        return torch.zeros(2, backbone.crop, backbone.crop, 3, dtype=torch.uint8)

    tag = backbone.weights_hash() if pretrained else "random"
    return export_onnx(f"{backbone.name}-{tag}", lambda: build_model(backbone, pretrained=pretrained), example,
                       input_name="frames", output_name="features")


# How int8 models are made; the tag names the recipe in the model's file name and in the
# feature store's key. Activation ranges at the 99.999th percentile of the calibration
# values (not min/max: one outlier no longer stretches a layer's 256 steps) and the fully
# connected layers (1 % of VGG16's work) left in fp32. On VGG16 (random weights, 48 frames
# of the three sample clips, AVX-512 VNNI) that took the lowest cosine to fp32 from 0.9987
# to 0.9992 at the same speed (docs/features.md).
INT8_RECIPE = {"percentile": 99.999, "keep_fp32": ("Gemm", "MatMul")}
INT8_TAG = "p99999-fc32"


def int8_model(backbone: Backbone, *, pretrained: bool = True):
    """``(path, cosine)``: the backbone's ONNX model statically quantized to int8 (once,
    calibrated on :func:`calibration_frames`), and the lowest per-frame cosine between its
    features and fp32's on held-out photo crops (measured once, kept beside the model)."""
    from vidcap.io.files import read_json, write_json

    source = onnx_model(backbone, pretrained=pretrained)

    def batches():
        frames = calibration_frames(backbone.crop, count=32, seed=0)
        return [frames[i : i + 8] for i in range(0, len(frames), 8)]

    reduce_range = int8_reduce_range()  # 7-bit weights on CPUs without VNNI (see there)
    path = quantize_onnx(source, f"{source.stem}-int8-{INT8_TAG}{'-r7' if reduce_range else ''}", batches,
                         input_name="frames", reduce_range=reduce_range, **INT8_RECIPE)
    check = path.with_suffix(".check.json")
    if check.is_file():
        return path, float(read_json(check, "int8 check")["min_cosine"])
    # new random crops (not the calibration's), at the photos' own brightness, as video frames come
    held_out = calibration_frames(backbone.crop, count=28, seed=1, brightness=False)[12:]
    a = onnx_session(str(source)).run(None, {"frames": held_out})[0]
    b = onnx_session(str(path)).run(None, {"frames": held_out})[0]
    cosine = float(min_cosine(a, b))
    write_json(check, {"min_cosine": cosine, "frames": len(held_out), "source": source.name})
    return path, cosine


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest row-wise cosine similarity of two ``(N, D)`` arrays."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.min(np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)))


@lru_cache(maxsize=8)
def get_engine(name: str = "mobilenet_v2", backend: str = "auto", pretrained: bool = True,
               precision: str = "fp32") -> Engine:
    """A shared, ready engine for a backbone (built once per process)."""
    return Engine(get_backbone(name), backend=backend, pretrained=pretrained, precision=precision)


def check_fit(fit: str) -> str:
    if fit not in FITS:
        raise ConfigError(f"fit must be one of {FITS}, got {fit!r}")
    return fit


def fit_size(width: int, height: int, *, resize: int, crop: int, fit: str = "crop") -> tuple[int, int]:
    """(width, height) to decode a ``width x height`` video at before :func:`fit_frames`:
    the short side ``resize`` (``fit="crop"``) or the long side ``crop`` (``"pad"``)."""
    if check_fit(fit) == "crop":
        return short_side_size(width, height, resize)
    return long_side_size(width, height, crop)


def fit_frames(frames: np.ndarray, crop: int, fit: str = "crop") -> np.ndarray:
    """``(..., H, W, 3)`` frames decoded at :func:`fit_size` as ``crop x crop`` squares: the centre
    (``fit="crop"``) or the whole frame on a black square (``"pad"``)."""
    if check_fit(fit) == "crop":
        return np.ascontiguousarray(center_crop(frames, crop))
    return pad_square(frames, crop)


def decode_fitted(path, num_frames: int | None, *, fps: float | None = None, short: str = "pad",
                  seek: str = "exact", resize: int, crop: int, fit: str = "crop"):
    """Decode the sampled frames of ``path`` as a backbone's ``crop x crop`` input.

    ``fit="crop"``: the short side scaled to ``resize``, then the centre square (the
    ImageNet evaluation transform; a 4:3 frame loses a sixth of its width on each side
    and a sixteenth of its height at top and bottom, a 16:9 one a quarter of its width).
    ``fit="pad"``: the long side scaled to ``crop`` and the whole frame centred on a black
    square, so nothing near the edges is lost. ``seek``: see :func:`vidcap.io.sample_frames`.

    Returns the :class:`~vidcap.io.Clip` with frames ``(T, crop, crop, 3) uint8``.
    """
    sides = {"short_side": resize} if check_fit(fit) == "crop" else {"long_side": crop}
    clip = sample_frames(path, num_frames, fps=fps, short=short, seek=seek, **sides)
    clip.frames = fit_frames(clip.frames, crop, fit)
    return clip


def load_frames(path, engine: Engine, *, num_frames: int | None = 80, fps: float | None = None, short: str = "pad",
                seek: str = "exact", fit: str = "crop"):
    """Decode the sampled frames of ``path`` at the engine's backbone's input size
    (:func:`decode_fitted`)."""
    return decode_fitted(path, num_frames, fps=fps, short=short, seek=seek, resize=engine.backbone.resize,
                         crop=engine.backbone.crop, fit=fit)


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
    precision: str = "fp32",
    seek: str = "exact",
    fit: str = "crop",
) -> Features:
    """Features ``(T, D) float32`` and timestamps of one video's sampled frames.

    ``precision``: ``fp32``, ``bf16``, ``int8`` or ``auto`` (see :class:`Engine`);
    ``seek``: ``exact`` or ``fast`` (see :func:`vidcap.io.sample_frames`); ``fit``:
    ``crop`` or ``pad`` (see :func:`decode_fitted`)."""
    engine = get_engine(backbone, backend, True, precision)
    clip = load_frames(path, engine, num_frames=num_frames, fps=fps, short=short, seek=seek, fit=fit)
    return features_of(clip, engine)
