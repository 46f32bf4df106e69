"""Video classifiers over per-frame CNN features ``(B, T, D)``.

* :class:`PooledClassifier` -- mean or max over time, then a linear layer (seed 004
  §3.1.2). Pooling forgets frame order: a video and its time-reversed copy get the
  same scores, so it cannot tell "moves left" from "moves right" when both cover
  the same positions.
* :class:`LSTMClassifier` -- an LSTM reads the frames in order; its last hidden
  state feeds a linear layer (seed 003; seed 004 §3.1.3).

Both follow ``forward(feats, mask=None, targets=None) -> (logits, loss)``; rows
where ``mask`` is False (padding of short videos) are ignored.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError

POOLS = ("mean", "max")


@dataclass
class FeatureClassifierConfig:
    feature_dim: int
    num_classes: int
    hidden: int = 256  # LSTM hidden size (unused by the pooled model)
    pool: str = "mean"  # pooled model: mean | max
    dropout: float = 0.3

    def __post_init__(self):
        if self.pool not in POOLS:
            raise ConfigError(f"pool must be one of {POOLS}, got {self.pool!r}")
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")

    def to_dict(self) -> dict:
        return asdict(self)


def _full_mask(feats: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return torch.ones(feats.shape[:2], dtype=torch.bool, device=feats.device)
    return mask.bool()


def temporal_pool(feats: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """Pool ``(B, T, D)`` over valid time steps to ``(B, D)`` (mean or max)."""
    m = _full_mask(feats, mask).unsqueeze(-1)  # (B, T, 1)
    if how == "mean":
        return (feats * m).sum(1) / m.sum(1).clamp(min=1)
    return feats.masked_fill(~m, float("-inf")).amax(1).nan_to_num(neginf=0.0)


def _loss(logits: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor | None:
    return None if targets is None else F.cross_entropy(logits, targets)


class PooledClassifier(nn.Module):
    """features ``(B, T, D)`` -> pool over T -> dropout -> linear -> ``(B, C)`` logits."""

    kind = "pool"

    def __init__(self, config: FeatureClassifierConfig):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(config.feature_dim)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def embed(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The video representation ``(B, D)`` the linear layer sees."""
        return temporal_pool(self.norm(feats), mask, self.config.pool)

    def forward(self, feats, mask=None, targets=None):
        logits = self.head(self.drop(self.embed(feats, mask)))  # (B, C)
        return logits, _loss(logits, targets)


class LSTMClassifier(nn.Module):
    """features ``(B, T, D)`` -> LSTM -> hidden state at the last valid step -> linear."""

    kind = "lstm"

    def __init__(self, config: FeatureClassifierConfig):
        super().__init__()
        self.config = config
        self.norm = nn.LayerNorm(config.feature_dim)
        self.proj = nn.Linear(config.feature_dim, config.hidden)
        self.lstm = nn.LSTM(config.hidden, config.hidden, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.num_classes)

    def embed(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The last valid hidden state ``(B, H)``."""
        m = _full_mask(feats, mask)
        x = self.drop(torch.relu(self.proj(self.norm(feats))))  # (B, T, H)
        lengths = m.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (1, B, H)
        return h[-1]

    def forward(self, feats, mask=None, targets=None):
        logits = self.head(self.drop(self.embed(feats, mask)))
        return logits, _loss(logits, targets)


FEATURE_MODELS = {"pool": PooledClassifier, "lstm": LSTMClassifier}
