"""COOT: the model's losses on hand-checked cases, its inputs from annotated videos, training and evaluation."""
import json

import numpy as np
import pytest
import torch

from vidcap.data.events import Event, EventVideo
from vidcap.errors import ConfigError, DataError
from vidcap.models.coot import CootConfig, CootModel, cycle_loss, info_nce

TINY = {"hidden": 32, "embed_dim": 16, "heads": 2}


def unit(*rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


# --------------------------------------------------------------------------- losses by hand
def test_cycle_loss_by_hand():
    x = unit([1, 0, 0], [0, 1, 0])[None]  # (1, 2, 3)
    valid = torch.ones(1, 2, dtype=torch.bool)
    # a bijection comes back where it started, whatever the order of y
    assert float(cycle_loss(x, x.clone(), valid, 0.01)) == pytest.approx(0, abs=1e-6)
    assert float(cycle_loss(x, x.flip(1), valid, 0.01)) == pytest.approx(0, abs=1e-6)
    # both y near x0: x1's soft nearest y lands on x0, one step off -> (1 - 0)^2 for x1, 0 for x0
    y = unit([1, 0.01, 0], [1, -0.01, 0])[None]
    assert float(cycle_loss(x, y, valid, 0.01)) == pytest.approx(0.5, abs=1e-3)
    # a padded event is neither a start nor a target; a video of one event adds nothing
    x3 = torch.cat([x, unit([0, 0, 1])[None]], 1)
    y3 = torch.cat([y, unit([0, 1, 0])[None]], 1)
    assert float(cycle_loss(x3, y3, torch.tensor([[True, True, False]]), 0.01)) == pytest.approx(0.5, abs=1e-3)
    assert float(cycle_loss(x3, y3, torch.tensor([[True, False, False]]), 0.01)) == 0.0


def test_info_nce_by_hand():
    a = unit([1, 0], [0, 1])
    scale = torch.tensor(10.0)
    expect = float(np.log(1 + np.exp(-10)))  # each row: softmax of (10, 0), both directions alike
    assert float(info_nce(a, a, scale)) == pytest.approx(expect, rel=1e-3)  # float32
    assert float(info_nce(a, a.flip(0), scale)) == pytest.approx(10 + expect, rel=1e-5)


def test_best_clip_scores_by_hand():
    from vidcap.tasks.coot import best_clip_scores

    owner = np.array([0, 0, 1])  # video 0: events 0, 1; video 1: event 2
    cos = np.array([[0.9, 0.1, 0.3],
                    [0.2, 0.5, 0.8],
                    [0.4, 0.0, 0.7]])  # sentence x clip
    # paragraph 0 (sentences 0, 1) vs video 0: mean(0.9, 0.5); vs video 1: mean(0.3, 0.8)
    assert best_clip_scores(cos, owner) == pytest.approx(np.array([[0.7, 0.55], [0.4, 0.7]]))


def batch(B=3, C=4, D=8, F=5, G=7, W=6, P=9, events=(2, 1, 4)):
    g = torch.Generator().manual_seed(0)
    clip_mask = torch.zeros(B, C, F, dtype=torch.bool)
    word_mask = torch.zeros(B, C, W, dtype=torch.bool)
    for b, n in enumerate(events):
        clip_mask[b, :n], word_mask[b, :n] = True, True
    return {"clips": torch.randn(B, C, F, D, generator=g), "clip_mask": clip_mask,
            "frames": torch.randn(B, G, D, generator=g), "frame_mask": torch.ones(B, G, dtype=torch.bool),
            "words": torch.randn(B, C, W, 384, generator=g), "word_mask": word_mask,
            "para": torch.randn(B, P, 384, generator=g), "para_mask": torch.ones(B, P, dtype=torch.bool)}


@pytest.mark.parametrize("context", [True, False])
def test_model_shapes_losses_and_padding(context):
    torch.manual_seed(0)
    model = CootModel(CootConfig(feature_dim=8, clip_frames=5, video_frames=7, sentence_words=6,
                                 paragraph_words=9, context=context, **TINY)).eval()
    b = batch()
    v = model.encode_video(b["clips"], b["clip_mask"], b["frames"], b["frame_mask"])
    assert v["parts"].shape == (3, 4, 16) and v["whole"].shape == (3, 16)
    assert v["valid"].tolist() == [[True, True, False, False], [True, False, False, False], [True] * 4]
    assert ("global" in v) == context
    assert torch.allclose(v["whole"].norm(dim=-1), torch.ones(3))
    # what sits in a padded event's slot changes nothing of the video's vectors
    b2 = {k: t.clone() for k, t in b.items()}
    b2["clips"][0, 2:] = 100.0
    v2 = model.encode_video(b2["clips"], b2["clip_mask"], b2["frames"], b2["frame_mask"])
    assert torch.allclose(v["whole"], v2["whole"], atol=1e-5)
    assert torch.allclose(v["parts"][v["valid"]], v2["parts"][v2["valid"]], atol=1e-5)
    model.train()
    loss, parts = model(b, cycle_weight=0.5)
    assert set(parts) == ({"clip", "video", "cycle"} | ({"global"} if context else set()))
    assert float(loss.detach()) == pytest.approx(sum(v for k, v in parts.items() if k != "cycle") + 0.5 * parts["cycle"],
                                        rel=1e-5)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    _, no_cycle = model(b)
    assert "cycle" not in no_cycle
    with pytest.raises(ConfigError, match=r"\(B, C, F, 8\)"):
        model.encode_video(b["clips"][..., :4], b["clip_mask"], b["frames"], b["frame_mask"])


@pytest.mark.parametrize("bad", [{"hidden": 30, "heads": 4}, {"clip_frames": 0}, {"context": "yes"},
                                 {"dropout": 1.0}, {"cycle_temperature": 0}])
def test_bad_config(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        CootConfig(**bad)


# --------------------------------------------------------------------------- inputs from annotated videos
def test_event_tensors_take_each_events_own_frames():
    from vidcap.tasks.coot import event_tensors

    times = np.arange(0, 10, 0.25)  # 4 frames a second over 10 s
    feats = np.repeat(times[:, None], 3, axis=1).astype(np.float32)  # each frame's features: its time
    gt = {"a": EventVideo("a", 10.0, (Event(0.0, 4.0, "a red ball bounces"), Event(4.0, 4.1, "it stops"),
                                      Event(5.0, 10.0, "a blue square grows"))),
          "b": EventVideo("b", 10.0, (Event(1.0, 2.0, "a star spins"),))}
    data = event_tensors(gt, {"a": (feats, times), "b": (feats, times)},
                         CootConfig(feature_dim=3, clip_frames=8, video_frames=6, **TINY))
    assert data.names == ["a", "b"] and data.clips.shape == (2, 3, 8, 3)
    assert data.events.tolist() == [[True, True, True], [True, False, False]]
    first = data.clips[0, 0, :, 0][data.clip_mask[0, 0]].numpy()
    assert first[0] == 0.0 and first.max() < 4.0 and len(first) == 8  # 16 frames inside, 8 evenly spaced
    short = data.clips[0, 1, :, 0][data.clip_mask[0, 1]].numpy()
    assert short.tolist() == [4.0]  # inside [4.0, 4.1): the one frame at 4.0
    b = data.clips[1, 0, :, 0][data.clip_mask[1, 0]].numpy()
    assert b.tolist() == [1.0, 1.25, 1.5, 1.75]  # fewer frames than clip_frames: each once, the rest padded
    assert data.frame_mask.all() and data.frames[0, [0, -1], 0].tolist() == [0.0, 9.75]
    # words: each sentence's tokens ([CLS] ... [SEP]); the paragraph: the sentences' tokens in order
    n_words = data.word_mask[0].sum(1).tolist()
    assert n_words[0] > n_words[1] > 0 and data.para_mask[0].sum() == sum(n_words)
    assert torch.equal(data.para[0, : n_words[0]], data.words[0, 0, : n_words[0]])
    with pytest.raises(DataError, match="'a' has 3 sentences but only 2 clips"):
        event_tensors(gt, {"a": (feats, times)}, CootConfig(feature_dim=3, max_clips=2, **TINY))
    with pytest.raises(DataError, match="no annotated video has features"):
        event_tensors(gt, {}, CootConfig(feature_dim=3, **TINY))


# --------------------------------------------------------------------------- training and evaluation
@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """Two generated multi-event worlds of 2-3 events of 2 s: one to train on, one never seen."""
    from vidcap import api

    root = tmp_path_factory.mktemp("coot")
    api.synth(root / "train", num_videos=16, events=(2, 3), seconds=2, seed=5, workers=1)
    api.synth(root / "test", num_videos=6, events=(2, 3), seconds=2, seed=6, workers=1)
    return root


def test_train_evaluate_resume_and_bad_videos(worlds, tmp_path, capsys):
    from vidcap import api
    from vidcap.cli import main
    from vidcap.tasks.coot import Coot, event_features, event_tensors, retrieval_scores
    from vidcap.tasks.dense import load_events

    opts = ["--epochs", "3", "--batch-size", "4", "--hidden", "32", "--embed-dim", "16", "--video-frames", "12",
            "--clip-frames", "8"]
    train = worlds / "train"
    store = tmp_path / "features"
    args = ["train", "coot", "--annotations", train / "youcook2.json", "--videos", train / "videos", "--features",
            store, *opts, "--json"]
    assert main([str(a) for a in [*args, "--out-dir", tmp_path / "run"]]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["task"] == "coot" and run["epochs_run"] == 3
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    gt = load_events(train / "youcook2.json")
    assert config["data"]["train"] + config["data"]["val"] == len(gt)  # training + validation subsets
    # interrupted after 2 epochs and resumed: the same weights as the run that was never stopped
    api.train_coot(train / "youcook2.json", train / "videos", tmp_path / "cut", features=store, stop_after=2,
                   epochs=3, batch_size=4, hidden=32, embed_dim=16, video_frames=12, clip_frames=8)
    api.train_coot(train / "youcook2.json", train / "videos", tmp_path / "cut", features=store, resume=True)
    a, b = Coot.load(tmp_path / "run" / "last.pt"), Coot.load(tmp_path / "cut" / "last.pt")
    assert a.model_id == b.model_id

    # evaluation on a world it never saw, with a missing and a broken video recorded, not fatal
    test = worlds / "test"
    anns = json.loads((test / "events.json").read_text())
    anns["v_missing"] = {"duration": 4.0, "timestamps": [[0, 2]], "sentences": ["a cat sits"]}
    anns["v_broken"] = {"duration": 4.0, "timestamps": [[0, 2]], "sentences": ["a dog runs"]}
    videos = tmp_path / "videos"
    videos.mkdir()
    for p in (test / "videos").iterdir():
        (videos / p.name).symlink_to(p)
    (videos / "v_broken.mp4").write_bytes(b"not a video at all" * 50)
    path = tmp_path / "anns.json"
    path.write_text(json.dumps(anns))
    code = main(["evaluate", "coot", "--annotations", str(path), "--videos", str(videos), "--model",
                 str(tmp_path / "run"), "--cache", str(tmp_path / "test-features"), "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert code == 1 and "v_broken.mp4: cannot be read as a video" in captured.err  # scored, with failures named
    failed = {f["video"]: f["error"] for f in out["failed"]}
    assert set(failed) == {"v_missing", "v_broken"}
    assert "has no video named 'v_missing'" in failed["v_missing"] and "v_broken.mp4" in failed["v_broken"]
    gt_test = load_events(test / "events.json")
    n_events = sum(len(v.events) for v in gt_test.values())
    assert (out["videos"], out["events"]) == (6, n_events)
    assert out["chance"] == {"videos": round(100 / 6, 2), "events": round(100 / n_events, 2)}
    # the numbers are the model's ranks of the held-out videos, recomputed here
    coot = Coot.load(tmp_path / "run")
    feats, _ = event_features(gt_test, list(gt_test), test / "videos", tmp_path / "test-features")
    expect = retrieval_scores(coot.embed(event_tensors(gt_test, feats, coot.config)))
    assert out["metrics"] == json.loads(json.dumps(expect))
    assert set(out["metrics"]) == {"p2v", "v2p", "p2v_clips", "v2p_clips", "s2c", "c2s"} and out["metrics"]["s2c"]["n"] == n_events
    # one sentence for what cannot be scored at all
    code = main(["evaluate", "coot", "--annotations", str(path), "--videos", str(videos), "--model",
                 str(tmp_path / "run"), "--subset", "training"])
    assert code != 0 and "ActivityNet Captions file, which has no subsets" in capsys.readouterr().err


# --------------------------------------------------------------------------- learned event boundaries
def test_peaks_f1_and_targets_by_hand():
    from vidcap.metrics.temporal import boundary_f1
    from vidcap.models.boundary import peaks
    from vidcap.tasks.boundaries import boundary_targets

    prob = np.array([0.1, 0.9, 0.8, 0.2, 0.6, 0.7, 0.1, 0.95])
    assert peaks(prob, 0.5, min_gap=1) == [1, 5, 7]  # local maxima at least 0.5
    assert peaks(prob, 0.5, min_gap=3) == [1, 7]  # 5 is within 3 frames of the higher 7
    assert peaks(prob, 0.92, min_gap=1) == [7]
    with pytest.raises(ConfigError):
        peaks(prob, 1.5)
    m = boundary_f1([5.1, 9.0, 20.0], [5.0, 10.0], tolerance=0.5)  # 5.1 matches 5.0; 9.0 is 1 s off
    assert m == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4})
    assert boundary_f1([], [])["f1"] == 1.0 and boundary_f1([3.0], [])["f1"] == 0.0
    times = np.arange(0, 6, 0.25)
    video = EventVideo("v", 6.0, (Event(0, 2, "a"), Event(2, 4.1, "b"), Event(4.1, 6, "c")))
    assert np.flatnonzero(boundary_targets(times, video)).tolist() == [8, 17]  # 2.0 s and the first frame >= 4.1 s


def test_boundary_net_shapes_and_mask():
    from vidcap.models.boundary import BoundaryConfig, BoundaryNet

    torch.manual_seed(0)
    net = BoundaryNet(BoundaryConfig(feature_dim=8, hidden=16)).eval()
    x, mask = torch.randn(2, 10, 8), torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    y = torch.zeros(2, 10)
    y[0, 4] = 1
    logits, loss = net(x, mask, y)
    assert logits.shape == (2, 10) and (logits[1, 6:] < -1e3).all() and torch.isfinite(loss)
    with pytest.raises(ConfigError, match=r"\(B, T, 8\)"):
        net(x[..., :4], mask)
    with pytest.raises(ConfigError, match="kernel"):
        BoundaryConfig(kernel=4)


def test_train_boundaries_describe_and_score(worlds, tmp_path, capsys):
    from vidcap import api
    from vidcap.cli import main
    from vidcap.tasks.boundaries import BoundaryModel
    from vidcap.tasks.dense import evaluate_describe, load_events
    from vidcap.tasks.subtitles import visual_captions

    train = worlds / "train"
    assert main(["train", "boundaries", "--annotations", str(train / "youcook2.json"), "--videos",
                 str(train / "videos"), "--out-dir", str(tmp_path / "bnd"), "--epochs", "3", "--hidden", "16",
                 "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["task"] == "boundaries" and run["monitor"] == "val_f1"
    model = BoundaryModel.load(tmp_path / "bnd")
    test = worlds / "test"
    name = next(iter(load_events(test / "events.json")))
    video = test / "videos" / f"{name}.mp4"
    cuts = model.boundaries(video)
    assert cuts == sorted(cuts) and all(0 < t < 7.0 for t in cuts)
    cap = api.load_captioner()
    pieces = visual_captions(video, boundaries=model, captioner=cap)
    assert pieces[0].start == 0.0 and {p.start for p in pieces} <= {0.0, *cuts}  # equal neighbours merge
    result = evaluate_describe(test / "events.json", test / "videos", proposals=["learned", "windows"],
                               boundaries=tmp_path / "bnd", model=cap, limit=2, scorer=exact_match)
    assert set(result.proposals) == {"learned", "windows"} and result.videos == 2
    with pytest.raises(ConfigError, match="learned proposals need a boundary model"):
        evaluate_describe(test / "events.json", test / "videos", proposals=["learned"], model=cap)


def exact_match(refs, preds):
    return {"exact": sum(preds[k] in refs[k] for k in preds) / len(preds)}
