"""S2VT checkpoints that carry everything needed to use them, and the captioner built on one.

A checkpoint is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading never runs pickled code:

``format``, ``model_args`` (the :class:`S2VTConfig`), ``model`` (state dict),
``vocab`` (``{"itos": [...]}``), ``backbone`` and ``feature_dim`` (what the
features must come from), ``sampling`` (``num_frames``, ``short``: how frames
are taken from a video), ``decoding`` (default ``beam_size``, ``length_penalty``),
``metrics`` (optional) and ``train_state`` (optimizer, RNG states, epoch, history:
only in training checkpoints, for exact resume).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcap.data.vocab import Vocabulary
from vidcap.errors import ConfigError, DataError, ModelError, VidcapError
from vidcap.models.s2vt import S2VT, S2VTConfig
from vidcap.train.runs import load_checkpoint, resolve_run, save_checkpoint

log = logging.getLogger(__name__)


FORMAT = "vidcap.s2vt"
FORMAT_VERSION = 1
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "s2vt_synth.pt"


def make_checkpoint(
    model: S2VT,
    vocab: Vocabulary,
    *,
    backbone: str,
    num_frames: int,
    short: str = "pad",
    beam_size: int = 3,
    length_penalty: float = 0.0,
    metrics: dict | None = None,
    train_state: dict | None = None,
) -> dict:
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_args": model.config.to_dict(),
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "vocab": vocab.to_dict(),
        "backbone": backbone,
        "feature_dim": model.config.feature_dim,
        "sampling": {"num_frames": int(num_frames), "short": short},
        "decoding": {"beam_size": int(beam_size), "length_penalty": float(length_penalty)},
        "metrics": dict(metrics or {}),
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    return ckpt


def resolve_model_path(path: str | Path | None) -> Path:
    """A checkpoint file, or a training run folder (its best.pt, else last.pt); None: the bundled model."""
    return resolve_run(path, default=DEFAULT_MODEL, what="caption model")


def read_checkpoint(path: str | Path) -> dict:
    """Load and check a checkpoint dict without executing pickled code."""
    return load_checkpoint(resolve_model_path(path), format=FORMAT, version=FORMAT_VERSION,
                           required=("model_args", "model", "vocab", "backbone", "sampling"), what="S2VT")


def build_model(ckpt: dict, path: str | Path = "checkpoint") -> tuple[S2VT, Vocabulary]:
    """The model (float32, eval mode) and vocabulary stored in ``ckpt``."""
    try:
        config = S2VTConfig(**ckpt["model_args"])
    except (TypeError, ConfigError) as exc:
        raise ModelError(f"checkpoint {path} has an invalid model configuration: {exc}") from exc
    vocab = Vocabulary.from_dict(ckpt["vocab"])
    if len(vocab) != config.vocab_size:
        raise ModelError(
            f"vocabulary mismatch in {path}: the stored vocabulary has {len(vocab)} words "
            f"but the model was built for {config.vocab_size}"
        )
    model = S2VT(config)
    state = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights in {path} do not fit its configuration: {str(exc).splitlines()[0]}") from exc
    return model.eval(), vocab


def check_features(ckpt: dict, *, backbone: str | None, feature_dim: int | None, where: str) -> None:
    """Refuse features from another backbone or of another size than the checkpoint's."""
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


