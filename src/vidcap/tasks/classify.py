"""Classify videos with a trained classifier: sliding windows, top-k labels, a verdict.

``classify(videos, model, window=16, stride=8, top_k=5)`` samples each video at the
rate the model was trained at (the checkpoint's ``frame_step``: source frames
between two sampled frames), cuts the sampled frames into windows of ``window``
frames every ``stride`` frames (the last window is aligned to the end so the tail
is covered), resamples each window evenly to the model's ``num_frames`` and
returns per-window top-k labels with probabilities and timestamps, plus a
whole-video verdict (the mean of the window probabilities).

``model`` is a run folder or checkpoint from ``vidcap train classify``, a loaded
:class:`VideoClassifier`, a torchvision Kinetics-400 classifier (``"torchvision:s3d"``,
``"torchvision:mvit_v2_s"``, ...; ``"kinetics400"`` is ``torchvision:r2plus1d_18``, the
seed 001 recipe's top-5 actions), each read with its own weights' frames, size and
normalisation, or a CLIP model (``"hf:openai/clip-vit-base-patch32"`` or a local folder)
with ``labels`` for zero-shot labels. See :mod:`vidcap.tasks.hub` for the references.

A checkpoint is a plain dict (``torch.load(weights_only=True)``): ``format``,
``model_type``, ``model_args``, ``model`` (state dict), ``config`` (the
:class:`~vidcap.config.ClassifyConfig` of the run), ``classes``, ``backbone``,
``feature_dim``, ``sampling`` and ``metrics``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vidcap.config import ClassifyConfig
from vidcap.errors import ConfigError, DataError, ModelError, VidcapError
from vidcap.features.domain import Domain, assess
from vidcap.io.checkpoints import load_checkpoint, read_checkpoint_dict, resolve_run
from vidcap.progress import Callback, report
from vidcap.results import ClassificationResult, Failure, WindowPrediction

log = logging.getLogger(__name__)

FORMAT = "vidcap.classify"
FORMAT_VERSION = 1
KINETICS_FILE = "r2plus1d_18-91a641e6.pth"
KINETICS_URL = f"https://download.pytorch.org/models/{KINETICS_FILE}"


# --------------------------------------------------------------------------- weights and checkpoints
def kinetics_weights_path() -> Path:
    """Where torchvision keeps the Kinetics-400 R(2+1)D-18 weights in the hub cache."""
    from vidcap.features.backbones import torch_hub_dir

    return torch_hub_dir() / "checkpoints" / KINETICS_FILE


def load_kinetics_state(path=None) -> dict:
    """The Kinetics-400 state dict of R(2+1)D-18 from the torch hub cache (or ``path``)."""
    p = Path(path) if path is not None else kinetics_weights_path()
    if not p.is_file():
        raise ModelError(
            f"Kinetics-400 weights for R(2+1)D-18 are not at {p}; on a machine with internet run "
            "`python -c \"from torchvision.models.video import r2plus1d_18, R2Plus1D_18_Weights; "
            "r2plus1d_18(weights=R2Plus1D_18_Weights.KINETICS400_V1)\"` "
            f"(or download {KINETICS_URL} to that path), or train from scratch without pretrained"
        )
    state = read_checkpoint_dict(p)
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise ModelError(f"{p}: is not an R(2+1)D-18 state dict (no 'fc.weight')")
    return state


def build_model(cfg: ClassifyConfig, num_classes: int, feature_dim: int | None, *, init_state: dict | None = None):
    """The network a config describes (random weights; ``init_state``: Kinetics weights to start from)."""
    if cfg.model in ("pool", "lstm"):
        from vidcap.models.classifier import FEATURE_MODELS, FeatureClassifierConfig

        mc = FeatureClassifierConfig(feature_dim=feature_dim, num_classes=num_classes, hidden=cfg.hidden,
                                     pool=cfg.pool, dropout=cfg.dropout)
        return FEATURE_MODELS[cfg.model](mc)
    if cfg.model == "r2plus1d":
        from vidcap.models.r2plus1d import R2Plus1DClassifier, R2Plus1DConfig

        mc = R2Plus1DConfig(num_classes=num_classes, num_frames=cfg.num_frames, clip_size=cfg.clip_size,
                            pretrained=cfg.pretrained, dropout=min(cfg.dropout, 0.5),
                            # None: a checkpoint from before these options, full width, Kinetics statistics
                            width=cfg.width or 64, input_norm=cfg.input_norm or "kinetics",
                            zero_init_residual=not cfg.pretrained)
        return R2Plus1DClassifier(mc, init_state=init_state)
    from vidcap.models.two_stream import TwoStreamClassifier, TwoStreamConfig

    return TwoStreamClassifier(TwoStreamConfig(feature_dim=feature_dim, num_classes=num_classes,
                                               num_frames=cfg.num_frames, flow_size=cfg.flow_size, fusion=cfg.fusion,
                                               flow_method=cfg.flow_method, dropout=cfg.dropout))


def forward(model, batch: dict[str, torch.Tensor], targets=None):
    """``(logits (B, C), loss)`` of any classifier on a batch of its inputs (feats/mask, clips, flow)."""
    if model.kind in ("pool", "lstm"):
        return model(batch["feats"], batch.get("mask"), targets=targets)
    if model.kind == "r2plus1d":
        return model(batch["clips"], targets=targets)
    return model(batch["feats"], batch["flow"], batch.get("mask"), targets=targets)


def make_checkpoint(model, cfg: ClassifyConfig, classes: list[str], *, feature_dim, frame_step,
                    domain=None) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_type": cfg.model,
        "model_args": model.config.to_dict(),
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "config": cfg.to_dict(),
        "classes": list(classes),
        "backbone": cfg.backbone if cfg.model != "r2plus1d" else None,
        "feature_dim": feature_dim,
        "sampling": {"num_frames": cfg.num_frames, "short": cfg.short, "frame_step": frame_step,
                     "clip_size": cfg.clip_size, "flow_size": cfg.flow_size, "flow_method": cfg.flow_method},
        "domain": None if domain is None else domain.to_dict(),  # vidcap.features.domain; None: unknown
    }


def read_checkpoint(path) -> dict:
    """Load a classifier checkpoint (``weights_only=True``: no pickled code runs) and check it."""
    return load_checkpoint(resolve_run(path, what="classifier"), format=FORMAT, version=FORMAT_VERSION,
                           what="classifier",
                           required=("model_type", "model_args", "model", "classes", "config", "sampling"))


def model_from_checkpoint(ckpt: dict, where="checkpoint"):
    """Rebuild the network stored in ``ckpt`` (eval mode); a mismatch raises ModelError."""
    cfg = ClassifyConfig.from_dict(ckpt["config"])
    classes = ckpt["classes"]
    args = ckpt["model_args"]
    if int(args.get("num_classes", -1)) != len(classes):
        raise ModelError(f"{where}: the model has {args.get('num_classes')} outputs but {len(classes)} class names")
    model = build_model(cfg, len(classes), ckpt.get("feature_dim"))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights in {where} do not fit its {cfg.model} configuration: {str(exc).splitlines()[0]}") from exc
    return model.eval()


# --------------------------------------------------------------------------- windows
def window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Start rows of the sliding windows over ``num_frames`` sampled frames.

    Windows start every ``stride`` rows; one more window ending at the last frame
    is added when the regular ones leave a tail uncovered.
    """
    if window < 1 or stride < 1:
        raise ConfigError(f"window and stride must be at least 1, got window={window} stride={stride}")
    if num_frames < window:
        return []
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


