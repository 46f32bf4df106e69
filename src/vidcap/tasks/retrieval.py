"""The joint video-text embedding at inference: load a retrieval checkpoint once, embed videos and text.

A retrieval checkpoint is a plain dict (``torch.save``; read with
``torch.load(weights_only=True)``): ``format``, ``model_args``
(:class:`~vidcap.models.retrieval.RetrievalConfig`), ``model`` (state dict),
``model_id`` (content hash of the weights: a library records it), ``text_model``
(the sentence encoder whose vectors the projection was trained on), ``backbone``,
``feature_dim``, ``sampling`` (``num_frames``, ``short``), ``metrics``, ``train``
(the options used) and, in ``last.pt`` only, ``train_state`` for resuming.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vidcap.errors import ConfigError, ModelError
from vidcap.features.domain import Domain
from vidcap.io.checkpoints import load_checkpoint, resolve_run, state_hash
from vidcap.io.files import plain
from vidcap.models.retrieval import RetrievalConfig, VideoTextModel

MODEL_FORMAT = "vidcap.retrieval"
MODEL_FORMAT_VERSION = 1
# Trained on the generated world (vidcap synth, seed 11, 1000 videos); used when no model is given.
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "retrieval_synth.pt"


# ------------------------------------------------------------------ checkpoints
def weights_id(state: dict) -> str:
    """A short content hash of a state dict (names, shapes and values)."""
    return state_hash(state)


def make_checkpoint(model: VideoTextModel, *, backbone: str, num_frames: int, short: str = "pad",
                    text_model: str = "all-MiniLM-L6-v2", metrics: dict | None = None,
                    train: dict | None = None, train_state: dict | None = None, domain=None) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "model_args": model.config.to_dict(),
        "model": state,
        "model_id": weights_id(state),
        "text_model": text_model,
        "backbone": backbone,
        "feature_dim": int(model.config.feature_dim),
        "sampling": {"num_frames": int(num_frames), "short": short},
        "metrics": plain(metrics or {}),
        "train": plain(train or {}),
        "domain": None if domain is None else domain.to_dict(),  # vidcap.features.domain; None: unknown
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    return ckpt


def resolve_model_path(path) -> Path:
    """A checkpoint file, or a run folder (its best.pt, else last.pt); None: the bundled model."""
    return resolve_run(path, default=DEFAULT_MODEL, what="retrieval model")


def read_checkpoint(path) -> dict:
    return load_checkpoint(resolve_model_path(path), format=MODEL_FORMAT, version=MODEL_FORMAT_VERSION, what="retrieval",
                           required=("model_args", "model", "model_id", "backbone", "sampling", "text_model"))


class RetrievalModel:
    """A loaded joint embedding: ``embed_videos(feats, mask)`` and ``embed_text(sentences)``."""

    def __init__(self, ckpt: dict, path="checkpoint"):
        self.path = str(path)
        try:
            config = RetrievalConfig(**ckpt["model_args"])
        except (TypeError, ConfigError) as exc:
            raise ModelError(f"checkpoint {path} has an invalid model configuration: {exc}") from exc
        self.model = VideoTextModel(config)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise ModelError(f"weights in {path} do not fit its configuration: {str(exc).splitlines()[0]}") from exc
        self.model.eval()
        self.config = config
        self.model_id: str = ckpt["model_id"]
        self.backbone: str = ckpt["backbone"]
        self.feature_dim: int = int(ckpt["feature_dim"])
        self.num_frames: int = int(ckpt["sampling"]["num_frames"])
        self.short: str = ckpt["sampling"].get("short", "pad")
        self.text_model: str = ckpt["text_model"]
        self.metrics: dict = ckpt.get("metrics", {})
        self.domain = Domain.from_dict(ckpt.get("domain"))  # where its training videos lie (None: unknown)

    @classmethod
    def load(cls, path) -> "RetrievalModel":
        p = resolve_model_path(path)
        return cls(read_checkpoint(p), p)

    @property
    def dim(self) -> int:
        return self.config.embed_dim

    def describe(self) -> dict:
        return {"model_id": self.model_id, "path": self.path, "dim": self.dim, "backbone": self.backbone,
                "num_frames": self.num_frames, "text_model": self.text_model}

    @torch.inference_mode()
    def embed_videos(self, feats, mask=None, batch_size: int = 256) -> np.ndarray:
        """``feats (B, T, D)`` (+ ``mask (B, T)``) -> ``(B, embed_dim) float32`` unit vectors."""
        feats = torch.as_tensor(np.asarray(feats, dtype=np.float32))
        if feats.dim() == 2:
            feats = feats[None]
            mask = None if mask is None else np.asarray(mask)[None]
        if feats.shape[-1] != self.feature_dim:
            raise ModelError(f"features have {feats.shape[-1]} dimensions but the retrieval model {self.path} "
                             f"takes {self.feature_dim}-d {self.backbone} features")
        mask_t = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
        out = [self.model.encode_video(feats[i:i + batch_size], None if mask_t is None else mask_t[i:i + batch_size])
               for i in range(0, feats.shape[0], batch_size)]
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def embed_text_vectors(self, vectors) -> np.ndarray:
        """MiniLM vectors ``(N, 384)`` -> ``(N, embed_dim)``."""
        return self.model.encode_text(torch.as_tensor(np.asarray(vectors, dtype=np.float32))).numpy()

    def embed_text(self, sentences) -> np.ndarray:
        from vidcap.features.text import encode

        return self.embed_text_vectors(encode(sentences))
