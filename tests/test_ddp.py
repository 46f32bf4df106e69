"""Training on several processes (DistributedDataParallel, gloo): 2 processes follow the steps of
one with the same global batch, rank 0 alone writes the run folder, and a resumed run continues
exactly. On a small generated world with real MobileNetV2 features.

The tolerance of the loss curves: both runs compute the same global batches (the same
draws from the run's generators) and the same gradient (each process's loss weighted by its
share of the batch's target tokens or videos), so they differ only in the order float32
sums are taken (two halves added instead of one pass): about 1e-7 relative per step. Over
the 4 epochs here that stays below 1e-5 in the loss (measured: at most 1e-6), while a wrong
weighting (the mean of the two halves' means) moves the losses by 1e-3 and more, and one
dropped half of the batch by far more. The weights get a looser bound, WEIGHT_TOL: Adam
divides each step by the gradient's running RMS, so where a gradient is nearly zero (the
embedding of a word the batch barely uses) a rounding difference is not damped. Measured:
within 1e-7 on an AVX2 CPU, up to 1.9e-5 (embed.weight, whose entries reach 3.9) on an
AVX-512 one, whose kernels sum in another order.
"""
from __future__ import annotations

import json

import pytest
import torch

from vidcap import api
from vidcap.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("torch_one_thread")]

RUN_FILES = {"config.json", "log.csv", "log.jsonl", "curves.png", "best.pt", "last.pt"}
TOL = 1e-5
WEIGHT_TOL = 1e-4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    api.synth(root / "world", num_videos=48, seed=17, seconds=1, size=(64, 48), fps=10, workers=1)
    api.extract_many(root / "world" / "videos", root / "feats", num_frames=4, workers=0)
    return root


@pytest.fixture(scope="module")
def two(world):
    """The 2-process caption run of 4 epochs (compared with one process, and with a resumed run)."""
    return _caption(world, world / "two", nproc=2), world / "two"


def _caption(world, out, **kw):
    return api.train_caption(world / "world" / "video_corpus.csv", out, features=world / "feats", epochs=4,
                             hidden=16, batch_size=32, lr=1e-2, dropout=0.0, seed=3, **kw)


def _curve(result, *keys):
    return [[row.get(k) for k in keys] for row in result.history]


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_two_processes_follow_one_with_the_same_global_batch(world, two, tmp_path):
    one = _caption(world, tmp_path / "one", threads=1)
    two, two_dir = two
    losses = [h["train_loss"] for h in one.history]
    assert losses[-1] < losses[0] - 0.2  # it learns: the comparison is not of flat curves
    for a, b in zip(_curve(one, "train_loss", "val_loss"), _curve(two, "train_loss", "val_loss")):
        assert a == pytest.approx(b, abs=TOL)
    wa, wb = _weights(tmp_path / "one" / "last.pt"), _weights(two_dir / "last.pt")
    assert all(torch.allclose(wa[k], wb[k], atol=WEIGHT_TOL) for k in wa)
    # rank 0 alone writes: one row per epoch, the one layout, and every rank's generators in last.pt
    assert {p.name for p in two_dir.iterdir()} == RUN_FILES
    assert len((two_dir / "log.csv").read_text().splitlines()) == 1 + 4
    state = torch.load(two_dir / "last.pt", weights_only=True)["train_state"]
    assert len(state["rng_ranks"]) == 2 and "rng_ranks" not in torch.load(tmp_path / "one" / "last.pt",
                                                                           weights_only=True)["train_state"]


def test_a_killed_two_process_run_resumes_exactly(world, two, tmp_path):
    full, full_dir = two
    part = _caption(world, tmp_path / "part", nproc=2, stop_after=2)
    assert part.epochs_run == 2
    resumed = _caption(world, tmp_path / "part", nproc=2, resume=True)
    assert resumed.epochs_run == 4
    a, b = _weights(full_dir / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    assert strip(full.history) == strip(resumed.history)


def test_classify_on_two_processes(world, tmp_path):
    kw = {"model": "pool", "num_frames": 4, "epochs": 3, "batch_size": 16, "lr": 1e-2, "dropout": 0.0, "seed": 3,
          "cache_dir": world / "classify-cache"}
    one = api.train_classify(world / "world", tmp_path / "one", **kw)
    two = api.train_classify(world / "world", tmp_path / "two", nproc=2, **kw)
    for a, b in zip(_curve(one, "train_loss", "train_acc", "val_loss"), _curve(two, "train_loss", "train_acc",
                                                                              "val_loss")):
        assert a == pytest.approx(b, abs=TOL)
    assert two.extra.get("test") == pytest.approx(one.extra.get("test"), abs=TOL)  # rank 0's test evaluation


def test_retrieval_on_two_processes_from_the_command_line(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "retrieval", "--corpus", str(world / "world" / "video_corpus.csv"), "--features",
                 str(world / "feats"), "--out-dir", str(out), "--epochs", "2", "--batch-size", "16", "--hidden", "32",
                 "--embed-dim", "16", "--nproc", "2", "-q"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs_run"] == 2 and RUN_FILES <= {p.name for p in out.iterdir()}
    assert [json.loads(x)["epoch"] for x in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert main(["train", "retrieval", "--corpus", str(world / "world" / "video_corpus.csv"), "--features",
                 str(world / "feats"), "--out-dir", str(tmp_path / "bad"), "--nproc", "0"]) == 2
    assert "nproc must be a positive integer" in capsys.readouterr().err
