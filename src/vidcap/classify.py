"""Classify a video with a trained classifier: sliding windows, top-k labels, a verdict.

``classify_video(path, model, window=16, stride=8, top_k=5)`` samples the video at
the rate the model was trained at (the checkpoint's ``frame_step``: source frames
between two sampled frames), cuts the sampled frames into windows of ``window``
frames every ``stride`` frames (the last window is aligned to the end so the tail
is covered), resamples each window evenly to the model's ``num_frames`` and
returns per-window top-k labels with probabilities and timestamps, plus a
whole-video verdict (the mean of the window probabilities).

``model`` is a run folder or checkpoint from ``vidcap train classify``, a loaded
:class:`VideoClassifier`, or ``"kinetics400"`` for torchvision's Kinetics-400
R(2+1)D-18 (the seed 001 recipe's top-5 actions; needs the weights in the torch
hub cache).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from vidcap.errors import ConfigError, DataError, ModelError

log = logging.getLogger(__name__)


@dataclass
class WindowPrediction:
    """One window: frames ``[start_frame, end_frame]`` of the source, seconds ``[start, end)``."""

    index: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    labels: list[str]
    probs: list[float]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ClassificationResult:
    video: str
    model: str
    classes: list[str]
    window: int
    stride: int
    frame_step: float
    fps: float  # the source video's frame rate
    windows: list[WindowPrediction]
    label: str  # the whole-video verdict
    prob: float
    top_k: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["top_k"] = [{"label": lab, "prob": p} for lab, p in self.top_k]
        d.pop("classes")
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), indent=kwargs.pop("indent", 2), ensure_ascii=False, **kwargs)

    def window_at(self, t: float) -> WindowPrediction | None:
        """The window whose centre is nearest to time ``t`` among those covering it (else the nearest)."""
        if not self.windows:
            return None
        covering = [w for w in self.windows if w.start <= t < w.end] or self.windows
        return min(covering, key=lambda w: abs((w.start + w.end) / 2 - t))


def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Start rows of the sliding windows over ``num_frames`` sampled frames.

    Windows start every ``stride`` rows; one more window ending at the last frame
    is added when the regular ones leave a tail uncovered.
    """
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be at least 1, got window={window} stride={stride}")
    if num_frames < window:
        return []
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


