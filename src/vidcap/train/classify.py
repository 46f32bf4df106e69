"""Train the video classifiers through the one loop: pooled, LSTM, R(2+1)D and two-stream models.

Inputs are computed once per video and cached beside the dataset (atomic writes,
keyed by file content and every parameter, see :class:`~vidcap.features.store.FeatureStore`):

* ``<root>/features/<backbone>-<T>f/`` -- per-frame CNN features (pool, lstm, two-stream);
* ``<root>/features/flow-<method>-<S>px-<T>f/`` -- stacked optical flow (two-stream);
* ``<root>/features/clips-<S>px-<T>f/`` -- small uint8 RGB clips (r2plus1d).

The run folder is the loop's (:mod:`vidcap.train.loop`) plus ``skipped.json`` (videos
that could not be read). ``best.pt`` is the epoch with the best validation accuracy
(a clearly lower validation loss breaks a tie).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidcap.config import ClassifyConfig
from vidcap.data.folders import SPLITS, VideoDataset, VideoItem, load_dataset
from vidcap.errors import DataError, ModelError, VidcapError
from vidcap.features.domain import Domain, video_vectors
from vidcap.features.store import FeatureStore, Params, remove_stale_temps
from vidcap.io.files import write_json
from vidcap.metrics.classify import confusion_matrix, top_k_accuracy
from vidcap.progress import Callback, report
from vidcap.results import ClassifierEvaluation, TrainResult
from vidcap.scale import ddp
from vidcap.tasks.classify import (
    build_model,
    forward,
    load_kinetics_state,
    make_checkpoint,
    model_from_checkpoint,
    read_checkpoint,
)
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

log = logging.getLogger(__name__)

MIN_DELTA = 1e-3  # a validation loss must drop by this much to count as better at equal accuracy


# ----------------------------------------------------------------------------- inputs
def _cache_root(dataset: VideoDataset, cache_dir) -> Path:
    return Path(cache_dir) if cache_dir is not None else dataset.root / "features"


def _all_items(dataset: VideoDataset) -> list[VideoItem]:
    return [it for items in dataset.splits.values() for it in items]


def compute_features(dataset: VideoDataset, cfg: ClassifyConfig, cache_dir=None, *, progress=None, workers=0):
    """Frame features of every video (cached); returns ``{resolved path: (feats (T, D), mask (T,), record)}``."""
    from vidcap.features import extract_many

    out_dir = _cache_root(dataset, cache_dir) / f"{cfg.backbone}-{cfg.num_frames}f"
    paths = [it.path for it in _all_items(dataset)]
    summary = extract_many(paths, out_dir, backbone=cfg.backbone, num_frames=cfg.num_frames, short=cfg.short,
                           workers=workers, progress=progress)
    store = FeatureStore(out_dir)
    result = {}
    for rec in summary.records:
        if rec["status"] != "ok":
            continue
        feats, rec = store.load(rec["name"])
        result[rec["source"]] = (feats, np.array(rec["mask"], dtype=bool), rec)
    return result, [{"path": r["source"], "error": r["error"]} for r in summary.failed]


def decode_clip(path, *, num_frames: int, size: int, short: str = "pad"):
    """``num_frames`` evenly spaced frames as ``(T, size, size, 3) uint8`` (short side scaled, centre crop)."""
    from vidcap.io import center_crop, sample_frames

    clip = sample_frames(path, num_frames, short=short, short_side=size)
    clip.frames = np.ascontiguousarray(center_crop(clip.frames, size))
    return clip


def _cached_arrays(dataset, cfg, kind: str, cache_dir, progress) -> tuple[dict, list]:
    """Decode clips or flows of every video once, into a :class:`FeatureStore` (arrays keep their dtype)."""
    from vidcap.features.flow import decode_flow

    if kind == "clips":
        sub, tag = f"clips-{cfg.clip_size}px-{cfg.num_frames}f", f"clip:{cfg.clip_size}"
    else:
        sub, tag = f"flow-{cfg.flow_method}-{cfg.flow_size}px-{cfg.num_frames}f", f"flow:{cfg.flow_method}:{cfg.flow_size}"
    store = FeatureStore(_cache_root(dataset, cache_dir) / sub)
    remove_stale_temps(store.root)
    params = Params(tag, "none", cfg.num_frames, None, cfg.short)
    items = _all_items(dataset)
    names = store.assign_names([it.path for it in items])
    result, failed = {}, []
    for k, (it, name) in enumerate(zip(items, names)):
        src = str(it.path.resolve())
        report(progress, kind, k, len(items))
        if not store.is_current(name, it.path, params):
            try:
                if kind == "clips":
                    clip = decode_clip(it.path, num_frames=cfg.num_frames, size=cfg.clip_size, short=cfg.short)
                    store.save(name, it.path, params, clip.frames, timestamps=clip.timestamps,
                               indices=clip.indices, mask=clip.mask)
                else:
                    flows, idx, mask, ts = decode_flow(it.path, num_frames=cfg.num_frames, size=cfg.flow_size,
                                                       method=cfg.flow_method, short=cfg.short)
                    store.save(name, it.path, params, flows.astype(np.float16), timestamps=ts, indices=idx, mask=mask)
            except VidcapError as exc:
                store.save_failure(name, it.path, params, str(exc))
                log.warning("skipping %s: %s", it.path, exc)
                failed.append({"path": src, "error": str(exc)})
                continue
        array, rec = store.load(name)
        result[src] = (array, np.array(rec["mask"], dtype=bool), rec)
    report(progress, kind, len(items), len(items))
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


def prepare_inputs(dataset: VideoDataset, cfg: ClassifyConfig, *, cache_dir=None, progress=None,
                   workers=0) -> tuple[dict[str, SplitData], list[dict], int | None]:
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
        forward(model, data.tensors(slice(start, start + batch_size)))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was)


@torch.no_grad()
def predict_logits(model, data: SplitData, batch_size: int = 64, *, embeddings: list | None = None) -> np.ndarray:
    """Logits ``(N, C)`` of every video in ``data`` (eval mode); ``embeddings``: a list that gets R(2+1)D's
    embedding ``(B, D)`` of each batch (for the in-domain check)."""
    was = model.training
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        batch = data.tensors(slice(start, start + batch_size))
        if embeddings is not None:
            emb = model.embed(batch["clips"])
            logits = model.net.fc(emb)
            embeddings.append(emb.float().numpy())
        else:
            logits, _ = forward(model, batch)
        out.append(logits.float().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _evaluate_split(model, data: SplitData | None, *, embeddings: list | None = None) -> dict:
    if data is None or len(data) == 0:
        return {}
    logits = predict_logits(model, data, embeddings=embeddings)
    loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(data.labels)))
    return {"loss": loss, "acc": float((logits.argmax(1) == data.labels).mean())}


def feature_domain(cfg: ClassifyConfig, train: SplitData, val: SplitData | None):
    """Where the training videos lie (:mod:`vidcap.features.domain`). Feature models: their frames'
    features, the edge from the validation videos. R(2+1)D reads pixels, so its space is its own
    embedding, which changes as it learns: it is fitted on the validation videos' embeddings at each
    validation instead (``ClassifyTrainer.validate``)."""
    if cfg.model == "r2plus1d":
        return None

    def vectors(data):
        return video_vectors(data.inputs["feats"], data.inputs.get("mask")) if data is not None else []

    return Domain.fit(vectors(train), vectors(val), space=f"{cfg.backbone} frames")


# ----------------------------------------------------------------------------- training
class ClassifyTrainer(Trainer):
    task = "classify"
    monitor = "val_acc"
    mode = "max"

    def __init__(self, cfg: ClassifyConfig, dataset: VideoDataset, splits: dict, feature_dim, skipped: list[dict]):
        self.cfg, self.dataset, self.skipped = cfg, dataset, skipped
        self.train = splits["train"]
        self.val = splits.get("val")
        if self.val is None:
            self.train, self.val = _split_off_val(self.train, cfg.val_fraction, cfg.seed, len(dataset.classes))
        self.test = splits.get("test")
        self.feature_dim = feature_dim
        self.frame_step = float(np.median(self.train.frame_steps)) if self.train.frame_steps else 1.0
        init = load_kinetics_state() if cfg.model == "r2plus1d" and cfg.pretrained else None
        self.model = build_model(cfg, len(dataset.classes), feature_dim, init_state=init)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = math.ceil(len(self.train) / cfg.batch_size)
        self.augment = cfg.model == "r2plus1d" and cfg.augment is not False
        self.lr = cfg.lr
        self.domain = feature_domain(cfg, self.train, self.val)

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        cfg, train = self.cfg, self.train
        self.model.train()
        order = torch.randperm(len(train), generator=rng.torch).numpy()
        losses, correct = [], 0
        for b, start in enumerate(range(0, len(order), cfg.batch_size)):
            idx = np.sort(order[start : start + cfg.batch_size])
            batch = train.tensors(idx)
            if self.augment:
                batch["clips"] = augment_clips(batch["clips"], rng.torch)
            targets = torch.from_numpy(train.labels[idx])
            self.lr = learning_rate(cfg, (epoch - 1) * self.steps_per_epoch + b, self.steps_per_epoch)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
            rows, n = ddp.local_rows(len(idx))  # this process's share of the batch (all of it alone)
            if n < len(idx):
                batch, targets = {k: v[rows] for k, v in batch.items()}, targets[rows]
            logits, loss = forward(self.net, batch, targets)
            loss, mean, _ = ddp.weighted(loss, n)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
            self.optimizer.step()
            losses.append(mean * len(idx))
            correct += int(ddp.total(int((logits.argmax(1) == targets).sum()) if n else 0))
        if cfg.recalibrate_bn or (cfg.recalibrate_bn is None and cfg.model == "r2plus1d"):
            recalibrate_batchnorm(self.model, train, cfg.batch_size)
        return {"train_loss": sum(losses) / len(train), "train_acc": correct / len(train)}

    def validate(self, epoch: int) -> dict:
        embeddings = [] if self.cfg.model == "r2plus1d" else None
        v = _evaluate_split(self.model, self.val, embeddings=embeddings)
        if embeddings:  # one vector per validation video
            self.domain = Domain.fit(list(np.concatenate(embeddings)[:, None]), None, space="r2plus1d embedding")
        return {"val_loss": v["loss"], "val_acc": v["acc"]} if v else {}

    def learning_rate(self) -> float:
        return float(self.lr)

    def better(self, row: dict, best: dict | None) -> bool:
        """Better accuracy, or the same accuracy at a clearly lower loss (validation, else training)."""
        if best is None:
            return True
        key = "val" if row.get("val_acc") is not None else "train"
        acc, loss = row[f"{key}_acc"], row[f"{key}_loss"]
        return acc > best[f"{key}_acc"] or (acc == best[f"{key}_acc"] and loss < best[f"{key}_loss"] - MIN_DELTA)

    def checkpoint(self, metrics: dict) -> dict:
        return make_checkpoint(self.model, self.cfg, self.dataset.classes, feature_dim=self.feature_dim,
                               frame_step=self.frame_step, domain=self.domain)

    def load_weights(self, ckpt: dict) -> None:
        if ckpt["classes"] != self.dataset.classes:
            raise ModelError(f"cannot resume: the run was trained on classes {ckpt['classes']}, "
                             f"the dataset has {self.dataset.classes}")
        self.model.load_state_dict(ckpt["model"])

    def describe(self) -> dict:
        return {"classes": self.dataset.classes, "dataset": self.dataset.to_dict(), "frame_step": self.frame_step,
                "skipped": self.skipped}

    def finish(self, best_path: Path | None) -> dict:
        if self.test is None or best_path is None:
            return {}
        best_model = model_from_checkpoint(read_checkpoint(best_path), best_path)
        return {"test": _evaluate_split(best_model, self.test)}


def train_classify(
    dataset,
    out_dir,
    *,
    config: ClassifyConfig | None = None,
    cache_dir=None,
    resume: bool = False,
    progress: Callback | None = None,
    stop_after: int | None = None,
    workers: int = 0,
    nproc: int = 1,
    **options,
) -> TrainResult:
    """Train a classifier on ``dataset`` (a folder, world or split-list root, or a :class:`VideoDataset`).

    ``options`` override fields of :class:`~vidcap.config.ClassifyConfig` (``model``,
    ``epochs``, ``num_frames``, ...). ``resume=True`` continues ``out_dir/last.pt`` exactly
    (same batches, same dropout masks) with the run's own options. ``stop_after`` stops
    after that many epochs of this call. ``nproc``: processes (DistributedDataParallel,
    :mod:`vidcap.scale.ddp`); ``batch_size`` stays the global batch.
    """
    cfg = run_config(ClassifyConfig, options, out_dir, resume=resume, config=config).resolved()
    prepare_run_dir(out_dir, resume=resume)  # refuse a bad --out-dir before any work
    return ddp.run(_train_classify, nproc, {"dataset": dataset, "out_dir": out_dir, "cfg": cfg, "cache_dir": cache_dir,
                                            "resume": resume, "stop_after": stop_after, "workers": workers}, progress)


def _train_classify(dataset, out_dir, *, cfg, cache_dir, resume, stop_after, workers, progress):
    if not isinstance(dataset, VideoDataset):
        dataset = load_dataset(dataset)
    dataset = VideoDataset(dataset.root, dataset.classes, {s: v for s, v in dataset.splits.items() if s in SPLITS},
                           dataset.skipped, dataset.layout)
    rng = Rng.seeded(cfg.seed)
    with ddp.rank_zero_first():  # rank 0 computes what is not cached
        splits, skipped, feature_dim = prepare_inputs(dataset, cfg, cache_dir=cache_dir, progress=progress,
                                                      workers=workers)
    skipped = dataset.skipped + skipped
    if skipped:
        log.warning("%d videos could not be read and were skipped; see %s", len(skipped), Path(out_dir) / "skipped.json")
    if "train" not in splits:
        raise DataError(f"{dataset.root}: no readable training videos")
    trainer = ClassifyTrainer(cfg, dataset, splits, feature_dim, skipped)
    result = fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
                 progress=progress, stop_after=stop_after)
    if ddp.is_main():
        write_json(Path(out_dir) / "skipped.json", skipped)
    return result


# ----------------------------------------------------------------------------- evaluation
def evaluate_classify(model, dataset, *, split: str = "test", cache_dir=None, confusion_png=None,
                      progress: Callback | None = None) -> ClassifierEvaluation:
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
    cm = confusion_matrix(data.labels, preds, len(dataset.classes))
    per_class = {c: float(cm[i, i] / cm[i].sum()) for i, c in enumerate(dataset.classes) if cm[i].sum()}
    result = ClassifierEvaluation(split, len(data), float((preds == data.labels).mean()),
                                  top_k_accuracy(data.labels, logits, 5), dataset.classes, cm.tolist(), per_class,
                                  dataset.skipped + skipped, str(model))
    if confusion_png is not None:
        result.plot(confusion_png)
    return result
