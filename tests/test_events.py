"""Multi-event annotations (ActivityNet Captions, YouCook2) and temporal metrics, on hand-checked cases."""
import json
import logging
import shutil

import numpy as np
import pytest

from vidcap.data.events import (Event, EventVideo, check_clip_count, load_activitynet_captions, load_youcook2,
                                overlaps, save_activitynet_captions, save_youcook2)
from vidcap.errors import ConfigError, DataError
from vidcap.metrics.temporal import dense_caption_scores, moment_recall, proposal_recall, tiou, tiou_matrix


def exact_match(refs, preds):
    """A deterministic sentence metric: the fraction of items whose prediction equals its reference."""
    return {"exact": sum(preds[k] in refs[k] for k in preds) / len(preds)}


# --------------------------------------------------------------------------- tIoU and moments
def test_tiou_known_segments():
    assert tiou((0, 10), (5, 15)) == pytest.approx(1 / 3)  # 5 s shared of 15 s
    assert tiou((2, 4), (0, 10)) == pytest.approx(0.2)  # contained: 2 / 10
    assert tiou((3, 7), (3, 7)) == 1.0
    assert tiou((0, 5), (5, 10)) == 0.0  # touching
    assert tiou((0, 1), (2, 3)) == 0.0
    assert tiou((4, 4), (4, 4)) == 0.0  # empty union
    m = tiou_matrix([(0, 10), (20, 30)], [(0, 10), (5, 15), (25, 30)])
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m, [[1, 1 / 3, 0], [0, 0, 0.5]])
    with pytest.raises(ConfigError, match="reversed"):
        tiou((5, 1), (0, 10))
    with pytest.raises(ConfigError, match="shape"):
        tiou_matrix([(0, 1, 2)], [(0, 1)])


def test_moment_recall_by_hand():
    gt = [(10, 20), (0, 10), (5, 15)]
    ranked = [
        [(0, 5), (10, 19), (12, 30)],  # tIoU 0, 0.9, 8/20 = 0.4
        [(0, 6), (0, 10)],  # tIoU 0.6, 1
        [],  # no prediction: a miss
    ]
    # top-1: 0, 0.6, miss -> R@1@0.5 = 1/3, R@1@0.7 = 0, mIoU = 0.6 / 3
    assert moment_recall(ranked, gt) == pytest.approx({"R@1@0.5": 1 / 3, "R@1@0.7": 0.0, "mIoU": 0.2})
    # top-2: best 0.9, 1, miss -> 2/3 at both thresholds
    two = moment_recall(ranked, gt, k=2)
    assert two["R@2@0.5"] == pytest.approx(2 / 3) and two["R@2@0.7"] == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="one list per query"):
        moment_recall(ranked[:2], gt)


def test_proposal_recall_by_hand():
    gt = {"v1": [(0, 10), (10, 20), (20, 30)], "v2": [(0, 4)]}
    # (0, 9)~(0, 10): 0.9; (12, 20)~(10, 20): 0.8; (0, 30): 1/3 with each; (40, 50): nothing
    props = {"v1": [(0, 9), (12, 20), (0, 30), (40, 50)]}  # v2 has none: 0 and 0
    out = proposal_recall(props, gt, thresholds=(0.5, 0.9))
    # t=0.5: v1 recall 2/3, precision 2/4; t=0.9: v1 recall 1/3, precision 1/4; v2 adds zeros
    expected = {"recall@0.5": 1 / 3, "precision@0.5": 1 / 4, "recall@0.9": 1 / 6, "precision@0.9": 1 / 8,
                "recall": (1 / 3 + 1 / 6) / 2, "precision": (1 / 4 + 1 / 8) / 2}
    assert out == pytest.approx(expected)
    with pytest.raises(DataError, match="'v9'"):
        proposal_recall({"v9": [(0, 1)]}, gt)


