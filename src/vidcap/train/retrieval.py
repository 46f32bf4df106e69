"""Training and loading the joint video-text embedding (:mod:`vidcap.models.retrieval`).

A checkpoint is a plain dict (``torch.save``; read with ``torch.load(weights_only=True)``):
``format``, ``model_args`` (:class:`RetrievalConfig`), ``model`` (state dict),
``model_id`` (content hash of the weights: a library records it), ``text_model``
(the sentence encoder whose vectors the projection was trained on), ``backbone``,
``feature_dim``, ``sampling`` (``num_frames``, ``short``), ``metrics``, ``train``
(the options used) and, in ``last.pt`` only, ``train_state`` for resuming.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidcap.errors import ConfigError, DataError, ModelError
from vidcap.metrics.retrieval import retrieval_metrics
from vidcap.models.retrieval import RetrievalConfig, VideoTextModel
from vidcap.train.runs import load_checkpoint, resolve_run, save_checkpoint

log = logging.getLogger(__name__)

FORMAT = "vidcap.retrieval"
FORMAT_VERSION = 1
# Trained on the generated world (vidcap synth, seed 11, 1000 videos); used when no model is given.
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "assets" / "retrieval_synth.pt"


# ------------------------------------------------------------------ checkpoints
def weights_id(state: dict) -> str:
    """A short content hash of a state dict (names, shapes and values)."""
    h = hashlib.blake2b(digest_size=8)
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.float().numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())
    return h.hexdigest()


def make_checkpoint(model: VideoTextModel, *, backbone: str, num_frames: int, short: str = "pad",
                    text_model: str = "all-MiniLM-L6-v2", metrics: dict | None = None,
                    train: dict | None = None, train_state: dict | None = None) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_args": model.config.to_dict(),
        "model": state,
        "model_id": weights_id(state),
        "text_model": text_model,
        "backbone": backbone,
        "feature_dim": int(model.config.feature_dim),
        "sampling": {"num_frames": int(num_frames), "short": short},
        "metrics": json.loads(json.dumps(metrics or {})),
        "train": json.loads(json.dumps(train or {})),
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    return ckpt


def resolve_model_path(path) -> Path:
    """A checkpoint file, or a run folder (its best.pt, else last.pt); None: the bundled model."""
    return resolve_run(path, default=DEFAULT_MODEL, what="retrieval model")


def read_checkpoint(path) -> dict:
    return load_checkpoint(resolve_model_path(path), format=FORMAT, version=FORMAT_VERSION, what="retrieval",
                           required=("model_args", "model", "model_id", "backbone", "sampling", "text_model"))


class RetrievalModel:
    """A loaded joint embedding: ``embed_videos(feats, mask)`` and ``embed_text(sentences)``."""

    def __init__(self, ckpt: dict, path="checkpoint"):
        self.path = str(path)
        try:
            config = RetrievalConfig(**ckpt["model_args"])
        except (TypeError, ConfigError) as exc:
            raise ModelError(f"checkpoint {path} has an invalid model configuration: {exc}") from exc
        self.model = VideoTextModel(config)
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise ModelError(f"weights in {path} do not fit its configuration: {str(exc).splitlines()[0]}") from exc
        self.model.eval()
        self.config = config
        self.model_id: str = ckpt["model_id"]
        self.backbone: str = ckpt["backbone"]
        self.feature_dim: int = int(ckpt["feature_dim"])
        self.num_frames: int = int(ckpt["sampling"]["num_frames"])
        self.short: str = ckpt["sampling"].get("short", "pad")
        self.text_model: str = ckpt["text_model"]
        self.metrics: dict = ckpt.get("metrics", {})

    @classmethod
    def load(cls, path) -> "RetrievalModel":
        p = resolve_model_path(path)
        return cls(read_checkpoint(p), p)

    @property
    def dim(self) -> int:
        return self.config.embed_dim

    def describe(self) -> dict:
        return {"model_id": self.model_id, "path": self.path, "dim": self.dim, "backbone": self.backbone,
                "num_frames": self.num_frames, "text_model": self.text_model}

    @torch.inference_mode()
    def embed_videos(self, feats, mask=None, batch_size: int = 256) -> np.ndarray:
        """``feats (B, T, D)`` (+ ``mask (B, T)``) -> ``(B, embed_dim) float32`` unit vectors."""
        feats = torch.as_tensor(np.asarray(feats, dtype=np.float32))
        if feats.dim() == 2:
            feats = feats[None]
            mask = None if mask is None else np.asarray(mask)[None]
        if feats.shape[-1] != self.feature_dim:
            raise ModelError(f"features have {feats.shape[-1]} dimensions but the retrieval model {self.path} "
                             f"takes {self.feature_dim}-d {self.backbone} features")
        mask_t = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
        out = [self.model.encode_video(feats[i:i + batch_size], None if mask_t is None else mask_t[i:i + batch_size])
               for i in range(0, feats.shape[0], batch_size)]
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def embed_text_vectors(self, vectors) -> np.ndarray:
        """MiniLM vectors ``(N, 384)`` -> ``(N, embed_dim)``."""
        return self.model.encode_text(torch.as_tensor(np.asarray(vectors, dtype=np.float32))).numpy()

    def embed_text(self, sentences) -> np.ndarray:
        from vidcap.text import encode

        return self.embed_text_vectors(encode(sentences))


# ------------------------------------------------------------------ training
@dataclass
class TrainOptions:
    epochs: int = 60
    batch_size: int = 128  # videos per step
    captions_per_video: int = 4  # positives per video in a step (MIL-NCE)
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    num_frames: int = 16
    backbone: str = "mobilenet_v2"
    hidden: int = 256
    embed_dim: int = 256
    layers: int = 1
    clip_frames: int = 16
    dropout: float = 0.1

    def __post_init__(self):
        for k in ("epochs", "batch_size", "captions_per_video", "num_frames", "hidden", "embed_dim", "layers", "clip_frames"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be a positive integer")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2 (contrastive training needs negatives)")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be positive")


@dataclass
class TrainResult:
    out_dir: Path
    best: Path
    last: Path
    metrics: dict
    history: list = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "best": str(self.best), "last": str(self.last),
                "metrics": self.metrics, "epochs": len(self.history), "seconds": round(self.seconds, 1)}


def caption_vectors(corpus, names: list[str], cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """MiniLM vectors of every caption of ``names``: ``(vectors (N, 384), owner (N,), texts)``.

    Cached in ``cache`` (an ``.npz``) keyed by a hash of the texts.
    """
    from vidcap import text as text_mod

    texts, owner = [], []
    for i, n in enumerate(names):
        for c in corpus.captions[n]:
            texts.append(c)
            owner.append(i)
    key = hashlib.blake2b("\n".join(texts).encode() + text_mod.MODEL_NAME.encode(), digest_size=8).hexdigest()
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            if str(z["key"]) == key:
                return z["vectors"], np.asarray(owner), texts
    vectors = text_mod.encode(texts)
    if cache is not None:
        from vidcap.io.files import atomic_path

        with atomic_path(cache) as tmp:
            np.savez(tmp, vectors=vectors, key=np.asarray(key))
    return vectors, np.asarray(owner), texts


def _score_split(model: VideoTextModel, feats, mask, vectors, owner) -> dict:
    model.eval()
    with torch.inference_mode():
        v = model.encode_video(feats, mask)
        t = model.encode_text(torch.as_tensor(vectors))
    return retrieval_metrics((t @ v.T).numpy(), owner)


def _write_log(out: Path, history: list[dict]) -> None:
    from vidcap.io.files import atomic_path

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(history[0].keys()))
    w.writeheader()
    w.writerows(history)
    with atomic_path(out / "log.csv") as tmp:
        tmp.write_text(buf.getvalue())


def train_retrieval(
    corpus,
    out_dir,
    *,
    features=None,
    videos=None,
    splits=None,
    resume: bool = False,
    progress: bool = False,
    **options,
) -> TrainResult:
    """Train the joint embedding on a captioned corpus (MSVD ``video_corpus.csv`` or MSR-VTT JSON).

    ``features``: a folder of ``<name>.npy`` (T, D) frame features; or ``videos``: a
    folder of videos, whose features are extracted into ``out_dir/features``.
    ``splits``: a ``splits.json`` (default: the one beside the corpus, else a
    split by video). Options: see :class:`TrainOptions`. Writes ``best.pt`` (by
    validation text->video R@1+R@5+R@10), ``last.pt`` and ``log.csv`` into ``out_dir``.
    """
    from vidcap.train.caption import prepare_data

    started = time.perf_counter()
    opts = TrainOptions(**options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if splits is None and (Path(corpus).parent / "splits.json").is_file():
        splits = Path(corpus).parent / "splits.json"
    data = prepare_data(corpus, features=features, videos=videos, splits=splits, cache_dir=out / "features",
                        backbone=opts.backbone, num_frames=opts.num_frames, progress=progress)
    fs = data.features
    index = {n: i for i, n in enumerate(fs.names)}
    train_names = data.splits.get("train") or []
    val_names = data.splits.get("val") or []
    if len(train_names) < 2:
        raise DataError(f"{corpus}: the train split has {len(train_names)} video(s) with features; at least 2 are needed")
    backbone = fs.backbone or opts.backbone
    T = fs.feats.shape[1]
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    config = RetrievalConfig(feature_dim=fs.feats.shape[-1], embed_dim=opts.embed_dim, hidden=opts.hidden,
                             layers=opts.layers, clip_frames=min(opts.clip_frames, T), dropout=opts.dropout)
    model = VideoTextModel(config)
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    steps_per_epoch = max(1, -(-len(train_names) // opts.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=opts.lr, total_steps=opts.epochs * steps_per_epoch,
                                                pct_start=0.1)

    tr_idx = torch.as_tensor([index[n] for n in train_names])
    tr_vec, tr_owner, _ = caption_vectors(data.corpus, train_names, out / "text_train.npz")
    per_video = [np.flatnonzero(tr_owner == i) for i in range(len(train_names))]
    if val_names:
        va_idx = torch.as_tensor([index[n] for n in val_names])
        va_vec, va_owner, _ = caption_vectors(data.corpus, val_names, out / "text_val.npz")
    history: list[dict] = []
    best_score, start_epoch = -1.0, 0
    last_path, best_path = out / "last.pt", out / "best.pt"
    train_opts = asdict(opts)
    if resume and last_path.is_file():
        ck = read_checkpoint(last_path)
        st = ck.get("train_state")
        if st is None or ck.get("train") != train_opts:
            raise ConfigError(f"{last_path} was trained with other options or holds no training state; "
                              "use a new out_dir or the same options")
        model.load_state_dict(ck["model"])
        optim.load_state_dict(st["optim"])
        sched.load_state_dict(st["sched"])
        history, best_score, start_epoch = st["history"], float(st["best_score"]), int(st["epoch"])
        rng = np.random.default_rng(opts.seed + start_epoch)
        torch.manual_seed(opts.seed + start_epoch)
        log.info("resuming %s at epoch %d", out, start_epoch + 1)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=opts.epochs, initial=start_epoch, unit="epoch", desc="train retrieval")
    metrics: dict = {}
    for epoch in range(start_epoch, opts.epochs):
        model.train()
        order = rng.permutation(len(train_names))
        losses = []
        for s in range(0, len(order), opts.batch_size):
            batch = order[s:s + opts.batch_size]
            if len(batch) < 2:
                continue
            rows, owners = [], []
            for j, b in enumerate(batch):
                caps = per_video[b]
                pick = rng.choice(caps, size=min(opts.captions_per_video, len(caps)), replace=False)
                rows += list(pick)
                owners += [j] * len(pick)
            feats = fs.feats[tr_idx[batch]]
            mask = fs.mask[tr_idx[batch]]
            _, loss = model(feats, mask, torch.as_tensor(tr_vec[rows]), torch.as_tensor(owners))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 5), "lr": sched.get_last_lr()[0]}
        score = -float(np.mean(losses))
        if val_names:
            m = _score_split(model, fs.feats[va_idx], fs.mask[va_idx], va_vec, va_owner)
            row.update({f"val_t2v_{k}": v for k, v in m["t2v"].items() if k.startswith("R@")})
            row.update({f"val_v2t_{k}": v for k, v in m["v2t"].items() if k.startswith("R@")})
            score = m["t2v"]["R@1"] + m["t2v"]["R@5"] + m["t2v"]["R@10"]
            metrics = {"val": m}
        history.append(row)
        log.debug("epoch %s", row)
        if score > best_score:
            best_score = score
            save_checkpoint(make_checkpoint(model, backbone=backbone, num_frames=T, metrics={**metrics, "epoch": epoch + 1},
                                            train=train_opts), best_path)
        state = {"optim": optim.state_dict(), "sched": sched.state_dict(), "history": history,
                 "best_score": best_score, "epoch": epoch + 1}
        save_checkpoint(make_checkpoint(model, backbone=backbone, num_frames=T, metrics=metrics, train=train_opts,
                                        train_state=state), last_path)
        _write_log(out, history)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=row["loss"], val_r1=row.get("val_t2v_R@1", "-"), refresh=False)
    if bar is not None:
        bar.close()
    best = read_checkpoint(best_path)
    return TrainResult(out, best_path, last_path, best.get("metrics", {}), history, time.perf_counter() - started)
