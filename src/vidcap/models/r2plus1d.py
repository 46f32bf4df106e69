"""R(2+1)D-18 on RGB clips (torchvision's architecture, Tran et al. 2018).

Each 3D convolution is factorised into a 2D spatial one and a 1D temporal one
(seed 004 §3.2.3). The model takes clips ``(B, T, H, W, 3) uint8 [0, 255]`` and
normalises them inside with the Kinetics-400 statistics, so the preprocessing
travels with the weights.

Kinetics-400 weights are not shipped (nothing downloads at run time); users who
have them in the torch hub cache (``$TORCH_HOME/hub/checkpoints/r2plus1d_18-91a641e6.pth``)
can start from them with ``pretrained="kinetics400"``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError, ModelError

KINETICS_FILE = "r2plus1d_18-91a641e6.pth"
KINETICS_URL = f"https://download.pytorch.org/models/{KINETICS_FILE}"
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
PRETRAINED = (None, "kinetics400")


@dataclass
class R2Plus1DConfig:
    num_classes: int
    num_frames: int = 8  # frames per clip
    clip_size: int = 112  # square input side in pixels
    pretrained: str | None = None  # None (from scratch) or "kinetics400" (weights from the hub cache)
    dropout: float = 0.2

    def __post_init__(self):
        if self.pretrained not in PRETRAINED:
            raise ConfigError(f"pretrained must be one of {PRETRAINED}, got {self.pretrained!r}")
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.clip_size < 32:
            raise ConfigError(f"clip_size must be at least 32 pixels, got {self.clip_size}")

    def to_dict(self) -> dict:
        return asdict(self)


def kinetics_weights_path() -> Path:
    """Where torchvision keeps the Kinetics-400 R(2+1)D-18 weights in the hub cache."""
    return Path(torch.hub.get_dir()) / "checkpoints" / KINETICS_FILE


def kinetics_categories() -> list[str]:
    """The 400 Kinetics class names, in the weights' output order (shipped in torchvision's code)."""
    from torchvision.models.video import R2Plus1D_18_Weights

    return list(R2Plus1D_18_Weights.KINETICS400_V1.meta["categories"])


def load_kinetics_state(path: str | Path | None = None) -> dict:
    """The Kinetics-400 state dict of R(2+1)D-18 from the torch hub cache (or ``path``)."""
    p = Path(path) if path is not None else kinetics_weights_path()
    if not p.is_file():
        raise ModelError(
            f"Kinetics-400 weights for R(2+1)D-18 are not at {p}; on a machine with internet run "
            "`python -c \"from torchvision.models.video import r2plus1d_18, R2Plus1D_18_Weights; "
            "r2plus1d_18(weights=R2Plus1D_18_Weights.KINETICS400_V1)\"` "
            f"(or download {KINETICS_URL} to that path), or train from scratch without pretrained"
        )
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip / pickle: torch raises many types
        raise ModelError(f"{p}: cannot be read as R(2+1)D-18 weights ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ModelError(f"{p}: is not an R(2+1)D-18 state dict (no 'fc.weight')")
    return state


class R2Plus1DClassifier(nn.Module):
    """clips ``(B, T, H, W, 3) uint8`` -> torchvision ``r2plus1d_18`` -> ``(B, C)`` logits."""

    kind = "r2plus1d"

    def __init__(self, config: R2Plus1DConfig, *, weights_path: str | Path | None = None):
        super().__init__()
        from torchvision.models.video import r2plus1d_18

        self.config = config
        net = r2plus1d_18(weights=None, num_classes=400 if config.pretrained else config.num_classes)
        if config.pretrained == "kinetics400":
            try:
                net.load_state_dict(load_kinetics_state(weights_path))
            except RuntimeError as exc:
                raise ModelError(f"Kinetics weights do not fit R(2+1)D-18: {str(exc).splitlines()[0]}") from exc
            net.fc = nn.Linear(net.fc.in_features, config.num_classes)
        net.fc = nn.Sequential(nn.Dropout(config.dropout), net.fc) if config.dropout else net.fc
        self.net = net
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1) * 255.0, persistent=False)

    def embed_input(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, 3)`` -> normalised float ``(B, 3, T, H, W)``."""
        x = clips.permute(0, 4, 1, 2, 3).float()  # (B, 3, T, H, W)
        return (x - self.mean) / self.std

    def forward(self, clips, targets=None):
        logits = self.net(self.embed_input(clips))  # (B, C)
        return logits, None if targets is None else F.cross_entropy(logits, targets)


class KineticsR2Plus1D(nn.Module):
    """The Kinetics-400 R(2+1)D-18 as published (400 classes), for top-5 actions as in seed 001."""

    kind = "r2plus1d"

    def __init__(self, weights_path: str | Path | None = None):
        super().__init__()
        from torchvision.models.video import r2plus1d_18

        self.config = R2Plus1DConfig(num_classes=400, num_frames=16, clip_size=112, pretrained="kinetics400", dropout=0.0)
        self.net = r2plus1d_18(weights=None)
        self.net.load_state_dict(load_kinetics_state(weights_path))
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1) * 255.0, persistent=False)

    embed_input = R2Plus1DClassifier.embed_input
    forward = R2Plus1DClassifier.forward
