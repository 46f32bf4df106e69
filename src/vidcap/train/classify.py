"""Train the video classifiers: one loop for the pooled, LSTM, R(2+1)D and two-stream models.

Inputs are computed once per video and cached beside the dataset (atomic writes,
keyed by file content and every parameter, see :class:`~vidcap.features.store.FeatureStore`):

* ``<root>/features/<backbone>-<T>f/`` -- per-frame CNN features (pool, lstm, two-stream);
* ``<root>/features/flow-<method>-<S>px-<T>f/`` -- stacked optical flow (two-stream);
* ``<root>/features/clips-<S>px-<T>f/`` -- small uint8 RGB clips (r2plus1d).

A run folder holds ``last.pt`` (every epoch, with optimizer and RNG states for an
exact resume), ``best.pt`` (best validation accuracy), ``history.jsonl`` (one line
per epoch), ``curves.png`` (loss and accuracy), ``skipped.json`` (videos that
could not be read) and ``config.json``. Checkpoints load with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from vidcap.data.folders import SPLITS, VideoDataset, VideoItem, load_dataset
from vidcap.errors import ConfigError, DataError, ModelError, VidcapError
from vidcap.features.store import FeatureStore, Params, file_stat, remove_stale_temps
from vidcap.io.files import atomic_path, save_npy, write_json
from vidcap.train.runs import load_checkpoint, resolve_run, save_checkpoint

log = logging.getLogger(__name__)

MODEL_TYPES = ("pool", "lstm", "r2plus1d", "two-stream")
FORMAT = "vidcap.classify"
FORMAT_VERSION = 1
PLOT_EVERY = 10  # epochs between curve redraws (and at the end)
MIN_DELTA = 1e-3  # a validation loss must drop by this much to count as better at equal accuracy


@dataclass
class ClassifyConfig:
    """Everything that defines a training run (stored in every checkpoint)."""

    model: str = "lstm"
    backbone: str = "mobilenet_v2"
    num_frames: int | None = None  # frames sampled per video; None: 16 (8 for r2plus1d)
    short: str = "pad"  # videos shorter than num_frames: pad (with a mask) or repeat
    hidden: int = 256
    pool: str = "mean"
    dropout: float = 0.3
    clip_size: int | None = None  # r2plus1d input side; None: 32 (112 with pretrained weights)
    pretrained: str | None = None  # r2plus1d: None or "kinetics400"
    width: int | None = None  # r2plus1d: channels of the first stage (64: torchvision's r2plus1d_18); None: 16 from scratch
    input_norm: str | None = None  # r2plus1d: "kinetics" or "clip" (per-clip standardisation); None: clip from scratch
    augment: bool | None = None  # r2plus1d: random shifts and colour-channel order of training clips (None: on)
    schedule: str | None = None  # "constant" or "cosine" (linear warmup, then cosine decay); None: cosine for r2plus1d
    warmup_epochs: int = 2  # cosine schedule: epochs of linear warmup from 0 to lr
    flow_size: int = 56
    flow_method: str = "dis"
    fusion: str = "avg"
    epochs: int = 30
    batch_size: int | None = None  # None: 32 (16 for r2plus1d)
    lr: float | None = None  # None: 1e-3; r2plus1d 2e-3 from scratch, 3e-4 from pretrained weights
    weight_decay: float = 1e-4
    patience: int = 8  # early stopping: epochs without a better validation accuracy
    val_fraction: float = 0.15  # held out of train when the dataset has no val split
    recalibrate_bn: bool | None = None  # recompute BatchNorm statistics each epoch (None: r2plus1d only)
    seed: int = 0

    def __post_init__(self):
        if self.model not in MODEL_TYPES:
            raise ConfigError(f"model must be one of {', '.join(MODEL_TYPES)}, got {self.model!r}")
        r2 = self.model == "r2plus1d"
        if self.num_frames is None:
            self.num_frames = 8 if r2 else 16
        if self.clip_size is None:
            self.clip_size = 112 if self.pretrained else 32
        if self.batch_size is None:
            self.batch_size = 16 if r2 else 32
        if self.lr is None:
            self.lr = (3e-4 if self.pretrained else 2e-3) if r2 else 1e-3
        for name in ("num_frames", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.schedule not in (None, "constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifyConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ----------------------------------------------------------------------------- stores
class ArrayStore(FeatureStore):
    """A :class:`FeatureStore` whose arrays keep their dtype (uint8 clips, float16 flow)."""

    def save_array(self, name: str, video: Path, params: Params, array: np.ndarray, *, timestamps, indices, mask, extra=None) -> dict:
        from vidcap.features.backbones import file_hash

        save_npy(self.npy_path(name), array)
        record = {
            "name": name, "source": str(video.resolve()), "status": "ok", "error": None,
            "hash": file_hash(video), "stat": file_stat(video), "params": params.to_dict(),
            "shape": list(array.shape), "valid": int(np.sum(mask)),
            "timestamps": [round(float(t), 6) for t in timestamps], "indices": [int(i) for i in indices],
            "mask": [bool(m) for m in mask], **(extra or {}),
        }
        write_json(self.record_path(name), record)
        return record


def _cache_root(dataset: VideoDataset, cache_dir) -> Path:
    return Path(cache_dir) if cache_dir is not None else dataset.root / "features"


def _all_items(dataset: VideoDataset) -> list[VideoItem]:
    return [it for items in dataset.splits.values() for it in items]


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="video", disable=not enabled, dynamic_ncols=True)


def compute_features(dataset: VideoDataset, cfg: ClassifyConfig, cache_dir=None, *, progress=False, workers=0) -> dict:
    """Frame features of every video (cached); returns ``{resolved path: (feats (T, D), mask (T,), record)}``."""
    from vidcap.features import extract_many

    out_dir = _cache_root(dataset, cache_dir) / f"{cfg.backbone}-{cfg.num_frames}f"
    paths = [it.path for it in _all_items(dataset)]
    summary = extract_many(paths, out_dir, backbone=cfg.backbone, num_frames=cfg.num_frames, short=cfg.short,
                           workers=workers, progress=progress)
    result = {}
    for rec in summary.records:
        if rec["status"] != "ok":
            continue
        feats = np.load(out_dir / f"{rec['name']}.npy")
        result[rec["source"]] = (feats, np.array(rec["mask"], dtype=bool), rec)
    return result, [{"path": r["source"], "error": r["error"]} for r in summary.failed]


def decode_clip(path, *, num_frames: int, size: int, short: str = "pad"):
    """``num_frames`` evenly spaced frames as ``(T, size, size, 3) uint8`` (short side scaled, centre crop)."""
    from vidcap.io import center_crop, sample_frames

    clip = sample_frames(path, num_frames, short=short, short_side=size)
    clip.frames = np.ascontiguousarray(center_crop(clip.frames, size))
    return clip


def decode_flow(path, *, num_frames: int, size: int, method: str = "dis", short: str = "pad"):
    """Optical flow at ``num_frames`` evenly spaced frames: ``(T, 2, size, size) float32`` and the indices/mask/timestamps."""
    from vidcap.io import center_crop, iter_frames, probe, short_side_size
    from vidcap.io.sampling import even_indices
    from vidcap.models.two_stream import flows_from_frames, pair_indices

    info = probe(path)
    indices, mask = even_indices(info.num_frames, num_frames, short=short)
    pairs = pair_indices(indices, mask, info.num_frames)
    wanted = {i for p in pairs if p for i in p}
    frames, times = {}, {}
    dims = short_side_size(info.width, info.height, size)
    for k, (frame, t) in enumerate(iter_frames(path, size=dims)):
        if k in wanted:
            frames[k] = np.ascontiguousarray(center_crop(frame, size))
        times[k] = t
        if k >= max(wanted, default=-1):
            break
    missing = wanted - set(frames)
    if missing:
        raise DataError(f"{path}: frames {sorted(missing)[:3]} could not be decoded for optical flow")
    flows = flows_from_frames(frames, pairs, method=method, shape=(size, size))
    timestamps = np.array([times.get(int(i), 0.0) if m else 0.0 for i, m in zip(indices, mask)])
    return flows, indices, mask, timestamps


def _cached_arrays(dataset, cfg, kind: str, cache_dir, progress: bool) -> tuple[dict, list]:
    """Decode clips or flows of every video once, into an :class:`ArrayStore`."""
    if kind == "clips":
        sub, tag = f"clips-{cfg.clip_size}px-{cfg.num_frames}f", f"clip:{cfg.clip_size}"
    else:
        sub, tag = f"flow-{cfg.flow_method}-{cfg.flow_size}px-{cfg.num_frames}f", f"flow:{cfg.flow_method}:{cfg.flow_size}"
    store = ArrayStore(_cache_root(dataset, cache_dir) / sub)
    remove_stale_temps(store.root)
    params = Params(tag, "none", cfg.num_frames, None, cfg.short)
    items = _all_items(dataset)
    names = store.assign_names([it.path for it in items])
    result, failed = {}, []
    bar = _bar(len(items), kind, progress)
    try:
        for it, name in zip(items, names):
            src = str(it.path.resolve())
            if not store.is_current(name, it.path, params):
                try:
                    if kind == "clips":
                        clip = decode_clip(it.path, num_frames=cfg.num_frames, size=cfg.clip_size, short=cfg.short)
                        store.save_array(name, it.path, params, clip.frames, timestamps=clip.timestamps,
                                         indices=clip.indices, mask=clip.mask)
                    else:
                        flows, idx, mask, ts = decode_flow(it.path, num_frames=cfg.num_frames, size=cfg.flow_size,
                                                           method=cfg.flow_method, short=cfg.short)
                        store.save_array(name, it.path, params, flows.astype(np.float16), timestamps=ts, indices=idx, mask=mask)
                except VidcapError as exc:
                    store.save_failure(name, it.path, params, str(exc))
                    log.warning("skipping %s: %s", it.path, exc)
                    failed.append({"path": src, "error": str(exc)})
                    bar.update(1)
                    continue
            rec = store.read_record(name)
            result[src] = (np.load(store.npy_path(name)), np.array(rec["mask"], dtype=bool), rec)
            bar.update(1)
    finally:
        bar.close()
    return result, failed


@dataclass
class SplitData:
    """Model inputs of one split: ``inputs`` name -> array with a leading video axis."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray
    paths: list[str]
    frame_steps: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self, index) -> dict[str, torch.Tensor]:
        out = {}
        for k, v in self.inputs.items():
            a = v[index]
            out[k] = torch.from_numpy(np.ascontiguousarray(a.astype(np.float32) if a.dtype == np.float16 else a))
        return out


