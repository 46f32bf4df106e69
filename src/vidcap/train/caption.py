"""Train and evaluate S2VT captioners: one explicit loop, checkpoints that carry their own config.

Data: a caption corpus (MSVD ``video_corpus.csv`` or MSR-VTT JSON) plus either a
features folder (``<name>.npy`` of shape ``(T, D)``, optional ``<name>.json``
sidecar) or a folder of raw videos (features are extracted into
``out_dir/features`` first, by :func:`vidcap.features.extract_many`).

Each epoch every training video is seen once with one reference caption drawn at
random (the seed). The run folder gets ``last.pt`` (every ``checkpoint_every``
epochs and at the end; resumable exactly), ``best.pt`` (best validation CIDEr),
``log.csv`` / ``log.jsonl`` (one row per epoch) and ``loss.png``.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from vidcap.data.captions import CaptionCorpus, load_corpus, load_splits, split_by_video
from vidcap.data.vocab import Vocabulary
from vidcap.errors import ConfigError, DataError, ModelError
from vidcap.models.s2vt import S2VT, S2VTConfig
from vidcap.train.checkpoint import (
    Captioner,
    build_model,
    make_checkpoint,
    read_checkpoint,
    save_checkpoint,
)

log = logging.getLogger(__name__)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class TrainConfig:
    """Training options; the defaults are the seed's (Adam 1e-4, batch 32, 100 epochs, h 512, 20 words)."""

    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    hidden: int = 512
    max_words: int = 20
    variant: str = "s2vt"
    cell: str = "lstm"
    dropout: float = 0.0
    min_count: int = 1
    grad_clip: float = 5.0
    checkpoint_every: int = 10
    patience: int = 0  # stop after this many epochs without a better validation CIDEr (0: never)
    val_beam_size: int = 1
    seed: int = 0
    beam_size: int = 3  # decoding defaults stored in the checkpoint
    length_penalty: float = 0.0

    def __post_init__(self):
        for k in ("epochs", "batch_size", "hidden", "max_words", "checkpoint_every", "val_beam_size", "beam_size"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"{k}={getattr(self, k)} must be a positive integer")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be positive")
        if self.patience < 0 or self.min_count < 1:
            raise ConfigError(f"patience={self.patience} must be >= 0 and min_count={self.min_count} >= 1")


# ---------------------------------------------------------------- features
@dataclass
class FeatureSet:
    names: list[str]
    feats: torch.Tensor  # (N, T, D) float32; padded rows are zeros
    mask: torch.Tensor  # (N, T) bool
    backbone: str | None
    num_frames: int


def _sidecar(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"feature sidecar {path} is not valid JSON: {exc}") from exc


def _valid_rows(meta: dict, a: np.ndarray) -> np.ndarray:
    """Which rows of ``a (T, D)`` hold a real frame: from the sidecar's mask or valid
    count, else the rows that are not all zero (padded rows are zeros)."""
    T = a.shape[0]
    if isinstance(meta.get("mask"), list) and len(meta["mask"]) == T:
        keep = np.array([bool(x) for x in meta["mask"]])
    else:
        count = next((meta[k] for k in ("valid", "valid_frames", "num_valid") if isinstance(meta.get(k), int)), None)
        keep = np.arange(T) < count if count is not None else np.any(a != 0, axis=1)
    if not keep.any():
        keep[0] = True
    return keep


