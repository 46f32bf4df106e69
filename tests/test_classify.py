"""Video classification: folder datasets, the four models, training, sliding windows, annotation.

The data is generated here: short H.264 clips of a coloured disc that moves left
or right, or grows or shrinks, on a random background. Every class sees the
same positions and sizes, only their order in time differs, so a model that
pools time away cannot tell the classes of a pair apart while one that reads
the frames in order can.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidcap.api import classify
from vidcap.errors import DataError, ModelError
from vidcap.io.writers import write_video

CLASSES = ["grow", "move_left", "move_right", "shrink"]
T = 6  # frames per video for the feature models in these tests


def render(kind: str, rng: np.random.Generator, n: int = 12, size: int = 64) -> np.ndarray:
    bg = rng.integers(40, 215, 3)
    color = (255 - bg + rng.integers(-30, 30, 3)).clip(0, 255)
    y = rng.uniform(0.35, 0.65) * size
    frames = np.empty((n, size, size, 3), np.uint8)
    for t in range(n):
        u = t / (n - 1)
        x, r = size / 2, 9
        if kind in ("move_left", "move_right"):
            a, b = 0.8 * size, 0.2 * size
            x = a + (b - a) * (u if kind == "move_left" else 1 - u)
        else:
            r = 4 + 14 * (u if kind == "grow" else 1 - u)
        frame = np.empty((size, size, 3), np.uint8)
        frame[:] = bg
        cv2.circle(frame, (int(round(x)), int(round(y))), int(round(r)), tuple(int(c) for c in color), -1, cv2.LINE_AA)
        frames[t] = frame
    return frames


def make_dataset(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for cls in CLASSES:
            for i in range(count):
                write_video(root / split / cls / f"{cls}_{split}_{i:02d}.mp4", render(cls, rng), fps=10)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = make_dataset(tmp_path_factory.mktemp("directions") / "data", {"train": 8, "test": 4})
    (root / "train" / "grow" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    return root


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory) -> dict:
    """Pool and LSTM trained on the same cached features."""
    from vidcap.api import train_classify

    out = tmp_path_factory.mktemp("runs")
    results = {}
    for model in ("pool", "lstm"):
        results[model] = train_classify(dataset, out / model, model=model, num_frames=T, epochs=40, patience=40,
                                          batch_size=8, hidden=64, lr=3e-3, seed=0)
    return {"dir": out, **results}


# ----------------------------------------------------------------------------- data
def test_folder_dataset_lists_unreadable_videos(dataset):
    from vidcap.data.folders import load_dataset

    ds = load_dataset(dataset)
    assert ds.classes == CLASSES
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 32, "test": 16}
    assert [Path(s["path"]).name for s in ds.skipped] == ["broken.mp4"]
    assert "broken.mp4" in ds.skipped[0]["error"]


def test_split_lists_ucf101_style(dataset, tmp_path):
    from vidcap.data.folders import load_dataset

    (tmp_path / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    train = [f"{c}/{p.name} {i + 1}" for i, c in enumerate(CLASSES) for p in sorted((dataset / "train" / c).glob("*.mp4"))]
    test = [f"{c}/{p.name}" for c in CLASSES for p in sorted((dataset / "test" / c).glob("*.mp4"))]
    (tmp_path / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (tmp_path / "testlist01.txt").write_text("\n".join(test) + "\n")
    # the listed paths live under the train/ and test/ folders: point videos_dir at a merged view
    merged = tmp_path / "videos"
    for split in ("train", "test"):
        for p in (dataset / split).rglob("*.mp4"):
            dst = merged / p.parent.name / p.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(p)
    ds = load_dataset(tmp_path, videos_dir=merged)
    assert ds.layout == "split-lists" and ds.classes == CLASSES
    assert len(ds.splits["train"]) == 32 and len(ds.splits["test"]) == 16
    assert [Path(s["path"]).name for s in ds.skipped] == ["broken.mp4"]
    assert {ds.classes[it.label] for it in ds.splits["test"] if it.path.name.startswith("shrink")} == {"shrink"}


def test_generated_world_class_folders(tmp_path):
    from vidcap.data.folders import load_dataset
    from vidcap.data.synthetic import generate_world

    generate_world(tmp_path / "w", num_videos=64, seed=3, seconds=0.5, size=(48, 32), workers=1)
    ds = load_dataset(tmp_path / "w")
    assert ds.layout == "world" and len(ds.classes) >= 2 and not ds.skipped
    assert sum(len(v) for v in ds.splits.values()) == sum(
        1 for s in ("train", "val", "test", "test_compositional") for _ in (tmp_path / "w" / "classes" / s).rglob("*.mp4"))
    assert "test_compositional" in ds.splits


def test_empty_class_folder_and_single_class_raise(tmp_path):
    from vidcap.data.folders import load_dataset

    make_dataset(tmp_path / "one", {"train": 1})
    for cls in CLASSES[1:]:
        shutil.rmtree(tmp_path / "one" / "train" / cls)
    with pytest.raises(DataError, match="single class"):
        load_dataset(tmp_path / "one")
    (tmp_path / "one" / "train" / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folder .*empty holds no videos"):
        load_dataset(tmp_path / "one")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "missing")


# ----------------------------------------------------------------------------- models
def test_pooling_is_blind_to_frame_order_lstm_is_not():
    from vidcap.models.classifier import FeatureClassifierConfig, LSTMClassifier, PooledClassifier

    torch.manual_seed(0)
    feats = torch.randn(3, 10, 32)
    perm = torch.randperm(10)
    for pool in ("mean", "max"):
        m = PooledClassifier(FeatureClassifierConfig(32, 4, pool=pool)).eval()
        assert torch.allclose(m.embed(feats), m.embed(feats[:, perm]), atol=1e-6)
        assert torch.allclose(m(feats)[0], m(feats.flip(1))[0], atol=1e-6)
    lstm = LSTMClassifier(FeatureClassifierConfig(32, 4, hidden=16)).eval()
    assert not torch.allclose(lstm.embed(feats), lstm.embed(feats[:, perm]), atol=1e-3)
    assert not torch.allclose(lstm(feats)[0], lstm(feats.flip(1))[0], atol=1e-3)
    # padding is ignored: extra masked rows change nothing
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[:, 10:] = False
    padded = torch.cat([feats, torch.randn(3, 2, 32)], 1)
    assert torch.allclose(lstm.embed(padded, mask), lstm.embed(feats), atol=1e-5)


def test_optical_flow_sees_the_shift():
    from vidcap.features.flow import optical_flow

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8), (5, 5), 0)
    shifted = np.roll(base, 3, axis=1)  # content moves 3 px right
    for method in ("dis", "farneback"):
        flow = optical_flow(base, shifted, method=method)
        assert flow.shape == (2, 80, 96)
        inner = flow[:, 10:-10, 10:-10]
        assert abs(np.median(inner[0]) - 3) < 0.5 and abs(np.median(inner[1])) < 0.5


def test_r2plus1d_kinetics_weights_from_hub_cache(tmp_path, monkeypatch):
    from torchvision.models.video import r2plus1d_18

    from vidcap.models.r2plus1d import R2Plus1DClassifier, R2Plus1DConfig
    from vidcap.tasks.classify import kinetics_weights_path, load_kinetics_state

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cfg = R2Plus1DConfig(num_classes=3, num_frames=4, clip_size=32, pretrained="kinetics400")
    with pytest.raises(ModelError, match="R2Plus1D_18_Weights.KINETICS400_V1"):
        load_kinetics_state()
    torch.manual_seed(1)
    src = r2plus1d_18(num_classes=400)
    path = kinetics_weights_path()
    assert str(path).startswith(torch.hub.get_dir())  # where torchvision looks
    path.parent.mkdir(parents=True)
    torch.save(src.state_dict(), path)
    model = R2Plus1DClassifier(cfg, init_state=load_kinetics_state())
    for key in ("stem.0.weight", "layer4.1.conv2.0.3.weight"):
        assert torch.equal(model.net.state_dict()[key], src.state_dict()[key])
    clips = torch.randint(0, 256, (1, 4, 32, 32, 3), dtype=torch.uint8)
    with torch.no_grad():
        logits, loss = model(clips, torch.tensor([2]))
    assert logits.shape == (1, 3) and torch.isfinite(loss)
    path.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_kinetics_state()


def test_r2plus1d_narrow_width_clip_norm_and_augmentation():
    from torchvision.models.video import r2plus1d_18 as tv_r2plus1d_18

    from vidcap.errors import ConfigError
    from vidcap.models.r2plus1d import R2Plus1DClassifier, R2Plus1DConfig, r2plus1d_18
    from vidcap.config import ClassifyConfig
    from vidcap.train.classify import augment_clips, learning_rate

    full, narrow = tv_r2plus1d_18(num_classes=400).state_dict(), r2plus1d_18(num_classes=4, width=16).state_dict()
    assert list(narrow) == list(full)  # torchvision's architecture, same parameter names
    assert narrow["layer4.1.conv2.0.3.weight"].shape[0] == 128 and narrow["fc.weight"].shape == (4, 128)
    with pytest.raises(ConfigError, match="full-width"):
        R2Plus1DConfig(num_classes=4, width=16, pretrained="kinetics400")
    # per-clip standardisation: a background of another colour gives the same logits
    torch.manual_seed(0)
    base = torch.randint(0, 150, (2, 4, 32, 32, 3), dtype=torch.uint8)
    other = base + torch.tensor([90, 5, 60], dtype=torch.uint8)
    for norm, same in (("clip", True), ("kinetics", False)):
        m = R2Plus1DClassifier(R2Plus1DConfig(num_classes=4, num_frames=4, clip_size=32, width=8, input_norm=norm)).eval()
        with torch.no_grad():
            assert torch.allclose(m(base)[0], m(other)[0], atol=1e-4) == same, norm
    # augmentation shifts the whole clip and reorders colours, never flips: a dot moving left still moves left
    clips = torch.zeros((3, 8, 32, 32, 3), dtype=torch.uint8)
    clips[..., 0] = 40
    xs = np.arange(26, 2, -3)  # x of the dot in each frame
    for t, x in enumerate(xs):
        clips[:, t, 14:17, x : x + 3] = torch.tensor([250, 120, 10], dtype=torch.uint8)
    out = augment_clips(clips, torch.Generator().manual_seed(1))
    assert torch.equal(out, augment_clips(clips, torch.Generator().manual_seed(1)))
    assert not torch.equal(out, clips)
    for clip in out.numpy():
        bright = clip.max(-1) > 200
        cols = [np.flatnonzero(f.any(0)).min() for f in bright]
        assert np.array_equal(np.diff(cols), np.diff(xs))  # same motion, same direction, one shift for all frames
        assert sorted(clip[bright][0]) == [10, 120, 250]
    # warmup then cosine for R(2+1)D, constant for the others
    r2, lstm = ClassifyConfig(model="r2plus1d", epochs=10, lr=1.0, warmup_epochs=2), ClassifyConfig(model="lstm", lr=1.0)
    lrs = [learning_rate(r2, s, 4) for s in range(40)]
    assert lrs[0] < lrs[7] == 1.0 and lrs[-1] < 0.01 and lrs == sorted(lrs[:8]) + sorted(lrs[8:], reverse=True)
    assert {learning_rate(lstm, s, 4) for s in range(40)} == {1.0}


# ----------------------------------------------------------------------------- training
@pytest.mark.slow
def test_lstm_learns_direction_pooling_cannot(runs):
    pool, lstm = runs["pool"], runs["lstm"]
    assert lstm.extra["test"]["acc"] >= 0.6, (pool.extra, lstm.extra)  # chance: 0.25
    assert lstm.extra["test"]["acc"] > pool.extra["test"]["acc"] + 0.2, (pool.extra, lstm.extra)
    assert [Path(s["path"]).name for s in lstm.extra["skipped"]] == ["broken.mp4"]
    skipped = json.loads((Path(lstm.out_dir) / "skipped.json").read_text())
    assert [Path(s["path"]).name for s in skipped] == ["broken.mp4"]


@pytest.mark.slow
def test_run_folder_checkpoint_logs_and_curves(runs):
    out = Path(runs["lstm"].out_dir)
    ckpt = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert ckpt["classes"] == CLASSES and ckpt["model_type"] == "lstm"
    assert ckpt["backbone"] == "mobilenet_v2" and ckpt["feature_dim"] == 1280
    assert ckpt["sampling"]["num_frames"] == T and ckpt["sampling"]["frame_step"] == pytest.approx(11 / (T - 1))
    assert "train_state" not in ckpt and "train_state" in torch.load(out / "last.pt", weights_only=True)
    history = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_resume_is_exact(dataset, runs, tmp_path):
    from vidcap.api import train_classify

    opts = dict(model="lstm", num_frames=T, epochs=4, batch_size=16, hidden=16, seed=5, patience=10)
    full = train_classify(dataset, tmp_path / "full", **opts)
    train_classify(dataset, tmp_path / "part", stop_after=2, **opts)
    resumed = train_classify(dataset, tmp_path / "part", resume=True)
    assert resumed.epochs_run == full.epochs_run == 4
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(a["train_state"]["history"]) == strip(b["train_state"]["history"])


@pytest.mark.slow
def test_early_stopping(dataset, runs, tmp_path):
    from vidcap.api import train_classify

    r = train_classify(dataset, tmp_path / "es", model="pool", num_frames=T, epochs=50, patience=2, lr=1e-6)
    assert r.stopped_early and r.epochs_run < 50 and r.epochs_run - r.best_epoch == 2


@pytest.mark.slow
def test_two_stream_trains_and_caches_flow(dataset, runs, tmp_path):
    from vidcap.api import train_classify

    r = train_classify(dataset, tmp_path / "ts", model="two-stream", num_frames=T, flow_size=32, epochs=2, batch_size=16)
    assert 0 <= r.extra["test"]["acc"] <= 1
    store = dataset / "features" / f"flow-dis-32px-{T}f"
    flows = sorted(store.glob("*.npy"))
    assert len(flows) == 48  # every readable video, not the broken one
    arr = np.load(flows[0])
    assert arr.shape == (T, 2, 32, 32) and arr.dtype == np.float16
    stamp = flows[0].stat().st_mtime_ns
    train_classify(dataset, tmp_path / "ts2", model="two-stream", num_frames=T, flow_size=32, epochs=1, fusion="concat",
                     recalibrate_bn=True)
    assert flows[0].stat().st_mtime_ns == stamp  # cached, not recomputed


# ----------------------------------------------------------------------------- evaluation and inference
@pytest.mark.slow
def test_evaluate_confusion_matrix(dataset, runs, tmp_path):
    from vidcap.api import evaluate_classify

    res = evaluate_classify(Path(runs["lstm"].out_dir), dataset, confusion_png=tmp_path / "cm.png")
    cm = np.array(res.confusion)
    assert cm.shape == (4, 4) and cm.sum() == 16
    assert res.accuracy == pytest.approx(np.trace(cm) / 16) == pytest.approx(runs["lstm"].extra["test"]["acc"])
    assert res.top5 == 1.0  # 4 classes
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_sliding_windows_count_and_timestamps(dataset, runs, tmp_path):
    from vidcap.tasks.classify import window_starts

    assert window_starts(18, 6, 3) == [0, 3, 6, 9, 12]
    assert window_starts(19, 6, 3) == [0, 3, 6, 9, 12, 13]
    assert window_starts(5, 6, 3) == []
    rng = np.random.default_rng(9)
    video = tmp_path / "long.mp4"
    # two training-length clips back to back: the first window sees one, the last the other
    write_video(video, np.concatenate([render("move_left", rng), render("grow", rng)]), fps=10)
    res = classify(video, Path(runs["lstm"].out_dir), window=T, stride=3, top_k=3)[0]
    step = 11 / (T - 1)
    idx = np.unique(np.round(np.arange(0, 23 + 1e-9, step)).astype(int))
    starts = window_starts(len(idx), T, 3)
    assert len(res.windows) == len(starts) == 3 and starts[-1] == len(idx) - T
    for w, s in zip(res.windows, starts):
        assert w.start_frame == idx[s] and w.end_frame == idx[s + T - 1]
        assert w.start == pytest.approx(idx[s] / 10) and w.end == pytest.approx((idx[s + T - 1] + 1) / 10)
        assert len(w.labels) == 3 and w.probs == sorted(w.probs, reverse=True) and sum(w.probs) <= 1 + 1e-6
    assert res.windows[0].probs != res.windows[-1].probs  # different frames, different scores
    d = json.loads(res.to_json())
    assert d["label"] == res.label and len(d["windows"]) == len(starts)


def test_classifier_says_when_a_video_is_not_from_its_training_data(dataset, runs, tmp_path):
    from clips import photo_video

    held_out = sorted((dataset / "test").rglob("*.mp4"))[::4]
    for r in classify(held_out, Path(runs["pool"].out_dir), window=T):
        assert r.in_domain is True and r.warning is None, (r.video, r.domain_distance)
    (r,) = classify(photo_video(tmp_path / "cat.mp4", "chelsea", n=12, size=(64, 64), fps=10),
                    Path(runs["pool"].out_dir), window=T)
    assert r.in_domain is False and r.domain_distance > 1.0
    assert "out of the classifier's domain" in r.warning and r.to_dict()["in_domain"] is False


@pytest.mark.slow
def test_annotated_video_and_gif(dataset, runs, tmp_path):
    from vidcap.io import probe
    from vidcap.viz.annotate import annotate_classification

    src = next((dataset / "test" / "move_right").glob("*.mp4"))
    res, = classify(src, Path(runs["lstm"].out_dir), window=T, stride=2, output=tmp_path / "a.mp4",
                    gif=tmp_path / "a.gif")
    assert res.outputs == {"video": str(tmp_path / "a.mp4"), "gif": str(tmp_path / "a.gif")}
    out = annotate_classification(src, res, tmp_path / "b.mp4")
    assert out["frames"] == 12
    assert probe(tmp_path / "a.mp4").num_frames == 12
    assert probe(tmp_path / "a.gif").num_frames == 12  # 10 fps source, 10 fps GIF
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.slow
def test_video_shorter_than_a_window(runs, tmp_path):

    video = tmp_path / "short.mp4"
    write_video(video, render("grow", np.random.default_rng(0), n=12), fps=10)
    with pytest.raises(DataError, match="too short for a window of 16 frames"):
        classify(video, Path(runs["lstm"].out_dir), window=16)


@pytest.mark.slow
def test_mismatched_checkpoints(dataset, runs, tmp_path):
    from vidcap.api import evaluate_classify
    from vidcap.tasks.classify import read_checkpoint

    best = Path(runs["lstm"].out_dir) / "best.pt"
    other = tmp_path / "other.pt"
    torch.save({"format": "vidcap.s2vt", "model": {}}, other)
    with pytest.raises(ModelError, match="not a vidcap classifier checkpoint"):
        read_checkpoint(other)
    ckpt = read_checkpoint(best)
    ckpt["model_args"]["hidden"] = 128  # weights no longer fit
    ckpt["config"]["hidden"] = 128
    torch.save(ckpt, tmp_path / "bad.pt")
    video = next((dataset / "test" / "grow").glob("*.mp4"))
    with pytest.raises(ModelError, match="do not fit"):
        classify(video, tmp_path / "bad.pt", window=T)
    ckpt = read_checkpoint(best)
    ckpt["classes"] = ckpt["classes"][:3]
    torch.save(ckpt, tmp_path / "classes.pt")
    with pytest.raises(ModelError, match="outputs but 3 class names"):
        classify(video, tmp_path / "classes.pt", window=T)
    (tmp_path / "x" / "train" / "a").mkdir(parents=True)
    (tmp_path / "x" / "train" / "b").mkdir()
    for name in ("a", "b"):
        shutil.copy(video, tmp_path / "x" / "train" / name / "v.mp4")
    shutil.copytree(tmp_path / "x" / "train", tmp_path / "x" / "test")
    with pytest.raises(ModelError, match="trained on classes"):
        evaluate_classify(best, tmp_path / "x")
    with pytest.raises(ModelError, match="does not exist"):
        classify(video, tmp_path / "nope.pt")


@pytest.mark.slow
def test_cli_classify_matches_api(dataset, runs, tmp_path, capsys):
    from vidcap.cli import main

    run = str(runs["lstm"].out_dir)
    video = next((dataset / "test" / "shrink").glob("*.mp4"))
    assert main(["classify", str(video), "--model", run, "--window", str(T), "--stride", "2", "--top-k", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    api = [r.to_dict() for r in classify(video, run, window=T, stride=2, top_k=2)]
    assert printed == json.loads(json.dumps(api))
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(video, folder / name)
    (folder / "broken.mp4").write_bytes(b"not a video")
    assert main(["classify", str(folder), "--model", run, "--window", str(T), "--json"]) == 1  # one failed
    out = capsys.readouterr()
    both = json.loads(out.out)
    assert [Path(r["video"]).name for r in both] == ["a.mp4", "b.mp4", "broken.mp4"]
    assert both[0]["windows"] == both[1]["windows"] and "error" in both[2] and "broken.mp4" in out.err
    assert main(["evaluate", "classify", str(dataset), "--model", run, "--confusion", str(tmp_path / "c.png"), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] == pytest.approx(runs["lstm"].extra["test"]["acc"]) and (tmp_path / "c.png").is_file()
    assert main(["classify", str(video), "--model", run, "--window", "40"]) == 2
    assert "too short" in capsys.readouterr().err


@pytest.mark.slow
def test_a_damaged_video_is_classified_on_what_decodes(dataset, runs, tmp_path, caplog):
    """A truncated file (index at the front, the end of the data gone): the frames that decode
    are classified, and a warning names the frame where decoding stopped."""
    import logging

    from clips import moving_coded_frames, write_clip

    src = write_clip(tmp_path / "fs.mp4", moving_coded_frames(60, 64, 80), fps=10, gop=10,
                     container_options={"movflags": "faststart"})
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="vidcap.tasks.classify"):
        res, = classify(cut, Path(runs["lstm"].out_dir), window=T, stride=2)
    assert res.windows and res.windows[-1].end_frame < 32
    assert any("decoding stopped at frame" in r.getMessage() for r in caplog.records)