def export_checkpoint(src: str | Path, dst: str | Path, *, half: bool = True, **decoding) -> Path:
    """An inference-only copy of a training checkpoint (no optimizer state; fp16 weights by default)."""
    ckpt = read_checkpoint(src)
    ckpt.pop("train_state", None)
    if half:
        ckpt["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["decoding"] = {**ckpt.get("decoding", {}), **decoding}
    return save_checkpoint(ckpt, dst)


@dataclass
class CaptionResult:
    video: str
    caption: str
    score: float  # log-probability of the caption under the model
    beam_size: int
    error: str | None = None  # why the video could not be captioned (caption is then "")

    def to_dict(self) -> dict:
        out = {"video": self.video, "caption": self.caption, "score": self.score, "beam_size": self.beam_size}
        if self.error is not None:
            out["error"] = self.error
        return out


class Captioner:
    """A loaded S2VT model with its vocabulary, backbone and sampling parameters."""

    def __init__(self, ckpt: dict, path: str | Path = "checkpoint"):
        self.path = str(path)
        self.model, self.vocab = build_model(ckpt, path)
        self.backbone: str = ckpt["backbone"]
        self.feature_dim: int = int(ckpt["feature_dim"])
        self.num_frames: int = int(ckpt["sampling"]["num_frames"])
        self.short: str = ckpt["sampling"].get("short", "pad")
        dec = ckpt.get("decoding", {})
        self.beam_size: int = int(dec.get("beam_size", 1))
        self.length_penalty: float = float(dec.get("length_penalty", 0.0))
        self.metrics: dict = ckpt.get("metrics", {})
        self._ckpt_meta = {k: ckpt[k] for k in ("backbone", "feature_dim")}

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Captioner":
        p = resolve_model_path(path)
        return cls(read_checkpoint(p), p)

    def check_features(self, *, backbone: str | None, feature_dim: int | None, where: str) -> None:
        check_features(self._ckpt_meta, backbone=backbone, feature_dim=feature_dim, where=where)

    def caption_features(
        self,
        feats: np.ndarray | torch.Tensor,
        mask: np.ndarray | torch.Tensor | None = None,
        *,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        batch_size: int = 64,
    ) -> list[tuple[str, float]]:
        """Captions for features ``(T, D)`` or ``(B, T, D)`` float32 (mask ``(B, T)`` bool)."""
        feats = torch.as_tensor(np.asarray(feats, dtype=np.float32))
        if feats.dim() == 2:
            feats = feats[None]
            mask = None if mask is None else torch.as_tensor(np.asarray(mask))[None]
        elif mask is not None:
            mask = torch.as_tensor(np.asarray(mask))
        self.check_features(backbone=None, feature_dim=feats.shape[-1], where="the input")
        beam = self.beam_size if beam_size is None else int(beam_size)
        lp = self.length_penalty if length_penalty is None else float(length_penalty)
        out: list[tuple[str, float]] = []
        for i in range(0, feats.shape[0], batch_size):
            m = None if mask is None else mask[i : i + batch_size].bool()
            ids, scores = self.model.generate(feats[i : i + batch_size], m, beam_size=beam, length_penalty=lp)
            out += [(self.vocab.decode(s), float(sc)) for s, sc in zip(ids, scores)]
        return out

    def caption(self, videos, *, beam_size: int | None = None, length_penalty: float | None = None,
                errors: str = "raise") -> list[CaptionResult]:
        """Caption video files: sample ``num_frames`` frames, extract features with the
        checkpoint's backbone, decode.

        ``errors="raise"``: a video that cannot be read raises its DecodeError;
        ``errors="record"``: its result carries the error and an empty caption, and
        the other videos are still captioned.
        """
        from vidcap.features import extract

        if errors not in ("raise", "record"):
            raise ConfigError(f"errors={errors!r} must be 'raise' or 'record'")
        if isinstance(videos, (str, Path)):
            videos = [videos]
        if not videos:
            raise DataError("no video to caption was given")
        beam = self.beam_size if beam_size is None else int(beam_size)
        feats, masks, failed = [], [], {}
        for v in videos:
            try:
                f = extract(v, backbone=self.backbone, num_frames=self.num_frames)
            except VidcapError as exc:
                if errors == "raise":
                    raise
                failed[str(v)] = str(exc)
                continue
            feats.append(np.asarray(f.features, dtype=np.float32))
            masks.append(np.asarray(f.mask, dtype=bool))
        caps = iter(self.caption_features(np.stack(feats), np.stack(masks), beam_size=beam,
                                          length_penalty=length_penalty) if feats else [])
        return [CaptionResult(str(v), "", float("nan"), beam, failed[str(v)]) if str(v) in failed
                else CaptionResult(str(v), *next(caps), beam) for v in videos]
