"""The one training loop, the same for every task: exact resume, the run folder, no validation
split, and the rules for --resume and --out-dir. On a small generated world (real videos,
real MobileNetV2 features) and a tiny FER2013-format CSV."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcap import api
from vidcap.errors import ConfigError

pytestmark = pytest.mark.usefixtures("torch_one_thread")

RUN_FILES = {"config.json", "log.csv", "log.jsonl", "curves.png", "best.pt", "last.pt"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    api.synth(root / "world", num_videos=24, seed=17, seconds=1, workers=1)
    feats = root / "feats"
    api.extract_many(root / "world" / "videos", feats, num_frames=4, workers=0)
    return root


@pytest.fixture(scope="module")
def fer(tmp_path_factory):
    """A FER2013-format CSV whose label shows in the picture (a bright band per class)."""
    path = tmp_path_factory.mktemp("fer") / "fer.csv"
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for k, usage in enumerate(["Training"] * 40 + ["PrivateTest"] * 10 + ["PublicTest"] * 10):
            img = rng.integers(0, 60, (48, 48))
            img[:, (k % 7) * 6:(k % 7) * 6 + 6] += 180
            w.writerow([k % 7, " ".join(map(str, img.reshape(-1).tolist())), usage])
    return path


def _train(task: str, world: Path, fer: Path, out: Path, **kw):
    corpus = world / "world" / "video_corpus.csv"
    if task == "caption":
        return api.train_caption(corpus, out, features=world / "feats", epochs=3, hidden=16, batch_size=8,
                                 dropout=0.2, seed=3, **kw)
    if task == "retrieval":
        return api.train_retrieval(corpus, out, features=world / "feats", epochs=3, batch_size=8, hidden=32,
                                   embed_dim=16, seed=3, **kw)
    if task == "classify":
        return api.train_classify(world / "world", out, model="lstm", num_frames=4, epochs=3, hidden=16,
                                  batch_size=8, seed=3, cache_dir=world / "classify-cache", **kw)
    return api.train_emotions(fer, out, epochs=3, batch_size=8, bn_momentum=0.1, seed=3, **kw)


TASKS = ["caption", "retrieval", "classify", "emotions"]


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_killed_and_resumed_equals_uninterrupted(task, world, fer, tmp_path):
    full = _train(task, world, fer, tmp_path / "full")
    part = _train(task, world, fer, tmp_path / "part", stop_after=1)
    assert part.epochs_run == 1 and part.best is not None
    resumed = _train(task, world, fer, tmp_path / "part", resume=True)
    assert resumed.epochs_run == full.epochs_run == 3
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), (task, key)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a["train_state"]["history"]) == strip(b["train_state"]["history"])
    # one run folder layout for every task
    assert RUN_FILES <= {p.name for p in (tmp_path / "full").iterdir()}
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["task"] == a["train_state"]["task"] and config["config"]["seed"] == 3
    rows = (tmp_path / "full" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 4
    assert [json.loads(x)["epoch"] for x in (tmp_path / "full" / "log.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert full.best_epoch is not None and full.monitor


@pytest.mark.slow
@pytest.mark.parametrize("task", ["caption", "retrieval"])
def test_another_seed_gives_other_weights(task, world, fer, tmp_path):
    """The equality above can fail: the weights depend on the seed."""
    corpus = world / "world" / "video_corpus.csv"
    runs = []
    for seed in (3, 4):
        fn = api.train_caption if task == "caption" else api.train_retrieval
        extra = {"hidden": 16} if task == "caption" else {"hidden": 32, "embed_dim": 16}
        fn(corpus, tmp_path / f"s{seed}", features=world / "feats", epochs=1, batch_size=8, seed=seed, **extra)
        runs.append(torch.load(tmp_path / f"s{seed}" / "last.pt", weights_only=True)["model"])
    assert any(not torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


@pytest.mark.parametrize("task", ["caption", "retrieval", "classify"])
def test_training_without_a_validation_split(task, world, fer, tmp_path):
    splits = json.loads((world / "world" / "splits.json").read_text())
    no_val = tmp_path / "splits.json"
    no_val.write_text(json.dumps({"train": splits["train"] + splits["val"], "test": splits["test"]}))
    corpus = world / "world" / "video_corpus.csv"
    if task == "caption":
        r = api.train_caption(corpus, tmp_path / "run", features=world / "feats", splits=no_val, epochs=2,
                              hidden=16, batch_size=8)
    elif task == "retrieval":
        r = api.train_retrieval(corpus, tmp_path / "run", features=world / "feats", splits=no_val, epochs=2,
                                batch_size=8, hidden=32, embed_dim=16)
    else:  # class folders with train and test only, and nothing held out of train
        import shutil

        for split in ("train", "test"):
            shutil.copytree(world / "world" / "classes" / split, tmp_path / "data" / split, symlinks=False)
        r = api.train_classify(tmp_path / "data", tmp_path / "run", model="pool", num_frames=4, epochs=2,
                               val_fraction=0.0)
    assert r.monitor == "train_loss" and r.best_epoch is not None and Path(r.best).is_file()
    assert all(k.startswith(("epoch", "train_", "lr", "seconds")) for h in r.history for k in h)
    losses = [h["train_loss"] for h in r.history]
    assert r.best_score == pytest.approx(losses[r.best_epoch - 1], abs=1e-6)
    if task != "classify":  # classify picks by training accuracy first, then loss
        assert r.best_score == pytest.approx(min(losses), abs=1e-6)


@pytest.mark.parametrize("task", TASKS)
def test_resume_and_run_folder_rules(task, world, fer, tmp_path):
    with pytest.raises(ConfigError, match="cannot resume: .*last.pt does not exist"):
        _train(task, world, fer, tmp_path / "nothing", resume=True)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        _train(task, world, fer, tmp_path / "afile", stop_after=1)
    _train(task, world, fer, tmp_path / "run", stop_after=1)
    with pytest.raises(ConfigError, match="already holds a training run"):
        _train(task, world, fer, tmp_path / "run", stop_after=1)


def test_resume_keeps_the_runs_options(world, fer, tmp_path):
    corpus = world / "world" / "video_corpus.csv"
    api.train_caption(corpus, tmp_path / "run", features=world / "feats", epochs=2, hidden=16, batch_size=8,
                      stop_after=1)
    with pytest.raises(ConfigError, match="other options .*hidden"):
        api.train_caption(corpus, tmp_path / "run", features=world / "feats", resume=True, hidden=32)
    longer = api.train_caption(corpus, tmp_path / "run", features=world / "feats", resume=True, epochs=3)
    assert longer.epochs_run == 3  # the stored options (hidden 16), more epochs
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["hidden"] == 16


def test_a_run_stored_before_an_option_existed_resumes_with_the_earlier_default(world, fer, tmp_path):
    """Runs written before ``project`` existed had the projection; the new default is off."""
    import torch

    corpus = world / "world" / "video_corpus.csv"
    api.train_caption(corpus, tmp_path / "run", features=world / "feats", epochs=2, hidden=16, batch_size=8,
                      variant="s2vt", project=True, stop_after=1)
    last = tmp_path / "run" / "last.pt"
    ckpt = torch.load(last, weights_only=True)
    del ckpt["train_state"]["config"]["project"]
    torch.save(ckpt, last)
    resumed = api.train_caption(corpus, tmp_path / "run", features=world / "feats", resume=True)
    assert resumed.epochs_run == 2
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["project"] is True


def test_early_stopping_is_announced(world, fer, tmp_path):
    events = []
    r = api.train_emotions(fer, tmp_path / "run", epochs=30, batch_size=8, lr=1e-9, patience=2,
                           progress=events.append)
    assert r.stopped_early and r.epochs_run - r.best_epoch == 2
    notes = [e.message for e in events if e.message]
    assert len(notes) == 1 and notes[0].startswith(f"early stop after epoch {r.epochs_run}")
    assert [e.done for e in events if e.task == "train"] == list(range(r.epochs_run + 1))