def load_features(features_dir: str | Path, names: list[str], *, num_frames: int | None = None) -> FeatureSet:
    """Stack ``<name>.npy`` ``(T, D)`` files into ``(N, T, D)`` with a ``(N, T)`` mask.

    The sidecar ``<name>.json`` gives the valid frames (``mask`` or a ``valid``
    count); without one, all-zero rows count as padding. Videos with more rows than ``num_frames`` are subsampled evenly;
    fewer rows are padded and masked.
    """
    features_dir = Path(features_dir)
    if not names:
        raise DataError(f"no video to load features for from {features_dir}")
    arrays, valid, backbones = [], [], set()
    dim = None
    for name in names:
        p = features_dir / f"{name}.npy"
        try:
            a = np.load(p, allow_pickle=False)
        except FileNotFoundError as exc:
            raise DataError(f"features {p} do not exist") from exc
        except ValueError as exc:
            raise DataError(f"features {p} are not a readable .npy array: {exc}") from exc
        if a.ndim != 2 or a.shape[0] < 1:
            raise DataError(f"features {p} have shape {a.shape}; expected (T, D) with T >= 1")
        if dim is None:
            dim = a.shape[1]
        elif a.shape[1] != dim:
            raise DataError(f"features {p} have {a.shape[1]} dimensions but {names[0]}.npy has {dim}: mixed backbones")
        meta = _sidecar(features_dir / f"{name}.json")
        bb = meta.get("backbone") or (meta.get("params") or {}).get("backbone")
        if bb:
            backbones.add(bb)
        keep = _valid_rows(meta, a)
        arrays.append(a[keep].astype(np.float32, copy=False))
        valid.append(int(keep.sum()))
    if len(backbones) > 1:
        raise DataError(f"features in {features_dir} come from several backbones {sorted(backbones)}")
    T = int(num_frames or max(valid))
    N = len(names)
    feats = np.zeros((N, T, dim), dtype=np.float32)
    mask = np.zeros((N, T), dtype=bool)
    for i, (a, n) in enumerate(zip(arrays, valid)):
        if n > T:  # evenly spaced rows, as the seed samples frames
            a = a[np.round(np.linspace(0, n - 1, T)).astype(int)]
            n = T
        feats[i, :n] = a
        mask[i, :n] = True
    return FeatureSet(list(names), torch.from_numpy(feats), torch.from_numpy(mask), next(iter(backbones), None), T)


def extract_corpus_features(corpus: CaptionCorpus, videos_dir: str | Path, out_dir: str | Path, *, backbone: str, num_frames: int, progress: bool = False) -> Path:
    """Features of every corpus video found in ``videos_dir``, cached in ``out_dir``."""
    from vidcap.data.captions import _find_video
    from vidcap.features import extract_many

    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    paths = [p for p in (_find_video(videos_dir, n) for n in corpus.videos) if p is not None]
    if not paths:
        raise DataError(f"no video of the corpus was found in {videos_dir}")
    summary = extract_many(paths, out_dir, backbone=backbone, num_frames=num_frames, progress=progress)
    failed = getattr(summary, "failed", None)
    if failed:
        log.warning("feature extraction failed for %d video(s); they are left out", len(failed))
    return out_dir


# -------------------------------------------------------------------- data
@dataclass
class CaptionData:
    corpus: CaptionCorpus
    features: FeatureSet
    splits: dict[str, list[str]]
    features_dir: Path


def prepare_data(
    corpus: str | Path,
    *,
    features: str | Path | None = None,
    videos: str | Path | None = None,
    splits: str | Path | dict | None = None,
    cache_dir: str | Path | None = None,
    backbone: str = "mobilenet_v2",
    num_frames: int = 80,
    split_seed: int = 0,
    progress: bool = False,
) -> CaptionData:
    """Load a corpus, its features (extracting them from ``videos`` if needed) and splits by video."""
    if features is None and videos is None:
        raise ConfigError("give a features folder (features=...) or a videos folder (videos=...)")
    if features is None:
        pre = load_corpus(corpus, videos_dir=videos)
        features = extract_corpus_features(
            pre, videos, cache_dir or Path(videos) / "features", backbone=backbone, num_frames=num_frames, progress=progress
        )
    features = Path(features)
    corp = load_corpus(corpus, features_dir=features)
    if isinstance(splits, dict):
        split_map = splits
    elif splits is not None:
        split_map = load_splits(splits)
    elif corp.splits:
        split_map = corp.splits
    else:
        split_map = split_by_video(corp.videos, seed=split_seed)
    split_map = {k: [n for n in v if n in corp.captions] for k, v in split_map.items()}
    train = set(split_map.get("train", []))
    for k, v in split_map.items():
        if k != "train" and train & set(v):
            raise DataError(f"split {k!r} shares {len(train & set(v))} video(s) with 'train'; splits must be by video")
    names = sorted({n for v in split_map.values() for n in v})
    if not names:
        raise DataError(f"none of the split videos has captions and features in {features}")
    feats = load_features(features, names, num_frames=None)
    return CaptionData(corp, feats, split_map, features)


