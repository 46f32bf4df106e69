"""Temporal metrics: tIoU, moment retrieval R@k, proposal recall/precision, dense captioning.

A segment is ``(start, end)`` in seconds with ``start <= end``. The tIoU of two segments
is the length of their intersection over the length of their union (0 when the union is
empty). A tIoU counts as reaching a threshold ``t`` when it is ``>= t`` up to 1e-9 of float
rounding. All scores are fractions in [0, 1], not percentages.

:func:`dense_caption_scores` follows the ActivityNet Captions dense-captioning protocol
(Krishna et al., 2017), written from its description: for each tIoU threshold every
predicted segment is paired with every ground-truth event of its video that it overlaps at
that tIoU, one scoring item per pair; a prediction that reaches no event is paired with a
reference no sentence matches, so it scores about 0; the sentence metric is computed over
all items at once; and the scores are averaged over the thresholds.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from vidcap.errors import ConfigError, DataError
from vidcap.metrics.caption import score_captions

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.5, 0.7, 0.9)
EPS = 1e-9
NO_MATCH = "abc123!@#"  # the reference of an unmatched prediction: shares no word with any sentence

Scorer = Callable[[dict[str, list[str]], dict[str, str]], dict[str, float]]


def _segments(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64) if len(x) else np.zeros((0, 2))
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be (start, end) pairs of numbers in seconds") from None
    if a.ndim != 2 or a.shape[1] != 2:
        raise ConfigError(f"{name} must be (start, end) pairs in seconds, got an array of shape {a.shape}")
    if not np.isfinite(a).all():
        raise ConfigError(f"{name} holds a segment that is not finite: {a[~np.isfinite(a).all(1)][0].tolist()}")
    bad = a[:, 0] > a[:, 1]
    if bad.any():
        raise ConfigError(f"{name} holds a reversed segment {a[bad][0].tolist()}; segments are (start, end) seconds")
    return a


def tiou_matrix(pred, gt) -> np.ndarray:
    """``(N, M)`` tIoU of every segment in ``pred (N, 2)`` with every one in ``gt (M, 2)``, seconds."""
    p, g = _segments(pred, "pred"), _segments(gt, "gt")
    inter = np.minimum(p[:, None, 1], g[None, :, 1]) - np.maximum(p[:, None, 0], g[None, :, 0])  # (N, M)
    inter = np.clip(inter, 0.0, None)
    union = (p[:, 1] - p[:, 0])[:, None] + (g[:, 1] - g[:, 0])[None, :] - inter  # (N, M)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def tiou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """tIoU of two ``(start, end)`` segments in seconds."""
    return float(tiou_matrix([a], [b])[0, 0])


def _thresholds(thresholds) -> tuple[float, ...]:
    ts = tuple(float(t) for t in thresholds)
    if not ts or not all(0 < t <= 1 for t in ts):
        raise ConfigError(f"thresholds {thresholds!r} must be one or more tIoU values in (0, 1]")
    return ts


def moment_recall(ranked: list[list[tuple[float, float]]], gt: list[tuple[float, float]], *, k: int = 1,
                  thresholds=(0.5, 0.7)) -> dict[str, float]:
    """Moment retrieval: ``ranked[q]`` is query ``q``'s predicted moments, best first, and
    ``gt[q]`` its one true moment (seconds).

    Returns ``{"R@k@t": fraction of queries with a top-k moment at tIoU >= t}`` for each
    threshold, and ``"mIoU"``: the mean tIoU of the top-1 moments. A query without
    predictions misses.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k={k!r} must be a whole number >= 1")
    if not gt or len(ranked) != len(gt):
        raise ConfigError(f"there are {len(ranked)} ranked lists for {len(gt)} queries; give one list per query")
    ts = _thresholds(thresholds)
    best, top1 = np.zeros(len(gt)), np.zeros(len(gt))
    for q, (moments, truth) in enumerate(zip(ranked, gt)):
        if len(moments):
            ious = tiou_matrix(list(moments)[:k], [truth])[:, 0]  # (min(k, len),)
            best[q], top1[q] = ious.max(), ious[0]
    out = {f"R@{k}@{t:g}": float(np.mean(best >= t - EPS)) for t in ts}
    out["mIoU"] = float(top1.mean())
    return out


