"""Train COOT (:mod:`vidcap.models.coot`) on annotated multi-event videos, through the one loop.

Each epoch every training video is in one step's batch with all its events: the batch's
other events are each clip's negatives, its other paragraphs each video's. ``best.pt`` is
the epoch with the best validation paragraph->video + sentence->clip R@1 + R@5 (by training
loss without validation videos). Validation videos: the YouCook2 file's ``validation``
subset when it has one (training on ``training``), else ``val_fraction`` of the videos drawn
with the run's seed. The checkpoint format is :mod:`vidcap.tasks.coot`'s.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np
import torch

from vidcap.config import CootTrainConfig
from vidcap.errors import ConfigError, DataError
from vidcap.models.coot import CootConfig, CootModel
from vidcap.progress import Callback
from vidcap.results import TrainResult
from vidcap.tasks import coot
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

log = logging.getLogger(__name__)


def training_splits(annotations, seed: int, val_fraction: float) -> tuple[dict, list[str], list[str]]:
    """``(events, train ids, validation ids)`` of an annotation file (see the module's docstring)."""
    from vidcap.tasks.dense import load_events

    gt = load_events(annotations)
    try:
        train, val = load_events(annotations, "training"), load_events(annotations, "validation")
        return gt, list(train), list(val)
    except (ConfigError, DataError) as exc:  # an ActivityNet file, or a YouCook2 one without these subsets
        log.info("%s; holding out %.0f %% of the videos for validation", exc, 100 * val_fraction)
    names = list(gt)
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = int(round(val_fraction * len(names)))
    return gt, [names[i] for i in sorted(order[n_val:])], [names[i] for i in sorted(order[:n_val])]


class CootTrainer(Trainer):
    task = "coot"
    monitor = "val_recall"
    mode = "max"

    def __init__(self, cfg: CootTrainConfig, data: coot.EventTensors, train_names: list[str], val_names: list[str],
                 backbone: str):
        self.cfg, self.data, self.backbone = cfg, data, backbone
        index = {n: i for i, n in enumerate(data.names)}
        self.tr_idx = np.array([index[n] for n in train_names if n in index])
        self.va_idx = np.array([index[n] for n in val_names if n in index])
        if len(self.tr_idx) < 2:
            raise DataError(f"{len(self.tr_idx)} training video(s) have features; at least 2 are needed")
        self.model = CootModel(self.model_config(cfg, data.clips.shape[-1]))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps = max(1, -(-len(self.tr_idx) // cfg.batch_size))
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=cfg.lr, pct_start=0.1,
                                                             total_steps=cfg.epochs * steps)
        self.val = None
        if len(self.va_idx) >= 2:
            self.val = coot.EventTensors([data.names[i] for i in self.va_idx],
                                         *(getattr(data, k)[torch.as_tensor(self.va_idx)] for k in data.INPUTS))

    @staticmethod
    def model_config(cfg: CootTrainConfig, feature_dim: int) -> CootConfig:
        return CootConfig(feature_dim=feature_dim, embed_dim=cfg.embed_dim, hidden=cfg.hidden, layers=cfg.layers,
                          clip_frames=cfg.clip_frames, video_frames=cfg.video_frames, max_clips=cfg.max_clips,
                          context=cfg.context, dropout=cfg.dropout)

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        self.model.train()
        order = self.tr_idx[rng.numpy.permutation(len(self.tr_idx))]
        rows = []
        for s in range(0, len(order), self.cfg.batch_size):
            batch = order[s:s + self.cfg.batch_size]
            if len(batch) < 2:
                continue
            loss, parts = self.net(self.data.batch(batch), cycle_weight=self.cfg.cycle_weight)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            rows.append({"train_loss": float(loss.detach()), **{f"train_{k}": v for k, v in parts.items()}})
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    def validate(self, epoch: int) -> dict:
        if self.val is None:
            return {}
        self.model.eval()
        with torch.inference_mode():
            m = coot.retrieval_scores(coot.embed(self.model, self.val))
        row = {f"val_{d}_R@{k}": m[d][f"R@{k}"] for d in ("p2v", "s2c") for k in (1, 5)}
        row["val_recall"] = sum(row.values())
        return row

    def learning_rate(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def checkpoint(self, metrics: dict) -> dict:
        return coot.make_checkpoint(self.model, backbone=self.backbone, metrics=metrics, train=asdict(self.cfg))

    def describe(self) -> dict:
        return {"data": {"train": int(len(self.tr_idx)), "val": int(len(self.va_idx)), "backbone": self.backbone,
                         "events": int(self.data.events.sum()), "rate": coot.RATE}}


def train_coot(annotations, videos, out_dir, *, features=None, config: CootTrainConfig | None = None,
               resume: bool = False, progress: Callback | None = None, stop_after: int | None = None,
               **options) -> TrainResult:
    """Train COOT on an ActivityNet Captions or YouCook2 file of the videos in the folder ``videos``;
    features (4 frames a second) are extracted into the feature store ``features`` (default
    ``out_dir/features``; several runs may share one). Options: :class:`~vidcap.config.CootTrainConfig`."""
    cfg = run_config(CootTrainConfig, options, out_dir, resume=resume, config=config)
    out = prepare_run_dir(out_dir, resume=resume)
    gt, train_names, val_names = training_splits(annotations, cfg.seed, cfg.val_fraction)
    feats, _ = coot.event_features(gt, train_names + val_names, videos, features or out / "features",
                                   backbone=cfg.backbone, progress=progress)  # it warns of each video left out
    data = coot.event_tensors(gt, feats, CootTrainer.model_config(cfg, 1), train_names + val_names)
    rng = Rng.seeded(cfg.seed)
    trainer = CootTrainer(cfg, data, train_names, val_names, cfg.backbone)
    return fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
               progress=progress, stop_after=stop_after)
