"""COOT (Ging et al., NeurIPS 2020): a cooperative hierarchical transformer for videos and paragraphs.

A video is clips (its events), a paragraph is sentences (one per event). Both sides have
the same two-level shape, with their own weights::

    video side                                text side
    frames of each clip  (B, C, F, D)          words of each sentence (B, C, W, 384)
      -> transformer + attention pool            -> transformer + attention pool
      -> clip vectors    (B, C, H)               -> sentence vectors     (B, C, H)
    every frame          (B, G, D)             every word of the paragraph (B, P, 384)
      -> transformer -> global context tokens, pooled to g (B, H)
    clips + global context -> contextual transformer -> video / paragraph vector (B, E)

Words are frozen MiniLM token states (:func:`vidcap.features.text.token_vectors`), frames a
backbone's per-frame features. The **contextual transformer** (COOT's CoT) mixes local and
global context: the clip tokens run through a self-attention layer (local context), then
attend to the global context's tokens (cross-attention: each clip sees the whole video),
are attention-pooled and concatenated with ``g`` before the output projection. With
``context=False`` (the ablation) there is no global context: the video vector is an
attention pool over the clip vectors.

Losses, in one ``embed_dim`` space of unit vectors with a learned temperature:

* alignment: symmetric InfoNCE between clips and sentences (every event of the batch),
  between videos and paragraphs, and between the two global contexts (COOT uses a
  max-margin loss at the same three places; InfoNCE is vidcap's loss everywhere);
* cross-modal cycle consistency, within each video of two or more events: sentence
  ``i``'s soft nearest clip ``c~ = sum_j softmax_j(-|s_i - c_j|^2 / tau) c_j`` maps back
  to the sentences with ``beta_k = softmax_k(-|c~ - s_k|^2 / tau)``; its soft index
  ``mu = sum_k k beta_k`` should be ``i``: loss ``(i - mu)^2``, averaged, and the same
  starting from the clips. Weighted by ``cycle_weight`` (0: off).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError
from vidcap.models.retrieval import AttentionPool, TemporalEncoder


@dataclass
class CootConfig:
    feature_dim: int = 1280  # D of the frame features (MobileNetV2 by default)
    text_dim: int = 384  # MiniLM token states
    embed_dim: int = 256  # the joint space
    hidden: int = 256  # transformer width
    heads: int = 4
    layers: int = 1  # transformer layers per encoder
    clip_frames: int = 16  # F: frames per clip
    video_frames: int = 48  # G: frames of the whole video (the global context)
    sentence_words: int = 32  # W: tokens per sentence
    paragraph_words: int = 160  # P: tokens of the whole paragraph
    max_clips: int = 16  # C: events per video (position table of the contextual transformer)
    context: bool = True  # the contextual transformer (False: the ablation)
    dropout: float = 0.1
    temperature: float = 0.05  # initial softmax temperature of the alignment losses (learned)
    cycle_temperature: float = 0.1  # tau of the cycle-consistency soft nearest neighbours

    def __post_init__(self):
        for k in ("feature_dim", "text_dim", "embed_dim", "hidden", "heads", "layers", "clip_frames", "video_frames",
                  "sentence_words", "paragraph_words", "max_clips"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{k}={v!r} must be a positive integer")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden={self.hidden} must be divisible by heads={self.heads}")
        if not isinstance(self.context, bool):
            raise ConfigError(f"context={self.context!r} must be true or false")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")
        for k in ("temperature", "cycle_temperature"):
            if not 0 < getattr(self, k) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be in (0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


class ContextTransformer(nn.Module):
    """COOT's CoT: local tokens (self-attention) attend to the global context's tokens, then pool."""

    def __init__(self, cfg: CootConfig):
        super().__init__()
        H = cfg.hidden
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_clips, H))
        nn.init.normal_(self.pos, std=0.02)
        self.local = nn.TransformerEncoderLayer(H, cfg.heads, 2 * H, cfg.dropout, activation="gelu",
                                                batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(H)
        self.cross = nn.MultiheadAttention(H, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.ff = nn.Sequential(nn.LayerNorm(H), nn.Linear(H, 2 * H), nn.GELU(), nn.Dropout(cfg.dropout),
                                nn.Linear(2 * H, H))
        self.pool = AttentionPool(H)

    def forward(self, local, local_mask, ctx, ctx_mask) -> torch.Tensor:
        # local (B, C, H), local_mask (B, C); ctx (B, G, H), ctx_mask (B, G) -> (B, H)
        x = self.local(local + self.pos[:, :local.shape[1]], src_key_padding_mask=~local_mask)  # (B, C, H)
        a, _ = self.cross(self.norm(x), ctx, ctx, key_padding_mask=~ctx_mask, need_weights=False)  # (B, C, H)
        x = x + a
        x = x + self.ff(x)
        return self.pool(x, local_mask)


def _some(mask: torch.Tensor) -> torch.Tensor:
    """``mask (..., L)`` with the first step switched on in rows that have none (they pool zeros
    instead of NaN; callers drop those rows by their own masks)."""
    mask = mask.clone()
    mask[..., 0] |= ~mask.any(-1)
    return mask


class Side(nn.Module):
    """One side of COOT: parts (clips or sentences) and the whole (video or paragraph)."""

    def __init__(self, cfg: CootConfig, in_dim: int, part_len: int, whole_len: int):
        super().__init__()
        H, E = cfg.hidden, cfg.embed_dim
        self.inp = nn.Sequential(nn.LayerNorm(in_dim), nn.Dropout(cfg.dropout), nn.Linear(in_dim, H))
        self.part = TemporalEncoder(cfg, part_len)
        self.part_out = nn.Linear(H, E)
        if cfg.context:
            self.glob = TemporalEncoder(cfg, whole_len)
            self.context = ContextTransformer(cfg)
            self.whole_out = nn.Linear(2 * H, E)
            self.glob_out = nn.Linear(H, E)
        else:
            self.pool = AttentionPool(H)
            self.whole_out = nn.Linear(H, E)
        self.with_context = cfg.context

    def forward(self, parts, parts_mask, whole, whole_mask) -> dict[str, torch.Tensor]:
        # parts (B, C, L, in), parts_mask (B, C, L); whole (B, G, in), whole_mask (B, G)
        B, C, L, _ = parts.shape
        valid = parts_mask.any(-1)  # (B, C): the events that exist
        p = self.part(self.inp(parts).reshape(B * C, L, -1), _some(parts_mask).reshape(B * C, L))
        p = p.reshape(B, C, -1)  # (B, C, H)
        out = {"parts": F.normalize(self.part_out(p), dim=-1), "valid": valid}  # (B, C, E), (B, C)
        if self.with_context:
            whole_mask = _some(whole_mask)
            tokens = self.glob.tokens(self.inp(whole), whole_mask)  # (B, G, H)
            g = self.glob.pool(tokens, whole_mask)  # (B, H)
            w = torch.cat([self.context(p, _some(valid), tokens, whole_mask), g], dim=-1)  # (B, 2H)
            out["global"] = F.normalize(self.glob_out(g), dim=-1)  # (B, E)
        else:
            w = self.pool(p, _some(valid))  # (B, H)
        out["whole"] = F.normalize(self.whole_out(w), dim=-1)  # (B, E)
        return out


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of paired rows: ``a (N, E)``, ``b (N, E)``, row i of each is a pair."""
    logits = scale * a @ b.T  # (N, N)
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def cycle_loss(x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor, tau: float) -> torch.Tensor:
    """Cycle consistency x -> y -> x within each video: ``x, y (B, C, E)`` paired by event,
    ``valid (B, C)``. Videos of one event add nothing (their cycle cannot fail)."""
    def soft_nn(q, keys):  # (B, C, E), (B, C, E) -> softmax weights (B, C, C) over the valid keys
        d = ((q[:, :, None] - keys[:, None]) ** 2).sum(-1).masked_fill(~valid[:, None, :], float("inf"))  # (B, C, C)
        return torch.softmax(-d / tau, dim=-1)

    back = soft_nn(soft_nn(x, y) @ y, x)  # (B, C, C): where each x's soft nearest y lands among the x's
    index = torch.arange(x.shape[1], device=x.device, dtype=x.dtype)
    mu = back @ index  # (B, C)
    rows = valid & (valid.sum(1, keepdim=True) > 1)
    if not rows.any():
        return x.new_zeros(())
    return ((mu - index) ** 2)[rows].mean()