class _Batches:
    """Training videos with every reference caption encoded once."""

    def __init__(self, data: CaptionData, names: list[str], vocab: Vocabulary, max_words: int):
        index = {n: i for i, n in enumerate(data.features.names)}
        self.rows = torch.tensor([index[n] for n in names], dtype=torch.long)
        caps, offsets, counts = [], [], []
        for n in names:
            c = data.corpus.captions[n]
            offsets.append(len(caps))
            counts.append(len(c))
            caps += [vocab.encode(x, max_words) for x in c]
        self.caps = torch.from_numpy(np.stack(caps))  # (total captions, max_words + 1)
        self.offsets = torch.tensor(offsets)
        self.counts = torch.tensor(counts)
        self.feats, self.mask = data.features.feats, data.features.mask

    def __len__(self) -> int:
        return len(self.rows)

    def epoch(self, gen: torch.Generator, batch_size: int):
        """Shuffled batches ``(feats, mask, captions)``, one random caption per video."""
        order = torch.randperm(len(self), generator=gen)
        pick = (torch.rand(len(self), generator=gen) * self.counts).long().clamp(max=self.counts - 1)
        for i in range(0, len(self), batch_size):
            idx = order[i : i + batch_size]
            rows = self.rows[idx]
            caps = self.caps[self.offsets[idx] + pick[idx]]
            width = int((caps != 0).sum(1).max())  # drop all-pad columns
            yield self.feats[rows], self.mask[rows], caps[:, :width]


# -------------------------------------------------------------- evaluation
def predict(model: S2VT, vocab: Vocabulary, feats: torch.Tensor, mask: torch.Tensor, *, beam_size: int = 1, length_penalty: float = 0.0, batch_size: int = 64) -> list[str]:
    model.eval()
    out = []
    for i in range(0, feats.shape[0], batch_size):
        ids, _ = model.generate(feats[i : i + batch_size], mask[i : i + batch_size], beam_size=beam_size, length_penalty=length_penalty)
        out += [vocab.decode(s) for s in ids]
    return out


def _val_cider(model, vocab, data: CaptionData, names: list[str], beam_size: int) -> float:
    from vidcap.metrics.caption import score_captions

    index = {n: i for i, n in enumerate(data.features.names)}
    rows = torch.tensor([index[n] for n in names])
    preds = predict(model, vocab, data.features.feats[rows], data.features.mask[rows], beam_size=beam_size)
    refs = {n: data.corpus.captions[n] for n in names}
    return score_captions(refs, dict(zip(names, preds)), metrics=("cider",), tokenize="simple")["CIDEr"]


# ----------------------------------------------------------------- writing
def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_logs(out: Path, history: list[dict]) -> None:
    cols = list(history[0].keys())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(history)
    _atomic_write(out / "log.csv", lambda p: p.write_text(buf.getvalue()))
    jsonl = "".join(json.dumps(r) + "\n" for r in history)
    _atomic_write(out / "log.jsonl", lambda p: p.write_text(jsonl))


