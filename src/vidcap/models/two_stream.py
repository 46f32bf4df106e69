"""Two-stream classifier (Simonyan & Zisserman 2014; seed 004 §3.2.2).

* Spatial (RGB) stream: per-frame CNN features ``(B, T, D)`` averaged over time,
  as seed 004 describes, then a linear layer.
* Temporal (flow) stream: dense optical flow between each sampled frame and the
  next one (:mod:`vidcap.features.flow`), x and y stacked over the T sampled frames
  into ``2T`` channels, then a small CNN.
* Late fusion: ``"avg"`` averages the two streams' class probabilities (each
  stream has its own loss, as if trained apart); ``"concat"`` joins the two
  representations and one linear layer classifies them.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError

log = logging.getLogger(__name__)

FUSIONS = ("avg", "concat")
FLOW_METHODS = ("dis", "farneback")  # see vidcap.features.flow


# ----------------------------------------------------------------------------- model
@dataclass
class TwoStreamConfig:
    feature_dim: int
    num_classes: int
    num_frames: int = 8  # flow fields stacked (the flow stream's input has 2 * num_frames channels)
    flow_size: int = 56  # square flow field side
    fusion: str = "avg"
    flow_method: str = "dis"
    width: int = 64
    dropout: float = 0.3

    def __post_init__(self):
        if self.fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.flow_method not in FLOW_METHODS:
            raise ConfigError(f"flow_method must be one of {FLOW_METHODS}, got {self.flow_method!r}")
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")

    def to_dict(self) -> dict:
        return asdict(self)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FlowStream(nn.Module):
    """stacked flow ``(B, T, 2, H, W)`` -> ``(B, 4 * width)`` motion representation."""

    def __init__(self, num_frames: int, width: int = 64):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * num_frames),
            _block(2 * num_frames, w, 2), _block(w, w, 1),
            _block(w, 2 * w, 2), _block(2 * w, 2 * w, 1),
            _block(2 * w, 4 * w, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.dim = 4 * w

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = flow.shape
        return self.body(flow.reshape(b, t * c, h, w))  # x/y of all frames stacked as channels


class TwoStreamClassifier(nn.Module):
    """RGB features + optical flow, fused late."""

    kind = "two-stream"

    def __init__(self, config: TwoStreamConfig):
        super().__init__()
        self.config = config
        self.rgb_norm = nn.LayerNorm(config.feature_dim)
        self.flow = FlowStream(config.num_frames, config.width)
        self.drop = nn.Dropout(config.dropout)
        if config.fusion == "avg":
            self.rgb_head = nn.Linear(config.feature_dim, config.num_classes)
            self.flow_head = nn.Linear(self.flow.dim, config.num_classes)
        else:
            self.head = nn.Linear(config.feature_dim + self.flow.dim, config.num_classes)

    def forward(self, feats, flow, mask=None, targets=None):
        from vidcap.models.classifier import temporal_pool

        rgb = temporal_pool(self.rgb_norm(feats), mask, "mean")  # (B, D)
        motion = self.flow(flow)  # (B, F)
        if self.config.fusion == "concat":
            logits = self.head(self.drop(torch.cat([rgb, motion], dim=1)))
            return logits, None if targets is None else F.cross_entropy(logits, targets)
        rgb_logits = self.rgb_head(self.drop(rgb))
        flow_logits = self.flow_head(self.drop(motion))
        # average of the two streams' softmax scores; its log is a valid logit vector
        probs = (rgb_logits.softmax(-1) + flow_logits.softmax(-1)) / 2
        logits = probs.clamp_min(1e-12).log()
        loss = None
        if targets is not None:
            loss = F.cross_entropy(rgb_logits, targets) + F.cross_entropy(flow_logits, targets)
        return logits, loss
