"""S2VT: Sequence to Sequence -- Video to Text (Venugopalan et al. 2015), as in seed 000.

Two stacked recurrent layers run over N frame steps followed by M word steps.

* ``variant="s2vt"`` (the seed's fig 5.3): LSTM1 reads the frame features, then
  zeros ("pad") while decoding; LSTM2 reads ``[pad, h1]`` while encoding and
  ``[emb(w_{t-1}), h1]`` while decoding. Words are predicted from LSTM2's output.
* ``variant="encdec"`` (fig 5.4): LSTM1 reads the frames; its final state becomes
  LSTM2's initial state; LSTM2 reads only ``emb(w_{t-1})``.
* ``variant="attention"``: ``encdec`` plus soft temporal attention (the idea of
  SA-LSTM, Yao et al. 2015): at each word the decoder's output attends over LSTM1's
  outputs at every frame (additive scores, a softmax over the valid frames), and the
  word is predicted from ``tanh(W [h2; context])``. The query is the decoder's
  current output (Luong et al. 2015's placement), not the previous state fed back
  into the LSTM as in SA-LSTM, so training still runs each layer over its whole
  sequence at once.

Frames: ``project=True`` maps each frame ``D -> H`` with a linear layer first (the
seed's ``encode_W``); ``project=False`` feeds the ``D``-d features to LSTM1 directly.
``normalize=True`` standardises every feature dimension with a stored mean and
standard deviation (buffers the trainer fills from the training features).

Training runs each recurrent layer over the frames once and over the words once
(teacher forcing), never step by step. Short videos: a ``(B, T)`` mask marks valid
frames; valid frames are packed, so a video's words follow directly after its last
valid frame, exactly as if the padded frames were never there.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.errors import ConfigError

VARIANTS = ("s2vt", "encdec", "attention")
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
    project: bool = True  # Linear D -> H before LSTM1 (seed encode_W); False: LSTM1 reads the D-d frames
    normalize: bool = False  # standardise the features with stored per-dimension mean / std

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
    """Pick batch rows of an RNN state (a tensor or an LSTM (h, c) pair; batch on dim 1)."""
    if isinstance(state, tuple):
        return tuple(s.index_select(1, index) for s in state)
    return state.index_select(1, index)


class S2VT(nn.Module):
    def __init__(self, config: S2VTConfig):
        super().__init__()
        self.config = config
        H, D = config.hidden, config.feature_dim
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        if config.normalize:
            self.register_buffer("feat_mean", torch.zeros(D))
            self.register_buffer("feat_std", torch.ones(D))
        self.proj = nn.Linear(D, H) if config.project else None  # seed encode_W, encode_b: D -> H
        self.embed = nn.Embedding(config.vocab_size, H, padding_idx=PAD)  # seed word_emb
        self.rnn1 = rnn(H if config.project else D, H, batch_first=True)
        self.rnn2 = rnn(2 * H if config.variant == "s2vt" else H, H, batch_first=True)
        if config.variant == "attention":
            self.att_key = nn.Linear(H, H, bias=False)  # frames -> attention space
            self.att_query = nn.Linear(H, H)  # decoder output -> attention space
            self.att_score = nn.Linear(H, 1, bias=False)
            self.combine = nn.Linear(2 * H, H)  # [h2; context] -> H
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(H, config.vocab_size)  # seed embed_word_W, embed_word_b

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training features' per-dimension mean and std ``(D,)`` (``normalize=True`` only)."""
        if not self.config.normalize:
            raise ConfigError("set_normalization needs a model built with normalize=True")
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std.clamp(min=1e-3))

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
        out, _ = self._decode_all(feats, mask, words)  # (B, M, H)
        logits = self.head(self.drop(out))  # (B, M, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)
        return logits, loss

    def attention(self, feats: torch.Tensor, mask: torch.Tensor | None, captions: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(B, M, T)`` over the valid frames (in time order, padded
        frames removed and the rest left-aligned) while reading ``captions`` (attention variant only)."""
        if self.config.variant != "attention":
            raise ConfigError(f"variant={self.config.variant!r} has no attention; use variant='attention'")
        return self._decode_all(feats, mask, captions[:, :-1])[1]

    def _decode_all(self, feats, mask, words):
        """Decoder outputs ``(B, M, H)`` for the word inputs ``words (B, M)`` (teacher forcing)
        and the attention weights ``(B, M, T)`` (None for the other variants)."""
        B, M = words.shape
        x, n = self._frames(feats, mask)  # (B, T, Din), (B,)
        emb = self.drop(self.embed(words))  # (B, M, H)
        if self.config.variant == "s2vt":
            h1, s1 = _run(self.rnn1, x, n)  # (B, T, H): frames
            _, s2 = _run(self.rnn2, torch.cat([torch.zeros_like(h1), h1], dim=-1), n)
            h1w, _ = self.rnn1(x.new_zeros(B, M, x.shape[2]), s1)  # (B, M, H): LSTM1 reads pad
            out, _ = self.rnn2(torch.cat([emb, h1w], dim=-1), s2)  # (B, M, H)
            return out, None
        enc, s1 = _run(self.rnn1, x, n)  # (B, T, H)
        out, _ = self.rnn2(emb, s1)  # (B, M, H)
        if self.config.variant == "encdec":
            return out, None
        memory = self._memory(enc, n)
        return self._attend(out, memory)

    def _frames(self, feats: torch.Tensor, mask: torch.Tensor | None):
        """Normalise / project frames and move valid ones to the front: ``(B, T, Din)`` and counts ``(B,)``."""
        if feats.dim() != 3 or feats.shape[-1] != self.config.feature_dim:
            raise ConfigError(
                f"features of shape {tuple(feats.shape)} do not fit this model: expected (B, T, {self.config.feature_dim})"
            )
        B, T, _ = feats.shape
        if mask is None:
            return self._embed_frames(feats), torch.full((B,), T, dtype=torch.long, device=feats.device)
        mask = mask.bool()
        n = mask.sum(1)
        if bool((n == 0).any()):
            raise ConfigError("a video in the batch has no valid frame (its mask is all False)")
        if not bool(mask.all()):
            order = torch.sort((~mask).to(torch.int8), dim=1, stable=True).indices  # valid first, in time order
            feats = feats.gather(1, order[..., None].expand_as(feats))
            mask = mask.gather(1, order)
        return self._embed_frames(feats) * mask[..., None], n  # padded frames become exact zeros

    def _embed_frames(self, feats):
        if self.config.normalize:
            feats = (feats - self.feat_mean) / self.feat_std  # (B, T, D)
        return self.drop(self.proj(feats) if self.proj is not None else feats)  # (B, T, Din)

    def _memory(self, enc: torch.Tensor, n: torch.Tensor):
        """What the attention reads: frame outputs ``(B, T, H)``, their keys ``(B, T, H)`` and validity ``(B, T)``."""
        valid = torch.arange(enc.shape[1], device=enc.device)[None, :] < n[:, None]
        return enc, self.att_key(enc), valid

    def _attend(self, out: torch.Tensor, memory):
        """``out (B, M, H)`` attends over the frames: returns ``tanh(W [out; context])`` and weights ``(B, M, T)``."""
        enc, keys, valid = memory
        scores = self.att_score(torch.tanh(keys[:, None] + self.att_query(out)[:, :, None]))[..., 0]  # (B, M, T)
        alpha = scores.masked_fill(~valid[:, None], float("-inf")).softmax(dim=-1)  # (B, M, T)
        context = alpha @ enc  # (B, M, H)
        return torch.tanh(self.combine(torch.cat([self.drop(out), context], dim=-1))), alpha

    # --------------------------------------------------------------- inference
    def _encode(self, feats, mask):
        """States after the frame steps, for step-by-step decoding: ``(s1, s2, memory)``."""
        x, n = self._frames(feats, mask)
        h1, s1 = _run(self.rnn1, x, n)
        if self.config.variant == "s2vt":
            _, s2 = _run(self.rnn2, torch.cat([torch.zeros_like(h1), h1], dim=-1), n)
            return (s1, s2, None)
        return (None, s1, self._memory(h1, n) if self.config.variant == "attention" else None)

    def _step(self, words: torch.Tensor, states):
        """One decoding step: words ``(B,)`` -> log-probs ``(B, V)`` and new states."""
        s1, s2, memory = states
        emb = self.embed(words)[:, None, :]  # (B, 1, H)
        if self.config.variant == "s2vt":
            h1, s1 = self.rnn1(emb.new_zeros(emb.shape[0], 1, self.rnn1.input_size), s1)  # (B, 1, H): pad
            out, s2 = self.rnn2(torch.cat([emb, h1], dim=-1), s2)
        else:
            out, s2 = self.rnn2(emb, s2)
            if memory is not None:
                out, _ = self._attend(out, memory)
        return F.log_softmax(self.head(out[:, 0]), dim=-1), (s1, s2, memory)

    def _decode_step(self, words, states):
        """``_step`` for generation: ``<pad>`` and ``<bos>`` are never emitted."""
        logp, states = self._step(words, states)
        logp[:, PAD] = float("-inf")
        logp[:, BOS] = float("-inf")
        return logp, states

    @staticmethod
    def _reorder(states, index):
        s1, s2, memory = states
        memory = None if memory is None else tuple(m.index_select(0, index) for m in memory)
        return (None if s1 is None else _select(s1, index), _select(s2, index), memory)

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


# --------------------------------------------------------------------- export
def state_names(config: S2VTConfig) -> tuple[list[str], list[str]]:
    """Names of the decoding state an exported model passes between steps: the recurrent
    states (batch on axis 1) and the attention memory (batch on axis 0, fixed while decoding)."""
    layers = ["1", "2"] if config.variant == "s2vt" else ["2"]
    states = [f"{k}{i}" for i in layers for k in (("h", "c") if config.cell == "lstm" else ("h",))]
    return states, (["memory", "keys"] if config.variant == "attention" else [])


def _flat(state) -> list[torch.Tensor]:
    return [] if state is None else list(state) if isinstance(state, tuple) else [state]


def _unflat(flat: list[torch.Tensor], lstm: bool):
    return (flat[0], flat[1]) if lstm else flat[0]


class ExportEncoder(nn.Module):
    """``feats (B, T, D)`` (every frame valid) -> the decoding state, flat, as :func:`state_names` lists it."""

    def __init__(self, model: S2VT):
        super().__init__()
        self.model = model

    def forward(self, feats):
        s1, s2, memory = self.model._encode(feats, None)
        return tuple(_flat(s1) + _flat(s2) + ([] if memory is None else [memory[0], memory[1]]))


class ExportStep(nn.Module):
    """``(words (N,), *states, *memory) -> (log-probs (N, V), *new states)``: one decoding step."""

    def __init__(self, model: S2VT):
        super().__init__()
        self.model = model

    def forward(self, words, *flat):
        cfg = self.model.config
        lstm, n = cfg.cell == "lstm", (2 if cfg.cell == "lstm" else 1)
        flat = list(flat)
        s1 = _unflat(flat[:n], lstm) if cfg.variant == "s2vt" else None
        rest = flat[n:] if cfg.variant == "s2vt" else flat
        s2 = _unflat(rest[:n], lstm)
        memory = None
        if cfg.variant == "attention":
            enc, keys = rest[n], rest[n + 1]
            memory = (enc, keys, torch.ones(enc.shape[:2], dtype=torch.bool))
        logp, (s1, s2, _) = self.model._step(words, (s1, s2, memory))
        return tuple([logp] + _flat(s1) + _flat(s2))