def _plot_loss(out: Path, history: list[dict]) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ep = [r["epoch"] for r in history]
    ax.plot(ep, [r["train_loss"] for r in history], label="train loss")
    if any(r.get("val_loss") is not None for r in history):
        ax.plot(ep, [r["val_loss"] for r in history], label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy per word")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _atomic_write(out / "loss.png", lambda p: fig.savefig(p, format="png", dpi=80))


# ---------------------------------------------------------------- training
@dataclass
class TrainResult:
    out_dir: str
    best: str | None
    last: str
    epochs_run: int
    stopped_early: bool
    best_epoch: int | None
    best_val_cider: float | None
    history: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _val_loss(model, batches: _Batches | None) -> float | None:
    if batches is None:
        return None
    model.eval()
    with torch.no_grad():
        caps = batches.caps[batches.offsets]  # the first reference of every video: deterministic
        _, loss = model(batches.feats[batches.rows], batches.mask[batches.rows], caps)
    return float(loss)


def train_caption(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    features: str | Path | None = None,
    videos: str | Path | None = None,
    splits: str | Path | dict | None = None,
    backbone: str = "mobilenet_v2",
    num_frames: int = 80,
    resume: bool = False,
    progress: bool = False,
    stop_after: int | None = None,
    threads: int | None = None,
    **options,
) -> TrainResult:
    """Train an S2VT captioner and write the run folder ``out_dir``.

    ``options`` are :class:`TrainConfig` fields (epochs, batch_size, lr, hidden,
    max_words, variant, cell, dropout, min_count, checkpoint_every, patience, seed,
    ...). ``resume=True`` continues from ``out_dir/last.pt`` and gives the same
    weights as a run that was never interrupted. ``stop_after`` ends the run after
    that many epochs of this call (the run stays resumable). ``threads`` sets torch's
    intra-op threads for the run (1 is fastest for small models on shared cores).
    """
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _train(corpus, out_dir, features=features, videos=videos, splits=splits, backbone=backbone,
                      num_frames=num_frames, resume=resume, progress=progress, stop_after=stop_after, **options)
    finally:
        torch.set_num_threads(before)


def _train(corpus, out_dir, *, features, videos, splits, backbone, num_frames, resume, progress, stop_after, **options):
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(f"unknown training option(s) {bad}; known: {sorted(known)}")
    cfg = TrainConfig(**options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare_data(
        corpus, features=features, videos=videos, splits=splits, cache_dir=out / "features",
        backbone=backbone, num_frames=num_frames, split_seed=cfg.seed, progress=progress,
    )
    train_names = data.splits.get("train", [])
    if not train_names:
        raise DataError(f"the train split has no video with captions and features in {data.features_dir}")
    val_names = data.splits.get("val", [])
    backbone_used = data.features.backbone or backbone
    D = int(data.features.feats.shape[-1])

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    state = None
    if resume and (out / "last.pt").is_file():
        ckpt = read_checkpoint(out / "last.pt")
        state = ckpt.get("train_state")
        if state is None:
            raise ModelError(f"{out / 'last.pt'} has no training state to resume from")
        if ckpt["backbone"] != backbone_used or int(ckpt["feature_dim"]) != D:
            raise ModelError(
                f"cannot resume {out / 'last.pt'}: it was trained on {ckpt['feature_dim']}-d {ckpt['backbone']} "
                f"features but {data.features_dir} holds {D}-d {backbone_used} features"
            )
        model, vocab = build_model(ckpt, out / "last.pt")
        rebuilt = Vocabulary.build((c for n in train_names for c in data.corpus.captions[n]), min_count=cfg.min_count)
        if rebuilt != vocab:
            raise ModelError(
                f"vocabulary mismatch: {out / 'last.pt'} has {len(vocab)} words but the training captions "
                f"now give {len(rebuilt)}; resume only with the corpus and splits the run started with"
            )
        if state["config"] != asdict(cfg):
            changed = sorted(k for k in asdict(cfg) if state["config"].get(k) != asdict(cfg)[k])
            log.warning("resuming with changed option(s) %s", changed)
    else:
        vocab = Vocabulary.build((c for n in train_names for c in data.corpus.captions[n]), min_count=cfg.min_count)
        model = S2VT(S2VTConfig(
            vocab_size=len(vocab), feature_dim=D, hidden=cfg.hidden, frame_steps=data.features.num_frames,
            max_words=cfg.max_words, variant=cfg.variant, cell=cfg.cell, dropout=cfg.dropout,
        ))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history: list[dict] = []
    start_epoch, best_cider, best_epoch, bad_epochs = 0, -math.inf, None, 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["data_rng"])
        start_epoch = int(state["epoch"])
        history = list(state["history"])
        best_cider = float(state["best_cider"])
        best_epoch = state["best_epoch"]
        bad_epochs = int(state["bad_epochs"])
        log.info("resuming %s at epoch %d", out, start_epoch + 1)
    batches = _Batches(data, train_names, vocab, cfg.max_words)
    val_batches = _Batches(data, val_names, vocab, cfg.max_words) if val_names else None
    sampling = {"backbone": backbone_used, "num_frames": data.features.num_frames}
    decoding = {"beam_size": cfg.beam_size, "length_penalty": cfg.length_penalty}
    log.info("training on %d videos (%d captions), validating on %d; vocabulary %d words",
             len(train_names), len(batches.caps), len(val_names), len(vocab))

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, unit="epoch", desc="train caption")
    stopped_early = False
    epoch = start_epoch
    ran = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for f, m, c in batches.epoch(gen, cfg.batch_size):
            _, loss = model(f, m, c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += loss.item() * len(f)
            count += len(f)
        train_loss = total / count
        val_loss = _val_loss(model, val_batches)
        cider = _val_cider(model, vocab, data, val_names, cfg.val_beam_size) if val_names else None
        row = {"epoch": epoch, "train_loss": round(train_loss, 6), "val_loss": None if val_loss is None else round(val_loss, 6),
               "val_cider": None if cider is None else round(cider, 6), "seconds": round(time.perf_counter() - t0, 3)}
        history.append(row)
        # best by validation CIDEr; without a validation split, by training loss
        key = cider if cider is not None else -train_loss
        improved = key > best_cider
        if improved:
            best_cider, best_epoch, bad_epochs = key, epoch, 0
        else:
            bad_epochs += 1
        stop = cfg.patience > 0 and bad_epochs >= cfg.patience
        ran += 1
        last_call = stop_after is not None and ran >= stop_after
        metrics = {"val_cider": cider, "epoch": epoch}
        if improved:
            save_checkpoint(make_checkpoint(model, vocab, num_frames=sampling["num_frames"], backbone=backbone_used,
                                            metrics=metrics, **decoding), out / "best.pt")
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or stop or last_call:
            train_state = {
                "epoch": epoch, "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                "data_rng": gen.get_state(), "history": history, "best_cider": best_cider,
                "best_epoch": best_epoch, "bad_epochs": bad_epochs, "config": asdict(cfg),
            }
            save_checkpoint(make_checkpoint(model, vocab, num_frames=sampling["num_frames"], backbone=backbone_used,
                                            metrics=metrics, train_state=train_state, **decoding), out / "last.pt")
        _write_logs(out, history)
        _plot_loss(out, history)
        if bar is not None:
            bar.set_postfix(loss=f"{train_loss:.3f}", cider="-" if cider is None else f"{cider:.3f}")
            bar.update(1)
        log.info("epoch %d: train loss %.4f val loss %s val CIDEr %s", epoch, train_loss, row["val_loss"], row["val_cider"])
        if stop:
            stopped_early = True
            log.info("early stop: no better validation CIDEr for %d epochs", cfg.patience)
            break
        if last_call:
            break
    if bar is not None:
        bar.close()
    best = out / "best.pt"
    return TrainResult(
        out_dir=str(out), best=str(best) if best.is_file() else None, last=str(out / "last.pt"),
        epochs_run=epoch, stopped_early=stopped_early, best_epoch=best_epoch,
        best_val_cider=best_cider if val_names and best_epoch is not None else None, history=history,
        data={"videos": {k: len(v) for k, v in data.splits.items()}, "dropped_rows": dict(data.corpus.dropped),
              "vocab_size": len(vocab), "backbone": backbone_used, "feature_dim": D, "num_frames": sampling["num_frames"]},
    )


@dataclass
class EvalResult:
    split: str
    beam_size: int
    metrics: dict
    predictions: dict[str, str]
    references: dict[str, list[str]]

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_caption(
    model: str | Path | None,
    corpus: str | Path,
    *,
    features: str | Path | None = None,
    videos: str | Path | None = None,
    splits: str | Path | dict | None = None,
    split: str = "test",
    beam_size: int | None = None,
    length_penalty: float | None = None,
    cache_dir: str | Path | None = None,
    metrics=("bleu", "meteor", "rouge", "cider"),
    tokenize: str = "ptb",
    progress: bool = False,
) -> EvalResult:
    """Caption one split of a corpus with a checkpoint and score it with the COCO metrics."""
    from vidcap.metrics.caption import score_captions

    cap = Captioner.load(model)
    data = prepare_data(
        corpus, features=features, videos=videos, splits=splits, cache_dir=cache_dir,
        backbone=cap.backbone, num_frames=cap.num_frames, progress=progress,
    )
    names = data.splits.get(split)
    if not names:
        raise DataError(f"split {split!r} has no video with captions and features (splits: {sorted(data.splits)})")
    cap.check_features(backbone=data.features.backbone, feature_dim=int(data.features.feats.shape[-1]), where=str(data.features_dir))
    index = {n: i for i, n in enumerate(data.features.names)}
    rows = torch.tensor([index[n] for n in names])
    beam = cap.beam_size if beam_size is None else beam_size
    lp = cap.length_penalty if length_penalty is None else length_penalty
    preds = predict(cap.model, cap.vocab, data.features.feats[rows], data.features.mask[rows], beam_size=beam, length_penalty=lp)
    refs = {n: data.corpus.captions[n] for n in names}
    pred_map = dict(zip(names, preds))
    scores = score_captions(refs, pred_map, metrics=metrics, tokenize=tokenize)
    return EvalResult(split, beam, scores, pred_map, refs)
