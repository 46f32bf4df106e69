"""S2VT: Sequence to Sequence -- Video to Text (Venugopalan et al. 2015), as in seed 000.

Two stacked recurrent layers run over N frame steps followed by M word steps.

* ``variant="s2vt"`` (the seed's fig 5.3): LSTM1 reads the projected frame features,
  then zeros ("pad") while decoding; LSTM2 reads ``[pad, h1]`` while encoding and
  ``[emb(w_{t-1}), h1]`` while decoding. Words are predicted from LSTM2's output.
* ``variant="encdec"`` (fig 5.4): LSTM1 reads the frames; its final state becomes
  LSTM2's initial state; LSTM2 reads only ``emb(w_{t-1})``.

Training runs each recurrent layer once over its whole sequence (teacher forcing).
Short videos: a ``(B, T)`` mask marks valid frames; valid frames are packed so a
video's words follow directly after its last valid frame, exactly as if the padded
frames were never there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.errors import ConfigError

VARIANTS = ("s2vt", "encdec")
CELLS = ("lstm", "gru")


@dataclass
class S2VTConfig:
    vocab_size: int
    feature_dim: int = 4096  # D of the frame features (VGG16 fc7 in the seed)
    hidden: int = 512  # seed h_dim; also the word-embedding size
    frame_steps: int = 80  # N: frames per video (seed video_lstm_step)
    max_words: int = 20  # M: word steps including <eos> (seed caption_lstm_step)
    variant: str = "s2vt"
    cell: str = "lstm"
    dropout: float = 0.0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant={self.variant!r} is not one of {VARIANTS}")
        if self.cell not in CELLS:
            raise ConfigError(f"cell={self.cell!r} is not one of {CELLS}")
        for k in ("vocab_size", "feature_dim", "hidden", "frame_steps", "max_words"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be a positive integer")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


def _run(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor, state=None):
    """Run ``rnn`` over ``x (B, L, *)`` where row b has ``lengths[b]`` valid steps.

    Returns outputs ``(B, L, H)`` (zeros past each length) and the state at each
    row's last valid step.
    """
    if bool((lengths == x.shape[1]).all()):
        return rnn(x, state)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, state


def _select(state, index: torch.Tensor):
    """Pick batch rows of an RNN state (a tensor or an LSTM (h, c) pair)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


