"""Greedy and beam-search decoding in numpy over any one-step function (no torch).

The caption models' exported step (ONNX Runtime) runs through these; they make the
same choices as :meth:`vidcap.models.s2vt.S2VT.generate` (same ranking, same
handling of finished beams, ``<pad>`` / ``<bos>`` never emitted).

``step(words (N,) int64, states) -> (log_probs (N, V) float32, states)``;
``reorder(states, index (N',) int64) -> states`` picks rows of every state.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _until(ids, stop: set[int]) -> list[int]:
    out = []
    for i in ids:
        if i in stop:
            break
        out.append(int(i))
    return out


def _masked(step, words, states, never):
    logp, states = step(words, states)
    logp = np.array(logp, dtype=np.float32)  # writable copy
    logp[:, never] = -np.inf
    return logp, states


def greedy(step: Callable, states, batch: int, *, max_words: int, bos: int, eos: int, pad: int):
    """Word ids per video (without ``<eos>``) and their ``(B,)`` log-probabilities."""
    words = np.full(batch, bos, dtype=np.int64)
    done = np.zeros(batch, dtype=bool)
    scores = np.zeros(batch, dtype=np.float32)
    out = []
    for _ in range(max_words):
        logp, states = _masked(step, words, states, [pad, bos])
        words = logp.argmax(axis=-1)
        best = logp[np.arange(batch), words]
        scores += np.where(done, 0.0, best).astype(np.float32)
        words = np.where(done, pad, words)
        out.append(words)
        done |= words == eos
        if done.all():
            break
    seqs = np.stack(out, axis=1)
    return [_until(s, {eos, pad}) for s in seqs], scores


def beam(step: Callable, reorder: Callable, states, batch: int, *, beam_size: int, max_words: int, bos: int,
         eos: int, pad: int, length_penalty: float = 0.0):
    """Beam search ranked by ``sum log p / length ** length_penalty``; returns like :func:`greedy`.

    ``states`` are one video per row; they are repeated ``beam_size`` times here.
    """
    B, K, alpha = batch, beam_size, length_penalty
    states = reorder(states, np.repeat(np.arange(B), K))
    scores = np.full((B, K), -np.inf, dtype=np.float32)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    lengths = np.zeros((B, K), dtype=np.float32)
    done = np.zeros((B, K), dtype=bool)
    tokens = np.zeros((B, K, 0), dtype=np.int64)
    words = np.full(B * K, bos, dtype=np.int64)
    rows = np.arange(B)[:, None]
    for _ in range(max_words):
        logp, states = _masked(step, words, states, [pad, bos])
        V = logp.shape[-1]
        logp = logp.reshape(B, K, V)
        frozen = np.full(V, -np.inf, dtype=np.float32)  # a finished beam proposes only <pad>, at no cost
        frozen[pad] = 0.0
        logp = np.where(done[..., None], frozen, logp)
        cand = scores[..., None] + logp  # (B, K, V)
        new_len = (lengths + (~done))[..., None]  # (B, K, 1)
        rank = cand / np.maximum(new_len, 1) ** alpha if alpha else cand
        top = np.argsort(-rank.reshape(B, K * V), axis=1, kind="stable")[:, :K]  # (B, K)
        beam_of, tok = top // V, top % V
        scores = cand.reshape(B, K * V)[rows, top]
        lengths = new_len[..., 0][rows, beam_of]
        done = done[rows, beam_of] | (tok == eos)
        tokens = np.concatenate([tokens[rows, beam_of], tok[..., None]], axis=2)
        states = reorder(states, (beam_of + np.arange(B)[:, None] * K).reshape(-1))
        words = tok.reshape(-1)
        if done.all():
            break
    final = scores / np.maximum(lengths, 1) ** alpha if alpha else scores
    best = final.argmax(axis=1)
    seqs = tokens[np.arange(B), best]
    return [_until(s, {eos, pad}) for s in seqs], scores[np.arange(B), best]