class VideoClassifier:
    """A trained classifier with its classes and the sampling it was trained with."""

    def __init__(self, net, ckpt: dict, source: str):
        self.net = net.eval()
        self.source = source
        self.kind: str = ckpt["model_type"]
        self.classes: list[str] = list(ckpt["classes"])
        s = ckpt["sampling"]
        self.num_frames = int(s["num_frames"])
        self.frame_step = float(s.get("frame_step") or 1.0)
        self.clip_size = int(s.get("clip_size", 112))
        resize = s.get("clip_resize", self.clip_size)  # a short side, or (H, W) as torchvision's weights want
        self.clip_resize = tuple(int(v) for v in resize) if isinstance(resize, (list, tuple)) else int(resize)
        self.frame_rate = s.get("frame_rate")  # frames per second the model reads (hub models); else frame_step
        self.default_window = self.num_frames if self.kind in ("torchvision", "clip") else 16
        self.flow_size = int(s.get("flow_size", 56))
        self.flow_method = s.get("flow_method", "dis")
        self.backbone = ckpt.get("backbone")
        self.feature_dim = ckpt.get("feature_dim")
        self.domain = Domain.from_dict(ckpt.get("domain"))

    @classmethod
    def load(cls, model, *, labels=None) -> "VideoClassifier":
        """A run folder or checkpoint, ``torchvision:NAME`` (``kinetics400``), or a CLIP model (``hf:...`` or a
        local folder) with ``labels`` (a list or ``"a,b,c"``) for zero-shot labels."""
        if isinstance(model, VideoClassifier):
            if labels is not None and model.kind != "clip":
                raise ConfigError(f"labels are for a CLIP model, not for the {model.kind} classifier {model.source}")
            return model
        from vidcap.tasks import hub

        ref = hub.parse(model)
        kind = hub.family(ref)
        if labels is not None and kind != "clip":
            raise ConfigError(f"--labels needs a CLIP model (e.g. hf:openai/clip-vit-base-patch32), and {model} "
                              "is not one; trained classifiers and Kinetics models have their own classes")
        if kind == "torchvision":
            from vidcap.tasks.hub_torchvision import load as load_torchvision

            net, ckpt = load_torchvision(ref)
            return cls(net, ckpt, str(ref) if str(model) not in hub.ALIASES else f"{model} ({ref})")
        if kind == "clip":
            from vidcap.tasks.hub_clip import load_zero_shot

            net, ckpt = load_zero_shot(ref, labels)
            return cls(net, ckpt, str(ref))
        if kind is not None or ref.kind == "hf":
            raise ConfigError(f"{model} is {'a ' + repr(kind) if kind else 'not a known'} hub model; vidcap classify "
                              "runs torchvision:NAME, CLIP (with --labels) or its own checkpoints")
        path = resolve_run(model, what="classifier")
        ckpt = read_checkpoint(path)
        return cls(model_from_checkpoint(ckpt, path), ckpt, str(path))

    # -- inputs
    def _frames(self, path, wanted, short_side, crop: int) -> dict[int, np.ndarray]:
        """Frames resized (``short_side``: an int keeps the aspect, ``(H, W)`` does not) and centre-cropped."""
        from vidcap.io import center_crop, frames_at, probe, short_side_size

        info = probe(path)
        size = ((short_side[1], short_side[0]) if isinstance(short_side, tuple)
                else short_side_size(info.width, info.height, short_side))
        frames, _ = frames_at(path, wanted, size=size)
        missing = sorted(set(int(i) for i in wanted) - set(frames))
        if missing:
            raise _Damaged(missing[0])
        return {k: np.ascontiguousarray(center_crop(f, crop)) for k, f in frames.items()}

    def inputs(self, path, indices: np.ndarray, n_frames: int) -> dict[str, np.ndarray]:
        """Per sampled frame model inputs: ``feats (N, D)``, ``clips (N, S, S, 3)``, ``flow (N, 2, F, F)``."""
        out = {}
        if self.kind in ("pool", "lstm", "two-stream"):
            from vidcap.features import get_engine

            engine = get_engine(self.backbone)
            if self.feature_dim is not None and engine.backbone.dim != int(self.feature_dim):
                raise ModelError(f"{self.source}: expects {self.feature_dim}-d features but {self.backbone} gives "
                                 f"{engine.backbone.dim}")
            frames = self._frames(path, indices, engine.backbone.resize, engine.backbone.crop)
            out["feats"] = engine(np.stack([frames[int(i)] for i in indices]))
        if self.kind in ("r2plus1d", "torchvision"):
            frames = self._frames(path, indices, self.clip_resize, self.clip_size)
            out["clips"] = np.stack([frames[int(i)] for i in indices])
        if self.kind == "clip":  # CLIP's image embedding of each sampled frame (its processor resizes)
            frames = self._frames(path, indices, self.clip_resize, self.clip_size)
            out["feats"] = self.net.embed_frames(np.stack([frames[int(i)] for i in indices]))
        if self.kind == "two-stream":
            from vidcap.features.flow import flows_from_frames, pair_indices

            pairs = pair_indices(indices, np.ones(len(indices), bool), n_frames)
            wanted = sorted({int(i) for i in indices} | {i for p in pairs if p for i in p})
            frames = self._frames(path, wanted, self.flow_size, self.flow_size)
            out["flow"] = flows_from_frames(frames, pairs, method=self.flow_method,
                                            shape=(self.flow_size, self.flow_size))
        return out

    @torch.no_grad()
    def probabilities(self, inputs: dict[str, np.ndarray], rows: list[np.ndarray],
                      batch_size: int = 32) -> tuple[np.ndarray, np.ndarray | None]:
        """Class probabilities ``(W, C)`` of windows given as row indices into ``inputs``, and the video's
        vectors for the in-domain check (None without a domain)."""
        probs, embeddings = [], []
        for b in range(0, len(rows), batch_size):
            sel = np.stack(rows[b : b + batch_size])  # (B, T)
            batch = {k: torch.from_numpy(np.ascontiguousarray(v[sel], dtype=np.uint8 if k == "clips" else np.float32))
                     for k, v in inputs.items()}
            if self.kind == "r2plus1d":
                emb = self.net.embed(batch["clips"])
                logits = self.net.net.fc(emb)
                embeddings.append(emb.float().numpy())
            elif self.kind in ("torchvision", "clip"):
                logits = self.net(batch["clips" if self.kind == "torchvision" else "feats"])
            else:
                logits, _ = forward(self.net, batch)
            probs.append(torch.softmax(logits.float(), -1).numpy())
        if self.domain is None:
            vectors = None
        else:  # the frames' features; R(2+1)D reads pixels: its embedding of each window
            vectors = np.concatenate(embeddings) if embeddings else inputs["feats"]
        return np.concatenate(probs), vectors

    def classify_one(self, path, *, window: int | None = None, stride: int | None = None, top_k: int = 5,
                     step=lambda fraction: None) -> ClassificationResult:
        """Per-window top-k labels with probabilities and timestamps, and a whole-video verdict.

        ``window``/``stride`` None: the model's clip length (16 for vidcap's own models) and half of it.
        ``step(fraction)`` is told how far the work on this video is (decoded, features, windows).
        """
        from vidcap.io import probe

        if top_k < 1:
            raise ConfigError(f"top_k must be at least 1, got {top_k}")
        window = self.default_window if window is None else int(window)
        stride = max(1, window // 2) if stride is None else int(stride)
        info = probe(path)
        n = info.num_frames
        frame_step = self.frame_step
        if self.frame_rate:  # hub models read a fixed number of frames per second, whatever the video's rate
            frame_step = max(1.0, (info.avg_fps or 25.0) / float(self.frame_rate))
        while True:
            indices = np.unique(np.round(np.arange(0, n - 1 + 1e-9, frame_step)).astype(np.int64))
            starts = window_starts(len(indices), window, stride)
            if not starts:
                raise DataError(
                    f"{path}: too short for a window of {window} frames: it has {n} frames, {len(indices)} when "
                    f"sampled every {frame_step:.2f} frames as the model was trained; use a smaller --window"
                )
            step(0.1)
            try:
                inputs = self.inputs(path, indices, n)
                break
            except _Damaged as cut:  # classify what decodes, as every command does
                log.warning("%s: decoding stopped at frame %d of %d (the rest is damaged); classifying the first %d",
                            path, cut.frame, n, cut.frame)
                n = cut.frame
        step(0.8)
        pick = np.round(np.linspace(0, window - 1, self.num_frames)).astype(np.int64)
        probs, vectors = self.probabilities(inputs, [s + pick for s in starts])  # (W, C)
        fps = info.avg_fps or 25.0
        k = min(top_k, len(self.classes))
        windows = []
        for w, (s, p) in enumerate(zip(starts, probs)):
            first, last = int(indices[s]), int(indices[s + window - 1])
            order = np.argsort(-p)[:k]
            windows.append(WindowPrediction(w, round(first / fps, 4), round((last + 1) / fps, 4), first, last,
                                            [self.classes[i] for i in order], [round(float(p[i]), 5) for i in order]))
        mean = probs.mean(0)
        order = np.argsort(-mean)[:k]
        return ClassificationResult(str(path), self.source, self.classes, window, stride, frame_step, fps,
                                    windows, self.classes[order[0]], float(mean[order[0]]),
                                    [(self.classes[i], round(float(mean[i]), 5)) for i in order],
                                    **assess(self.domain, vectors, model="classifier", answer="these labels"))


class _Damaged(Exception):
    """Frame ``frame`` and the ones after it cannot be decoded."""

    def __init__(self, frame: int):
        self.frame = frame


def classify(videos, model, *, window: int | None = None, stride: int | None = None, top_k: int = 5, labels=None,
             output=None, gif=None, errors: str = "raise",
             progress: Callback | None = None) -> list[ClassificationResult | Failure]:
    """Classify video files (folders and ``.txt`` lists are expanded) with one loaded model.

    ``window``/``stride`` count frames sampled at the model's training rate (every
    ``frame_step`` source frames; hub models: their own frames per second); None: the
    model's clip length (16 for vidcap's own models) and half of it. A video with fewer
    sampled frames than ``window`` raises :class:`~vidcap.errors.DataError`. ``labels``:
    the classes of a CLIP model's zero-shot labels (a list or ``"a,b,c"``). ``output``/``gif``: an annotated video /
    GIF of the windows' labels (one video: a file; several: a folder that gets
    ``<stem>.mp4`` / ``<stem>.gif``). ``errors="record"``: a video that fails gives a
    :class:`~vidcap.results.Failure` and the others go on (``errors="raise"`` stops at
    it). Each result is reported through ``progress`` as soon as it is ready.
    """
    from vidcap.io.files import find_videos
    from vidcap.viz.annotate import annotate_classification

    if errors not in ("raise", "record"):
        raise ConfigError(f"errors={errors!r} must be 'raise' or 'record'")
    paths = find_videos(videos)
    if not paths:
        raise DataError(f"no video to classify in {videos!r}")
    clf = VideoClassifier.load(model, labels=labels)
    results = []
    for i, path in enumerate(paths):
        try:
            result = clf.classify_one(path, window=window, stride=stride, top_k=top_k,
                                      step=lambda f: report(progress, "classify", i + f, len(paths)))
            dst, gif_out = (per_video(output, path, ".mp4", len(paths)), per_video(gif, path, ".gif", len(paths)))
            if dst or gif_out:
                written = annotate_classification(path, result, dst, gif=gif_out)
                result.outputs = {k: v for k, v in written.items() if k in ("video", "gif") and v}
        except VidcapError as exc:
            if errors == "raise":
                raise
            result = Failure(str(path), str(exc))
        results.append(result)
        report(progress, "classify", i + 1, len(paths), item=result)
    return results


def per_video(output, video: Path, ext: str, count: int) -> Path | None:
    """The output file of one of ``count`` videos: ``output`` itself for one video, else
    ``output/<stem><ext>`` (``output`` is then a folder)."""
    if output is None:
        return None
    out = Path(output)
    if count == 1 and not (out.is_dir() or str(output).endswith(("/", "\\"))):
        return out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} must be a folder when several videos are given")
    return out / f"{Path(video).stem}{ext}"