class VideoClassifier:
    """A trained classifier with its classes and the sampling it was trained with."""

    def __init__(self, net, ckpt: dict, source: str):
        self.net = net.eval()
        self.source = source
        self.kind: str = ckpt["model_type"]
        self.classes: list[str] = list(ckpt["classes"])
        s = ckpt["sampling"]
        self.num_frames = int(s["num_frames"])
        self.frame_step = float(s.get("frame_step") or 1.0)
        self.clip_size = int(s.get("clip_size", 112))
        self.clip_resize = int(s.get("clip_resize", self.clip_size))
        self.flow_size = int(s.get("flow_size", 56))
        self.flow_method = s.get("flow_method", "dis")
        self.backbone = ckpt.get("backbone")
        self.feature_dim = ckpt.get("feature_dim")

    @classmethod
    def load(cls, model) -> "VideoClassifier":
        if isinstance(model, VideoClassifier):
            return model
        if str(model) in ("kinetics400", "r2plus1d_18:kinetics400"):
            from vidcap.models.r2plus1d import KineticsR2Plus1D, kinetics_categories

            net = KineticsR2Plus1D()
            ckpt = {"model_type": "r2plus1d", "classes": kinetics_categories(), "backbone": None,
                    "sampling": {"num_frames": 16, "frame_step": 1.0, "clip_size": 112, "clip_resize": 128}}
            return cls(net, ckpt, "kinetics400")
        from vidcap.train.classify import model_from_checkpoint, read_checkpoint, resolve_run

        path = resolve_run(model)
        ckpt = read_checkpoint(path)
        return cls(model_from_checkpoint(ckpt, path), ckpt, str(path))

    # -- inputs
    def _frames(self, path, rows: np.ndarray, extra: np.ndarray, short_side: int, crop: int) -> dict[int, np.ndarray]:
        from vidcap.io import center_crop, iter_frames, probe, short_side_size

        info = probe(path)
        size = short_side_size(info.width, info.height, short_side)
        wanted = set(rows.tolist()) | set(extra.tolist())
        last = max(wanted)
        out = {}
        for k, (frame, _t) in enumerate(iter_frames(path, size=size)):
            if k in wanted:
                out[k] = np.ascontiguousarray(center_crop(frame, crop))
            if k >= last:
                break
        return out

    def inputs(self, path, indices: np.ndarray, n_frames: int) -> dict[str, np.ndarray]:
        """Per sampled frame model inputs: ``feats (N, D)``, ``clips (N, S, S, 3)``, ``flow (N, 2, F, F)``."""
        out = {}
        none = np.zeros(0, dtype=np.int64)
        if self.kind in ("pool", "lstm", "two-stream"):
            from vidcap.features import get_engine

            engine = get_engine(self.backbone)
            if self.feature_dim is not None and engine.backbone.dim != int(self.feature_dim):
                raise ModelError(f"{self.source}: expects {self.feature_dim}-d features but {self.backbone} gives {engine.backbone.dim}")
            frames = self._frames(path, indices, none, engine.backbone.resize, engine.backbone.crop)
            out["feats"] = engine(np.stack([frames[int(i)] for i in indices]))
        if self.kind == "r2plus1d":
            frames = self._frames(path, indices, none, self.clip_resize, self.clip_size)
            out["clips"] = np.stack([frames[int(i)] for i in indices])
        if self.kind == "two-stream":
            from vidcap.models.two_stream import flows_from_frames, pair_indices

            pairs = pair_indices(indices, np.ones(len(indices), bool), n_frames)
            extra = np.array([i for p in pairs if p for i in p], dtype=np.int64)
            frames = self._frames(path, indices, extra, self.flow_size, self.flow_size)
            out["flow"] = flows_from_frames(frames, pairs, method=self.flow_method, shape=(self.flow_size, self.flow_size))
        return out

    @torch.no_grad()
    def probabilities(self, inputs: dict[str, np.ndarray], rows: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Class probabilities ``(W, C)`` of windows given as row indices into ``inputs``."""
        from vidcap.train.classify import _forward

        probs = []
        for b in range(0, len(rows), batch_size):
            sel = np.stack(rows[b : b + batch_size])  # (B, T)
            batch = {k: torch.from_numpy(np.ascontiguousarray(v[sel], dtype=np.uint8 if k == "clips" else np.float32))
                     for k, v in inputs.items()}
            logits, _ = _forward(self.net, batch)
            probs.append(torch.softmax(logits.float(), -1).numpy())
        return np.concatenate(probs)


def classify_video(path, model, *, window: int = 16, stride: int = 8, top_k: int = 5) -> ClassificationResult:
    """Per-window top-k labels with probabilities and timestamps, and a whole-video verdict.

    ``window`` and ``stride`` count frames sampled at the model's training rate
    (every ``frame_step`` source frames). A video with fewer sampled frames than
    ``window`` raises :class:`~vidcap.errors.DataError`.
    """
    from vidcap.io import probe

    if top_k < 1:
        raise ConfigError(f"top_k must be at least 1, got {top_k}")
    clf = VideoClassifier.load(model)
    info = probe(path)
    n = info.num_frames
    indices = np.unique(np.round(np.arange(0, n - 1 + 1e-9, clf.frame_step)).astype(np.int64))
    starts = window_starts(len(indices), window, stride)
    if not starts:
        raise DataError(
            f"{path}: too short for a window of {window} frames: it has {n} frames, {len(indices)} when sampled "
            f"every {clf.frame_step:.2f} frames as the model was trained; use a smaller --window"
        )
    inputs = clf.inputs(path, indices, n)
    pick = np.round(np.linspace(0, window - 1, clf.num_frames)).astype(np.int64)
    rows = [s + pick for s in starts]
    probs = clf.probabilities(inputs, rows)  # (W, C)
    fps = info.avg_fps or 25.0
    k = min(top_k, len(clf.classes))
    windows = []
    for w, (s, p) in enumerate(zip(starts, probs)):
        first, last = int(indices[s]), int(indices[s + window - 1])
        order = np.argsort(-p)[:k]
        windows.append(WindowPrediction(w, round(first / fps, 4), round((last + 1) / fps, 4), first, last,
                                        [clf.classes[i] for i in order], [round(float(p[i]), 5) for i in order]))
    mean = probs.mean(0)
    order = np.argsort(-mean)[:k]
    return ClassificationResult(str(path), clf.source, clf.classes, window, stride, clf.frame_step, fps, windows,
                                clf.classes[order[0]], float(mean[order[0]]),
                                [(clf.classes[i], round(float(mean[i]), 5)) for i in order])


def load_classifier(model) -> VideoClassifier:
    """A run folder / checkpoint (or ``"kinetics400"``) loaded once, to classify many videos."""
    return VideoClassifier.load(model)


__all__ = ["ClassificationResult", "VideoClassifier", "WindowPrediction", "classify_video", "load_classifier", "window_starts"]