class CootModel(nn.Module):
    def __init__(self, config: CootConfig):
        super().__init__()
        self.config = c = config
        self.video = Side(c, c.feature_dim, c.clip_frames, c.video_frames)
        self.text = Side(c, c.text_dim, c.sentence_words, c.paragraph_words)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.temperature)))

    def encode_video(self, clips, clip_mask, frames, frame_mask) -> dict[str, torch.Tensor]:
        """``clips (B, C, F, D)``, ``clip_mask (B, C, F)``, ``frames (B, G, D)``, ``frame_mask (B, G)`` ->
        ``parts (B, C, E)`` clip vectors, ``whole (B, E)`` video vectors, ``valid (B, C)`` (+ ``global``)."""
        if clips.dim() != 4 or clips.shape[-1] != self.config.feature_dim:
            raise ConfigError(f"clip features must be (B, C, F, {self.config.feature_dim}), got {tuple(clips.shape)}")
        return self.video(clips, clip_mask, frames, frame_mask)

    def encode_text(self, words, word_mask, para, para_mask) -> dict[str, torch.Tensor]:
        """``words (B, C, W, 384)``, ``word_mask (B, C, W)``, ``para (B, P, 384)``, ``para_mask (B, P)`` ->
        ``parts (B, C, E)`` sentence vectors, ``whole (B, E)`` paragraph vectors, ``valid`` (+ ``global``)."""
        if words.dim() != 4 or words.shape[-1] != self.config.text_dim:
            raise ConfigError(f"word vectors must be (B, C, W, {self.config.text_dim}), got {tuple(words.shape)}")
        return self.text(words, word_mask, para, para_mask)

    def forward(self, batch: dict, cycle_weight: float = 0.0) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch of videos (keys as :meth:`encode_video` and :meth:`encode_text`
        take them) and its parts."""
        v = self.encode_video(batch["clips"], batch["clip_mask"], batch["frames"], batch["frame_mask"])
        t = self.encode_text(batch["words"], batch["word_mask"], batch["para"], batch["para_mask"])
        valid = v["valid"] & t["valid"]  # (B, C)
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        parts = {"clip": info_nce(v["parts"][valid], t["parts"][valid], scale),
                 "video": info_nce(v["whole"], t["whole"], scale)}
        if self.config.context:
            parts["global"] = info_nce(v["global"], t["global"], scale)
        loss = sum(parts.values())
        if cycle_weight:
            tau = self.config.cycle_temperature
            parts["cycle"] = (cycle_loss(t["parts"], v["parts"], valid, tau)
                              + cycle_loss(v["parts"], t["parts"], valid, tau)) / 2
            loss = loss + cycle_weight * parts["cycle"]
        return loss, {k: float(x.detach()) for k, x in parts.items()}
