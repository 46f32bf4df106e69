"""The one training loop: every trainer of vidcap runs through :func:`fit`.

A task describes itself as a :class:`Trainer` (its model, optimizer, one epoch of
training, a validation pass, and the checkpoint it wants to ship); ``fit`` does the
rest, the same way for every task:

* epochs, with progress reported through one callback (:mod:`vidcap.progress`);
* the run folder, one layout for every task::

      config.json   what the run is: the task, its options, its data
      log.csv       one row per epoch (train/validation metrics, learning rate, seconds)
      log.jsonl     the same rows as JSON lines
      curves.png    losses and metrics per epoch
      best.pt       the checkpoint of the best epoch by the trainer's ``monitor``
                    (by training loss when there is no validation data)
      last.pt       written every epoch: the model plus everything to resume

* early stopping after ``patience`` epochs without a better ``monitor`` (announced);
* exact resume: ``last.pt`` holds the optimizer, the scheduler, every random
  generator (torch's global one, the run's torch and numpy generators, CUDA's) and the
  history, so a run killed and resumed ends with the same weights, bit for bit, as one
  that was never interrupted. ``resume=True`` without ``last.pt`` is an error, and a
  new run refuses a folder that already holds one.

Checkpoints load with ``torch.load(weights_only=True)``.

On several processes (:mod:`vidcap.scale.ddp`: ``nproc=N`` or ``torchrun``) every process
trains its share of each batch through :attr:`Trainer.net` (the model under
DistributedDataParallel); rank 0 validates, writes the run folder and reports progress,
and ``last.pt`` holds every rank's generators.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcap.config import Config
from vidcap.errors import ConfigError, ModelError
from vidcap.io.checkpoints import read_checkpoint_dict, save_checkpoint
from vidcap.io.files import to_json, write_json, write_text
from vidcap.progress import Callback, report
from vidcap.results import TrainResult
from vidcap.scale import ddp

log = logging.getLogger(__name__)

STATE_VERSION = 1


# --------------------------------------------------------------------------- randomness
@dataclass
class Rng:
    """Every source of randomness of a run.

    ``torch`` (a generator) draws data order and augmentations, ``numpy`` serves code
    that works on arrays; dropout and initialisation use torch's global generator.
    All of them are saved in ``last.pt`` and restored on resume.
    """

    seed: int
    torch: torch.Generator
    numpy: np.random.Generator

    @classmethod
    def seeded(cls, seed: int) -> "Rng":
        """Seed torch's global generator (and CUDA's) and make the run's generators."""
        torch.manual_seed(seed)
        return cls(seed, torch.Generator().manual_seed(seed), np.random.default_rng(seed))

    def state(self) -> dict:
        state = {"global": torch.get_rng_state(), "torch": self.torch.get_state(),
                 "numpy": self.numpy.bit_generator.state}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def restore(self, state: dict) -> None:
        torch.set_rng_state(state["global"])
        self.torch.set_state(state["torch"])
        self.numpy.bit_generator.state = state["numpy"]
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- the task's side
class Trainer:
    """What a task gives the loop. Subclasses set the attributes and override the methods.

    model, optimizer (and an optional scheduler, stepped by the task) are set in
    ``__init__``. ``monitor`` names the row entry that picks ``best.pt`` and ``mode``
    says whether higher (``"max"``) or lower (``"min"``) is better.
    """

    task: str = "model"
    monitor: str = "val_loss"
    mode: str = "min"
    fallback: str = "train_loss"  # used (lower is better) when the monitor is missing, e.g. no validation data
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler = None
    _net = None

    @property
    def net(self) -> torch.nn.Module:
        """What ``train_epoch`` runs forward and backward: the model (under DistributedDataParallel
        on several processes; :mod:`vidcap.scale.ddp`)."""
        return self.model if self._net is None else self._net

    def train_epoch(self, epoch: int, rng: Rng) -> dict:
        """Run one epoch (``epoch`` counts from 1); return metrics such as ``{"train_loss": 2.1}``."""
        raise NotImplementedError

    def validate(self, epoch: int) -> dict:
        """Metrics on held-out data, such as ``{"val_loss": ..., "val_acc": ...}`` ({} without any)."""
        return {}

    def checkpoint(self, metrics: dict) -> dict:
        """The task's inference checkpoint dict (``format``, ``model``, ...) for the current weights."""
        raise NotImplementedError

    def load_weights(self, ckpt: dict) -> None:
        """Put the weights of a checkpoint made by :meth:`checkpoint` back into the model."""
        self.model.load_state_dict(ckpt["model"])

    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def score(self, row: dict) -> tuple[str, float]:
        """(name, value) of what picks the best epoch; higher value is better."""
        value = row.get(self.monitor)
        if value is None:
            return self.fallback, -float(row[self.fallback])
        return self.monitor, float(value) if self.mode == "max" else -float(value)

    def better(self, row: dict, best: dict | None) -> bool:
        """Whether the epoch in ``row`` beats the best one so far (``best`` is its row, None at first)."""
        return best is None or self.score(row)[1] > self.score(best)[1]

    def describe(self) -> dict:
        """What goes into config.json and the result beside the options (data sizes, classes, ...)."""
        return {}

    def finish(self, best_path: Path | None) -> dict:
        """After the last epoch: extra results (e.g. test metrics of the best checkpoint)."""
        return {}


