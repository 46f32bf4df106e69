"""Train the event-boundary head (:mod:`vidcap.models.boundary`) on annotated multi-event videos.

The features are COOT's (:func:`vidcap.tasks.coot.event_features`: 4 frames a second, the
feature store), the targets each event's first frame but the first's, the splits as COOT's
(:func:`vidcap.train.coot.training_splits`). ``best.pt`` is the epoch with the best
validation boundary F1 (a predicted boundary within 0.5 s of a true one;
:func:`vidcap.metrics.temporal.boundary_f1`, pooled over the validation videos).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from vidcap.config import BoundaryTrainConfig
from vidcap.errors import DataError
from vidcap.metrics.temporal import boundary_f1
from vidcap.models.boundary import BoundaryConfig, BoundaryNet
from vidcap.progress import Callback
from vidcap.results import TrainResult
from vidcap.tasks import boundaries as task
from vidcap.tasks.coot import RATE, event_features
from vidcap.train.coot import training_splits
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

TOLERANCE = 0.5  # seconds


class BoundaryTrainer(Trainer):
    task = "boundaries"
    monitor = "val_f1"
    mode = "max"

    def __init__(self, cfg: BoundaryTrainConfig, gt: dict, feats: dict, train_names: list[str],
                 val_names: list[str]):
        self.cfg, self.gt, self.feats = cfg, gt, feats
        self.train_names = [n for n in train_names if n in feats]
        self.val_names = [n for n in val_names if n in feats]
        if len(self.train_names) < 2:
            raise DataError(f"{len(self.train_names)} training video(s) have features; at least 2 are needed")
        self.x, self.mask = task.padded(feats, self.train_names)
        self.y = torch.zeros(self.mask.shape)
        for i, n in enumerate(self.train_names):
            t = task.boundary_targets(feats[n][1], gt[n])
            self.y[i, : len(t)] = torch.from_numpy(t)
        self.model = BoundaryNet(BoundaryConfig(feature_dim=self.x.shape[-1], hidden=cfg.hidden,
                                                dropout=cfg.dropout))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        self.model.train()
        order = rng.numpy.permutation(len(self.train_names))
        losses = []
        for s in range(0, len(order), self.cfg.batch_size):
            b = torch.as_tensor(order[s:s + self.cfg.batch_size])
            _, loss = self.net(self.x[b], self.mask[b], self.y[b])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
        return {"train_loss": float(np.mean(losses))}

    def validate(self, epoch: int) -> dict:
        if not self.val_names:
            return {}
        self.model.eval()
        n_pred = n_true = hit_p = hit_t = 0
        for n in self.val_names:
            f, times = self.feats[n]
            pred = task.predict(self.model, f, times, rate=RATE)
            truth = [e.start for e in self.gt[n].events[1:]]
            m = boundary_f1(pred, truth, TOLERANCE)
            n_pred, n_true = n_pred + len(pred), n_true + len(truth)
            hit_p, hit_t = hit_p + m["precision"] * len(pred), hit_t + m["recall"] * len(truth)
        precision, recall = hit_p / max(n_pred, 1), hit_t / max(n_true, 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"val_precision": precision, "val_recall": recall, "val_f1": f1}

    def checkpoint(self, metrics: dict) -> dict:
        return task.make_checkpoint(self.model, backbone=self.cfg.backbone, rate=RATE, metrics=metrics,
                                    train=asdict(self.cfg))

    def describe(self) -> dict:
        return {"data": {"train": len(self.train_names), "val": len(self.val_names), "backbone": self.cfg.backbone,
                         "rate": RATE}}


def train_boundaries(annotations, videos, out_dir, *, features=None, config: BoundaryTrainConfig | None = None,
                     resume: bool = False, progress: Callback | None = None, stop_after: int | None = None,
                     **options) -> TrainResult:
    """Train the boundary head on an ActivityNet Captions or YouCook2 file of the videos in the folder
    ``videos``; ``features``: the feature store (default ``out_dir/features``; COOT's runs may share
    it). Options: :class:`~vidcap.config.BoundaryTrainConfig`."""
    cfg = run_config(BoundaryTrainConfig, options, out_dir, resume=resume, config=config)
    out = prepare_run_dir(out_dir, resume=resume)
    gt, train_names, val_names = training_splits(annotations, cfg.seed, cfg.val_fraction)
    feats, _ = event_features(gt, train_names + val_names, videos, features or Path(out) / "features",
                              backbone=cfg.backbone, progress=progress)
    rng = Rng.seeded(cfg.seed)
    trainer = BoundaryTrainer(cfg, gt, feats, train_names, val_names)
    return fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
               progress=progress, stop_after=stop_after)
