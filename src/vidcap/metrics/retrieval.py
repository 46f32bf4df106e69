"""Retrieval metrics: Recall@K and median / mean rank, text->video and video->text.

Scores come as one matrix ``scores (Q, V)``: row ``q`` holds caption ``q``'s score
for every video, ``owner[q]`` is the index of the video it describes. A video may
own several captions (MSVD has ~40 a video), so:

* text->video: each caption is a query; its rank is the position of its video.
* video->text: each video is a query over all captions; its rank is the position
  of its best-ranked own caption (the usual MSVD / MSR-VTT protocol).

Ranks start at 1. Ties count against the positive (a tied wrong item ranks
first), so a constant scorer gets no credit.
"""
from __future__ import annotations

import numpy as np

from vidcap.errors import ConfigError

KS = (1, 5, 10)


def _check(scores, owner) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    owner = np.asarray(owner)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ConfigError(f"scores must be a non-empty (queries, videos) matrix, got shape {scores.shape}")
    if owner.shape != (scores.shape[0],) or not np.issubdtype(owner.dtype, np.integer):
        raise ConfigError(f"owner must be {scores.shape[0]} integer video indices, got shape {owner.shape} {owner.dtype}")
    if owner.min() < 0 or owner.max() >= scores.shape[1]:
        raise ConfigError(f"owner holds a video index outside [0, {scores.shape[1]})")
    if np.isnan(scores).any():
        raise ConfigError("scores contain NaN")
    return scores, owner


def text_to_video_ranks(scores, owner) -> np.ndarray:
    """``(Q,)`` rank of each caption's own video among all videos."""
    scores, owner = _check(scores, owner)
    pos = scores[np.arange(len(owner)), owner][:, None]  # (Q, 1)
    better = (scores > pos).sum(1)
    ties = (scores == pos).sum(1) - 1  # other videos with the very same score
    return 1 + better + ties


def video_to_text_ranks(scores, owner) -> np.ndarray:
    """``(V,)`` rank of each video's best own caption among all captions.

    A video that owns no caption has no rank and is left out (the result then has
    fewer than V entries); all videos own one in a proper test set.
    """
    scores, owner = _check(scores, owner)
    cols = scores.T  # (V, Q)
    ranks = []
    for v in range(cols.shape[0]):
        own = owner == v
        if not own.any():
            continue
        row = cols[v]
        best = row[own].max()
        better = (row[~own] >= best).sum()  # a wrong caption tied with the best own one ranks above it
        ranks.append(1 + better)
    return np.asarray(ranks, dtype=np.int64)


def summarize(ranks, ks=KS) -> dict:
    """``{"R@1": %, "R@5": %, "R@10": %, "MdR": median rank, "MnR": mean rank, "n": count}``."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ConfigError("no ranks to summarise")
    out = {f"R@{k}": round(100.0 * float((ranks <= k).mean()), 2) for k in ks}
    out["MdR"] = float(np.median(ranks))
    out["MnR"] = round(float(ranks.mean()), 2)
    out["n"] = int(ranks.size)
    return out


def retrieval_metrics(scores, owner, ks=KS) -> dict:
    """Both directions: ``{"t2v": {...}, "v2t": {...}}`` (see :func:`summarize`)."""
    return {"t2v": summarize(text_to_video_ranks(scores, owner), ks),
            "v2t": summarize(video_to_text_ranks(scores, owner), ks)}


def rank_positions(scores, axis: int) -> np.ndarray:
    """1-based rank of every entry along ``axis`` (highest score = 1; ties by index)."""
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, axis=axis, kind="stable")
    ranks = np.empty_like(order)
    idx = np.arange(scores.shape[axis]) + 1
    shape = [1, 1]
    shape[axis] = -1
    np.put_along_axis(ranks, order, np.broadcast_to(idx.reshape(shape), scores.shape), axis=axis)
    return ranks


def reciprocal_rank_fusion(score_matrices, axis: int, k: float = 60.0, weights=None) -> np.ndarray:
    """Fuse several score matrices by reciprocal rank (Cormack et al. 2009) along ``axis``.

    Each entry gets ``sum_m w_m / (k + rank_m)`` where ``rank_m`` is its rank along
    ``axis`` in matrix ``m``. ``axis=1`` fuses per caption (text->video),
    ``axis=0`` per video (video->text). Entries of ``-inf`` (e.g. no full-text
    match) add nothing.
    """
    mats = [np.asarray(m, dtype=np.float64) for m in score_matrices]
    if not mats or any(m.shape != mats[0].shape for m in mats):
        raise ConfigError("reciprocal rank fusion needs one or more score matrices of the same shape")
    weights = [1.0] * len(mats) if weights is None else list(weights)
    return sum(np.where(np.isneginf(m), 0.0, w / (k + rank_positions(m, axis))) for w, m in zip(weights, mats))