# --------------------------------------------------------------------------- run folders
def run_config(cls: type[Config], options: dict, out_dir, *, resume: bool, config: Config | None = None,
               changeable: tuple[str, ...] = ("epochs", "patience")) -> Config:
    """The options of a run: ``options`` (over ``config``) for a new run; the stored ones on resume.

    On resume only ``changeable`` options may be given again with new values (to train
    longer, say); any other option that differs from the run's is refused by name.
    """
    base = config.to_dict() if config is not None else {}
    if not resume:
        return cls.from_dict({**base, **options}, strict=True)
    last = Path(out_dir) / "last.pt"
    if not last.is_file():
        raise ConfigError(f"cannot resume: {last} does not exist; start the run without --resume")
    stored = read_checkpoint_dict(last).get("train_state", {}).get("config")
    if stored is None:
        raise ModelError(f"cannot resume: {last} holds no training state")
    cls.from_dict(options, strict=True)  # unknown names are refused
    stored = {**cls.EARLIER_DEFAULTS, **stored}
    changed = sorted(k for k, v in options.items() if k not in changeable and stored.get(k) != v)
    if changed:
        raise ConfigError(f"cannot resume {out_dir} with other options ({', '.join(changed)}); a resumed run keeps "
                          f"its options (only {', '.join(changeable)} may change): drop them or start a new run")
    return cls.from_dict({**stored, **{k: v for k, v in options.items() if k in changeable}})


def prepare_run_dir(out_dir, *, resume: bool) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the run folder {out} exists and is a file; give a folder for --out-dir")
    if resume and not (out / "last.pt").is_file():
        raise ConfigError(f"cannot resume: {out / 'last.pt'} does not exist; start the run without --resume")
    if not resume and (out / "last.pt").exists():
        raise ConfigError(f"{out} already holds a training run (last.pt); continue it with --resume "
                          "or choose a new --out-dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the run folder {out}: {exc.strerror or exc}") from None
    return out


def _write_logs(out: Path, history: list[dict]) -> None:
    cols: list[str] = []
    for row in history:
        cols += [k for k in row if k not in cols]
    lines = [",".join(cols)]
    for row in history:
        lines.append(",".join("" if row.get(k) is None else str(row[k]) for k in cols))
    write_text(out / "log.csv", "\n".join(lines) + "\n")
    write_text(out / "log.jsonl", "".join(to_json(r, indent=None) + "\n" for r in history))


def _round(x):
    return round(float(x), 6) if isinstance(x, (float, np.floating)) and math.isfinite(x) else x


