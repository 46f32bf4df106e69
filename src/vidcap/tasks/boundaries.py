"""Learned event boundaries at work: the checkpoint, the training targets, boundaries of a video.

A boundary model (:mod:`vidcap.models.boundary`) reads a backbone's features at
``rate`` frames a second (4, as COOT's and the moments'); a video's boundaries are the peaks
of its per-frame probabilities (:func:`vidcap.models.boundary.peaks`), in seconds. They make
``vidcap describe``'s pieces (``--boundaries RUN``): one piece per predicted event.

The checkpoint is a plain dict (``torch.load(weights_only=True)``): ``format``,
``model_args`` (:class:`~vidcap.models.boundary.BoundaryConfig`), ``model``, ``model_id``,
``backbone``, ``rate``, ``threshold``, ``min_gap`` (seconds), ``metrics``, ``train``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidcap.errors import DataError
from vidcap.io.checkpoints import load_checkpoint, resolve_run, restore_model, state_hash
from vidcap.io.files import plain
from vidcap.models.boundary import BoundaryConfig, BoundaryNet, peaks

MODEL_FORMAT = "vidcap.boundary"
MODEL_FORMAT_VERSION = 1
THRESHOLD = 0.5
MIN_GAP = 1.0  # seconds between two boundaries


def boundary_targets(times: np.ndarray, video) -> np.ndarray:
    """``(N,)`` 0/1: the first frame (of ``times``, seconds) at or after each event's start but the first
    (``video``: an :class:`~vidcap.data.events.EventVideo`)."""
    target = np.zeros(len(times), np.float32)
    for e in video.events[1:]:
        i = int(np.searchsorted(times, e.start - 1e-6))
        if 0 < i < len(times):
            target[i] = 1.0
    return target


def padded(feats: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str]):
    """``(features (V, T, D), mask (V, T))`` tensors of ``names``, padded to the longest."""
    T = max(len(feats[n][0]) for n in names)
    D = feats[names[0]][0].shape[1]
    x, m = np.zeros((len(names), T, D), np.float32), np.zeros((len(names), T), bool)
    for i, n in enumerate(names):
        f = feats[n][0]
        x[i, : len(f)], m[i, : len(f)] = f, True
    return torch.from_numpy(x), torch.from_numpy(m)


def make_checkpoint(model: BoundaryNet, *, backbone: str, rate: float, threshold: float = THRESHOLD,
                    min_gap: float = MIN_GAP, metrics: dict | None = None, train: dict | None = None) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "model_args": model.config.to_dict(),
            "model": state, "model_id": state_hash(state), "backbone": backbone, "rate": float(rate),
            "threshold": float(threshold), "min_gap": float(min_gap), "metrics": plain(metrics or {}),
            "train": plain(train or {})}


def predict(net: BoundaryNet, feats: np.ndarray, times: np.ndarray, *, rate: float, threshold: float = THRESHOLD,
            min_gap: float = MIN_GAP) -> list[float]:
    """Boundary times (seconds) of one video's features ``(N, D)`` at ``times (N,)``."""
    if not len(feats):
        return []
    with torch.inference_mode():
        x = torch.as_tensor(np.asarray(feats, np.float32))[None]
        logits, _ = net(x, torch.ones(x.shape[:2], dtype=torch.bool))
    prob = torch.sigmoid(logits[0]).numpy()
    return [round(float(times[i]), 3) for i in peaks(prob, threshold, max(1, round(min_gap * rate)))]


class BoundaryModel:
    """A loaded boundary checkpoint: :meth:`boundaries` of a video, in seconds."""

    def __init__(self, ckpt: dict, path="checkpoint"):
        self.path = str(path)
        self.net = restore_model(lambda args: BoundaryNet(BoundaryConfig(**args)), ckpt, path)
        self.model_id: str = ckpt["model_id"]
        self.backbone: str = ckpt["backbone"]
        self.rate = float(ckpt["rate"])
        self.threshold = float(ckpt.get("threshold", THRESHOLD))
        self.min_gap = float(ckpt.get("min_gap", MIN_GAP))

    @classmethod
    def load(cls, path) -> "BoundaryModel":
        p = resolve_run(path, what="boundary model")
        return cls(load_checkpoint(p, format=MODEL_FORMAT, version=MODEL_FORMAT_VERSION, what="boundary",
                                   required=("model_args", "model", "model_id", "backbone", "rate")), p)

    def boundaries(self, video) -> list[float]:
        """Where ``video``'s events change (seconds, in order; none for a video of one event)."""
        from vidcap.features.extract import extract

        f = extract(Path(video), backbone=self.backbone, num_frames=None, fps=self.rate)
        if not f.mask.any():
            raise DataError(f"{video}: no frame could be decoded")
        return predict(self.net, f.features[f.mask], f.timestamps[f.mask], rate=self.rate, threshold=self.threshold,
                       min_gap=self.min_gap)