def _frame_step(rec: dict) -> float | None:
    idx = [i for i, m in zip(rec.get("indices", []), rec.get("mask", [])) if m]
    return (idx[-1] - idx[0]) / (len(idx) - 1) if len(idx) > 1 else None


def prepare_inputs(dataset: VideoDataset, cfg: ClassifyConfig, *, cache_dir=None, progress=False, workers=0) -> tuple[dict[str, SplitData], list[dict], int | None]:
    """Compute (or load cached) inputs of every split. Returns ``(splits, skipped, feature_dim)``."""
    sources: dict[str, dict] = {}
    skipped: list[dict] = []
    feature_dim = None
    if cfg.model in ("pool", "lstm", "two-stream"):
        feats, failed = compute_features(dataset, cfg, cache_dir, progress=progress, workers=workers)
        sources["feats"] = feats
        skipped += failed
    if cfg.model == "two-stream":
        sources["flow"], failed = _cached_arrays(dataset, cfg, "flow", cache_dir, progress)
        skipped += failed
    if cfg.model == "r2plus1d":
        sources["clips"], failed = _cached_arrays(dataset, cfg, "clips", cache_dir, progress)
        skipped += failed
    out = {}
    for split, items in dataset.splits.items():
        keep = [it for it in items if all(str(it.path.resolve()) in s for s in sources.values())]
        if not keep:
            continue
        inputs: dict[str, list] = {}
        steps = []
        for it in keep:
            src = str(it.path.resolve())
            for key, store in sources.items():
                array, mask, rec = store[src]
                inputs.setdefault(key, []).append(array)
                if key in ("feats", "clips"):
                    inputs.setdefault("mask", []).append(mask)
                    steps.append(_frame_step(rec))
        arrays = {k: np.stack(v) for k, v in inputs.items()}
        if "feats" in arrays:
            feature_dim = int(arrays["feats"].shape[-1])
        if cfg.model == "r2plus1d":
            arrays.pop("mask", None)
        out[split] = SplitData(arrays, np.array([it.label for it in keep], dtype=np.int64),
                               [str(it.path) for it in keep], [s for s in steps if s is not None])
    return out, skipped, feature_dim


