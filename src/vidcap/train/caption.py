"""Train and evaluate S2VT captioners (through the one loop, :mod:`vidcap.train.loop`).

Data: a caption corpus (MSVD ``video_corpus.csv`` or MSR-VTT JSON) plus either a
features folder (``<name>.npy`` of shape ``(T, D)``, optional ``<name>.json``
sidecar) or a folder of raw videos (features are extracted into
``out_dir/features`` first, by :func:`vidcap.features.extract_many`). The splits
follow :func:`vidcap.data.captions.resolve_splits` (``splits.json`` beside the
corpus when there is one).

Each epoch every training video is seen once with one reference caption drawn at
random (the seed). ``best.pt`` is the epoch with the best validation CIDEr (by
training loss without a validation split).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from vidcap.config import CaptionTrainConfig
from vidcap.data.captions import CaptionCorpus, load_corpus, resolve_splits
from vidcap.data.vocab import PAD, Vocabulary
from vidcap.errors import ConfigError, DataError, ModelError
from vidcap.features.domain import fit_domain
from vidcap.io.files import read_json
from vidcap.models.s2vt import S2VT, S2VTConfig
from vidcap.progress import Callback
from vidcap.results import CaptionEvaluation, TrainResult
from vidcap.scale import ddp
from vidcap.tasks.caption import Captioner, build_model, make_checkpoint, predict
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- features
@dataclass
class FeatureSet:
    names: list[str]
    feats: torch.Tensor  # (N, T, D) float32; padded rows are zeros
    mask: torch.Tensor  # (N, T) bool
    backbone: str | None
    num_frames: int
    flow_dim: int = 0  # the last flow_dim columns are the motion stream's
    fit: str | None = None  # how frames became the backbone's input ("crop", "pad"; None: no records say)

    def backbone_only(self) -> FeatureSet:
        """The backbone's columns alone (what the in-domain check reads)."""
        if not self.flow_dim:
            return self
        return replace(self, feats=self.feats[..., : -self.flow_dim], flow_dim=0)


def feature_statistics(features: FeatureSet, rows: torch.Tensor, *, motion_only: bool = False):
    """Per-dimension mean and std ``(D,)`` of the valid frames of ``rows``; ``motion_only``: the
    backbone's columns get mean 0 and std 1 (left as they are), only the motion stream's are
    standardised."""
    valid = features.feats[rows][features.mask[rows]]  # (frames, D)
    mean, std = valid.mean(0), valid.std(0)
    if motion_only:
        if not features.flow_dim:
            raise ConfigError("normalize_motion needs features with the motion stream (--flow)")
        backbone = mean.shape[0] - features.flow_dim
        mean[:backbone], std[:backbone] = 0.0, 1.0
    return mean, std


def _sidecar(path: Path) -> dict:
    if not path.is_file():
        return {}
    meta = read_json(path, "feature sidecar")
    return meta if isinstance(meta, dict) else {}


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
    arrays, valid, backbones, fits = [], [], set(), set()
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
        if meta.get("params"):
            fits.add(meta["params"].get("fit", "crop"))
        keep = _valid_rows(meta, a)
        arrays.append(a[keep].astype(np.float32, copy=False))
        valid.append(int(keep.sum()))
    if len(backbones) > 1:
        raise DataError(f"features in {features_dir} come from several backbones {sorted(backbones)}")
    if len(fits) > 1:
        raise DataError(f"features in {features_dir} mix frames fitted by {sorted(fits)}; extract them with one --fit")
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
    return FeatureSet(list(names), torch.from_numpy(feats), torch.from_numpy(mask), next(iter(backbones), None), T,
                      fit=next(iter(fits), None))


