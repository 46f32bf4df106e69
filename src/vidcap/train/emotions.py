"""Train the seed's 6-class emotion network from a FER2013-format CSV.

The CSV has the columns ``emotion,pixels,Usage``: a FER2013 label 0..6, 2,304
space-separated grey values (48×48), and the split (``Training``,
``PrivateTest`` → validation, ``PublicTest`` → test), exactly as the seed reads
it. Disgust (1) is merged into angry (0) and the rest shift down by one.

As in the seed: Adam (lr 0.003), batch 128, training images augmented with a
random rotation of ±10°, a zoom of ±10% (x and y drawn separately), a random
horizontal flip and nearest-edge fill; validation and test images are only
scaled to [0, 1]. The checkpoint is saved whenever the validation loss improves
(``best.pt``, rebuilt with :func:`vidcap.models.emotion.load_seed_checkpoint`);
the test accuracy is measured with that best checkpoint.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from vidcap.errors import ConfigError, DataError
from vidcap.models.emotion import (SEED_LABELS, SeedEmotionNet, SeedNetConfig, fer_to_seed_label,
                                   load_seed_checkpoint, save_seed_checkpoint)

log = logging.getLogger(__name__)

SPLITS = {"Training": "train", "PrivateTest": "val", "PublicTest": "test"}
SIDE = 48


@dataclass
class FERData:
    """``images (N, 48, 48) uint8`` and ``labels (N,) int64`` (seed classes) per split."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.labels.items()}


def load_fer_csv(path: str | os.PathLike, *, merge_disgust: bool = True) -> FERData:
    """Read a FER2013-format CSV; labels become the seed's 6 classes when ``merge_disgust``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"FER CSV {str(path)!r} does not exist")
    images: dict[str, list] = {s: [] for s in SPLITS.values()}
    labels: dict[str, list] = {s: [] for s in SPLITS.values()}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path} lacks the column(s) {sorted(missing)}; a FER2013 CSV has emotion,pixels,Usage")
        for line_no, row in enumerate(reader, start=2):
            split = SPLITS.get(row["Usage"].strip())
            if split is None:
                raise DataError(f"{path} line {line_no}: Usage {row['Usage']!r} is not one of {sorted(SPLITS)}")
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError as exc:
                raise DataError(f"{path} line {line_no}: emotion/pixels are not integers ({exc})") from exc
            if not 0 <= label <= 6:
                raise DataError(f"{path} line {line_no}: emotion {label} is outside 0..6")
            if pixels.size != SIDE * SIDE or pixels.min() < 0 or pixels.max() > 255:
                raise DataError(f"{path} line {line_no}: pixels must be {SIDE * SIDE} values in 0..255, "
                                f"got {pixels.size}")
            images[split].append(pixels.astype(np.uint8).reshape(SIDE, SIDE))
            labels[split].append(fer_to_seed_label(label) if merge_disgust else label)
    if not labels["train"]:
        raise DataError(f"{path} has no rows with Usage=Training")
    return FERData(
        images={k: np.stack(v) if v else np.zeros((0, SIDE, SIDE), np.uint8) for k, v in images.items()},
        labels={k: np.asarray(v, np.int64) for k, v in labels.items()},
    )


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


@dataclass
class TrainResult:
    checkpoint: str
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    test_accuracy: float | None
    test_loss: float | None
    sizes: dict[str, int]
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def train(
    csv_path: str | os.PathLike,
    out_dir: str | os.PathLike = "runs/emotions",
    *,
    epochs: int = 300,
    batch_size: int = 128,
    lr: float = 0.003,
    val_fraction: float = 0.1,
    bn_momentum: float = 0.01,
    seed: int = 0,
    device: str | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train :class:`SeedEmotionNet` on a FER2013-format CSV; keep the best-validation-loss checkpoint.

    Without ``PrivateTest`` rows, ``val_fraction`` of the training rows (drawn
    with ``seed``) become the validation set. ``bn_momentum`` is the batch-norm
    running-average weight (Keras' 0.01 by default; raise it for short runs). Writes ``out_dir/best.pt`` and
    ``out_dir/history.json``; returns a :class:`TrainResult`.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"epochs, batch_size and lr must be positive, got {epochs}, {batch_size}, {lr}")
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = load_fer_csv(csv_path)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    x_train, y_train = data.images["train"], data.labels["train"]
    x_val, y_val = data.images["val"], data.labels["val"]
    if len(y_val) == 0:
        if not 0 < val_fraction < 1:
            raise ConfigError(f"{csv_path} has no PrivateTest rows and val_fraction={val_fraction} is not in (0, 1)")
        order = rng.permutation(len(y_train))
        n_val = max(1, int(round(len(order) * val_fraction)))
        if n_val >= len(order):
            raise DataError(f"{csv_path} has too few training rows ({len(order)}) to hold out a validation set")
        x_val, y_val = x_train[order[:n_val]], y_train[order[:n_val]]
        x_train, y_train = x_train[order[n_val:]], y_train[order[n_val:]]
        log.info("no PrivateTest rows: holding out %d training rows for validation", n_val)
    sizes = {"train": len(y_train), "val": len(y_val), "test": len(data.labels["test"])}
    log.info("FER data %s: %s", csv_path, sizes)

    model = SeedEmotionNet(SeedNetConfig(num_classes=len(SEED_LABELS), labels=SEED_LABELS,
                                         bn_momentum=bn_momentum)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    out_dir.mkdir(parents=True, exist_ok=True)
    best_path = out_dir / "best.pt"
    csv_hash = _sha256(csv_path)
    best = (math.inf, 0, 0.0)
    history: list[dict] = []
    steps = max(len(y_train) // batch_size, 1)  # the seed: len(train) // BATCH_SIZE steps per epoch
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs, unit="epoch", desc="train emotions")
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(y_train))
        running, seen = 0.0, 0
        for step in range(steps):
            idx = order[step * batch_size:(step + 1) * batch_size]
            if len(idx) < 2:  # batch-norm needs two samples
                continue
            x = _to_tensor(augment(x_train[idx], rng)).to(device)
            y = torch.from_numpy(y_train[idx]).to(device)
            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
        val_loss, val_acc = evaluate(model, x_val, y_val, device=device)
        record = {"epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss, "val_accuracy": val_acc}
        history.append(record)
        if val_loss < best[0]:
            best = (val_loss, epoch, val_acc)
            save_seed_checkpoint(model, best_path, epoch=epoch, val_loss=val_loss, val_accuracy=val_acc,
                                 train_loss=record["train_loss"], data_sha256=csv_hash, lr=lr,
                                 batch_size=batch_size, seed=seed)
            log.info("epoch %d: val_loss improved to %.4f (acc %.3f), saved %s", epoch, val_loss, val_acc, best_path)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{val_loss:.3f}")
    if bar is not None:
        bar.close()
    test_loss = test_acc = None
    if sizes["test"]:
        best_model = load_seed_checkpoint(best_path).to(device)
        test_loss, test_acc = evaluate(best_model, data.images["test"], data.labels["test"], device=device)
        log.info("test accuracy of the best checkpoint: %.4f", test_acc)
    result = TrainResult(str(best_path), best[1], best[0], best[2], test_acc, test_loss, sizes, history)
    tmp = out_dir / ".history.json.part"
    tmp.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / "history.json")
    return result
