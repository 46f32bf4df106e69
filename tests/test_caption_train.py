"""Training, checkpoints, resume and evaluation on a tiny real set.

The "videos" are real photos from scikit-image seen through a moving crop; their
frame features come from the real MobileNetV2 backbone.
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcap.api import evaluate_caption, train_caption
from vidcap.errors import DataError, ModelError
from vidcap.tasks.caption import Captioner, read_checkpoint

sys.path.insert(0, str(Path(__file__).parent))  # tests/clips.py

PHOTOS = {
    "astronaut": ["an astronaut in a white suit", "a woman astronaut smiles"],
    "coffee": ["a cup of coffee on a table", "a coffee cup"],
    "chelsea": ["a cat looks at the camera", "an orange cat"],
    "rocket": ["a rocket stands on a launch pad", "a rocket before launch"],
    "coins": ["old coins on a table", "many coins"],
    "hubble_deep_field": ["galaxies in deep space", "stars and galaxies"],
}
HEADER = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def moving_crops(img, n, seed):
    """n frames (224, 224, 3) uint8 of a crop window panning across a photo."""
    import cv2

    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    h, w = img.shape[:2]
    side = int(min(h, w) * 0.8)
    rng = np.random.default_rng(seed)
    y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    y1, x1 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    frames = []
    for t in np.linspace(0, 1, n):
        y, x = int(y0 + t * (y1 - y0)), int(x0 + t * (x1 - x0))
        frames.append(cv2.resize(np.ascontiguousarray(img[y : y + side, x : x + side, :3]), (224, 224)))
    return np.stack(frames).astype(np.uint8)


@pytest.fixture(scope="module")
def photo_set(tmp_path_factory):
    """features/<name>.npy (8, 1280) + sidecars, video_corpus.csv and splits.json."""
    import skimage.data

    from vidcap.features import get_engine

    root = tmp_path_factory.mktemp("photos")
    feats_dir = root / "features"
    feats_dir.mkdir()
    engine = get_engine("mobilenet_v2")
    rows, splits = [], {"train": [], "val": [], "test": []}
    for p, (photo, caps) in enumerate(PHOTOS.items()):
        img = getattr(skimage.data, photo)()
        for clip in range(3):
            name = f"{photo}_{clip}_{clip + 4}"
            valid = 8 if clip != 1 else 5  # one short clip per photo: padded rows and a mask
            f = np.zeros((8, 1280), np.float32)
            f[:valid] = engine(moving_crops(img, valid, seed=p * 10 + clip))
            np.save(feats_dir / f"{name}.npy", f)
            (feats_dir / f"{name}.json").write_text(json.dumps(
                {"status": "ok", "valid": valid, "mask": [i < valid for i in range(8)],
                 "params": {"backbone": "mobilenet_v2", "num_frames": 8}}))
            for worker, c in enumerate(caps):
                rows.append([photo, clip, clip + 4, worker, "clean", 10, "English", c.capitalize() + "."])
            rows.append([photo, clip, clip + 4, 9, "clean", 10, "German", "ein Bild"])
            splits[("train", "train", "val")[clip]].append(name)
    corpus = root / "video_corpus.csv"
    with open(corpus, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    splits["test"] = list(splits["val"])
    (root / "splits.json").write_text(json.dumps(splits))
    return root


def run(photo_set, out, **kw):
    opts = dict(features=photo_set / "features", splits=photo_set / "splits.json", epochs=6, hidden=48,
                lr=3e-3, batch_size=4, dropout=0.1, seed=1)
    opts.update(kw)
    return train_caption(photo_set / "video_corpus.csv", out, **opts)


@pytest.mark.slow
def test_overfits_the_tiny_real_set_and_writes_the_run(photo_set, tmp_path):
    res = run(photo_set, tmp_path / "run", epochs=25, dropout=0.0, lr=8e-3, beam_size=2)
    losses = [r["train_loss"] for r in res.history]
    assert losses[-1] < 0.25 * losses[0]
    data = res.extra["data"]
    assert data["videos"] == {"train": 12, "val": 6, "test": 6} and data["dropped_rows"] == {"not_english": 18}
    # every training video is described by one of its own captions
    cap = Captioner.load(tmp_path / "run" / "last.pt")
    data = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert cap.backbone == "mobilenet_v2" and cap.num_frames == 8 and cap.beam_size == 2 and "train_state" in data
    hits = 0
    for photo, caps in PHOTOS.items():
        for clip in (0, 1):
            f = np.load(photo_set / "features" / f"{photo}_{clip}_{clip + 4}.npy")
            mask = np.any(f != 0, axis=1)
            (text, _), = cap.caption_features(f, mask, beam_size=1)
            hits += text in caps
    assert hits >= 10
    lines = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,val_loss,val_cider,lr,seconds" and len(lines) == 26
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 25
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["hidden"] == 48
    best = read_checkpoint(tmp_path / "run")  # a run folder resolves to its best.pt
    assert res.monitor == "val_cider" and "train_state" not in best
    assert best["metrics"]["val_cider"] == pytest.approx(res.best_score, abs=1e-6)
    assert res.best_score == pytest.approx(max(r["val_cider"] for r in res.history), abs=1e-6)


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(photo_set, tmp_path):
    full = run(photo_set, tmp_path / "full")
    part = run(photo_set, tmp_path / "part", stop_after=3)
    assert part.epochs_run == 3
    resumed = run(photo_set, tmp_path / "part", resume=True)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    sa, sb = a["train_state"]["optimizer"]["state"], b["train_state"]["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(full.history) == strip(resumed.history)
    # and the comparison can fail: another seed gives other weights
    other = run(photo_set, tmp_path / "other", seed=2, epochs=2)
    c = torch.load(other.last, weights_only=True)
    assert not torch.equal(c["model"]["head.weight"], a["model"]["head.weight"])


@pytest.mark.slow
def test_early_stopping(photo_set, tmp_path):
    res = run(photo_set, tmp_path / "es", epochs=30, patience=2, lr=1e-7)
    assert res.stopped_early and res.epochs_run < 30
    assert res.epochs_run - res.best_epoch == 2


def test_evaluate_api_and_cli_agree(photo_set, tmp_path, capsys):
    from vidcap.cli import main

    run(photo_set, tmp_path / "run", epochs=3)
    api = evaluate_caption(tmp_path / "run", photo_set / "video_corpus.csv", features=photo_set / "features",
                           splits=photo_set / "splits.json", split="test", beam_size=2, tokenize="simple",
                           metrics=("bleu", "rouge", "cider"))
    code = main(["evaluate", "caption", "--model", str(tmp_path / "run"), "--corpus", str(photo_set / "video_corpus.csv"),
                 "--features", str(photo_set / "features"), "--splits", str(photo_set / "splits.json"),
                 "--split", "test", "--beam-size", "2", "--tokenize", "simple", "--metrics", "bleu", "rouge", "cider",
                 "--quiet"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert {k: printed[k] for k in api.metrics} == api.metrics
    preds = json.loads((tmp_path / "run" / "predictions-test.json").read_text())
    assert {k: v["prediction"] for k, v in preds.items()} == api.predictions
    assert sorted(preds) == sorted(json.loads((photo_set / "splits.json").read_text())["test"])


def test_bad_inputs_give_clear_errors(photo_set, tmp_path):
    res = run(photo_set, tmp_path / "run", epochs=1)
    ckpt_path = tmp_path / "run" / "last.pt"
    corpus = photo_set / "video_corpus.csv"

    # corrupt checkpoint: truncated, random bytes, a pickle that would run code
    raw = ckpt_path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(0).bytes(5000))
    torch.save({"format": "vidcap.s2vt", "x": Captioner}, tmp_path / "code.pt")
    for name in ("trunc.pt", "noise.pt"):
        with pytest.raises(ModelError, match="corrupt"):
            Captioner.load(tmp_path / name)
    with pytest.raises(ModelError, match=r"code.pt contains objects that are not plain tensors .*\(it may be unsafe\)$"):
        Captioner.load(tmp_path / "code.pt")
    with pytest.raises(ModelError, match="does not exist"):
        Captioner.load(tmp_path / "nothing.pt")

    # vocabulary that does not fit the weights
    ck = torch.load(ckpt_path, weights_only=True)
    ck["vocab"]["itos"].append("extra")
    torch.save(ck, tmp_path / "vocab.pt")
    with pytest.raises(ModelError, match="vocabulary mismatch"):
        Captioner.load(tmp_path / "vocab.pt")

    # features of another size / another backbone
    other = tmp_path / "feats64"
    other.mkdir()
    for p in (photo_set / "features").glob("*.npy"):
        np.save(other / p.name, np.load(p)[:, :64])
    with pytest.raises(ModelError, match="64 dimensions .* 1280-d mobilenet_v2"):
        evaluate_caption(res.last, corpus, features=other, splits=photo_set / "splits.json", tokenize="simple", metrics=("cider",))
    renamed = tmp_path / "feats_other_backbone"
    renamed.mkdir()
    for p in (photo_set / "features").glob("*.npy"):
        np.save(renamed / p.name, np.load(p))
        (renamed / p.with_suffix(".json").name).write_text(json.dumps({"status": "ok", "params": {"backbone": "resnet50"}}))
    with pytest.raises(ModelError, match="backbone 'resnet50'"):
        evaluate_caption(res.last, corpus, features=renamed, splits=photo_set / "splits.json", tokenize="simple", metrics=("cider",))
    with pytest.raises(ModelError, match="cannot resume"):
        run(photo_set, tmp_path / "run", features=renamed, resume=True)

    # resuming on other captions: the vocabulary no longer matches
    rows = list(csv.reader(open(corpus)))
    changed = tmp_path / "changed.csv"
    with open(changed, "w", newline="") as fh:
        csv.writer(fh).writerows(rows[:1] + [r[:7] + [r[7] + " indeed"] for r in rows[1:]])
    with pytest.raises(ModelError, match="vocabulary mismatch"):
        train_caption(changed, tmp_path / "run", features=photo_set / "features", splits=photo_set / "splits.json",
                      resume=True, epochs=2, hidden=48)

    # corpus problems
    bad = tmp_path / "bad.csv"
    bad.write_text("video,caption\nx,a cat\n")
    with pytest.raises(DataError, match="lacks the MSVD column"):
        train_caption(bad, tmp_path / "r2", features=photo_set / "features")
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(HEADER) + "\n")
    with pytest.raises(DataError, match="empty"):
        train_caption(empty, tmp_path / "r3", features=photo_set / "features")
    nomatch = tmp_path / "nomatch.csv"
    nomatch.write_text(",".join(HEADER) + "\nzzz,1,2,0,clean,1,English,a thing\n")
    with pytest.raises(DataError, match="matches a video"):
        train_caption(nomatch, tmp_path / "r4", features=photo_set / "features")


# ----------------------------------------------------------------------------- the motion stream
def square_clip(path, n=20, *, x=20, dx=0, dy=0, grow=0, size=(96, 72)):
    """A textured square at ``x`` moving ``dx, dy`` pixels per frame (or growing ``grow`` px) on grey, H.264."""
    from clips import write_clip

    w, h = size
    tex = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    frames = np.full((n, h, w, 3), 128, np.uint8)
    for i in range(n):
        s, x0, y0 = 16 + grow * i, x + dx * i, 16 + dy * i
        frames[i, y0 : y0 + s, x0 : x0 + s] = tex[:s, :s]
    return write_clip(path, frames)


def test_motion_features_see_direction_growth_and_stillness(tmp_path):
    from vidcap.features.flow import MotionFeatures, motion_features

    stream = MotionFeatures(size=72, grid=2, gap=2)
    assert stream.dim == 3 * 4 + 7 and stream.name == "flow-dis-s72-g2-d2"
    moves = {"right": {"dx": 2}, "left": {"x": 60, "dx": -2}, "down": {"dy": 2}, "still": {}, "grow": {"grow": 1}}
    rows = {}
    for name, kw in moves.items():
        f, _, mask, times = motion_features(square_clip(tmp_path / f"{name}.mp4", **kw), num_frames=6, stream=stream)
        assert f.shape == (6, stream.dim) and f.dtype == np.float32 and mask.all()
        assert np.all(np.diff(times) > 0)
        rows[name] = f.mean(0)
    vx = {k: v[0:12:3].sum() for k, v in rows.items()}  # the cells' mean x velocities, summed
    vy = {k: v[1:12:3].sum() for k, v in rows.items()}
    assert vx["right"] > 0.1 and vx["left"] < -0.1 and abs(vy["right"]) < 0.3 * vx["right"]
    assert vy["down"] > 0.1 and abs(vx["down"]) < 0.3 * vy["down"]
    assert abs(vx["still"]) < 0.02 and rows["still"][-1] < 0.1 * rows["right"][-1]
    assert rows["grow"][14] + rows["grow"][17] > 0.05  # the affine fit's diagonal: d vx/dx + d vy/dy > 0


def test_a_one_frame_video_has_no_motion_and_says_so(tmp_path):
    from vidcap.errors import DataError
    from vidcap.features.flow import extract_motion_many, motion_features

    clip = square_clip(tmp_path / "still.mp4", n=1)
    with pytest.raises(DataError, match=r"still.mp4 has only 1 frame: .*at least 2 frames"):
        motion_features(clip, num_frames=4)
    summary = extract_motion_many([clip], tmp_path / "store", num_frames=4, workers=0)
    assert len(summary.failed) == 1 and "only 1 frame" in summary.failures[0]


def test_motion_store_keys_every_parameter(tmp_path):
    from vidcap.features.flow import MotionFeatures, extract_motion_many

    clip = square_clip(tmp_path / "a.mp4")
    first = extract_motion_many([clip], tmp_path / "store", num_frames=5, workers=0)
    again = extract_motion_many([clip], tmp_path / "store", num_frames=5, workers=0)
    assert len(first.ok) == 1 and again.skipped == 1
    record = json.loads((tmp_path / "store" / "a.json").read_text())
    assert record["params"]["backbone"] == "flow-dis-s96-g4-d2" and record["params"]["weights"].startswith("opencv-")
    assert record["flow"] == {"method": "dis", "size": 96, "grid": 4, "gap": 2}
    other = extract_motion_many([clip], tmp_path / "store", num_frames=5, workers=0, stream=MotionFeatures(gap=1))
    assert other.skipped == 0  # another gap: computed again
    assert np.load(tmp_path / "store" / "a.npy").shape == (5, 55)


def test_flow_options_without_the_motion_stream_are_refused():
    from vidcap.config import CaptionTrainConfig
    from vidcap.errors import ConfigError

    with pytest.raises(ConfigError, match=r"flow_grid=3 needs the motion stream: add flow=True"):
        CaptionTrainConfig(flow_grid=3)
    cfg = CaptionTrainConfig(flow=True, flow_gap=1)
    assert cfg.flow_params() == {"method": "dis", "size": 96, "grid": 4, "gap": 1}
    assert CaptionTrainConfig().flow_params() is None
    with pytest.raises(ConfigError, match="flow_size=0"):
        CaptionTrainConfig(flow=True, flow_size=0)


def test_motion_pairs_stay_inside_their_window():
    from vidcap.features.flow import motion_pairs

    idx, ok = np.array([0, 4, 8, 9]), np.array([True, True, True, False])
    assert motion_pairs(idx, ok, 10, 2) == [(0, 2), (4, 6), (6, 8), None]  # the last one looks back
    # the frames 5..9 of a longer video: frame 8's partner is not frame 10, in the next window
    assert motion_pairs(np.array([5, 8]), np.array([True, True]), 9, 2, first=5) == [(5, 7), (6, 8)]
    assert motion_pairs(np.array([5, 7]), np.array([True, True]), 8, 2, first=5) == [(5, 7), (5, 7)]
    with pytest.raises(DataError, match="1 frame"):
        motion_pairs(np.array([5]), np.array([True]), 6, 2, first=5)


def test_normalize_motion_standardises_only_the_motion_columns():
    from vidcap.config import CaptionTrainConfig
    from vidcap.errors import ConfigError
    from vidcap.train.caption import FeatureSet, feature_statistics

    with pytest.raises(ConfigError, match=r"^normalize_motion=True needs the motion stream: add flow=True"):
        CaptionTrainConfig(normalize_motion=True)
    with pytest.raises(ConfigError, match="choose one$"):
        CaptionTrainConfig(flow=True, normalize=True, normalize_motion=True)
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(3, 4, 6, generator=g) * 5 + 2  # 4 backbone columns, 2 motion columns
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[2, 3] = False
    feats[2, 3] = 0.0  # a padded row: left out of the statistics
    names = ["a", "b", "c"]
    rows = torch.tensor([0, 2])  # the training videos
    frames = torch.cat([feats[0], feats[2, :3]])  # their 7 valid frames
    mean, std = feature_statistics(FeatureSet(names, feats, mask, "mobilenet_v2", 4, flow_dim=2), rows,
                                   motion_only=True)
    assert torch.equal(mean[:4], torch.zeros(4)) and torch.equal(std[:4], torch.ones(4))
    assert torch.allclose(mean[4:], frames[:, 4:].mean(0)) and torch.allclose(std[4:], frames[:, 4:].std(0))
    assert std[4:].min() < 2  # uniform on [2, 7): std ~1.4, so the motion columns really were standardised
    every, _ = feature_statistics(FeatureSet(names, feats, mask, "mobilenet_v2", 4, flow_dim=2), rows)
    assert torch.allclose(every, frames.mean(0))
    with pytest.raises(ConfigError, match="needs features with the motion stream"):
        feature_statistics(FeatureSet(names, feats, mask, "mobilenet_v2", 4), rows, motion_only=True)


def test_a_flow_checkpoint_captions_moving_videos_and_refuses_a_single_frame(tmp_path):
    from vidcap.data.vocab import Vocabulary
    from vidcap.features.flow import MotionFeatures
    from vidcap.io.checkpoints import save_checkpoint
    from vidcap.models.s2vt import S2VT, S2VTConfig
    from vidcap.tasks.caption import make_checkpoint

    stream = MotionFeatures(size=72, grid=2)
    vocab = Vocabulary(["a", "square", "moves"])
    torch.manual_seed(0)
    model = S2VT(S2VTConfig(vocab_size=len(vocab), feature_dim=1280 + stream.dim, hidden=16, max_words=5,
                            project=False))
    path = save_checkpoint(make_checkpoint(model, vocab, backbone="mobilenet_v2", num_frames=4, beam_size=1,
                                           flow=stream.to_dict()), tmp_path / "flow.pt")
    cap = Captioner.load(path, backend="torch")
    assert cap.flow == stream.to_dict()
    moving, still = square_clip(tmp_path / "moving.mp4", dx=2), square_clip(tmp_path / "one.mp4", n=1)
    assert isinstance(cap.caption(moving)[0].caption, str)
    with pytest.raises(DataError, match=r"one.mp4 has only 1 frame: this model reads motion"):
        cap.caption(still)
    recorded = cap.caption([moving, still], errors="record")
    assert recorded[0].error is None and "only 1 frame" in recorded[1].error


def test_checkpoint_keeps_the_frame_fit_and_refuses_features_fitted_another_way(tmp_path):
    """A model trained on whole (letterboxed) frames captions whole frames; features of
    centre crops are refused with the flag that makes the right ones; a checkpoint written
    before the option existed was trained on centre crops."""
    from vidcap.data.vocab import Vocabulary
    from vidcap.io.checkpoints import save_checkpoint
    from vidcap.models.s2vt import S2VT, S2VTConfig
    from vidcap.tasks.caption import make_checkpoint

    vocab = Vocabulary(["a", "square"])
    model = S2VT(S2VTConfig(vocab_size=len(vocab), feature_dim=1280, hidden=8, max_words=4, project=False))
    ckpt = make_checkpoint(model, vocab, backbone="mobilenet_v2", num_frames=4, fit="pad")
    cap = Captioner.load(save_checkpoint(ckpt, tmp_path / "pad.pt"), backend="torch")
    assert cap.fit == "pad"
    cap.check_features(backbone="mobilenet_v2", feature_dim=1280, where="feats/", fit="pad")
    with pytest.raises(ModelError, match=r"fitted by 'crop' but the model was trained on 'pad'; .* --fit pad"):
        cap.check_features(backbone="mobilenet_v2", feature_dim=1280, where="feats/", fit="crop")
    del ckpt["sampling"]["fit"]
    assert Captioner.load(save_checkpoint(ckpt, tmp_path / "old.pt"), backend="torch").fit == "crop"


def test_features_of_two_fits_are_not_mixed(photo_set, tmp_path):
    import shutil

    feats = tmp_path / "features"
    shutil.copytree(photo_set / "features", feats)
    record = next(feats.glob("*.json"))
    meta = json.loads(record.read_text())
    meta["params"]["fit"] = "pad"
    record.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="mix frames fitted by \\['crop', 'pad'\\]; extract them with one --fit"):
        run(photo_set, tmp_path / "run", features=feats, epochs=1)