def extract_corpus_features(corpus: CaptionCorpus, videos_dir: str | Path, out_dir: str | Path, *, backbone: str,
                            num_frames: int, names: list[str] | None = None, flow: dict | None = None,
                            fit: str = "crop", progress: Callback | None = None) -> Path:
    """Features of the corpus videos (``names``, default all) found in ``videos_dir``, cached in ``out_dir``
    (``fit``: :func:`vidcap.features.extract.decode_fitted`);
    with ``flow`` (:class:`~vidcap.features.flow.MotionFeatures` parameters) also their motion
    rows, in ``out_dir/<stream name>``."""
    from vidcap.data.captions import _find_video
    from vidcap.features import extract_many

    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    paths = [p for p in (_find_video(videos_dir, n) for n in (corpus.videos if names is None else names))
             if p is not None]
    if not paths:
        raise DataError(f"no video of the corpus was found in {videos_dir}")
    summary = extract_many(paths, out_dir, backbone=backbone, num_frames=num_frames, fit=fit, progress=progress)
    if summary.failed:
        log.warning("feature extraction failed for %d video(s); they are left out", len(summary.failed))
    if flow is not None:
        from vidcap.features.flow import MotionFeatures, extract_motion_many

        stream = MotionFeatures.from_dict(flow)
        motion = extract_motion_many(paths, out_dir / stream.name, num_frames=num_frames, stream=stream,
                                     progress=progress)
        if motion.failed:
            log.warning("motion features failed for %d video(s); they are left out", len(motion.failed))
    return out_dir


def flow_dir(features: str | Path, flow: dict) -> Path:
    """Where the motion rows of a features folder live: ``<features>/<stream name>`` (DataError when missing)."""
    from vidcap.features.flow import MotionFeatures

    where = Path(features) / MotionFeatures.from_dict(flow).name
    if not where.is_dir():
        raise DataError(f"{where} does not exist: the motion features of {features} go there; train from "
                        "--videos to compute them, or compute them with vidcap.features.flow.extract_motion_many")
    return where


def join_flow(feats: FeatureSet, features_dir: Path, flow: dict) -> FeatureSet:
    """``feats`` with each frame's motion row appended ``(N, T, D + F)``: the same frames, the same mask."""
    where = flow_dir(features_dir, flow)
    motion = load_features(where, feats.names, num_frames=feats.num_frames)
    if not torch.equal(motion.mask, feats.mask):
        raise DataError(f"motion features in {where} do not cover the same frames as {features_dir}; extract both "
                        "with the same --num-frames")
    return replace(feats, feats=torch.cat([feats.feats, motion.feats], dim=-1), flow_dim=int(motion.feats.shape[-1]))


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
    only: list[str] | None = None,
    flow: dict | None = None,
    fit: str = "crop",
    progress: Callback | None = None,
) -> CaptionData:
    """Load a corpus, its features (extracting them from ``videos`` if needed, frames fitted
    by ``fit``) and its splits by video (:func:`~vidcap.data.captions.resolve_splits`).
    ``only``: the splits to load (and extract features for); default all. ``flow``: the
    motion stream's parameters; its rows (``<features>/<stream name>/``) are appended to
    each frame's."""
    if features is None and videos is None:
        raise ConfigError("give a features folder (features=...) or a videos folder (videos=...)")
    if features is None:
        pre = load_corpus(corpus, videos_dir=videos)
        wanted = None
        if only is not None:
            pre_splits = resolve_splits(pre, corpus, splits, seed=split_seed)
            wanted = sorted({n for k in only for n in pre_splits.get(k, [])})
            if not wanted:
                raise DataError(f"split {'/'.join(only)!r} of {corpus} has no videos (splits: "
                                f"{ {k: len(v) for k, v in pre_splits.items()} })")
        features = extract_corpus_features(pre, videos, cache_dir or Path(videos) / "features", backbone=backbone,
                                           num_frames=num_frames, names=wanted, flow=flow, fit=fit,
                                           progress=progress)
    features = Path(features)
    corp = load_corpus(corpus, features_dir=features)
    split_map = resolve_splits(corp, corpus, splits, seed=split_seed)
    if only is not None:
        split_map = {k: v for k, v in split_map.items() if k in only}
    split_map = {k: [n for n in v if n in corp.captions] for k, v in split_map.items()}
    train = set(split_map.get("train", []))
    for k, v in split_map.items():
        if k != "train" and train & set(v):
            raise DataError(f"split {k!r} shares {len(train & set(v))} video(s) with 'train'; splits must be by video")
    if flow is not None:  # a video whose motion rows could not be computed is left out
        motion = flow_dir(features, flow)
        split_map = {k: [n for n in v if (motion / f"{n}.npy").is_file()] for k, v in split_map.items()}
    names = sorted({n for v in split_map.values() for n in v})
    if not names:
        raise DataError(f"none of the split videos has captions and features in {features}")
    feats = load_features(features, names, num_frames=None)
    if flow is not None:
        feats = join_flow(feats, features, flow)
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

    def epoch(self, gen: torch.Generator, batch_size: int, per_video: int = 1):
        """Shuffled batches ``(feats, mask, captions)``: ``per_video`` random captions of every
        video (different ones while it has enough), each (video, caption) once per epoch."""
        if per_video == 1:  # the seed's draw
            order = torch.randperm(len(self), generator=gen)
            videos = torch.arange(len(self))
            pick = (torch.rand(len(self), generator=gen) * self.counts).long().clamp(max=self.counts - 1)
        else:
            videos = torch.arange(len(self)).repeat_interleave(per_video)  # (N * k,)
            slots = torch.arange(int(self.counts.max()))[None, :]
            keys = torch.rand(len(self), slots.shape[1], generator=gen) + (slots >= self.counts[:, None])
            pick = torch.argsort(keys, dim=1)[:, :per_video].reshape(-1) % self.counts[videos]  # own captions first
            order = torch.randperm(len(videos), generator=gen)
        for i in range(0, len(videos), batch_size):
            take = order[i : i + batch_size]
            idx = videos[take]
            rows = self.rows[idx]
            caps = self.caps[self.offsets[idx] + pick[take]]
            width = int((caps != 0).sum(1).max())  # drop all-pad columns
            yield self.feats[rows], self.mask[rows], caps[:, :width]