# --------------------------------------------------------------------------- dense captions
def two_videos():
    a = EventVideo("A", 20.0, (Event(0, 10, "a man opens the door"), Event(10, 20, "he walks in")))
    b = EventVideo("B", 30.0, (Event(0, 12, "a dog runs"), Event(6, 30, "the dog sleeps")))
    preds = {
        "A": [(0, 10, "a man opens the door"),  # tIoU 1 with A0, 0 with A1
              (5, 15, "he walks in")],  # tIoU 1/3 with A0 and with A1
        "B": [(0, 12, "the dog sleeps"),  # tIoU 1 with B0, 6/30 = 0.2 with B1
              (20, 30, "the dog sleeps")],  # tIoU 0 with B0, 10/24 = 0.417 with B1
    }
    return {"A": a, "B": b}, preds


def test_dense_captions_by_hand():
    gt, preds = two_videos()
    out = dense_caption_scores(preds, gt, scorer=exact_match)
    # t=0.3: items A0-A0 (match), A1-A0 (no), A1-A1 (match), B0-B0 (no), B1-B1 (match) -> 3/5
    # t=0.5, 0.7, 0.9: A0-A0 (match), A1-junk, B0-B0 (no), B1-junk -> 1/4
    assert out["items@0.3"] == 5 and out["items@0.5"] == out["items@0.9"] == 4
    assert out["exact@0.3"] == pytest.approx(0.6)
    assert out["exact@0.5"] == out["exact@0.7"] == out["exact@0.9"] == pytest.approx(0.25)
    assert out["exact"] == pytest.approx((0.6 + 3 * 0.25) / 4)  # 0.3375
    # proposals: t=0.3 every event and prediction matched; above, one of two in each video
    assert out["recall@0.3"] == out["precision@0.3"] == 1.0
    assert out["recall@0.7"] == out["precision@0.7"] == 0.5
    assert out["recall"] == pytest.approx(0.625) and out["precision"] == pytest.approx(0.625)


def test_dense_captions_unmatched_and_missing_videos():
    gt, preds = two_videos()
    # B has no prediction: no caption items, but recall 0 for its events
    out = dense_caption_scores({"A": preds["A"]}, gt, thresholds=(0.5,), scorer=exact_match)
    assert out["items@0.5"] == 2 and out["exact"] == 0.5  # A0-A0 match, A1-junk
    assert out["recall@0.5"] == pytest.approx((0.5 + 0) / 2)
    with pytest.raises(DataError, match="not in the ground truth"):
        dense_caption_scores({"C": [(0, 1, "x")]}, gt, scorer=exact_match)
    with pytest.raises(DataError, match="no video"):
        dense_caption_scores({"A": []}, gt, scorer=exact_match)
    with pytest.raises(DataError, match="prediction 0 of video 'A'"):
        dense_caption_scores({"A": [(0, 1)]}, gt, scorer=exact_match)


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java")
def test_dense_captions_default_meteor():
    gt, _ = two_videos()
    # tIoU 1/3 with A0 and A1: at 0.3 paired with both (one identical sentence), at 0.9 with the junk reference
    out = dense_caption_scores({"A": [(5, 15, "a man opens the door")]}, gt, thresholds=(0.3, 0.9))
    assert out["items@0.3"] == 2 and out["items@0.9"] == 1
    assert out["METEOR@0.9"] < 0.05 and 0.3 < out["METEOR@0.3"] < 1
    assert out["METEOR"] == pytest.approx((out["METEOR@0.3"] + out["METEOR@0.9"]) / 2)


# --------------------------------------------------------------------------- loaders
ANET = {
    "v_one": {"duration": 20.0, "timestamps": [[10, 20], [0, 12.5]], "sentences": ["he leaves", "a man enters"]},
    "v_two": {"duration": 8, "timestamps": [[0, 8]], "sentences": ["a cat sits"]},
}
YC2 = {"database": {
    "yc_a": {"duration": 30.0, "subset": "training", "recipe_type": "113", "url": "https://example.org/a",
             "annotations": [{"segment": [2, 9], "id": 0, "sentence": "cut the onion"},
                             {"segment": [12, 25], "id": 1, "sentence": "fry it"}]},
    "yc_b": {"duration": 10.0, "subset": "validation", "recipe_type": "201", "url": "https://example.org/b",
             "annotations": [{"segment": [0, 10], "id": 0, "sentence": "boil water"}]},
}}


