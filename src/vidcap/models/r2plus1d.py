"""R(2+1)D-18 on RGB clips (torchvision's architecture, Tran et al. 2018).

Each 3D convolution is factorised into a 2D spatial one and a 1D temporal one
(seed 004 §3.2.3). The model takes clips ``(B, T, H, W, 3) uint8 [0, 255]`` and
normalises them inside with the Kinetics-400 statistics (and, with
``input_norm="clip"``, each clip by its own mean and deviation), so the
preprocessing travels with the weights.

Kinetics-400 weights are not shipped (nothing downloads at run time); users who
have them in the torch hub cache (``$TORCH_HOME/hub/checkpoints/r2plus1d_18-91a641e6.pth``)
can start from them with ``pretrained="kinetics400"``: :mod:`vidcap.tasks.classify`
reads the file and hands the state dict to the model (this module reads no files).

``width`` is the channel count of the first stage (64, 128, 256, 512 in
torchvision's ``r2plus1d_18``, the only width the Kinetics weights fit). A
narrower model is the same architecture -- torchvision's ``VideoResNet`` with
its ``BasicBlock``/``Conv2Plus1D`` blocks, [2, 2, 2, 2] layers and the (2+1)D
stem -- with every channel count scaled by ``width / 64`` and the same parameter
names. Width 16 has 2.0 M parameters instead of 31.3 M and trains about 11 times
faster per clip on a CPU.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidcap.errors import ConfigError, ModelError

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
PRETRAINED = (None, "kinetics400")
INPUT_NORMS = ("kinetics", "clip")
CLIP_STD_FLOOR = 0.1  # input_norm="clip": added to each clip's standard deviation (in Kinetics-normalised units)
FULL_WIDTH = 64  # torchvision's r2plus1d_18 (stage widths 64, 128, 256, 512)


@dataclass
class R2Plus1DConfig:
    num_classes: int
    num_frames: int = 8  # frames per clip
    clip_size: int = 112  # square input side in pixels
    pretrained: str | None = None  # None (from scratch) or "kinetics400" (weights from the hub cache)
    dropout: float = 0.2
    width: int = FULL_WIDTH  # channels of the first stage; 64 is torchvision's r2plus1d_18
    zero_init_residual: bool = False  # from scratch: each residual branch starts as identity (last BN scale 0)
    input_norm: str = "kinetics"  # "kinetics": fixed Kinetics-400 mean/std; "clip": then each clip standardised on its own

    def __post_init__(self):
        if self.pretrained not in PRETRAINED:
            raise ConfigError(f"pretrained must be one of {PRETRAINED}, got {self.pretrained!r}")
        if self.num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {self.num_classes}")
        if self.clip_size < 32:
            raise ConfigError(f"clip_size must be at least 32 pixels, got {self.clip_size}")
        if not 4 <= int(self.width) <= 256:
            raise ConfigError(f"width must be between 4 and 256 channels, got {self.width!r}")
        if self.input_norm not in INPUT_NORMS:
            raise ConfigError(f"input_norm must be one of {INPUT_NORMS}, got {self.input_norm!r}")
        if self.pretrained and self.width != FULL_WIDTH:
            raise ConfigError(f"Kinetics-400 weights fit the full-width R(2+1)D-18 (width {FULL_WIDTH}), not width {self.width}")

    def to_dict(self) -> dict:
        return asdict(self)


def kinetics_categories() -> list[str]:
    """The 400 Kinetics class names, in the weights' output order (shipped in torchvision's code)."""
    from torchvision.models.video import R2Plus1D_18_Weights

    return list(R2Plus1D_18_Weights.KINETICS400_V1.meta["categories"])


def r2plus1d_18(*, num_classes: int = 400, width: int = FULL_WIDTH, zero_init_residual: bool = False) -> nn.Module:
    """torchvision's R(2+1)D-18 (``VideoResNet``) with stage widths ``width * (1, 2, 4, 8)``.

    ``width=64`` is exactly ``torchvision.models.video.r2plus1d_18`` (same module, same
    parameter names, loads the Kinetics-400 state dict). ``zero_init_residual`` sets the
    scale of the last BatchNorm of every residual block to 0, so each block starts as
    the identity: the usual recipe for training deep BN ResNets from scratch
    (Goyal et al. 2017), which torchvision applies to bottleneck blocks only.
    """
    from torchvision.models.video import resnet

    if width == FULL_WIDTH:
        net = resnet.r2plus1d_18(weights=None, num_classes=num_classes)
    else:
        net = _narrow_r2plus1d_class()(width, num_classes)
    if zero_init_residual:
        for m in net.modules():
            if isinstance(m, resnet.BasicBlock):
                nn.init.zeros_(m.conv2[1].weight)
    return net


@functools.cache
def _narrow_r2plus1d_class():  # a function so that torchvision is imported only when a model is built
    from torchvision.models.video import resnet

    class NarrowR2Plus1D(resnet.VideoResNet):
        """``VideoResNet(BasicBlock, [Conv2Plus1D] * 4, [2, 2, 2, 2], R2Plus1dStem)`` at a chosen width."""

        def __init__(self, width: int, num_classes: int):
            nn.Module.__init__(self)
            mid = max(1, round(45 * width / FULL_WIDTH))  # the stem's 45 intermediate channels, scaled
            self.stem = nn.Sequential(  # R2Plus1dStem
                nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                nn.BatchNorm3d(mid),
                nn.ReLU(inplace=True),
                nn.Conv3d(mid, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            )
            self.inplanes = width
            block, conv = resnet.BasicBlock, resnet.Conv2Plus1D
            self.layer1 = self._make_layer(block, conv, width, 2, stride=1)
            self.layer2 = self._make_layer(block, conv, 2 * width, 2, stride=2)
            self.layer3 = self._make_layer(block, conv, 4 * width, 2, stride=2)
            self.layer4 = self._make_layer(block, conv, 8 * width, 2, stride=2)
            self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
            self.fc = nn.Linear(8 * width, num_classes)
            for m in self.modules():  # VideoResNet's initialisation
                if isinstance(m, nn.Conv3d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm3d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    return NarrowR2Plus1D


class R2Plus1DClassifier(nn.Module):
    """clips ``(B, T, H, W, 3) uint8`` -> torchvision ``r2plus1d_18`` -> ``(B, C)`` logits."""

    kind = "r2plus1d"

    def __init__(self, config: R2Plus1DConfig, *, init_state: dict | None = None):
        """``init_state``: the Kinetics-400 state dict to start from (``pretrained="kinetics400"``);
        without it a pretrained configuration gets the same network with random weights
        (for loading a fine-tuned checkpoint)."""
        super().__init__()
        self.config = config
        net = r2plus1d_18(num_classes=400 if config.pretrained else config.num_classes, width=config.width,
                          zero_init_residual=config.zero_init_residual and not config.pretrained)
        if config.pretrained == "kinetics400":
            if init_state is not None:
                try:
                    net.load_state_dict(init_state)
                except RuntimeError as exc:
                    raise ModelError(f"Kinetics weights do not fit R(2+1)D-18: {str(exc).splitlines()[0]}") from exc
            net.fc = nn.Linear(net.fc.in_features, config.num_classes)
        net.fc = nn.Sequential(nn.Dropout(config.dropout), net.fc) if config.dropout else net.fc
        self.net = net
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1) * 255.0, persistent=False)

    def embed_input(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, T, H, W, 3)`` -> normalised float ``(B, 3, T, H, W)``.

        ``input_norm="clip"`` then gives every channel of every clip zero mean and unit
        standard deviation over its frames and pixels (``CLIP_STD_FLOOR`` keeps a flat
        clip from blowing up its noise). Backgrounds of any colour or brightness then
        look alike, and what is left to tell classes apart is what changes, where:
        from scratch on a few hundred generated clips, R(2+1)D stays at chance with
        the fixed Kinetics normalisation and learns with this one.
        """
        x = clips.permute(0, 4, 1, 2, 3).float()  # (B, 3, T, H, W)
        x = (x - self.mean) / self.std
        if self.config.input_norm == "clip":
            x = (x - x.mean((2, 3, 4), keepdim=True)) / (x.std((2, 3, 4), keepdim=True) + CLIP_STD_FLOOR)
        return x

    def embed(self, clips) -> torch.Tensor:
        """uint8 clips ``(B, T, H, W, 3)`` -> their representation before the classifier ``(B, 8 * width)``."""
        n = self.net
        x = n.layer4(n.layer3(n.layer2(n.layer1(n.stem(self.embed_input(clips))))))
        return n.avgpool(x).flatten(1)

    def forward(self, clips, targets=None):
        logits = self.net.fc(self.embed(clips))  # (B, C): torchvision's VideoResNet.forward, in two steps
        return logits, None if targets is None else F.cross_entropy(logits, targets)


class KineticsR2Plus1D(nn.Module):
    """The Kinetics-400 R(2+1)D-18 as published (400 classes), for top-5 actions as in seed 001."""

    kind = "r2plus1d"

    def __init__(self, state: dict):
        super().__init__()
        from torchvision.models.video import r2plus1d_18

        self.config = R2Plus1DConfig(num_classes=400, num_frames=16, clip_size=112, pretrained="kinetics400", dropout=0.0)
        self.net = r2plus1d_18(weights=None)
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"Kinetics weights do not fit R(2+1)D-18: {str(exc).splitlines()[0]}") from exc
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1) * 255.0, persistent=False)

    embed_input = R2Plus1DClassifier.embed_input
    forward = R2Plus1DClassifier.forward