class S2VT(nn.Module):
    def __init__(self, config: S2VTConfig):
        super().__init__()
        self.config = config
        H = config.hidden
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.proj = nn.Linear(config.feature_dim, H)  # seed encode_W, encode_b: D -> H
        self.embed = nn.Embedding(config.vocab_size, H, padding_idx=PAD)  # seed word_emb
        self.rnn1 = rnn(H, H, batch_first=True)
        self.rnn2 = rnn(2 * H if config.variant == "s2vt" else H, H, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(H, config.vocab_size)  # seed embed_word_W, embed_word_b

    # ---------------------------------------------------------------- training
    def forward(self, feats: torch.Tensor, mask: torch.Tensor | None = None, captions: torch.Tensor | None = None):
        """feats ``(B, T, D)`` float, mask ``(B, T)`` bool (None: all valid),
        captions ``(B, M+1)`` int64 ``<bos> w.. <eos> <pad>..``.

        Returns ``(logits (B, M, V), loss)``: loss is the cross-entropy of predicting
        ``captions[:, 1:]`` from ``captions[:, :-1]``, averaged over non-pad targets.
        Without captions: logits of the first word ``(B, 1, V)`` and loss None.
        """
        B = feats.shape[0]
        if captions is None:
            captions = torch.full((B, 2), BOS, dtype=torch.long, device=feats.device)
            logits, _ = self.forward(feats, mask, captions)
            return logits, None
        words, targets = captions[:, :-1], captions[:, 1:]  # (B, M) each
        M = words.shape[1]
        x, n = self._frames(feats, mask)  # (B, T, H), (B,)
        H = x.shape[2]
        emb = self.drop(self.embed(words))  # (B, M, H)
        if self.config.variant == "s2vt":
            L = n + M  # each row: its valid frames, then its M word steps
            pos = n[:, None] + torch.arange(M, device=x.device)[None, :]  # (B, M) word positions
            x1 = F.pad(x, (0, 0, 0, M))  # (B, T+M, H): frames then pad
            h1, _ = _run(self.rnn1, x1, L)  # (B, T+M, H)
            e2 = torch.zeros_like(x1).scatter(1, pos[..., None].expand(B, M, H), emb)  # pad, then words
            h2, _ = _run(self.rnn2, torch.cat([e2, h1], dim=-1), L)  # (B, T+M, H)
            out = h2.gather(1, pos[..., None].expand(B, M, H))  # (B, M, H)
        else:
            _, state = _run(self.rnn1, x, n)
            out, _ = self.rnn2(emb, state)  # (B, M, H)
        logits = self.head(self.drop(out))  # (B, M, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)
        return logits, loss

    def _frames(self, feats: torch.Tensor, mask: torch.Tensor | None):
        """Project frames and move valid ones to the front: ``(B, T, H)`` and counts ``(B,)``."""
        if feats.dim() != 3 or feats.shape[-1] != self.config.feature_dim:
            raise ConfigError(
                f"features of shape {tuple(feats.shape)} do not fit this model: expected (B, T, {self.config.feature_dim})"
            )
        B, T, _ = feats.shape
        if mask is None:
            n = torch.full((B,), T, dtype=torch.long, device=feats.device)
            return self.drop(self.proj(feats)), n
        mask = mask.bool()
        n = mask.sum(1)
        if bool((n == 0).any()):
            raise ConfigError("a video in the batch has no valid frame (its mask is all False)")
        if not bool(mask.all()):
            order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices  # valid first, in time order
            feats = feats.gather(1, order[..., None].expand_as(feats))
            mask = mask.gather(1, order)
        x = self.drop(self.proj(feats)) * mask[..., None]  # padded frames become exact zeros
        return x, n

    # --------------------------------------------------------------- inference
    def _encode(self, feats, mask):
        """States after the frame steps, for step-by-step decoding."""
        x, n = self._frames(feats, mask)
        h1, s1 = _run(self.rnn1, x, n)
        if self.config.variant == "s2vt":
            _, s2 = _run(self.rnn2, torch.cat([torch.zeros_like(h1), h1], dim=-1), n)
            return (s1, s2)
        return (None, s1)

    def _step(self, words: torch.Tensor, states):
        """One decoding step: words ``(B,)`` -> log-probs ``(B, V)`` and new states."""
        s1, s2 = states
        emb = self.embed(words)[:, None, :]  # (B, 1, H)
        if self.config.variant == "s2vt":
            pad = torch.zeros_like(emb)
            h1, s1 = self.rnn1(pad, s1)  # (B, 1, H)
            out, s2 = self.rnn2(torch.cat([emb, h1], dim=-1), s2)
        else:
            out, s2 = self.rnn2(emb, s2)
        return F.log_softmax(self.head(out[:, 0]), dim=-1), (s1, s2)

    def _decode_step(self, words, states):
        """``_step`` for generation: ``<pad>`` and ``<bos>`` are never emitted."""
        logp, states = self._step(words, states)
        logp[:, PAD] = float("-inf")
        logp[:, BOS] = float("-inf")
        return logp, states

    @staticmethod
    def _reorder(states, index):
        return tuple(None if s is None else _select(s, index) for s in states)

    @torch.no_grad()
    def generate(
        self,
        feats: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        beam_size: int = 1,
        max_words: int | None = None,
        length_penalty: float = 0.0,
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Decode captions for a batch: ``feats (B, T, D)``, ``mask (B, T)``.

        ``beam_size=1`` is greedy decoding (the seed). Beam search ranks hypotheses
        by ``sum log p / length ** length_penalty`` (0 = plain log-probability).
        Returns word ids per video (without ``<eos>``) and their ``(B,)`` log-prob scores.
        """
        if beam_size < 1:
            raise ConfigError(f"beam_size={beam_size} must be at least 1")
        max_words = max_words or self.config.max_words
        if beam_size == 1:
            return self._greedy(feats, mask, max_words)
        return self._beam(feats, mask, beam_size, max_words, length_penalty)

    def _greedy(self, feats, mask, max_words):
        B = feats.shape[0]
        states = self._encode(feats, mask)
        words = torch.full((B,), BOS, dtype=torch.long, device=feats.device)
        done = torch.zeros(B, dtype=torch.bool, device=feats.device)
        scores = torch.zeros(B, device=feats.device)
        out = []
        for _ in range(max_words):
            logp, states = self._decode_step(words, states)
            best, words = logp.max(dim=-1)
            scores += torch.where(done, torch.zeros_like(best), best)
            words = torch.where(done, torch.full_like(words, PAD), words)
            out.append(words)
            done |= words == EOS
            if bool(done.all()):
                break
        seqs = torch.stack(out, dim=1).tolist()
        return [_until_eos(s) for s in seqs], scores

    def _beam(self, feats, mask, K, max_words, alpha):
        B, dev = feats.shape[0], feats.device
        states = self._encode(feats, mask)
        rows = torch.arange(B, device=dev).repeat_interleave(K)  # (B*K,) beam -> video
        states = self._reorder(states, rows)
        scores = torch.full((B, K), float("-inf"), device=dev)
        scores[:, 0] = 0.0  # all beams start identical: expand only the first
        lengths = torch.zeros(B, K, device=dev)
        done = torch.zeros(B, K, dtype=torch.bool, device=dev)
        tokens = torch.zeros(B, K, 0, dtype=torch.long, device=dev)
        words = torch.full((B * K,), BOS, dtype=torch.long, device=dev)
        for _ in range(max_words):
            logp, states = self._decode_step(words, states)
            V = logp.shape[-1]
            logp = logp.view(B, K, V)
            # a finished beam proposes exactly one continuation: <pad> at no cost
            frozen = torch.full((V,), float("-inf"), device=dev)
            frozen[PAD] = 0.0
            logp = torch.where(done[..., None], frozen, logp)
            cand = scores[..., None] + logp  # (B, K, V)
            new_len = (lengths + (~done).float())[..., None]  # (B, K, 1)
            rank = cand / new_len.clamp(min=1) ** alpha if alpha else cand
            top = rank.view(B, K * V).topk(K, dim=-1).indices  # (B, K)
            beam, tok = top // V, top % V
            scores = cand.view(B, K * V).gather(1, top)
            lengths = new_len[..., 0].gather(1, beam)
            done = done.gather(1, beam) | (tok == EOS)
            tokens = torch.cat([tokens.gather(1, beam[..., None].expand(-1, -1, tokens.shape[2])), tok[..., None]], 2)
            flat = (beam + torch.arange(B, device=dev)[:, None] * K).view(-1)
            states = self._reorder(states, flat)
            words = tok.view(-1)
            if bool(done.all()):
                break
        final = scores / lengths.clamp(min=1) ** alpha if alpha else scores
        best = final.argmax(dim=1)  # (B,)
        seqs = tokens[torch.arange(B, device=dev), best].tolist()
        return [_until_eos(s) for s in seqs], scores[torch.arange(B, device=dev), best]


def _until_eos(ids: list[int]) -> list[int]:
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        out.append(i)
    return out
