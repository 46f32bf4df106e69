"""CLIP zero-shot labels for videos: frames through the image tower, labels through the text tower.

Each label becomes the prompt ``"a photo of {label}."`` (CLIP's own ImageNet prompt);
a window's frames are embedded one by one (CLIP's processor resizes, crops and
normalises them), averaged, normalised again, and compared with every label's text
embedding by cosine similarity scaled with the model's ``logit_scale``; a softmax over
the labels gives the probabilities.
"""
from __future__ import annotations

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


class ClipZeroShot(nn.Module):
    """``embed_frames(uint8 (N, H, W, 3)) -> (N, D)`` unit vectors; ``forward(feats (B, T, D)) -> logits (B, C)``."""

    kind = "clip"

    def __init__(self, model, processor, labels: list[str]):
        super().__init__()
        self.model, self.processor, self.labels = model, processor, labels
        with torch.no_grad():
            text = processor(text=[PROMPT.format(s) for s in labels], return_tensors="pt", padding=True)
            t = _pooled(model.get_text_features(input_ids=text["input_ids"], attention_mask=text["attention_mask"]))
        self.register_buffer("text", nn.functional.normalize(t.float(), dim=-1), persistent=False)  # (C, D)

    @torch.no_grad()
    def embed_frames(self, frames: np.ndarray, batch_size: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(frames), batch_size):
            pix = self.processor(images=list(frames[i : i + batch_size]), return_tensors="pt")["pixel_values"]
            emb = _pooled(self.model.get_image_features(pixel_values=pix)).float()
            out.append(nn.functional.normalize(emb, dim=-1))
        return torch.cat(out).numpy()  # (N, D)

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