def _split_off_val(train: SplitData, fraction: float, seed: int, num_classes: int) -> tuple[SplitData, SplitData | None]:
    """Stratified hold-out of ``fraction`` of each class (at least one when the class has 3+ videos)."""
    if fraction <= 0:
        return train, None
    rng = np.random.default_rng([seed, 11])
    val_idx = []
    for c in range(num_classes):
        idx = np.flatnonzero(train.labels == c)
        k = int(round(fraction * len(idx))) if len(idx) >= 3 else 0
        val_idx += rng.permutation(idx)[: max(k, 1 if len(idx) >= 3 else 0)].tolist()
    if not val_idx:
        return train, None
    mask = np.zeros(len(train), dtype=bool)
    mask[val_idx] = True

    def take(m):
        return SplitData({k: v[m] for k, v in train.inputs.items()}, train.labels[m],
                         [p for p, keep in zip(train.paths, m) if keep], train.frame_steps)

    return take(~mask), take(mask)


# ----------------------------------------------------------------------------- models
def build_model(cfg: ClassifyConfig, num_classes: int, feature_dim: int | None):
    """The network a config describes (random weights; Kinetics weights when asked)."""
    if cfg.model in ("pool", "lstm"):
        from vidcap.models.classifier import FEATURE_MODELS, FeatureClassifierConfig

        mc = FeatureClassifierConfig(feature_dim=feature_dim, num_classes=num_classes, hidden=cfg.hidden, pool=cfg.pool, dropout=cfg.dropout)
        return FEATURE_MODELS[cfg.model](mc)
    if cfg.model == "r2plus1d":
        from vidcap.models.r2plus1d import R2Plus1DClassifier, R2Plus1DConfig

        return R2Plus1DClassifier(R2Plus1DConfig(num_classes=num_classes, num_frames=cfg.num_frames, clip_size=cfg.clip_size,
                                                 pretrained=cfg.pretrained, dropout=min(cfg.dropout, 0.5),
                                                 # None: a checkpoint from before these options, full width, Kinetics statistics
                                                 width=cfg.width or 64, input_norm=cfg.input_norm or "kinetics",
                                                 zero_init_residual=not cfg.pretrained))
    from vidcap.models.two_stream import TwoStreamClassifier, TwoStreamConfig

    return TwoStreamClassifier(TwoStreamConfig(feature_dim=feature_dim, num_classes=num_classes, num_frames=cfg.num_frames,
                                               flow_size=cfg.flow_size, fusion=cfg.fusion, flow_method=cfg.flow_method,
                                               dropout=cfg.dropout))


