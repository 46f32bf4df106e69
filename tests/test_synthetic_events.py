"""Multi-event videos in the generated world (``generate_world(events=(lo, hi))``,
``vidcap synth --events``): the annotation files, their times against the decoded
videos, the sentences against the ground truth, determinism and bad arguments."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from test_synthetic import ACTION_RE, COLOR_RE, OPPOSITE, assert_same_world, decode
from vidcap.cli import main
from vidcap.cli.synth import parse_events
from vidcap.data.events import load_activitynet_captions, load_youcook2
from vidcap.data.synthetic import generate_world
from vidcap.errors import ConfigError
from vidcap.io.video import probe

ARGS = dict(num_videos=4, seed=5, level="easy", seconds=1, events=(2, 3))
YC2_SUBSET = {"train": "training", "val": "validation", "test": "testing", "test_compositional": "testing"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("events") / "world"
    code = main(["synth", str(out), "--num-videos", "4", "--seed", "5", "--seconds", "1", "--events", "2..3",
                 "--workers", "1", "-q"])
    assert code == 0
    return out


def gts(world: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((world / "gt").glob("*.json"))}


def test_annotation_files_load_and_agree_with_the_ground_truth(world):
    anet = load_activitynet_captions(world / "events.json")
    yc2 = load_youcook2(world / "youcook2.json")
    truth = gts(world)
    assert set(anet) == set(yc2) == set(truth) == {p.stem for p in (world / "videos").glob("*.mp4")}
    splits = json.loads((world / "splits.json").read_text())
    split_of = {name: s for s, names in splits.items() for name in names}
    raw = json.loads((world / "youcook2.json").read_text())["database"]
    for name, video in anet.items():
        gt = truth[name]
        assert yc2[name] == video
        assert raw[name]["subset"] == YC2_SUBSET[split_of[name]] == YC2_SUBSET[gt["split"]]
        assert video.sentences == [e["sentence"] for e in gt["events"]]
        assert video.segments == [(e["start"], e["end"]) for e in gt["events"]]


def test_event_counts_boundaries_and_names(world):
    truth = gts(world)
    counts = []
    for name, gt in truth.items():
        events = gt["events"]
        counts.append(len(events))
        assert 2 <= len(events) <= 3
        assert name.endswith(f"_0_{len(events)}")  # 1 s per event
        assert [e["boundary"] for e in events][0] == "start"
        assert {e["boundary"] for e in events[1:]} <= {"continue", "cut"}
        assert all(a["label"] != b["label"] for a, b in zip(events, events[1:]))
        for a, b in zip(events, events[1:]):
            if b["boundary"] == "continue":
                assert b["background"] == a["background"]
        # frames carry their event; objects are numbered across events
        assert [f["event"] for f in gt["frames"]] == [e for e in range(len(events)) for _ in range(25)]
        for f in gt["frames"]:
            assert {o["id"] for o in f["objects"]} == set(events[f["event"]]["objects"])
            assert all(gt["objects"][o["id"]]["event"] == f["event"] for o in f["objects"])
    # this seed's world has both lengths and both kinds of boundary, so the checks above bite
    assert set(counts) == {2, 3}
    kinds = {e["boundary"] for gt in truth.values() for e in gt["events"][1:]}
    assert kinds == {"continue", "cut"}
    labels = list(csv.DictReader(open(world / "labels.csv", newline="", encoding="utf-8")))
    assert {r["video"]: r["label"] for r in labels} == {n: gt["events"][0]["label"] for n, gt in truth.items()}


def test_timestamps_are_contiguous_and_match_the_decoded_video(world):
    anet = load_activitynet_captions(world / "events.json")
    for name, video in anet.items():
        k = len(video.events)
        # 25 frames of 1/25 s per event: event e is [e, e + 1] seconds
        assert video.segments == [(float(e), float(e + 1)) for e in range(k)]
        assert video.duration == float(k)
        info = probe(world / "videos" / f"{name}.mp4")
        assert info.num_frames == 25 * k
        assert info.duration == pytest.approx(video.duration, abs=1e-6)


def test_each_event_is_drawn_on_its_own_background(world):
    """On the easy level's flat backgrounds, the decoded frames' median colour is the
    background of the event the frame belongs to (a cut changes it, a continuation does not)."""
    checked = 0
    for name, gt in gts(world).items():
        frames = decode(world / "videos" / f"{name}.mp4")
        assert len(frames) == gt["num_frames"]
        for e in gt["events"]:
            if e["background"]["kind"] != "flat":
                continue
            for i in (e["start_frame"], e["end_frame"] - 1):
                median = np.median(frames[i].reshape(-1, 3), axis=0)
                assert np.abs(median - e["background"]["rgb"]).max() <= 4, (name, e["index"], i)
                checked += 1
    assert checked >= 4


def test_each_sentence_describes_its_event(world):
    for name, gt in gts(world).items():
        for e in gt["events"]:
            text = e["sentence"].lower()
            assert re.search(ACTION_RE[e["label"]], text), (name, e["label"], text)
            if e["label"] in OPPOSITE:
                assert not re.search(OPPOSITE[e["label"]], text), (name, e["label"], text)
            actor = next(gt["objects"][i] for i in e["objects"] if gt["objects"][i]["role"] == "actor")
            assert re.search(COLOR_RE[actor["color"]], text), (name, actor["color"], text)


def test_corpus_rows_are_paragraphs_of_the_events(world):
    rows = list(csv.DictReader(open(world / "video_corpus.csv", newline="", encoding="utf-8")))
    anet = load_activitynet_captions(world / "events.json")
    for name, video in anet.items():
        mine = [r["Description"] for r in rows if f"{r['VideoID']}_{r['Start']}_{r['End']}" == name]
        assert 10 <= len(mine) <= 20
        first = " ".join(s if s.endswith(".") else s + "." for s in video.sentences)
        assert first in mine
        assert all(r.count(".") == len(video.events) for r in mine)


def test_same_world_with_any_number_of_workers(world, tmp_path):
    two = tmp_path / "two"
    generate_world(two, workers=2, **ARGS)
    assert_same_world(world, two)
    other = tmp_path / "other"
    generate_world(other, workers=1, **{**ARGS, "seed": 6})
    with pytest.raises(AssertionError):
        assert_same_world(world, other)


def test_parse_events():
    assert parse_events("2..6") == (2, 6)
    assert parse_events("3") == (3, 3)


@pytest.mark.parametrize("events", [(0, 2), (5, 2), (2.0, 3), "x", (True, 2), 3])
def test_bad_events_raise_config_error(events, tmp_path):
    with pytest.raises(ConfigError, match="events"):
        generate_world(tmp_path / "w", num_videos=1, events=events)
    assert not (tmp_path / "w").exists()


def test_events_with_high_fps_factor_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="high_fps_factor"):
        generate_world(tmp_path / "w", num_videos=1, events=(2, 3), high_fps_factor=2)


@pytest.mark.parametrize("text", ["0", "5..2", "x", "2..", "0..3", "2..3..4"])
def test_cli_rejects_bad_events(text, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(tmp_path / "w"), "--num-videos", "1", "--events", text])
    assert exc.value.code == 2
    assert "events must" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
