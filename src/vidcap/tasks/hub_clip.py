"""CLIP for videos: zero-shot labels, and shot embeddings for search.

Frames go through the image tower, text through the text tower; both come out as
unit vectors in one space. :class:`ClipEncoder` embeds frames and texts;
:func:`shot_vectors` pools a shot's keyframes into one vector (the library's
``vec_clip``), which :mod:`vidcap.tasks.search` compares with a query's text vector.

For zero-shot labels, each label becomes the prompt ``"a photo of {label}."`` (CLIP's own ImageNet prompt);
a window's frames are embedded one by one (CLIP's processor resizes, crops and
normalises them), averaged, normalised again, and compared with every label's text
embedding by cosine similarity scaled with the model's ``logit_scale``; a softmax over
the labels gives the probabilities.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from vidcap.errors import ConfigError
from vidcap.tasks.hub import ModelRef, load_pretrained

PROMPT = "a photo of {}."


def parse_labels(labels) -> list[str]:
    """``"a,b,c"`` or a list -> the distinct non-empty labels, in order."""
    items = labels.split(",") if isinstance(labels, str) else list(labels or [])
    out = list(dict.fromkeys(str(s).strip() for s in items if str(s).strip()))
    if len(out) < 2:
        raise ConfigError(f"zero-shot labels need at least two labels (e.g. --labels \"cooking,dancing\"), "
                          f"got {labels!r}")
    return out


def _pooled(out) -> torch.Tensor:
    return out if torch.is_tensor(out) else out.pooler_output  # transformers 5 returns the model output


@torch.no_grad()
def image_vectors(model, processor, frames, batch_size: int = 32) -> np.ndarray:
    """``(N, D)`` unit vectors of uint8 RGB frames ``(N, H, W, 3)`` (the processor resizes, crops, normalises)."""
    out = [np.zeros((0, int(model.config.projection_dim)), np.float32)]
    for i in range(0, len(frames), batch_size):
        pix = processor(images=list(frames[i : i + batch_size]), return_tensors="pt")["pixel_values"]
        emb = _pooled(model.get_image_features(pixel_values=pix)).float()
        out.append(nn.functional.normalize(emb, dim=-1).numpy())
    return np.concatenate(out)


@torch.no_grad()
def text_vectors(model, processor, texts: list[str]) -> np.ndarray:
    """``(N, D)`` unit vectors of texts (CLIP's tokenizer truncates them to its 77 tokens)."""
    tok = processor(text=list(texts), return_tensors="pt", padding=True, truncation=True,
                    max_length=int(model.config.text_config.max_position_embeddings))
    emb = _pooled(model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"]))
    return nn.functional.normalize(emb.float(), dim=-1).numpy()


class ClipEncoder:
    """A CLIP model for search: ``images(frames) -> (N, D)``, ``texts(list) -> (N, D)``, unit vectors;
    ``describe()`` is what a library records of it."""

    def __init__(self, ref: ModelRef):
        self.ref = ref
        self.model, self.processor = load_pretrained(ref, family="clip", model_class="CLIPModel")
        self.dim = int(self.model.config.projection_dim)

    def images(self, frames) -> np.ndarray:
        return image_vectors(self.model, self.processor, frames)

    def texts(self, texts: list[str]) -> np.ndarray:
        return text_vectors(self.model, self.processor, texts)

    def describe(self) -> dict:
        return {"model": self.ref.lasting(), "dim": self.dim}


@lru_cache(maxsize=2)
def load_encoder(ref: ModelRef) -> ClipEncoder:
    """The shared encoder of a reference (loaded once per process: a server's searches reuse it)."""
    return ClipEncoder(ref)


def shot_vectors(wanted: list[list[int]], frames: dict, encoder: ClipEncoder) -> np.ndarray:
    """``(S, D)``: each shot's keyframe vectors averaged and normalised again (zeros for a shot with none)."""
    from vidcap.tasks.tags import shot_means

    means = shot_means(wanted, frames, encoder.images, encoder.dim)
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


class ClipZeroShot(nn.Module):
    """``embed_frames(uint8 (N, H, W, 3)) -> (N, D)`` unit vectors; ``forward(feats (B, T, D)) -> logits (B, C)``."""

    kind = "clip"

    def __init__(self, model, processor, labels: list[str]):
        super().__init__()
        self.model, self.processor, self.labels = model, processor, labels
        text = text_vectors(model, processor, [PROMPT.format(s) for s in labels])
        self.register_buffer("text", torch.from_numpy(text), persistent=False)  # (C, D)

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        return image_vectors(self.model, self.processor, frames)  # (N, D)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        v = nn.functional.normalize(feats.float().mean(1), dim=-1)  # (B, D): the window's frames averaged
        return self.model.logit_scale.exp().float() * v @ self.text.T  # (B, C)


def load_zero_shot(ref: ModelRef, labels) -> tuple[ClipZeroShot, dict]:
    """The zero-shot classifier of a CLIP folder and the checkpoint-like description ``VideoClassifier`` reads."""
    if labels is None:
        raise ConfigError(f"{ref} is a CLIP model: give the labels to choose from with --labels \"a,b,c\"")
    names = parse_labels(labels)
    model, processor = load_pretrained(ref, family="clip", model_class="CLIPModel")
    size = int(model.config.vision_config.image_size)
    # 4 frames a second, 8 per window (2 s); frames are decoded at the model's size, the processor does the rest
    ckpt = {"model_type": "clip", "classes": names, "backbone": None,
            "sampling": {"num_frames": 8, "frame_rate": 4.0, "frame_step": 1.0, "clip_size": size, "clip_resize": size}}
    return ClipZeroShot(model, processor, names).eval(), ckpt
