"""Caption videos with an S2VT checkpoint: load the model once, caption many videos.

A checkpoint is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading never runs pickled code:

``format``, ``model_args`` (the :class:`S2VTConfig`), ``model`` (state dict),
``vocab`` (``{"itos": [...]}``), ``backbone`` and ``feature_dim`` (what the
features must come from), ``sampling`` (``num_frames``, ``short``, ``fit``: how frames
are taken from a video and made the backbone's input; ``fit`` absent: ``"crop"``),
``decoding`` (default ``beam_size``, ``length_penalty``),
``flow`` (the motion stream's parameters,
:class:`vidcap.features.flow.MotionFeatures`, whose rows follow each frame's backbone
features; None or absent: no motion stream), ``metrics`` (optional), ``domain`` (where the training videos lie in the feature
space, :mod:`vidcap.features.domain`; None in older checkpoints) and ``train_state`` (only in a run's ``last.pt``, for resuming).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidcap.data.vocab import Vocabulary
from vidcap.errors import ConfigError, DataError, ModelError, VidcapError
from vidcap.features.domain import Domain, assess
from vidcap.io.checkpoints import load_checkpoint, resolve_run, save_checkpoint
from vidcap.progress import Callback, report
from vidcap.results import CaptionResult

if TYPE_CHECKING:  # torch is imported only where a model runs in it: ONNX Runtime captions without it
    import torch

    from vidcap.models.s2vt import S2VT

log = logging.getLogger(__name__)

FORMAT = "vidcap.s2vt"
FORMAT_VERSION = 1
ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEFAULT_MODEL = ASSETS / "s2vt_synth.pt"  # trained on the generated world (vidcap synth, seed 11)


def make_checkpoint(model: S2VT, vocab: Vocabulary, *, backbone: str, num_frames: int, short: str = "pad",
                    beam_size: int = 3, length_penalty: float = 0.0, metrics: dict | None = None,
                    domain: Domain | None = None, flow: dict | None = None, fit: str = "crop") -> dict:
    """The checkpoint dict of a captioner (see the module docstring)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_args": model.config.to_dict(),
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "vocab": vocab.to_dict(),
        "backbone": backbone,
        "feature_dim": model.config.feature_dim,
        "sampling": {"num_frames": int(num_frames), "short": short, "fit": fit},
        "decoding": {"beam_size": int(beam_size), "length_penalty": float(length_penalty)},
        "metrics": dict(metrics or {}),
        "domain": None if domain is None else domain.to_dict(),
        "flow": None if flow is None else dict(flow),
    }


def resolve_model_path(path: str | Path | None) -> Path:
    """A checkpoint file, or a training run folder (its best.pt, else last.pt); None: the bundled model."""
    return resolve_run(path, default=DEFAULT_MODEL, what="caption model")


def read_checkpoint(path: str | Path) -> dict:
    """Load and check a captioner checkpoint without executing pickled code."""
    return load_checkpoint(resolve_model_path(path), format=FORMAT, version=FORMAT_VERSION,
                           required=("model_args", "model", "vocab", "backbone", "sampling"), what="S2VT")


def build_model(ckpt: dict, path: str | Path = "checkpoint") -> tuple[S2VT, Vocabulary]:
    """The model (float32, eval mode) and vocabulary stored in ``ckpt``."""
    import torch

    from vidcap.models.s2vt import S2VT, S2VTConfig

    try:
        config = S2VTConfig(**ckpt["model_args"])
    except (TypeError, ConfigError) as exc:
        raise ModelError(f"checkpoint {path} has an invalid model configuration: {exc}") from exc
    vocab = Vocabulary.from_dict(ckpt["vocab"])
    if len(vocab) != config.vocab_size:
        raise ModelError(f"vocabulary mismatch in {path}: the stored vocabulary has {len(vocab)} words "
                         f"but the model was built for {config.vocab_size}")
    model = S2VT(config)
    state = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights in {path} do not fit its configuration: {str(exc).splitlines()[0]}") from exc
    return model.eval(), vocab


def check_features(ckpt: dict, *, backbone: str | None, feature_dim: int | None, where: str,
                   fit: str | None = None) -> None:
    """Refuse features from another backbone, of another size or of frames fitted another way
    than the checkpoint's (``fit`` None: unknown, not checked)."""
    if feature_dim is not None and int(feature_dim) != int(ckpt["feature_dim"]):
        raise ModelError(
            f"features in {where} have {feature_dim} dimensions but the model was trained on "
            f"{ckpt['feature_dim']}-d {ckpt['backbone']} features; extract them with --backbone {ckpt['backbone']}"
        )
    if backbone is not None and backbone != ckpt["backbone"]:
        raise ModelError(
            f"features in {where} come from backbone {backbone!r} but the model was trained on "
            f"{ckpt['backbone']!r}; extract them with --backbone {ckpt['backbone']}"
        )
    trained = (ckpt.get("sampling") or {}).get("fit", "crop")
    if fit is not None and fit != trained:
        raise ModelError(f"features in {where} are of frames fitted by {fit!r} but the model was trained on "
                         f"{trained!r}; extract them with --fit {trained}")


