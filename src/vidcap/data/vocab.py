"""Caption vocabulary: word <-> id with the seed's four special tokens.

``<pad>=0 <bos>=1 <eos>=2 <unk>=3``; every other word that occurs at least
``min_count`` times in the training captions gets the next id, most frequent
first (ties broken alphabetically, so the same captions always give the same ids).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from vidcap.errors import ModelError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class Vocabulary:
    """Maps cleaned, whitespace-separated caption words to integer ids."""

    def __init__(self, words: Iterable[str]):
        self.itos: list[str] = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ModelError("vocabulary has duplicate words; rebuild it with Vocabulary.build")

    @classmethod
    def build(cls, captions: Iterable[str], *, min_count: int = 1) -> "Vocabulary":
        """Count the words of cleaned captions and keep those seen >= ``min_count`` times."""
        counts = Counter(w for c in captions for w in c.split())
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, caption: str, max_words: int) -> np.ndarray:
        """``<bos> w1 .. wn <eos> <pad>..`` as int64 of length ``max_words + 1``.

        Captions longer than ``max_words - 1`` words are cut so ``<eos>`` always fits
        (the seed keeps ``caption_lstm_step - 1`` words and appends ``<eos>``).
        """
        ids = [self.stoi.get(w, UNK) for w in caption.split()][: max_words - 1]
        out = np.full(max_words + 1, PAD, dtype=np.int64)
        out[0] = BOS
        out[1 : len(ids) + 1] = ids
        out[len(ids) + 1] = EOS
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Words up to the first ``<eos>``; ``<pad>``/``<bos>`` are skipped."""
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else SPECIALS[UNK])
        return " ".join(words)

    def to_dict(self) -> dict:
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        try:
            itos = list(d["itos"])
        except (KeyError, TypeError) as exc:
            raise ModelError("checkpoint vocabulary has no 'itos' word list; the checkpoint is corrupt") from exc
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ModelError(f"checkpoint vocabulary starts with {itos[:4]}, expected {list(SPECIALS)}")
        return cls(itos[len(SPECIALS) :])
