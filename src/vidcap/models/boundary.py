"""A learned event-boundary head: where in a video one event ends and the next begins.

Per-frame features at a fixed rate ``(B, T, D)`` -> a small temporal CNN -> one logit per
frame: the frame opens a new event (the first frame of every event but the first). Trained
with binary cross-entropy, the few boundary frames weighted up (``pos_weight``). At
inference :func:`peaks` turns the probabilities into boundary frames: local maxima above
``threshold``, at least ``min_gap`` frames apart (the higher first).

It sees what shot detection cannot: an event that continues the same scene (same
background, a new action) changes the features' motion and objects, not the whole picture.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError


@dataclass
class BoundaryConfig:
    feature_dim: int = 1280
    hidden: int = 128
    kernel: int = 5  # frames each convolution sees
    layers: int = 3
    dropout: float = 0.1
    pos_weight: float = 10.0  # weight of a boundary frame in the loss (about 1 frame in 20 is one)

    def __post_init__(self):
        for k in ("feature_dim", "hidden", "layers"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k}={v!r} must be a positive integer")
        if not isinstance(self.kernel, int) or self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"kernel={self.kernel!r} must be an odd positive integer")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")
        if not self.pos_weight > 0:
            raise ConfigError(f"pos_weight={self.pos_weight} must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


class BoundaryNet(nn.Module):
    def __init__(self, config: BoundaryConfig):
        super().__init__()
        self.config = c = config
        self.inp = nn.Sequential(nn.LayerNorm(c.feature_dim), nn.Linear(c.feature_dim, c.hidden))
        self.convs = nn.ModuleList(nn.Conv1d(c.hidden, c.hidden, c.kernel, padding=c.kernel // 2)
                                   for _ in range(c.layers))
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(2 * c.hidden, 1)

    def forward(self, feats, mask, targets=None):
        """``feats (B, T, D)``, ``mask (B, T)`` bool, ``targets (B, T)`` 0/1 -> ``(logits (B, T), loss)``."""
        if feats.dim() != 3 or feats.shape[-1] != self.config.feature_dim:
            raise ConfigError(f"features must be (B, T, {self.config.feature_dim}), got {tuple(feats.shape)}")
        x = self.inp(feats) * mask[..., None]  # (B, T, H)
        # each frame also sees its change from the previous one (a cut or a new action starts there)
        delta = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # (B, T, H)
        h = x.transpose(1, 2)  # (B, H, T)
        for conv in self.convs:
            h = h + self.drop(F.gelu(conv(h)))
        logits = self.out(torch.cat([h.transpose(1, 2), delta], dim=-1)).squeeze(-1)  # (B, T)
        logits = logits.masked_fill(~mask, -1e4)
        loss = None
        if targets is not None:
            weight = mask.float() * (1 + (self.config.pos_weight - 1) * targets)
            loss = (F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="none") * weight).sum()
            loss = loss / weight.sum().clamp(min=1)
        return logits, loss


def peaks(prob: np.ndarray, threshold: float = 0.5, min_gap: int = 4) -> list[int]:
    """Frames of ``prob (T,)`` that are local maxima at least ``threshold``, kept highest first while
    at least ``min_gap`` frames from every kept one; returned in time order."""
    prob = np.asarray(prob, dtype=np.float64)
    if not 0 < threshold < 1:
        raise ConfigError(f"threshold={threshold} must be in (0, 1)")
    left = np.concatenate([[-np.inf], prob[:-1]])
    right = np.concatenate([prob[1:], [-np.inf]])
    cand = np.flatnonzero((prob >= threshold) & (prob >= left) & (prob > right))
    kept: list[int] = []
    for i in cand[np.argsort(-prob[cand], kind="stable")]:
        if all(abs(int(i) - k) >= min_gap for k in kept):
            kept.append(int(i))
    return sorted(kept)