def export_checkpoint(src: str | Path, dst: str | Path, *, half: bool = True, **decoding) -> Path:
    """An inference-only copy of a training checkpoint (no optimizer state; fp16 weights by default)."""
    ckpt = read_checkpoint(src)
    ckpt.pop("train_state", None)
    if half:
        ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["decoding"] = {**ckpt.get("decoding", {}), **decoding}
    return save_checkpoint(ckpt, dst)


def predict(model: S2VT, vocab: Vocabulary, feats: torch.Tensor, mask: torch.Tensor | None, *, beam_size: int = 1,
            length_penalty: float = 0.0, batch_size: int = 64) -> list[tuple[str, float]]:
    """``(caption, log-probability)`` for features ``(B, T, D)`` float32 with mask ``(B, T)`` bool."""
    model.eval()
    out: list[tuple[str, float]] = []
    for i in range(0, feats.shape[0], batch_size):
        m = None if mask is None else mask[i : i + batch_size].bool()
        ids, scores = model.generate(feats[i : i + batch_size], m, beam_size=beam_size, length_penalty=length_penalty)
        out += [(vocab.decode(s), float(sc)) for s, sc in zip(ids, scores)]
    return out


class Captioner:
    """A loaded S2VT model with its vocabulary, backbone, sampling and decoding defaults."""

    def __init__(self, ckpt: dict, path: str | Path = "checkpoint", *, runner=None):
        self.path = str(path)
        # runner: the exported model on ONNX Runtime (vidcap.tasks.caption_onnx); else the torch S2VT
        self.model, self.vocab = (runner, Vocabulary.from_dict(ckpt["vocab"])) if runner else build_model(ckpt, path)
        self.backend = "onnx" if runner else "torch"
        self.config: dict = dict(ckpt["model_args"])  # the S2VTConfig fields (variant, hidden, ...)
        self.backbone: str = ckpt["backbone"]
        self.feature_dim: int = int(ckpt["feature_dim"])
        self.num_frames: int = int(ckpt["sampling"]["num_frames"])
        self.short: str = ckpt["sampling"].get("short", "pad")
        self.fit: str = ckpt["sampling"].get("fit", "crop")  # how frames become the backbone's input
        dec = ckpt.get("decoding", {})
        self.beam_size: int = int(dec.get("beam_size", 1))
        self.length_penalty: float = float(dec.get("length_penalty", 0.0))
        self.metrics: dict = ckpt.get("metrics", {})
        self.domain = Domain.from_dict(ckpt.get("domain"))  # where its training videos lie (None: unknown)
        self.bundled = Path(path) == DEFAULT_MODEL
        self.flow: dict | None = ckpt.get("flow")  # the motion stream (None: frames only)
        self._ckpt_meta = {k: ckpt[k] for k in ("backbone", "feature_dim", "sampling")}

    @classmethod
    def load(cls, path: str | Path | None = None, *, backend: str = "auto") -> Captioner:
        """A checkpoint file or run folder; None: the bundled model; ``hf:ORG/NAME`` or a local GIT folder:
        a :class:`vidcap.tasks.hub_git.GitCaptioner` (BLIP: ``hub_blip.BlipCaptioner``; same ``caption``
        and results).

        ``backend``: ``onnx`` decodes with ONNX Runtime (exported once per checkpoint, then
        no torch import), ``torch`` in torch; ``auto``: torch on a GPU, else ONNX Runtime.
        """
        from vidcap.features.extract import resolve_backend

        if path is not None:  # hf:ORG/NAME or a local GIT / BLIP folder (vidcap.tasks.hub_git, hub_blip)
            from vidcap.tasks import hub

            ref = hub.parse(path)
            kind = hub.family(ref)
            if kind == "git":
                from vidcap.tasks.hub_git import GitCaptioner

                return GitCaptioner.load(ref)
            if kind == "blip":
                from vidcap.tasks.hub_blip import BlipCaptioner

                return BlipCaptioner.load(ref)
            if kind is not None or ref.kind != "path":
                raise ConfigError(f"{path} is not a caption model: vidcap caption runs GIT models "
                                  "(e.g. hf:microsoft/git-base-vatex), BLIP per shot "
                                  "(hf:Salesforce/blip-image-captioning-base) and its own S2VT checkpoints")
        p = resolve_model_path(path)
        if resolve_backend(backend) == "onnx":
            from vidcap.tasks import caption_onnx

            runner, meta = caption_onnx.load(p)
            return cls(meta, p, runner=runner)
        return cls(read_checkpoint(p), p)

    def check_features(self, *, backbone: str | None, feature_dim: int | None, where: str,
                       fit: str | None = None) -> None:
        check_features(self._ckpt_meta, backbone=backbone, feature_dim=feature_dim, where=where, fit=fit)

    def caption_features(self, feats, mask=None, *, beam_size: int | None = None,
                         length_penalty: float | None = None, batch_size: int = 64) -> list[tuple[str, float]]:
        """``(caption, log-probability)`` for features ``(T, D)`` or ``(B, T, D)`` float32 (mask ``(B, T)`` bool)."""
        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim == 2:
            feats = feats[None]
            mask = None if mask is None else np.asarray(mask)[None]
        mask = None if mask is None else np.asarray(mask, dtype=bool)
        self.check_features(backbone=None, feature_dim=feats.shape[-1], where="the input")
        beam = self.beam_size if beam_size is None else int(beam_size)
        if beam < 1:
            raise ConfigError(f"beam_size={beam} must be at least 1")
        lp = self.length_penalty if length_penalty is None else float(length_penalty)
        if self.backend == "onnx":
            ids, scores = self.model.generate(feats, mask, beam_size=beam, length_penalty=lp)
            return [(self.vocab.decode(s), float(sc)) for s, sc in zip(ids, scores)]
        import torch

        return predict(self.model, self.vocab, torch.from_numpy(feats), None if mask is None else torch.from_numpy(mask),
                       beam_size=beam, length_penalty=lp, batch_size=batch_size)

    def with_motion(self, video, feats, indices, mask, within: tuple[int, int] | None = None) -> np.ndarray:
        """``feats (T, D)`` of ``video``'s frames ``indices`` (``mask``: the real ones), joined to
        the motion rows at the same frames when the model has a motion stream: ``(T, D + dim)``;
        ``within``: the frames ``[first, stop)`` of the window they come from (its motion stays in it).
        Raises DataError for a video without motion (one frame)."""
        if self.flow is None:
            return np.asarray(feats)
        from vidcap.features.flow import MotionFeatures, motion_features

        motion, *_ = motion_features(video, num_frames=self.num_frames, short=self.short,
                                     stream=MotionFeatures.from_dict(self.flow),
                                     sampled=(np.asarray(indices), np.asarray(mask, dtype=bool)), within=within)
        return np.concatenate([feats, motion], axis=1)

    def caption_one(self, video, *, beam_size: int | None = None, length_penalty: float | None = None) -> CaptionResult:
        """Sample ``num_frames`` frames, run the backbone, decode. Raises DecodeError for a bad video."""
        from vidcap.features.extract import extract

        f = extract(video, backbone=self.backbone, num_frames=self.num_frames, short=self.short, fit=self.fit)
        feats = self.with_motion(video, f.features, f.indices, f.mask)
        (text, score), = self.caption_features(feats, f.mask, beam_size=beam_size, length_penalty=length_penalty)
        domain = assess(self.domain, np.asarray(f.features)[np.asarray(f.mask, bool)], answer="this caption",
                        model="bundled caption model" if self.bundled else "caption model")
        return CaptionResult(str(video), text, score, self.beam_size if beam_size is None else int(beam_size), **domain)

    def caption(self, videos, *, beam_size: int | None = None, length_penalty: float | None = None,
                errors: str = "raise", progress: Callback | None = None) -> list[CaptionResult]:
        """Caption video files (folders and ``.txt`` lists are expanded), one after the other.

        ``errors="raise"``: a video that cannot be read raises its error;
        ``errors="record"``: its result carries the error and an empty caption, and
        the other videos are still captioned. Each result is reported through
        ``progress`` as soon as it is ready.
        """
        return caption_videos(self, videos, beam_size, length_penalty, errors, progress)


def caption_videos(captioner, videos, beam_size, length_penalty, errors, progress) -> list[CaptionResult]:
    """The many-video loop of every captioner (one with ``beam_size`` and ``caption_one``): inputs
    expanded, each video captioned, its error raised or recorded, each result reported."""
    from vidcap.io.files import find_videos

    if errors not in ("raise", "record"):
        raise ConfigError(f"errors={errors!r} must be 'raise' or 'record'")
    paths = find_videos(videos)
    if not paths:
        raise DataError(f"no video to caption in {videos!r}")
    beam = captioner.beam_size if beam_size is None else int(beam_size)
    results = []
    for i, video in enumerate(paths):
        try:
            result = captioner.caption_one(video, beam_size=beam, length_penalty=length_penalty)
        except VidcapError as exc:
            if errors == "raise":
                raise
            result = CaptionResult(str(video), "", None, beam, str(exc))
        results.append(result)
        report(progress, "caption", i + 1, len(paths), item=result)
    return results
