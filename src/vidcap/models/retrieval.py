"""A joint video-text embedding for text-to-video retrieval (seed 001's MIL-NCE search, seed 002's COOT).

Video side, COOT-style hierarchy: frame features ``(B, T, D)`` are cut into clips of
``clip_frames`` frames; a small temporal transformer runs inside each clip and an
attention-aware pooling turns it into one clip vector; when a video has several
clips a second (context) transformer runs over the clip vectors and another
attention pooling gives the video vector. A short video (``T <= clip_frames``) is
one clip, so the second level is skipped. Text side: frozen all-MiniLM-L6-v2
sentence vectors (384-d, :mod:`vidcap.text`) through a trained two-layer projection.
Both sides end L2-normalised in a shared ``embed_dim`` space; the score is the dot
product.

Loss: symmetric InfoNCE where every video carries several positive captions
(MIL-NCE, Miech et al. 2020): caption -> video is an ordinary softmax over the
batch's videos; video -> caption puts all the video's captions in the numerator.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError


@dataclass
class RetrievalConfig:
    feature_dim: int = 1280  # D of the frame features (MobileNetV2 by default)
    text_dim: int = 384  # MiniLM sentence vectors
    embed_dim: int = 256  # the joint space
    hidden: int = 256  # transformer width
    heads: int = 4
    layers: int = 1  # transformer layers per level
    clip_frames: int = 16  # frames per clip (COOT's lower level)
    max_clips: int = 32  # position table size of the context level
    dropout: float = 0.1
    temperature: float = 0.05  # initial softmax temperature (learned)

    def __post_init__(self):
        for k in ("feature_dim", "text_dim", "embed_dim", "hidden", "heads", "layers", "clip_frames", "max_clips"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be a positive integer")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} must be divisible by heads={self.heads}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")
        if not 0 < self.temperature < 1:
            raise ConfigError(f"temperature={self.temperature} must be in (0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


class AttentionPool(nn.Module):
    """COOT's attention-aware feature aggregation: a softmax over steps of a learned score."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B, L, H), mask (B, L) bool -> (B, H)
        logits = self.score(x).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, L)
        weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # an all-masked row pools to zeros
        return torch.einsum("bl,blh->bh", weights, x)


class TemporalEncoder(nn.Module):
    """Positions + transformer encoder + attention pooling over a masked sequence."""

    def __init__(self, cfg: RetrievalConfig, length: int):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, length, cfg.hidden))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 2 * cfg.hidden, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.pool = AttentionPool(cfg.hidden)

    def tokens(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B, L, H), mask (B, L) -> (B, L, H), the sequence before pooling
        return self.encoder(x + self.pos[:, :x.shape[1]], src_key_padding_mask=~mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x (B, L, H), mask (B, L) -> (B, H)
        return self.pool(self.tokens(x, mask), mask)


class VideoTextModel(nn.Module):
    def __init__(self, config: RetrievalConfig):
        super().__init__()
        self.config = c = config
        self.frame_in = nn.Sequential(nn.LayerNorm(c.feature_dim), nn.Dropout(c.dropout), nn.Linear(c.feature_dim, c.hidden))
        self.clip_level = TemporalEncoder(c, c.clip_frames)
        self.video_level = TemporalEncoder(c, c.max_clips)
        self.video_out = nn.Linear(c.hidden, c.embed_dim)
        self.text_proj = nn.Sequential(nn.Linear(c.text_dim, 2 * c.hidden), nn.GELU(), nn.Dropout(c.dropout),
                                       nn.Linear(2 * c.hidden, c.embed_dim))
        self.text_skip = nn.Linear(c.text_dim, c.embed_dim, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.temperature)))

    # -- video
    def encode_video(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``feats (B, T, D) float32``, ``mask (B, T) bool`` -> ``(B, embed_dim)`` unit vectors."""
        if feats.dim() != 3 or feats.shape[-1] != self.config.feature_dim:
            raise ConfigError(f"video features must be (B, T, {self.config.feature_dim}), got {tuple(feats.shape)}")
        B, T, _ = feats.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=feats.device)
        mask = mask.bool().clone()
        mask[mask.sum(1) == 0, 0] = True  # a video with no valid frame still gets a (zero-feature) vector
        x = self.frame_in(feats)  # (B, T, H)
        F_ = self.config.clip_frames
        n_clips = math.ceil(T / F_)
        if n_clips > self.config.max_clips:
            raise ConfigError(f"{T} frames make {n_clips} clips of {F_}; the model takes at most {self.config.max_clips}")
        pad = n_clips * F_ - T
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad), value=False)
        clips = self.clip_level(x.reshape(B * n_clips, F_, -1), mask.reshape(B * n_clips, F_))  # (B*C, H)
        clips = clips.reshape(B, n_clips, -1)  # (B, C, H)
        if n_clips == 1:
            v = clips[:, 0]
        else:
            v = self.video_level(clips, mask.reshape(B, n_clips, F_).any(-1))  # (B, H)
        return F.normalize(self.video_out(v), dim=-1)

    # -- text
    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """MiniLM sentence vectors ``(N, 384)`` -> ``(N, embed_dim)`` unit vectors."""
        if text.dim() != 2 or text.shape[-1] != self.config.text_dim:
            raise ConfigError(f"text vectors must be (N, {self.config.text_dim}), got {tuple(text.shape)}")
        return F.normalize(self.text_proj(text) + self.text_skip(text), dim=-1)

    # -- training
    def forward(self, feats, mask, text, text_owner):
        """Scores and the MIL-NCE loss.

        feats ``(B, T, D)``, mask ``(B, T)``; text ``(N, 384)`` captions whose
        ``text_owner (N,)`` gives the index (in the batch) of the video they describe.
        Returns ``(scores (N, B), loss)``.
        """
        v = self.encode_video(feats, mask)  # (B, E)
        t = self.encode_text(text)  # (N, E)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * t @ v.T  # (N, B)
        positive = text_owner[:, None] == torch.arange(v.shape[0], device=v.device)[None]  # (N, B)
        # caption -> video: one positive video per caption
        t2v = F.cross_entropy(logits, text_owner)
        # video -> caption: every caption of the video is a positive (MIL-NCE)
        col = logits.T  # (B, N)
        pos = col.masked_fill(~positive.T, float("-inf"))
        v2t = (torch.logsumexp(col, dim=1) - torch.logsumexp(pos, dim=1)).mean()
        return logits, (t2v + v2t) / 2