def write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_load_activitynet_captions(tmp_path):
    videos = load_activitynet_captions(write(tmp_path, ANET))
    one = videos["v_one"]
    assert one.duration == 20.0 and one.name == "v_one"
    assert one.events == (Event(0.0, 12.5, "a man enters"), Event(10.0, 20.0, "he leaves"))  # sorted by start
    assert overlaps(one) == [(0, 1)]  # ActivityNet events may overlap: allowed, reported
    assert videos["v_two"].segments == [(0.0, 8.0)] and overlaps(videos["v_two"]) == []


def test_load_youcook2_and_split(tmp_path):
    path = write(tmp_path, YC2)
    videos = load_youcook2(path)
    assert sorted(videos) == ["yc_a", "yc_b"]
    assert videos["yc_a"].sentences == ["cut the onion", "fry it"] and videos["yc_a"].segments == [(2, 9), (12, 25)]
    assert overlaps(videos["yc_a"]) == []
    assert list(load_youcook2(path, split="validation")) == ["yc_b"]
    with pytest.raises(DataError, match=r"no videos in the subset 'testing'.*'training', 'validation'"):
        load_youcook2(path, split="testing")


def test_round_trip(tmp_path):
    videos = load_activitynet_captions(write(tmp_path, ANET))
    save_activitynet_captions(videos, tmp_path / "out" / "anet.json")
    assert load_activitynet_captions(tmp_path / "out" / "anet.json") == videos
    save_youcook2(videos, tmp_path / "yc.json", subset={"v_one": "training", "v_two": "validation"})
    assert load_youcook2(tmp_path / "yc.json") == videos
    assert list(load_youcook2(tmp_path / "yc.json", split="training")) == ["v_one"]
    assert [p.name for p in tmp_path.rglob(".*")] == []  # no temporary left behind
    bad = {"v": EventVideo("v", 5.0, (Event(0, 9, "too long"),))}
    with pytest.raises(DataError, match="'v', event 0"):
        save_activitynet_captions(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def anet_with(**entry):
    return {"v_ok": ANET["v_two"], "v_bad": {"duration": 20.0, **entry}}


BAD_ANET = {
    "end past the video": (anet_with(timestamps=[[0, 5], [10, 25]], sentences=["a", "b"]), "event 1", "clip"),
    "start before zero": (anet_with(timestamps=[[-3, 5]], sentences=["a"]), "event 0", "clip"),
    "reversed": (anet_with(timestamps=[[10, 4]], sentences=["a"]), "event 0", "reversed"),
    "zero length": (anet_with(timestamps=[[5, 5]], sentences=["a"]), "event 0", "zero length"),
    "empty sentence": (anet_with(timestamps=[[0, 5], [5, 9]], sentences=["a", "  "]), "event 1", "empty"),
    "counts differ": (anet_with(timestamps=[[0, 5], [5, 9]], sentences=["a"]), "2 timestamps but 1", ""),
    "not a number": (anet_with(timestamps=[["0", 5]], sentences=["a"]), "event 0", "two finite numbers"),
    "three numbers": (anet_with(timestamps=[[0, 5, 6]], sentences=["a"]), "event 0", "two finite numbers"),
    "sentence not text": (anet_with(timestamps=[[0, 5]], sentences=[7]), "event 0", "expected a string"),
    "bad duration": ({"v_bad": {"duration": "long", "timestamps": [[0, 1]], "sentences": ["a"]}}, "duration", ""),
    "missing key": ({"v_bad": {"duration": 3, "timestamps": [[0, 1]]}}, "ActivityNet Captions layout", "sentences"),
    "no events": (anet_with(timestamps=[], sentences=[]), "no events", ""),
}


@pytest.mark.parametrize("case", BAD_ANET)
def test_bad_activitynet_names_file_video_event(tmp_path, case):
    data, *parts = BAD_ANET[case]
    path = write(tmp_path, data)
    with pytest.raises(DataError) as err:
        load_activitynet_captions(path)
    msg = str(err.value)
    assert str(path) in msg and "'v_bad'" in msg and all(p in msg for p in parts), msg


def test_bad_files(tmp_path):
    cases = [
        ("{not json", load_activitynet_captions, "not valid JSON"),
        ("[1, 2]", load_activitynet_captions, "ActivityNet Captions layout"),
        (json.dumps(YC2), load_activitynet_captions, "read it with load_youcook2"),
        (json.dumps(ANET), load_youcook2, "read it with load_activitynet_captions"),
        ('{"database": []}', load_youcook2, "YouCook2 layout"),
        ("[" * 200 + "]" * 200, load_activitynet_captions, "nests deeper"),
        ('{"v": {"duration": NaN, "timestamps": [[0, 1]], "sentences": ["a"]}}', load_activitynet_captions,
         "positive number"),
    ]
    for i, (text, load, part) in enumerate(cases):
        path = write(tmp_path, text, f"f{i}.json")
        with pytest.raises(DataError, match=part) as err:
            load(path)
        assert str(path) in str(err.value)


def test_bad_youcook2_names_file_video_event(tmp_path):
    data = json.loads(json.dumps(YC2))
    data["database"]["yc_b"]["annotations"][0]["segment"] = [4, 12]
    path = write(tmp_path, data)
    with pytest.raises(DataError, match=rf"{path}: video 'yc_b', event 0.*outside"):
        load_youcook2(path)
    assert list(load_youcook2(path, split="training")) == ["yc_a"]  # the other subset is not read
    del data["database"]["yc_b"]["annotations"][0]["sentence"]
    with pytest.raises(DataError, match="'yc_b' is not in the YouCook2 layout"):
        load_youcook2(write(tmp_path, data))


def test_repair_clips_swaps_drops_and_logs(tmp_path, caplog):
    data = {"v_r": {"duration": 20.0, "timestamps": [[-1, 5], [12, 8], [15, 22], [3, 4]],
                    "sentences": ["starts early", "reversed", "ends late", ""]}}
    path = write(tmp_path, data)
    with caplog.at_level(logging.WARNING, logger="vidcap.data.events"):
        v = load_activitynet_captions(path, repair=True)["v_r"]
    assert v.events == (Event(0.0, 5.0, "starts early"), Event(8.0, 12.0, "reversed"), Event(15.0, 20.0, "ends late"))
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 4 and all("'v_r'" in m for m in logged)
    assert any("event 0" in m and "clipped" in m for m in logged)
    assert any("event 1" in m and "swapped" in m for m in logged)
    assert any("event 2" in m and "clipped" in m for m in logged)
    assert any("event 3" in m and "dropped" in m for m in logged)
    # repairs never invent an event: wholly outside and zero length stay errors
    for seg, part in (([21, 30], "wholly outside"), ([-5, 0], "wholly outside"), ([5, 5], "zero length")):
        path = write(tmp_path, {"v_r": {"duration": 20.0, "timestamps": [seg], "sentences": ["x"]}})
        with pytest.raises(DataError, match=part):
            load_activitynet_captions(path, repair=True)
    path = write(tmp_path, {"v_r": {"duration": 20.0, "timestamps": [[0, 1]], "sentences": [" "]}})
    with pytest.raises(DataError, match="no events left after repairs"):
        load_activitynet_captions(path, repair=True)


def test_check_clip_count():
    v = EventVideo("v", 30.0, (Event(0, 10, "a"), Event(10, 20, "b"), Event(20, 30, "c")))
    check_clip_count(v, 3)
    with pytest.raises(DataError, match="'v' has 3 sentences but only 2 clips"):
        check_clip_count(v, 2)
    with pytest.raises(ConfigError):
        check_clip_count(v, -1)


# --------------------------------------------------------------------------- describe scored as dense captioning
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two generated videos of two 4 s events each (events.json beside them); the tests only read it."""
    from vidcap import api

    out = tmp_path_factory.mktemp("events") / "ev"
    api.synth(out, num_videos=2, events=(2, 2), seconds=4, seed=3, workers=1)
    return out


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs java")
def test_describe_scored_as_dense_captions(world, tmp_path, capsys):
    from vidcap import api
    from vidcap.cli import main
    from vidcap.tasks.dense import evaluate_describe
    from vidcap.tasks.subtitles import visual_captions

    anns = json.loads((world / "events.json").read_text())
    anns["v_missing"] = {"duration": 5.0, "timestamps": [[0, 5]], "sentences": ["a cat sits"]}
    path = write(tmp_path, anns)
    cap = api.load_captioner()
    result = evaluate_describe(path, world / "videos", window=3.0, model=cap, scorer=exact_match)
    assert result.failed == [{"video": "v_missing", "error": f"{world / 'videos'}: has no video named 'v_missing' "
                                                             "(the annotations' id)"}]
    gt = load_activitynet_captions(world / "events.json")
    assert result.videos == 2 and result.events == sum(len(v.events) for v in gt.values())
    for kind, shots in (("shots", True), ("windows", False)):
        preds = {name: [(e.start, e.end, e.text) for e in visual_captions(world / "videos" / f"{name}.mp4",
                                                                            window=3.0, shots=shots, captioner=cap)]
                 for name in gt}
        expect = dense_caption_scores(preds, gt, scorer=exact_match)
        got = result.proposals[kind]
        assert got["pieces"] == sum(len(p) for p in preds.values())
        assert {k: got[k] for k in expect} == pytest.approx(expect)
    # 4 s events against 3 s windows: no window matches an event at tIoU 0.9
    assert result.proposals["windows"]["recall@0.9"] == 0.0
    assert main(["evaluate", "describe", "--annotations", str(world / "events.json"), "--videos",
                 str(world / "videos"), "--window", "3", "--proposals", "windows", "--limit", "1"]) == 0
    out = capsys.readouterr().out  # METEOR, through Java
    assert out.startswith("1 videos, ") and "| windows |" in out and "| shots |" not in out
    meteor = float(out.split("| windows |")[1].split("|")[5])
    assert 0 < meteor < 100
    with pytest.raises(ConfigError, match="proposals"):
        api.evaluate_describe(path, world / "videos", proposals=["learned"])
    with pytest.raises(DataError, match="not a readable JSON"):
        api.evaluate_describe(write(tmp_path, "{", "broken.json"), world / "videos")


# --------------------------------------------------------------------------- moments
def test_moment_proposals_by_hand():
    from vidcap.tasks.moments import proposals

    assert proposals(12, 5) == [(0, 5), (0, 10), (2.5, 7.5), (2.5, 12), (5, 10), (7.5, 12)]
    assert proposals(3, 5) == [(0, 3)]
    assert proposals(0, 5) == []
    with pytest.raises(ConfigError, match="window"):
        proposals(10, 0)


def test_moments_rank_each_events_own_video(world, tmp_path, capsys):
    from vidcap import api
    from vidcap.cli import main
    from vidcap.features import get_engine
    from vidcap.io import frames_at, probe, short_side_size
    from vidcap.io.sampling import even_indices
    from vidcap.tasks.moments import moment_vectors, proposals
    from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

    rmodel = RetrievalModel.load(DEFAULT_MODEL)
    gt = load_activitynet_captions(world / "events.json")
    name = next(iter(gt))
    video = world / "videos" / f"{name}.mp4"
    moments, vecs = moment_vectors(video, rmodel, window=3.0)
    info = probe(video)
    assert moments == proposals(info.duration, 3.0) and vecs.shape == (len(moments), rmodel.dim)
    # the first moment: the model's 16 frames, evenly spaced among the frames decoded at 4 a second inside it
    engine = get_engine(rmodel.backbone)
    step = round(info.avg_fps / 4)
    inside = [n for n in range(0, info.num_frames, step) if n / info.avg_fps < moments[0][1]]
    idx, mask = even_indices(len(inside), rmodel.num_frames, short=rmodel.short)  # the model's own sampling
    picked = [inside[i] for i in idx[mask]]
    frames, _ = frames_at(video, sorted(set(picked)), size=short_side_size(info.width, info.height,
                                                                          engine.backbone.resize))
    feats = np.zeros((rmodel.num_frames, engine.backbone.dim), np.float32)
    feats[mask] = engine(np.stack([engine.preprocess(frames[i][None])[0] for i in picked]))
    assert np.allclose(rmodel.embed_videos(feats[None], mask[None])[0], vecs[0], atol=1e-5)

    anns = json.loads((world / "events.json").read_text())
    anns["v_missing"] = {"duration": 5.0, "timestamps": [[0, 5]], "sentences": ["a cat sits"]}
    result = api.evaluate_moments(write(tmp_path, anns), world / "videos", model=rmodel, window=3.0)
    assert (result.videos, result.queries) == (2, 4) and result.failed[0]["video"] == "v_missing"
    chance = []
    for v in gt.values():
        cands = proposals(v.duration, 3.0)
        iou = tiou_matrix(cands, v.segments)
        chance += list((iou >= 0.5 - 1e-9).mean(0))
    assert result.metrics["chance R@1@0.5"] == pytest.approx(np.mean(chance), abs=1e-4)
    assert 0 <= result.metrics["R@1@0.7"] <= result.metrics["R@1@0.5"] <= result.metrics["R@5@0.5"] <= 1
    # paragraph retrieval: a paragraph scores a video by its sentences' mean best-moment cosine
    para = np.zeros((2, 2))
    for i, p in enumerate(gt):
        q = rmodel.embed_text([e.sentence for e in gt[p].events])
        for j, v in enumerate(gt):
            para[i, j] = (q @ moment_vectors(world / "videos" / f"{v}.mp4", rmodel, window=3.0)[1].T).max(1).mean()
    ranks = (para > np.diag(para)[:, None]).sum(1) + 1  # no ties with real scores
    assert result.paragraph["p2v"]["R@1"] == pytest.approx(100 * np.mean(ranks == 1))
    with pytest.raises(ConfigError, match="window=5"):  # a library's moments are the default windows
        api.evaluate_moments(world / "events.json", world / "videos", model=rmodel, window=3.0, library=tmp_path / "l")
    corpus = api.evaluate_moments(world / "events.json", world / "videos", model=rmodel, library=tmp_path / "lib")
    m = corpus.metrics
    assert 0 <= m["corpus R@1@0.7"] <= m["corpus R@1@0.5"] <= m["corpus video R@1"] <= 1
    assert len(api.library_list(tmp_path / "lib")) == 2
    assert main(["evaluate", "moments", "--annotations", str(world / "events.json"), "--videos",
                 str(world / "videos"), "--window", "3", "--limit", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["videos"], out["queries"]) == (1, 2) and set(out["metrics"]) == set(result.metrics)


def test_a_library_answers_with_the_moment(world, tmp_path):
    from vidcap import api
    from vidcap.tasks.library import Library
    from vidcap.tasks.moments import moment_vectors
    from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

    videos = sorted((world / "videos").glob("*.mp4"))
    lib = tmp_path / "lib"
    api.index(videos, lib, caption_model="none", transcripts=False, tags=False, moments=True)
    rmodel = RetrievalModel.load(DEFAULT_MODEL)
    ids = {r["name"]: r["id"] for r in Library(lib).rows(["id", "name"])}
    stored = Library(lib).moments().to_arrow().to_pylist()
    expect = {}
    sentence = load_activitynet_captions(world / "events.json")[videos[0].stem].events[1].sentence
    q = rmodel.embed_text([sentence])[0]
    for v in videos:
        spans, vecs = moment_vectors(v, rmodel)
        mine = [r for r in stored if r["video"] == ids[v.stem]]
        assert [(r["start"], r["end"]) for r in mine] == spans
        assert np.allclose([r["vec_learned"] for r in mine], vecs, atol=1e-5)
        expect[ids[v.stem]] = (spans[int(np.argmax(vecs @ q))], float(np.max(vecs @ q)))
    hits = api.search(sentence, lib, k=2).hits  # a video scores its best moment and carries its times
    assert [h.id for h in hits] == sorted(expect, key=lambda v: -expect[v][1])
    assert all((h.start, h.end) == pytest.approx(expect[h.id][0]) for h in hits)
    assert all(h.score == pytest.approx(expect[h.id][1], abs=1e-4) for h in hits)
    api.library_remove([videos[0].stem], lib)
    assert {r["video"] for r in Library(lib).moments().to_arrow().to_pylist()} == {ids[videos[1].stem]}
    with pytest.raises(ConfigError, match="learned retrieval model"):
        api.index(videos, tmp_path / "lib2", model="none", caption_model="none", moments=True)
    assert not (tmp_path / "lib2").exists()  # refused before anything is written
