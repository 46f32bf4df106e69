"""torchvision's Kinetics-400 video classifiers, each with its own weights' preprocessing.

Everything a model needs comes from its weights enum (``S3D_Weights.KINETICS400_V1``):
the 400 class names (``meta["categories"]``), the frames it reads (``clip_len`` and
``frame_rate`` of the evaluation its accuracy was measured with, in ``meta["_docs"]``),
and ``transforms()``: resize (to ``(H, W)``, or the short side when one number), centre
crop, scale to [0, 1], normalise with the weights' mean and standard deviation.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from vidcap.errors import ModelError
from vidcap.tasks.hub import TORCHVISION_VIDEO, ModelRef, torchvision_state


def weights_of(name: str):
    """The ``KINETICS400_V1`` weights enum member of torchvision's builder ``name``."""
    import torchvision.models.video as tvv

    return getattr(tvv, TORCHVISION_VIDEO[name][0]).KINETICS400_V1


def sampling_of(weights) -> dict:
    """How the weights read a video: ``num_frames``, ``frame_rate`` (frames per second sampled),
    ``clip_size`` (crop, H = W), ``clip_resize`` (``(H, W)`` or a short side) and ``mean``/``std``."""
    t = weights.transforms()
    docs = weights.meta.get("_docs", "")
    clip_len = re.search(r"clip_len=(\d+)", docs)
    rate = re.search(r"frame_rate=([\d.]+)", docs)
    resize = list(t.resize_size)
    return {"num_frames": int(clip_len.group(1)) if clip_len else 16,
            "frame_rate": float(rate.group(1)) if rate else None,
            "clip_size": int(t.crop_size[0]),
            "clip_resize": resize[0] if len(resize) == 1 else tuple(int(v) for v in resize),
            "mean": [float(v) for v in t.mean], "std": [float(v) for v in t.std]}


class TorchvisionVideo(nn.Module):
    """A torchvision video classifier on uint8 clips: ``forward(clips (B, T, S, S, 3) uint8) -> logits (B, 400)``."""

    kind = "torchvision"

    def __init__(self, name: str, state: dict | None, *, mean, std):
        super().__init__()
        import torchvision.models.video as tvv

        self.name = name
        self.net = getattr(tvv, name)(weights=None)
        if state is not None:
            try:
                self.net.load_state_dict(state)
            except RuntimeError as exc:
                raise ModelError(f"the weights do not fit torchvision's {name}: {str(exc).splitlines()[0]}") from exc
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1, 1) * 255.0, persistent=False)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = clips.permute(0, 4, 1, 2, 3).float()  # (B, 3, T, S, S)
        return self.net((x - self.mean) / self.std)  # (B, 400)


def load(ref: ModelRef) -> tuple[TorchvisionVideo, dict]:
    """The network (eval mode) and the checkpoint-like description ``VideoClassifier`` reads."""
    weights = weights_of(ref.name)
    sampling = sampling_of(weights)
    net = TorchvisionVideo(ref.name, torchvision_state(ref), mean=sampling.pop("mean"), std=sampling.pop("std"))
    ckpt = {"model_type": "torchvision", "classes": list(weights.meta["categories"]), "backbone": None,
            "sampling": {**sampling, "frame_step": 1.0}}
    return net.eval(), ckpt
