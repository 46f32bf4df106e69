"""Speech-recognition metrics."""
from __future__ import annotations

import re

import numpy as np


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes kept): the usual WER normalisation."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance / number of reference words."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return float(d[-1]) / max(1, len(ref))