# -------------------------------------------------------------- evaluation
def _val_cider(model, vocab, data: CaptionData, names: list[str], beam_size: int) -> float:
    from vidcap.metrics.caption import score_captions

    index = {n: i for i, n in enumerate(data.features.names)}
    rows = torch.tensor([index[n] for n in names])
    preds = [text for text, _ in predict(model, vocab, data.features.feats[rows], data.features.mask[rows],
                                         beam_size=beam_size)]
    refs = {n: data.corpus.captions[n] for n in names}
    return score_captions(refs, dict(zip(names, preds)), metrics=("cider",), tokenize="simple")["CIDEr"]


# -------------------------------------------------------------------- training
def _val_loss(model, batches: _Batches | None) -> float | None:
    if batches is None:
        return None
    model.eval()
    with torch.no_grad():
        caps = batches.caps[batches.offsets]  # the first reference of every video: deterministic
        _, loss = model(batches.feats[batches.rows], batches.mask[batches.rows], caps)
    return float(loss)


def autocast(precision: str, device_type: str = "cpu"):
    """``torch.autocast`` in bf16 for ``precision="bf16"``, a no-op for fp32: the LSTM and
    linear layers run in bf16 (oneDNN on a CPU), the loss and the weights stay fp32."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


class CaptionTrainer(Trainer):
    task = "caption"
    monitor = "val_cider"
    mode = "max"

    def __init__(self, cfg: CaptionTrainConfig, data: CaptionData):
        self.cfg, self.data = cfg, data
        self.train_names = data.splits.get("train", [])
        if not self.train_names:
            raise DataError(f"the train split has no video with captions and features in {data.features_dir}")
        self.val_names = data.splits.get("val", [])
        self.backbone = data.features.backbone or cfg.backbone
        self.fit = data.features.fit or cfg.fit  # what the features were made with (a --features folder's own)
        self.vocab = Vocabulary.build((c for n in self.train_names for c in data.corpus.captions[n]),
                                      min_count=cfg.min_count)
        self.model = S2VT(S2VTConfig(
            vocab_size=len(self.vocab), feature_dim=int(data.features.feats.shape[-1]), hidden=cfg.hidden,
            frame_steps=data.features.num_frames, max_words=cfg.max_words, variant=cfg.variant, cell=cfg.cell,
            dropout=cfg.dropout, project=cfg.project, normalize=cfg.normalize or cfg.normalize_motion,
        ))
        if cfg.normalize or cfg.normalize_motion:
            self.model.set_normalization(*feature_statistics(data.features, self._rows(self.train_names),
                                                             motion_only=cfg.normalize_motion))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.batches = _Batches(data, self.train_names, self.vocab, cfg.max_words)
        self.val_batches = _Batches(data, self.val_names, self.vocab, cfg.max_words) if self.val_names else None
        self.domain = fit_domain(data.features.backbone_only(), self.train_names, self.val_names,
                                 space=f"{self.backbone} frames")
        log.info("training on %d videos (%d captions), validating on %d; vocabulary %d words",
                 len(self.train_names), len(self.batches.caps), len(self.val_names), len(self.vocab))

    def _rows(self, names: list[str]) -> torch.Tensor:
        index = {n: i for i, n in enumerate(self.data.features.names)}
        return torch.tensor([index[n] for n in names])

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        self.model.train()
        total, count = 0.0, 0
        for f, m, c in self.batches.epoch(rng.torch, self.cfg.batch_size, self.cfg.captions_per_video):
            batch = len(f)
            rows, n = ddp.local_rows(batch)  # this process's share of the batch (all of it alone)
            if n < batch:
                f, m, c = f[rows], m[rows], c[rows]
            with autocast(self.cfg.precision, f.device.type):
                _, loss = self.net(f, m, c)
            loss, mean, _ = ddp.weighted(loss, int((c[:, 1:] != PAD).sum()) if n else 0)  # a mean over tokens
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.optimizer.step()
            total += mean * batch
            count += batch
        return {"train_loss": total / count}

    def validate(self, epoch: int) -> dict:
        if not self.val_names:
            return {}
        return {"val_loss": _val_loss(self.model, self.val_batches),
                "val_cider": _val_cider(self.model, self.vocab, self.data, self.val_names, self.cfg.val_beam_size)}

    def checkpoint(self, metrics: dict) -> dict:
        return make_checkpoint(self.model, self.vocab, backbone=self.backbone, num_frames=self.data.features.num_frames,
                               beam_size=self.cfg.beam_size, length_penalty=self.cfg.length_penalty, metrics=metrics,
                               domain=self.domain, flow=self.cfg.flow_params(), fit=self.fit)

    def load_weights(self, ckpt: dict) -> None:
        if ckpt["backbone"] != self.backbone or int(ckpt["feature_dim"]) != self.model.config.feature_dim:
            raise ModelError(f"cannot resume: the run was trained on {ckpt['feature_dim']}-d {ckpt['backbone']} "
                             f"features but {self.data.features_dir} holds {self.model.config.feature_dim}-d "
                             f"{self.backbone} features")
        _, vocab = build_model(ckpt)
        if vocab != self.vocab:
            raise ModelError(f"cannot resume: vocabulary mismatch: the run's vocabulary has {len(vocab)} words but the training captions "
                             f"now give {len(self.vocab)}; resume only with the corpus and splits the run started with")
        self.model.load_state_dict(ckpt["model"])

    def describe(self) -> dict:
        d = self.data
        return {"data": {"videos": {k: len(v) for k, v in d.splits.items()}, "dropped_rows": dict(d.corpus.dropped),
                         "vocab_size": len(self.vocab), "backbone": self.backbone,
                         "feature_dim": int(d.features.feats.shape[-1]), "num_frames": d.features.num_frames}}


def train_caption(
    corpus: str | Path,
    out_dir: str | Path,
    *,
    features: str | Path | None = None,
    videos: str | Path | None = None,
    splits: str | Path | dict | None = None,
    config: CaptionTrainConfig | None = None,
    resume: bool = False,
    progress: Callback | None = None,
    stop_after: int | None = None,
    threads: int | None = None,
    nproc: int = 1,
    **options,
) -> TrainResult:
    """Train an S2VT captioner and write the run folder ``out_dir`` (see :mod:`vidcap.train.loop`).

    ``options`` are :class:`~vidcap.config.CaptionTrainConfig` fields (epochs, batch_size,
    lr, hidden, max_words, variant, cell, dropout, min_count, patience, seed, backbone,
    num_frames, ...) over ``config``. ``resume=True`` continues ``out_dir/last.pt`` with the
    run's own options and gives the same weights as a run that was never interrupted.
    ``stop_after`` ends the call after that many epochs (the run stays resumable).
    ``threads`` sets torch's intra-op threads for the run (1 is fastest for small models
    on shared cores; restored afterwards). ``nproc``: processes (DistributedDataParallel,
    :mod:`vidcap.scale.ddp`); ``batch_size`` stays the global batch.
    """
    cfg = run_config(CaptionTrainConfig, options, out_dir, resume=resume, config=config)
    prepare_run_dir(out_dir, resume=resume)  # refuse a bad --out-dir before any work
    return ddp.run(_train_caption, nproc, {"corpus": corpus, "out_dir": out_dir, "features": features,
                                           "videos": videos, "splits": splits, "cfg": cfg, "resume": resume,
                                           "stop_after": stop_after, "threads": threads}, progress)


def _train_caption(corpus, out_dir, *, features, videos, splits, cfg, resume, stop_after, threads, progress):
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with ddp.rank_zero_first():  # rank 0 extracts what is missing
            data = prepare_data(corpus, features=features, videos=videos, splits=splits,
                                cache_dir=Path(out_dir) / "features", backbone=cfg.backbone,
                                num_frames=cfg.num_frames, split_seed=cfg.seed, flow=cfg.flow_params(),
                                fit=cfg.fit, progress=progress)
        rng = Rng.seeded(cfg.seed)
        trainer = CaptionTrainer(cfg, data)
        return fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
                   progress=progress, stop_after=stop_after)
    finally:
        torch.set_num_threads(before)


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
    out_dir: str | Path | None = None,
    progress: Callback | None = None,
) -> CaptionEvaluation:
    """Caption one split of a corpus with a checkpoint and score it with the COCO metrics.

    Features are extracted (from ``videos``) only for the split's videos. ``out_dir``:
    where ``predictions-<split>.json`` (per video: prediction and references) and
    ``metrics-<split>.json`` are written (default: the run folder when ``model`` is one).
    """
    from vidcap.io.files import write_json
    from vidcap.metrics.caption import score_captions

    cap = Captioner.load(model)
    if out_dir is None and model is not None and Path(model).is_dir():
        out_dir = Path(model)
    if cache_dir is None and out_dir is not None and videos is not None:
        cache_dir = Path(out_dir) / "features"
    data = prepare_data(corpus, features=features, videos=videos, splits=splits, cache_dir=cache_dir,
                        backbone=cap.backbone, num_frames=cap.num_frames, only=[split], flow=cap.flow,
                        fit=cap.fit, progress=progress)
    names = data.splits.get(split)
    if not names:
        raise DataError(f"split {split!r} has no video with captions and features (splits: {sorted(data.splits)})")
    cap.check_features(backbone=data.features.backbone, feature_dim=int(data.features.feats.shape[-1]),
                       where=str(data.features_dir), fit=data.features.fit)
    index = {n: i for i, n in enumerate(data.features.names)}
    rows = torch.tensor([index[n] for n in names])
    beam = cap.beam_size if beam_size is None else beam_size
    lp = cap.length_penalty if length_penalty is None else length_penalty
    preds = [text for text, _ in cap.caption_features(data.features.feats[rows].numpy(),
                                                      data.features.mask[rows].numpy(), beam_size=beam,
                                                      length_penalty=lp)]
    refs = {n: data.corpus.captions[n] for n in names}
    pred_map = dict(zip(names, preds))
    scores = score_captions(refs, pred_map, metrics=metrics, tokenize=tokenize)
    result = CaptionEvaluation(split, beam, scores, pred_map, refs)
    if out_dir is not None:
        out = Path(out_dir)
        write_json(out / f"predictions-{split}.json",
                   {k: {"prediction": v, "references": refs[k]} for k, v in pred_map.items()})
        write_json(out / f"metrics-{split}.json", {"split": split, "beam_size": beam, **scores})
    return result