def _forward(model, batch: dict[str, torch.Tensor], targets=None):
    if model.kind in ("pool", "lstm"):
        return model(batch["feats"], batch.get("mask"), targets=targets)
    if model.kind == "r2plus1d":
        return model(batch["clips"], targets=targets)
    return model(batch["feats"], batch["flow"], batch.get("mask"), targets=targets)


def learning_rate(cfg: ClassifyConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate at optimizer step ``step`` (0-based) of a run.

    ``cosine`` (the default for R(2+1)D): linear warmup from 0 over ``warmup_epochs``,
    then a half cosine down to 0 at ``epochs`` -- the usual recipe for deep
    BatchNorm networks trained from scratch. A function of the step alone, so a
    resumed run follows the same curve.
    """
    schedule = cfg.schedule or ("cosine" if cfg.model == "r2plus1d" else "constant")
    if schedule == "constant":
        return cfg.lr
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = min(max(0, cfg.warmup_epochs) * steps_per_epoch, total - 1)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def augment_clips(clips: torch.Tensor, gen: torch.Generator, *, shift: float = 0.125) -> torch.Tensor:
    """Random training-time variants of uint8 clips ``(B, T, S, S, 3)`` that keep every action label.

    Each clip is shifted by up to ``shift * S`` pixels in x and y (the same shift for all
    its frames; edges replicated) and gets its colour channels in a random order. No
    flips and no time reversal: they would turn move_left into move_right, grow into
    shrink. Draws from ``gen`` only, so a resumed run sees the same clips.
    """
    b, _t, h, w, _c = clips.shape
    pad = int(round(shift * min(h, w)))
    out = torch.empty_like(clips)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).tolist() if pad else [0] * b
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).tolist() if pad else [0] * b
    perms = [torch.randperm(3, generator=gen) for _ in range(b)]
    # edge padding along H and W: (T, H, W, C) -> (T, H + 2p, W + 2p, C)
    padded = np.pad(clips.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else clips.numpy()
    for i in range(b):
        crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = torch.from_numpy(np.ascontiguousarray(crop))[..., perms[i]]
    return out


@torch.no_grad()
def recalibrate_batchnorm(model, data: SplitData, batch_size: int = 32) -> None:
    """Recompute BatchNorm running statistics as exact averages over ``data`` ("precise BN").

    A deep BN network trained for few steps has running averages that lag far behind
    its weights, which makes eval-mode predictions useless; one no-grad pass over
    the training set in train mode with a cumulative average fixes that.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was = model.training
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    model.train()
    for start in range(0, len(data), batch_size):
        _forward(model, data.tensors(slice(start, start + batch_size)))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was)


