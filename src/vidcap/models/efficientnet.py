"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant for mobile accelerators).

The Lite variant is EfficientNet-B0 with the parts that mobile hardware handles badly
taken out: no squeeze-and-excitation, ReLU6 instead of swish, and a stem (32
channels) and head (1280) that stay fixed. Seven stages of inverted-residual
(MBConv) blocks; convolutions pad as TensorFlow's ``"same"`` (the weights were
trained there): a stride-2 layer pads more on the bottom/right than on the top/left.

Input ``(B, 3, H, W) float32`` scaled to [-1, 1] (``x / 255 * 2 - 1``); ``forward``
returns ``(B, 1280)`` pooled features and ``(B, classes)`` logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# (expansion, kernel, stride, output channels, repeats) of each stage
LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


@dataclass(frozen=True)
class EfficientNetLiteConfig:
    stages: tuple = LITE0_STAGES
    stem: int = 32
    head: int = 1280
    classes: int = 1000
    bn_eps: float = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with

    def __post_init__(self):
        if self.classes < 1 or self.stem < 1 or self.head < 1:
            raise ValueError(f"stem, head and classes must be positive: {self}")


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` as TensorFlow's ``"same"``: output size ``ceil(size / stride)``,
    the odd pixel of padding at the bottom/right."""
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / stride) - 1) * stride + kernel - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + kernel - w, 0)
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class ConvBN(nn.Module):
    """Conv (TF "same" padding, no bias) -> batch norm -> ReLU6 (unless ``act=False``)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *, groups: int = 1, act: bool = True,
                 eps: float = 1e-3):
        super().__init__()
        self.kernel, self.stride, self.act = kernel, stride, act
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x):  # (B, cin, H, W)
        x = self.bn(self.conv(same_pad(x, self.kernel, self.stride)))  # (B, cout, H / stride, W / stride)
        return F.relu6(x) if self.act else x


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, plus the input when shapes match."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int, eps: float):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid, 1, eps=eps) if expand != 1 else nn.Identity()
        self.depthwise = ConvBN(mid, mid, kernel, stride, groups=mid, eps=eps)
        self.project = ConvBN(mid, cout, 1, act=False, eps=eps)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):  # (B, cin, H, W)
        y = self.project(self.depthwise(self.expand(x)))  # (B, cout, H / stride, W / stride)
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    def __init__(self, config: EfficientNetLiteConfig = EfficientNetLiteConfig()):
        super().__init__()
        self.config = c = config
        self.stem = ConvBN(3, c.stem, 3, 2, eps=c.bn_eps)
        blocks, cin = [], c.stem
        for expand, kernel, stride, cout, repeats in c.stages:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if r == 0 else 1, c.bn_eps))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(cin, c.head, 1, eps=c.bn_eps)
        self.classifier = nn.Linear(c.head, c.classes)

    def forward(self, x, targets=None):  # (B, 3, H, W) in [-1, 1]
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, H / 32, W / 32)
        feats = x.mean(dim=(2, 3))  # (B, 1280)
        logits = self.classifier(feats)  # (B, classes)
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return (feats, logits), loss


def rename_lite_keys(state: dict) -> dict:
    """The keys of the TensorFlow-ported Lite checkpoints (``_conv_stem``, ``_blocks.N._bn1``,
    ``_fc``, ...) as this module names them; tensors are unchanged."""
    parts = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv", "_bn1": "head.bn",
             "_fc": "classifier"}
    block = {"_expand_conv": "expand.conv", "_bn0": "expand.bn", "_depthwise_conv": "depthwise.conv",
             "_bn1": "depthwise.bn", "_project_conv": "project.conv", "_bn2": "project.bn"}
    out = {}
    for key, value in state.items():
        names = key.split(".")
        if names[0] == "_blocks" and len(names) == 4 and names[2] in block:
            out[f"blocks.{names[1]}.{block[names[2]]}.{names[3]}"] = value
        elif len(names) == 2 and names[0] in parts:
            out[f"{parts[names[0]]}.{names[1]}"] = value
        else:
            out[key] = value  # left for the strict load to name
    return out