# --------------------------------------------------------------------------- the loop
def fit(
    trainer: Trainer,
    out_dir,
    *,
    config: Config,
    epochs: int,
    rng: Rng,
    patience: int = 0,
    resume: bool = False,
    progress: Callback | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``trainer`` for ``epochs`` epochs into the run folder ``out_dir`` (see the module docstring).

    ``rng`` must be the :class:`Rng` the trainer was built after (``Rng.seeded(seed)``
    comes first, so that the initial weights follow the seed). ``stop_after`` ends this
    call after that many epochs; the run stays resumable.
    """
    started = time.perf_counter()
    out = prepare_run_dir(out_dir, resume=resume)
    history: list[dict] = []
    best_row: dict | None = None
    bad_epochs = 0
    epoch = 0
    if resume:
        ckpt = read_checkpoint_dict(out / "last.pt")
        state = ckpt.get("train_state")
        if state is None or state.get("task") != trainer.task:
            raise ModelError(f"cannot resume: {out / 'last.pt'} is not a {trainer.task} training checkpoint")
        trainer.load_weights(ckpt)
        trainer.optimizer.load_state_dict(state["optimizer"])
        if trainer.scheduler is not None and state.get("scheduler") is not None:
            trainer.scheduler.load_state_dict(state["scheduler"])
        ranks = state.get("rng_ranks") or []
        rng.restore(ranks[ddp.rank()] if len(ranks) == ddp.world() else state["rng"])
        history = list(state["history"])
        best_row = state["best"]
        bad_epochs = int(state["bad_epochs"])
        epoch = int(state["epoch"])
        log.info("resuming %s at epoch %d", out, epoch + 1)
    main = ddp.is_main()  # on several processes only rank 0 validates and writes
    trainer._net = ddp.wrap(trainer.model)
    if main:
        write_json(out / "config.json", {"task": trainer.task, "config": config.to_dict(), **trainer.describe()})

    stopped_early = patience > 0 and bad_epochs >= patience
    ran = 0
    report(progress, "train", epoch, epochs, unit="epoch")
    while epoch < epochs and not stopped_early and (stop_after is None or ran < stop_after):
        t0 = time.perf_counter()
        epoch += 1
        ran += 1
        row = {"epoch": epoch}
        row.update(trainer.train_epoch(epoch, rng))
        if main:
            row.update(trainer.validate(epoch))
        row["lr"] = trainer.learning_rate()
        row["seconds"] = round(time.perf_counter() - t0, 3)
        row = ddp.broadcast({k: _round(v) for k, v in row.items()})
        history.append(row)
        metrics = {k: v for k, v in row.items() if k not in ("lr", "seconds")}
        if trainer.better(row, best_row):
            best_row, bad_epochs = row, 0
            if main:
                save_checkpoint({**trainer.checkpoint(metrics), "metrics": metrics}, out / "best.pt")
        else:
            bad_epochs += 1
        stopped_early = patience > 0 and bad_epochs >= patience
        ranks = ddp.gather(rng.state())
        if main:
            state = {"version": STATE_VERSION, "task": trainer.task, "epoch": epoch, "config": config.to_dict(),
                     "optimizer": trainer.optimizer.state_dict(),
                     "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
                     "rng": ranks[0], "history": history, "best": best_row, "bad_epochs": bad_epochs,
                     **({"rng_ranks": ranks} if len(ranks) > 1 else {})}
            save_checkpoint({**trainer.checkpoint(metrics), "metrics": metrics, "train_state": state}, out / "last.pt")
            _write_logs(out, history)
            from vidcap.viz.plots import plot_curves

            plot_curves(history, out / "curves.png", title=f"{trainer.task}: {out.name}")
        message = None
        if stopped_early:
            name, _ = trainer.score(best_row)
            message = (f"early stop after epoch {epoch}: no better {name} for {patience} epochs "
                       f"(best: epoch {best_row['epoch']})")
            log.info("%s", message)
        log.info("epoch %d: %s", epoch, {k: v for k, v in row.items() if k != "epoch"})
        report(progress, "train", epoch, epochs, unit="epoch", message=message,
               info={k: v for k, v in row.items() if k not in ("epoch", "seconds", "lr") and v is not None})

    finished = epoch >= epochs or stopped_early
    best = out / "best.pt"
    extra = dict(trainer.describe())
    if finished and main:
        extra.update(trainer.finish(best if best.is_file() else None))
    ddp.barrier()  # the others end once rank 0 has written everything
    name, value = trainer.score(best_row) if best_row is not None else (trainer.monitor, None)
    if value is not None and (name == trainer.fallback or trainer.mode == "min"):
        value = -value
    return TrainResult(
        task=trainer.task, out_dir=str(out), best=str(best) if best.is_file() else None, last=str(out / "last.pt"),
        epochs_run=epoch, best_epoch=None if best_row is None else best_row["epoch"], monitor=name,
        best_score=value, stopped_early=stopped_early, seconds=time.perf_counter() - started,
        history=history, extra=extra,
    )