@torch.no_grad()
def predict_logits(model, data: SplitData, batch_size: int = 64) -> np.ndarray:
    """Logits ``(N, C)`` of every video in ``data`` (eval mode)."""
    was = model.training
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        logits, _ = _forward(model, data.tensors(slice(start, start + batch_size)))
        out.append(logits.float().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _evaluate_split(model, data: SplitData | None) -> dict:
    if data is None or len(data) == 0:
        return {}
    logits = predict_logits(model, data)
    loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(data.labels)))
    return {"loss": loss, "acc": float((logits.argmax(1) == data.labels).mean())}


# ----------------------------------------------------------------------------- checkpoints
def make_checkpoint(model, cfg: ClassifyConfig, classes: list[str], *, feature_dim, frame_step, metrics=None, train_state=None) -> dict:
    ckpt = {
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
        "metrics": dict(metrics or {}),
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    return ckpt


def read_checkpoint(path) -> dict:
    """Load a classifier checkpoint (``weights_only=True``: no pickled code runs) and check it."""
    return load_checkpoint(resolve_run(path), format=FORMAT, version=FORMAT_VERSION, what="classifier",
                           required=("model_type", "model_args", "model", "classes", "config", "sampling"))


def model_from_checkpoint(ckpt: dict, where="checkpoint"):
    """Rebuild the network stored in ``ckpt`` (eval mode); a mismatch raises ModelError."""
    cfg = ClassifyConfig.from_dict(ckpt["config"])
    classes = ckpt["classes"]
    args = ckpt["model_args"]
    if int(args.get("num_classes", -1)) != len(classes):
        raise ModelError(f"{where}: the model has {args.get('num_classes')} outputs but {len(classes)} class names")
    if cfg.model == "r2plus1d":
        cfg.pretrained = None  # the stored weights replace the Kinetics ones
    model = build_model(cfg, len(classes), ckpt.get("feature_dim"))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"weights in {where} do not fit its {cfg.model} configuration: {str(exc).splitlines()[0]}") from exc
    return model.eval()


