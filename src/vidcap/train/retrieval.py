"""Train the joint video-text embedding (:mod:`vidcap.models.retrieval`) through the one loop.

Each epoch every training video is in one step's batch with ``captions_per_video``
of its captions (MIL-NCE: all of a video's captions are its positives, the batch's
other videos the negatives). ``best.pt`` is the epoch with the best validation
text->video R@1 + R@5 + R@10 (by training loss without a validation split). The
checkpoint format is :mod:`vidcap.tasks.retrieval`'s.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from vidcap.config import RetrievalTrainConfig
from vidcap.errors import DataError
from vidcap.features.domain import fit_domain
from vidcap.io.files import atomic_path
from vidcap.metrics.retrieval import retrieval_metrics
from vidcap.models.retrieval import RetrievalConfig, VideoTextModel
from vidcap.progress import Callback
from vidcap.results import TrainResult
from vidcap.scale import ddp
from vidcap.tasks.retrieval import make_checkpoint
from vidcap.train.caption import prepare_data
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

log = logging.getLogger(__name__)


def caption_vectors(corpus, names: list[str], cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """MiniLM vectors of every caption of ``names``: ``(vectors (N, 384), owner (N,), texts)``.

    Cached in ``cache`` (an ``.npz``) keyed by a hash of the texts.
    """
    from vidcap.features import text as text_mod

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
        with atomic_path(cache) as tmp:
            np.savez(tmp, vectors=vectors, key=np.asarray(key))
    return vectors, np.asarray(owner), texts


def _score_split(model: VideoTextModel, feats, mask, vectors, owner) -> dict:
    model.eval()
    with torch.inference_mode():
        v = model.encode_video(feats, mask)
        t = model.encode_text(torch.as_tensor(vectors))
    return retrieval_metrics((t @ v.T).numpy(), owner)


class RetrievalTrainer(Trainer):
    task = "retrieval"
    monitor = "val_recall"
    mode = "max"

    def __init__(self, cfg: RetrievalTrainConfig, data, out: Path):
        fs = self.fs = data.features
        self.cfg = cfg
        index = {n: i for i, n in enumerate(fs.names)}
        self.train_names = data.splits.get("train") or []
        self.val_names = data.splits.get("val") or []
        if len(self.train_names) < 2:
            raise DataError(f"the train split has {len(self.train_names)} video(s) with features; at least 2 are needed")
        self.backbone = fs.backbone or cfg.backbone
        self.T = fs.feats.shape[1]
        config = RetrievalConfig(feature_dim=fs.feats.shape[-1], embed_dim=cfg.embed_dim, hidden=cfg.hidden,
                                 layers=cfg.layers, clip_frames=min(cfg.clip_frames, self.T), dropout=cfg.dropout)
        self.model = VideoTextModel(config)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = max(1, -(-len(self.train_names) // cfg.batch_size))
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=cfg.lr, pct_start=0.1,
                                                             total_steps=cfg.epochs * steps_per_epoch)
        self.tr_idx = torch.as_tensor([index[n] for n in self.train_names])
        self.domain = fit_domain(fs, self.train_names, self.val_names, space=f"{self.backbone} frames")
        self.tr_vec, tr_owner, _ = caption_vectors(data.corpus, self.train_names, out / "text_train.npz")
        self.per_video = [np.flatnonzero(tr_owner == i) for i in range(len(self.train_names))]
        if self.val_names:
            self.va_idx = torch.as_tensor([index[n] for n in self.val_names])
            self.va_vec, self.va_owner, _ = caption_vectors(data.corpus, self.val_names, out / "text_val.npz")

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        cfg, fs = self.cfg, self.fs
        self.model.train()
        order = rng.numpy.permutation(len(self.train_names))
        losses = []
        for s in range(0, len(order), cfg.batch_size):
            batch = order[s:s + cfg.batch_size]
            if len(batch) < 2:
                continue
            picks = [rng.numpy.choice(self.per_video[b], size=min(cfg.captions_per_video, len(self.per_video[b])),
                                      replace=False) for b in batch]  # drawn for the whole batch on every process
            local, n = ddp.local_rows(len(batch))  # this process's videos of the batch (all of them alone)
            batch = batch[local.numpy()]
            rows, owners = [], []
            for j, k in enumerate(local.tolist()):
                rows += list(picks[k])
                owners += [j] * len(picks[k])
            _, loss = self.net(fs.feats[self.tr_idx[batch]], fs.mask[self.tr_idx[batch]],
                               torch.as_tensor(self.tr_vec[rows]), torch.as_tensor(owners))
            loss, mean, _ = ddp.weighted(loss, n)  # negatives: this process's videos of the batch
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            losses.append(mean)
        return {"train_loss": float(np.mean(losses))}

    def validate(self, epoch: int) -> dict:
        if not self.val_names:
            return {}
        m = _score_split(self.model, self.fs.feats[self.va_idx], self.fs.mask[self.va_idx], self.va_vec, self.va_owner)
        row = {f"val_t2v_{k}": v for k, v in m["t2v"].items() if k.startswith("R@")}
        row.update({f"val_v2t_{k}": v for k, v in m["v2t"].items() if k.startswith("R@")})
        row["val_recall"] = m["t2v"]["R@1"] + m["t2v"]["R@5"] + m["t2v"]["R@10"]
        return row

    def learning_rate(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def checkpoint(self, metrics: dict) -> dict:
        return make_checkpoint(self.model, backbone=self.backbone, num_frames=self.T, metrics=metrics,
                               train=asdict(self.cfg), domain=self.domain)

    def describe(self) -> dict:
        return {"data": {"train": len(self.train_names), "val": len(self.val_names), "backbone": self.backbone,
                         "num_frames": int(self.T)}}


def train_retrieval(
    corpus,
    out_dir,
    *,
    features=None,
    videos=None,
    splits=None,
    config: RetrievalTrainConfig | None = None,
    resume: bool = False,
    progress: Callback | None = None,
    stop_after: int | None = None,
    nproc: int = 1,
    **options,
) -> TrainResult:
    """Train the joint embedding on a captioned corpus (MSVD ``video_corpus.csv`` or MSR-VTT JSON).

    ``features``: a folder of ``<name>.npy`` (T, D) frame features; or ``videos``: a
    folder of videos, whose features are extracted into ``out_dir/features``.
    ``splits``: by :func:`vidcap.data.captions.resolve_splits` (``splits.json`` beside the
    corpus when there is one). Options: :class:`~vidcap.config.RetrievalTrainConfig`. ``nproc``:
    processes (DistributedDataParallel, :mod:`vidcap.scale.ddp`; each contrasts its own
    videos of the global batch).
    """
    cfg = run_config(RetrievalTrainConfig, options, out_dir, resume=resume, config=config)
    prepare_run_dir(out_dir, resume=resume)  # refuse a bad --out-dir before any work
    return ddp.run(_train_retrieval, nproc, {"corpus": corpus, "out_dir": out_dir, "features": features,
                                             "videos": videos, "splits": splits, "cfg": cfg, "resume": resume,
                                             "stop_after": stop_after}, progress)


def _train_retrieval(corpus, out_dir, *, features, videos, splits, cfg, resume, stop_after, progress):
    with ddp.rank_zero_first():  # rank 0 extracts what is missing
        data = prepare_data(corpus, features=features, videos=videos, splits=splits,
                            cache_dir=Path(out_dir) / "features", backbone=cfg.backbone, num_frames=cfg.num_frames,
                            split_seed=cfg.seed, progress=progress)
    rng = Rng.seeded(cfg.seed)
    trainer = RetrievalTrainer(cfg, data, Path(out_dir))
    return fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
               progress=progress, stop_after=stop_after)