def proposal_recall(proposals: dict[str, list[tuple[float, float]]], gt: dict[str, list[tuple[float, float]]],
                    thresholds=THRESHOLDS) -> dict[str, float]:
    """Recall and precision of temporal proposals (seconds), as ActivityNet Captions scores them.

    At each threshold ``t``, a video's recall is the fraction of its ground-truth segments
    that some proposal reaches at tIoU >= t, its precision the fraction of its proposals
    that reach some segment; both are averaged over the ground-truth videos (a video without
    proposals scores 0). Returns ``"recall@t"``, ``"precision@t"`` and their means over the
    thresholds, ``"recall"`` and ``"precision"``.
    """
    ts = _thresholds(thresholds)
    _check_videos(proposals, gt)
    recall, precision = np.zeros((len(gt), len(ts))), np.zeros((len(gt), len(ts)))
    for v, vid in enumerate(gt):
        if not len(gt[vid]):
            raise DataError(f"the ground truth of video {vid!r} has no segments")
        props = proposals.get(vid, [])
        if not len(props):
            continue
        iou = tiou_matrix(props, gt[vid])  # (P, G)
        for i, t in enumerate(ts):
            hit = iou >= t - EPS
            recall[v, i], precision[v, i] = hit.any(0).mean(), hit.any(1).mean()
    out = {}
    for i, t in enumerate(ts):
        out[f"recall@{t:g}"], out[f"precision@{t:g}"] = float(recall[:, i].mean()), float(precision[:, i].mean())
    out["recall"], out["precision"] = float(recall.mean()), float(precision.mean())
    return out


def _check_videos(preds: dict, gt: dict) -> None:
    if not gt:
        raise DataError("the ground truth holds no videos")
    unknown = [v for v in preds if v not in gt]
    if unknown:
        raise DataError(f"{len(unknown)} predicted video(s) are not in the ground truth, e.g. {unknown[0]!r}; "
                        "check the video ids")


def meteor(refs: dict[str, list[str]], preds: dict[str, str]) -> dict[str, float]:
    """The protocol's sentence metric: corpus METEOR (PTB tokenizer; needs Java)."""
    return score_captions(refs, preds, metrics=("meteor",))


def dense_caption_scores(preds: dict[str, list[tuple[float, float, str]]], gt: dict, *, thresholds=THRESHOLDS,
                         scorer: Scorer | None = None, max_proposals: int = 1000) -> dict[str, float]:
    """Dense-captioning scores of ``preds`` ``{video: [(start, end, sentence), ...]}`` (seconds)
    against ``gt`` ``{video: EventVideo}`` in the ActivityNet Captions protocol (module docstring).

    ``scorer(refs, preds) -> {metric: value}`` scores the items corpus-wide; the default is
    :func:`meteor`. Only the first ``max_proposals`` predictions of a video count, as in the
    official evaluator. Returns ``"<metric>@t"`` for each threshold, ``"<metric>"`` the mean
    over thresholds, the proposals' ``recall@t`` / ``precision@t`` / ``recall`` / ``precision``
    (:func:`proposal_recall`) and ``"items@t"``, the number of scored pairs.
    """
    ts = _thresholds(thresholds)
    scorer = meteor if scorer is None else scorer
    _check_videos(preds, gt)
    scored = [vid for vid in gt if preds.get(vid)]
    if not scored:
        raise DataError("no video of the ground truth has a predicted caption")
    segs, sentences = {}, {}
    for vid in scored:
        items = list(preds[vid])[:max_proposals]
        for i, item in enumerate(items):
            if len(item) != 3 or not isinstance(item[2], str):
                raise DataError(f"prediction {i} of video {vid!r} must be (start, end, sentence), got {item!r}")
        segs[vid] = [(s, e) for s, e, _ in items]
        sentences[vid] = [c for _, _, c in items]
    out: dict[str, float] = {}
    sums: dict[str, float] = {}
    for t in ts:
        refs, hyps = {}, {}
        for vid in scored:
            iou = tiou_matrix(segs[vid], gt[vid].segments)  # (P, E)
            for i, row in enumerate(iou):
                matched = [gt[vid].events[j].sentence for j in np.flatnonzero(row >= t - EPS)]
                for ref in matched or [NO_MATCH]:
                    key = str(len(hyps))
                    refs[key], hyps[key] = [ref], sentences[vid][i]
        out[f"items@{t:g}"] = len(hyps)
        for name, value in scorer(refs, hyps).items():
            if isinstance(value, (int, float)):
                out[f"{name}@{t:g}"] = float(value)
                sums[name] = sums.get(name, 0.0) + float(value)
    out.update({name: s / len(ts) for name, s in sums.items()})
    out.update(proposal_recall({v: segs[v] for v in scored}, {v: g.segments for v, g in gt.items()}, ts))
    return out


def boundary_f1(pred, truth, tolerance: float = 0.5) -> dict[str, float]:
    """Event boundaries (seconds) found: each true boundary matches at most one predicted one
    within ``tolerance`` seconds (nearest first). ``{"precision", "recall", "f1"}``; with no true
    and no predicted boundary all three are 1."""
    pred, truth = sorted(float(x) for x in pred), sorted(float(x) for x in truth)
    if not tolerance >= 0:
        raise ConfigError(f"tolerance={tolerance} must be 0 or more seconds")
    if not pred and not truth:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(pred) for j, t in enumerate(truth)
                   if abs(p - t) <= tolerance + 1e-9)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    precision = len(used_p) / len(pred) if pred else 0.0
    recall = len(used_t) / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