def _save(ckpt: dict, path: Path) -> None:
    save_checkpoint(ckpt, path)


# ----------------------------------------------------------------------------- logs and curves
def _write_history(out: Path, history: list[dict]) -> None:
    with atomic_path(out / "history.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(h) + "\n" for h in history))


def plot_curves(history: list[dict], path) -> Path:
    """Loss and accuracy per epoch (train and validation) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    for ax, key in zip(axes, ("loss", "acc")):
        ax.plot(ep, [h[f"train_{key}"] for h in history], label="train")
        if any(h.get(f"val_{key}") is not None for h in history):
            ax.plot(ep, [h.get(f"val_{key}") for h in history], label="val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


# ----------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    out_dir: str
    model: str
    classes: list[str]
    epochs_run: int
    best_epoch: int
    best_val_acc: float | None
    test: dict
    skipped: list[dict]
    stopped_early: bool
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _rng_state(gen: torch.Generator) -> dict:
    return {"torch": torch.get_rng_state(), "shuffle": gen.get_state()}


def train_classifier(
    dataset,
    out_dir,
    *,
    config: ClassifyConfig | None = None,
    cache_dir=None,
    resume: bool = False,
    progress: bool = False,
    stop_after: int | None = None,
    workers: int = 0,
    **options,
) -> TrainResult:
    """Train a classifier on ``dataset`` (a folder, world or split-list root, or a :class:`VideoDataset`).

    ``options`` override fields of :class:`ClassifyConfig` (``model``, ``epochs``,
    ``num_frames``, ...). ``resume=True`` continues ``out_dir/last.pt`` exactly
    (same batches, same dropout masks). ``stop_after`` stops after that many epochs
    of this call (to test resuming). Returns a :class:`TrainResult`.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resumed = None
    if resume:
        last = out / "last.pt"
        if not last.is_file():
            raise ModelError(f"cannot resume: {last} does not exist")
        resumed = read_checkpoint(last)
        if "train_state" not in resumed:
            raise ModelError(f"cannot resume: {last} holds no training state")
        cfg = ClassifyConfig.from_dict({**resumed["config"], **{k: v for k, v in options.items() if k == "epochs"}})
    else:
        cfg = config or ClassifyConfig()
        cfg = ClassifyConfig.from_dict({**cfg.to_dict(), **options})
        if cfg.model == "r2plus1d":  # stored explicitly, so the checkpoint rebuilds the same network
            if cfg.width is None:
                cfg.width = 64 if cfg.pretrained else 16
            if cfg.input_norm is None:
                cfg.input_norm = "kinetics" if cfg.pretrained else "clip"
            cfg.augment = cfg.augment is not False
            cfg.schedule = cfg.schedule or "cosine"

    if not isinstance(dataset, VideoDataset):
        dataset = load_dataset(dataset)
    dataset = VideoDataset(dataset.root, dataset.classes, {s: v for s, v in dataset.splits.items() if s in SPLITS},
                           dataset.skipped, dataset.layout)
    if resumed is not None and resumed["classes"] != dataset.classes:
        raise ModelError(f"cannot resume: {out / 'last.pt'} was trained on classes {resumed['classes']}, the dataset has {dataset.classes}")
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    splits, skipped, feature_dim = prepare_inputs(dataset, cfg, cache_dir=cache_dir, progress=progress, workers=workers)
    skipped = dataset.skipped + skipped
    write_json(out / "skipped.json", skipped)
    if skipped:
        log.warning("%d videos could not be read and were skipped; see %s", len(skipped), out / "skipped.json")
    if "train" not in splits:
        raise DataError(f"{dataset.root}: no readable training videos")
    train = splits["train"]
    val = splits.get("val")
    if val is None:
        train, val = _split_off_val(train, cfg.val_fraction, cfg.seed, len(dataset.classes))
    test = splits.get("test")
    frame_step = float(np.median(train.frame_steps)) if train.frame_steps else 1.0

    model = build_model(cfg, len(dataset.classes), feature_dim)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    augment = cfg.model == "r2plus1d" and cfg.augment is not False  # None: a run from before this option
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    best = {"epoch": 0, "val_acc": -1.0, "val_loss": math.inf}
    bad_epochs = 0
    start_epoch = 0
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        st = resumed["train_state"]
        optimizer.load_state_dict(st["optimizer"])
        gen.set_state(st["rng"]["shuffle"])
        torch.set_rng_state(st["rng"]["torch"])
        history = list(st["history"])
        best = dict(st["best"])
        bad_epochs = int(st["bad_epochs"])
        start_epoch = int(st["epoch"])
    write_json(out / "config.json", {"config": cfg.to_dict(), "classes": dataset.classes,
                                     "dataset": dataset.to_dict(), "frame_step": frame_step})

    def checkpoint(metrics, with_state: bool, epoch: int):
        state = None
        if with_state:
            state = {"optimizer": optimizer.state_dict(), "rng": _rng_state(gen), "history": history,
                     "best": best, "bad_epochs": bad_epochs, "epoch": epoch}
        return make_checkpoint(model, cfg, dataset.classes, feature_dim=feature_dim, frame_step=frame_step,
                               metrics=metrics, train_state=state)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, unit="epoch", desc=f"train {cfg.model}", dynamic_ncols=True)
    stopped_early = bad_epochs >= cfg.patience
    epoch = start_epoch
    ran = 0
    try:
        while epoch < cfg.epochs and not stopped_early:
            if stop_after is not None and ran >= stop_after:
                break
            model.train()
            order = torch.randperm(len(train), generator=gen).numpy()
            losses, correct = [], 0
            for b, start in enumerate(range(0, len(order), cfg.batch_size)):
                idx = np.sort(order[start : start + cfg.batch_size])
                batch = train.tensors(idx)
                if augment:
                    batch["clips"] = augment_clips(batch["clips"], gen)
                targets = torch.from_numpy(train.labels[idx])
                lr = learning_rate(cfg, epoch * steps_per_epoch + b, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                logits, loss = _forward(model, batch, targets)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()
                losses.append(loss.item() * len(idx))
                correct += int((logits.argmax(1) == targets).sum())
            epoch += 1
            ran += 1
            if cfg.recalibrate_bn or (cfg.recalibrate_bn is None and cfg.model == "r2plus1d"):
                recalibrate_batchnorm(model, train, cfg.batch_size)
            v = _evaluate_split(model, val)
            row = {"epoch": epoch, "train_loss": sum(losses) / len(train), "train_acc": correct / len(train),
                   "val_loss": v.get("loss"), "val_acc": v.get("acc"), "lr": lr,
                   "seconds": round(time.perf_counter() - started, 2)}
            history.append(row)
            score = (v.get("acc", row["train_acc"]), -v.get("loss", row["train_loss"]))
            # better accuracy, or the same accuracy at a clearly lower loss
            improved = score[0] > best["val_acc"] or (score[0] == best["val_acc"] and -score[1] < best["val_loss"] - MIN_DELTA)
            if improved:
                best = {"epoch": epoch, "val_acc": score[0], "val_loss": -score[1]}
                bad_epochs = 0
                _save(checkpoint({"val_acc": score[0], "val_loss": -score[1], "epoch": epoch}, False, epoch), out / "best.pt")
            else:
                bad_epochs += 1
            stopped_early = bad_epochs >= cfg.patience
            _save(checkpoint({"val_acc": v.get("acc"), "epoch": epoch}, True, epoch), out / "last.pt")
            _write_history(out, history)
            if epoch % PLOT_EVERY == 0:
                plot_curves(history, out / "curves.png")
            log.info("epoch %d: train loss %.4f acc %.3f, val acc %s", epoch, row["train_loss"], row["train_acc"], v.get("acc"))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=v.get("acc"), refresh=False)
    finally:
        if bar is not None:
            bar.close()
        if history:
            plot_curves(history, out / "curves.png")

    test_metrics = {}
    if test is not None and (out / "best.pt").is_file() and not (stop_after is not None and epoch < cfg.epochs and not stopped_early):
        best_model = model_from_checkpoint(read_checkpoint(out / "best.pt"), out / "best.pt")
        test_metrics = _evaluate_split(best_model, test)
    return TrainResult(str(out), cfg.model, dataset.classes, epoch, best["epoch"],
                       best["val_acc"] if best["val_acc"] >= 0 else None, test_metrics, skipped, stopped_early,
                       round(time.perf_counter() - started, 2))


