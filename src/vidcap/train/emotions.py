"""Train the seed's 6-class emotion network on a FER2013-format CSV, through the one loop.

As in the seed: Adam (lr 0.003), batch 128, training images augmented with a
random rotation of ±10°, a zoom of ±10% (x and y drawn separately), a random
horizontal flip and nearest-edge fill; validation and test images are only
scaled to [0, 1]. ``best.pt`` is the epoch with the lowest validation loss (the
seed's ModelCheckpoint); the test accuracy is measured with it. The data is
:mod:`vidcap.data.fer`, the checkpoint format :mod:`vidcap.tasks.emotions`'s.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from vidcap.config import EmotionTrainConfig
from vidcap.data.fer import load_fer_csv
from vidcap.errors import ConfigError, DataError
from vidcap.io.files import file_hash
from vidcap.models.emotion import SEED_LABELS, SeedEmotionNet, SeedNetConfig
from vidcap.progress import Callback
from vidcap.results import TrainResult
from vidcap.runtime import device as default_device
from vidcap.tasks.emotions import load_seed_model, make_checkpoint
from vidcap.train.loop import Rng, Trainer, fit, prepare_run_dir, run_config

log = logging.getLogger(__name__)


def augment(images: np.ndarray, rng: np.random.Generator, *, rotation: float = 10.0, zoom: float = 0.1,
            flip: bool = True) -> np.ndarray:
    """The seed's ImageDataGenerator: ``(B, H, W) uint8`` → augmented ``(B, H, W) uint8``.

    Random rotation in ±``rotation`` degrees, zoom factors in ``[1 - zoom, 1 + zoom]``
    for x and y separately, a horizontal flip half of the time, borders filled
    with the nearest pixel.
    """
    import cv2

    out = np.empty_like(images)
    h, w = images.shape[1:]
    centre = np.array([w / 2 - 0.5, h / 2 - 0.5])
    for i, img in enumerate(images):
        angle = math.radians(rng.uniform(-rotation, rotation))
        zx, zy = rng.uniform(1 - zoom, 1 + zoom, size=2)
        # output pixel p samples the input at centre + R·diag(zx, zy)·(p - centre)
        m = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.diag([zx, zy])
        affine = np.hstack([m, (centre - m @ centre)[:, None]])
        out[i] = cv2.warpAffine(img, affine, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REPLICATE)
        if flip and rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
    return out


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images.astype(np.float32)[:, None] / 255.0)  # (B, 1, 48, 48) [0, 1]


@torch.no_grad()
def evaluate(model: SeedEmotionNet, images: np.ndarray, labels: np.ndarray, batch_size: int = 256,
             device: str = "cpu") -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on un-augmented images."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x = _to_tensor(images[start:start + batch_size]).to(device)
        y = torch.from_numpy(labels[start:start + batch_size]).to(device)
        logits, loss = model(x, y)
        total_loss += float(loss) * len(y)
        correct += int((logits.argmax(1) == y).sum())
    n = max(len(images), 1)
    return total_loss / n, correct / n


class EmotionTrainer(Trainer):
    task = "emotions"
    monitor = "val_loss"
    mode = "min"

    def __init__(self, cfg: EmotionTrainConfig, csv_path: Path, rng: Rng, device):
        self.cfg, self.device = cfg, device
        data = load_fer_csv(csv_path)
        x_train, y_train = data.images["train"], data.labels["train"]
        x_val, y_val = data.images["val"], data.labels["val"]
        if len(y_val) == 0:
            if not 0 < cfg.val_fraction < 1:
                raise ConfigError(f"{csv_path} has no PrivateTest rows and val_fraction={cfg.val_fraction} is not in (0, 1)")
            order = rng.numpy.permutation(len(y_train))
            n_val = max(1, int(round(len(order) * cfg.val_fraction)))
            if n_val >= len(order):
                raise DataError(f"{csv_path} has too few training rows ({len(order)}) to hold out a validation set")
            x_val, y_val = x_train[order[:n_val]], y_train[order[:n_val]]
            x_train, y_train = x_train[order[n_val:]], y_train[order[n_val:]]
            log.info("no PrivateTest rows: holding out %d training rows for validation", n_val)
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.x_test, self.y_test = data.images["test"], data.labels["test"]
        self.sizes = {"train": len(y_train), "val": len(y_val), "test": len(self.y_test)}
        self.data_sha256 = file_hash(csv_path, algorithm="sha256")
        self.model = SeedEmotionNet(SeedNetConfig(num_classes=len(SEED_LABELS), labels=SEED_LABELS,
                                                  bn_momentum=cfg.bn_momentum)).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        bs = self.cfg.batch_size
        self.model.train()
        order = rng.numpy.permutation(len(self.y_train))
        running, seen = 0.0, 0
        for step in range(max(len(self.y_train) // bs, 1)):  # the seed: len(train) // BATCH_SIZE steps
            idx = order[step * bs:(step + 1) * bs]
            if len(idx) < 2:  # batch-norm needs two samples
                continue
            x = _to_tensor(augment(self.x_train[idx], rng.numpy)).to(self.device)
            y = torch.from_numpy(self.y_train[idx]).to(self.device)
            _, loss = self.model(x, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
        return {"train_loss": running / max(seen, 1)}

    def validate(self, epoch: int) -> dict:
        loss, acc = evaluate(self.model, self.x_val, self.y_val, device=self.device)
        return {"val_loss": loss, "val_accuracy": acc}

    def checkpoint(self, metrics: dict) -> dict:
        return {**make_checkpoint(self.model), "data_sha256": self.data_sha256}

    def describe(self) -> dict:
        return {"sizes": self.sizes, "data_sha256": self.data_sha256}

    def finish(self, best_path: Path | None) -> dict:
        if not self.sizes["test"] or best_path is None:
            return {}
        best = load_seed_model(best_path).to(self.device)
        loss, acc = evaluate(best, self.x_test, self.y_test, device=self.device)
        log.info("test accuracy of the best checkpoint: %.4f", acc)
        return {"test": {"loss": loss, "accuracy": acc}}


def train_emotions(
    csv_path: str | os.PathLike,
    out_dir: str | os.PathLike = "runs/emotions",
    *,
    config: EmotionTrainConfig | None = None,
    device: str | None = None,
    resume: bool = False,
    progress: Callback | None = None,
    stop_after: int | None = None,
    **options,
) -> TrainResult:
    """Train the seed's network on a FER2013-format CSV into the run folder ``out_dir``.

    Without ``PrivateTest`` rows, ``val_fraction`` of the training rows (drawn with the
    seed) become the validation set. Options: :class:`~vidcap.config.EmotionTrainConfig`.
    Use the result with ``vidcap emotions VIDEO --model OUT_DIR``.
    """
    cfg = run_config(EmotionTrainConfig, options, out_dir, resume=resume, config=config)
    prepare_run_dir(out_dir, resume=resume)  # refuse a bad --out-dir before any work
    rng = Rng.seeded(cfg.seed)
    trainer = EmotionTrainer(cfg, Path(csv_path), rng, default_device(device))
    log.info("FER data %s: %s", csv_path, trainer.sizes)
    return fit(trainer, out_dir, config=cfg, epochs=cfg.epochs, patience=cfg.patience, rng=rng, resume=resume,
               progress=progress, stop_after=stop_after)