# ----------------------------------------------------------------------------- evaluation
@dataclass
class EvalResult:
    split: str
    num_videos: int
    accuracy: float
    top5: float
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted
    per_class: dict[str, float]
    skipped: list[dict]
    confusion_png: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, preds), 1)
    return cm


def plot_confusion(cm: np.ndarray, classes: list[str], path, *, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class down, predicted across) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(2.2 + 0.38 * n, 1.8 + 0.34 * n), dpi=80)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def evaluate_classifier(model, dataset, *, split: str = "test", cache_dir=None, confusion_png=None, progress=False, title=None) -> EvalResult:
    """Accuracy, top-5 accuracy and the confusion matrix of a trained run on one split."""
    ckpt = read_checkpoint(model)
    net = model_from_checkpoint(ckpt, model)
    cfg = ClassifyConfig.from_dict(ckpt["config"])
    if not isinstance(dataset, VideoDataset):
        dataset = load_dataset(dataset)
    if dataset.classes != ckpt["classes"]:
        raise ModelError(f"{model} was trained on classes {ckpt['classes']} but {dataset.root} has {dataset.classes}")
    subset = VideoDataset(dataset.root, dataset.classes, {split: dataset.items(split)}, dataset.skipped, dataset.layout)
    if not subset.splits[split]:
        raise DataError(f"{dataset.root}: the {split} split holds no readable video")
    splits, skipped, feature_dim = prepare_inputs(subset, cfg, cache_dir=cache_dir, progress=progress)
    if feature_dim is not None and ckpt.get("feature_dim") is not None and feature_dim != ckpt["feature_dim"]:
        raise ModelError(f"features of {dataset.root} have {feature_dim} dimensions, {model} expects {ckpt['feature_dim']}")
    data = splits[split]
    logits = predict_logits(net, data)
    preds = logits.argmax(1)
    k = min(5, logits.shape[1])
    top5 = float(np.mean([y in row for y, row in zip(data.labels, np.argsort(-logits, 1)[:, :k])]))
    cm = confusion_matrix(data.labels, preds, len(dataset.classes))
    per_class = {c: float(cm[i, i] / cm[i].sum()) for i, c in enumerate(dataset.classes) if cm[i].sum()}
    result = EvalResult(split, len(data), float((preds == data.labels).mean()), top5, dataset.classes,
                        cm.tolist(), per_class, dataset.skipped + skipped)
    if confusion_png is not None:
        acc = result.accuracy
        plot_confusion(cm, dataset.classes, confusion_png, title=f"{title or cfg.model} on {split}: accuracy {acc:.2f}")
        result.confusion_png = str(confusion_png)
    return result
