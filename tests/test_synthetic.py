"""The generated video world: determinism, layouts, and ground truth checked against
the decoded pixels and the captions."""
from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from vidcap.data.captions import load_msvd, load_splits
from vidcap.data.synthetic import CLASSES, caption_stats, contact_sheet, generate_world
from vidcap.data.synthetic.plans import _assign_splits, _class_labels
from vidcap.errors import ConfigError

MSVD_COLUMNS = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]
N = 20  # more than the 16 classes, so every class occurs

# Written here independently of the generator's phrase tables.
COLOR_RE = {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow", "orange": "orange",
            "purple": "purple|violet", "pink": "pink", "white": "white", "black": "black"}
SHAPE_RE = {"circle": "circle|ball|disc|dot", "square": "square|box|block", "triangle": "triangle",
            "star": "star", "diamond": "diamond|rhombus", "hexagon": "hexagon"}
ACTION_RE = {
    "move_left": r"\bleft", "move_right": r"\bright", "move_up": r"\b(up|upward|rises|rising)\b",
    "move_down": r"\b(down|downward|falls|falling|sinks|sinking)\b", "move_diagonal": r"diagonal",
    "bounce": r"bounc|hop|jump", "rotate": r"rotat|spin|turn|twirl", "grow": r"grow|bigger|larger|expand",
    "shrink": r"shrink|smaller|contract", "fade_in": r"fad\w* in|\bappear|visible|into view",
    "fade_out": r"fad\w* (out|away|from)|disappear|vanish", "stay_still": r"still|not mov|in place|one place",
    "approach": r"toward|approach|closer", "collide": r"collide|crash|bump|hits|run into",
    "pass": r"\bpass|past|cross", "follow": r"follow|chas|behind",
}
OPPOSITE = {"move_left": r"\bright", "move_right": r"\bleft", "move_up": r"\bdown", "move_down": r"\bup\b",
            "grow": r"smaller|shrink", "shrink": r"bigger|larger|grow", "fade_in": r"disappear|fades out",
            "fade_out": r"\bappears|fades in"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "easy"
    summary = generate_world(out, num_videos=N, seed=3, level="easy", workers=1)
    assert summary.num_videos == N and summary.num_frames == 75
    return out


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def content(path: Path):
    """What a world's file promises: a link's target, parsed CSV rows or JSON, decoded frames."""
    if path.is_symlink():
        return os.readlink(path)
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if path.suffix in (".mp4", ".mkv"):
        return np.stack(decode(path))
    raise AssertionError(f"a world holds no {path.suffix} files: {path}")


def assert_same_world(a: Path, b: Path) -> None:
    """The two worlds hold the same files with the same content, frames decoded.

    Decoded frames must be equal, lossy ones too: one-threaded x264 gave the same
    bitstream for the same frames and options in every trial (3 clips re-encoded 100
    times in each of 3 concurrent processes with other allocations in between; 8 runs
    of three worlds with 1 or 2 workers). Only container bytes varied (the mp4
    version tag, Matroska's random ids), so files are not compared. A tolerance
    would not help: two valid encodings that decide differently (another motion
    search, say) differ by up to ~100 levels with a worst-frame PSNR of ~31 dB, as
    much as moving the object by a pixel, so a tolerance that admits them would
    also pass a wrong generator.
    """
    files_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file() or p.is_symlink())
    files_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file() or p.is_symlink())
    assert files_a == files_b
    for name in files_a:
        x, y = content(a / name), content(b / name)
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape, name
            diff = np.abs(x.astype(int) - y)
            assert not diff.any(), f"{name}: {np.count_nonzero(diff)} values differ, by up to {diff.max()}"
        else:
            assert x == y, name


@pytest.mark.slow
def test_same_seed_same_world_with_any_number_of_workers(world, tmp_path):
    again = tmp_path / "again"
    generate_world(again, num_videos=N, seed=3, level="easy", workers=2)
    assert_same_world(world, again)
    # with sensor noise and lossless in-between frames: the FFV1 frames are the rendered ones
    one, two = tmp_path / "one", tmp_path / "two"
    for out, workers in ((one, 1), (two, 2)):
        generate_world(out, num_videos=3, seed=8, level="medium", workers=workers, seconds=1, high_fps_factor=2)
    assert len(list((one / "hfr").glob("*.mkv"))) == 3
    assert_same_world(one, two)
    # and the comparison tells another seed's world apart
    other = tmp_path / "other"
    generate_world(other, num_videos=3, seed=9, level="medium", workers=1, seconds=1, high_fps_factor=2)
    with pytest.raises(AssertionError):
        assert_same_world(one, other)
    for name in ("videos/syn00000_0_1.mp4", "hfr/syn00000_0_1.mkv"):
        assert np.abs(content(one / name).astype(int) - content(other / name)).mean() > 1


def test_msvd_corpus_columns_and_quirks(world):
    with open(world / "video_corpus.csv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        table = list(reader)
    assert header == MSVD_COLUMNS
    assert all(len(r) == 8 for r in table)
    names = {f"{r[0]}_{r[1]}_{r[2]}" for r in table}
    assert names == {p.stem for p in (world / "videos").glob("*.mp4")}
    assert {r[6] for r in table} - {"English"}, "a few non-English rows, as in MSVD"
    assert any(r[7] == "" for r in table), "a few empty descriptions, as in MSVD"
    assert all(r[3].isdigit() and r[5].isdigit() for r in table)
    # and it loads with the project's MSVD loader, English rows only
    corpus = load_msvd(world / "video_corpus.csv", videos_dir=world / "videos")
    assert set(corpus.videos) == names
    english = [r for r in table if r[6] == "English" and r[7]]
    assert corpus.num_captions == len(english)
    assert all(10 <= len(c) <= 20 for c in corpus.captions.values())


def test_captions_name_the_colour_shape_and_action_rendered(world):
    labels = {r["video"]: r for r in rows(world / "labels.csv")}
    assert set(r["label"] for r in labels.values()) == set(ACTION_RE), "every class occurs"
    for row in rows(world / "video_corpus.csv"):
        if row["Language"] != "English" or not row["Description"]:
            continue
        video = labels[f"{row['VideoID']}_{row['Start']}_{row['End']}"]
        gt = json.loads((world / "gt" / f"{video['video']}.json").read_text())
        actor = next(o for o in gt["objects"] if o["role"] == "actor")
        assert (actor["color"], actor["shape"]) == (video["color"], video["shape"])
        text = row["Description"].lower()
        assert re.search(COLOR_RE[actor["color"]], text), text
        assert re.search(SHAPE_RE[actor["shape"]], text), text
        assert re.search(ACTION_RE[video["label"]], text), (video["label"], text)
        if video["label"] in OPPOSITE:
            assert not re.search(OPPOSITE[video["label"]], text), (video["label"], text)
        if video["partner_color"]:
            assert re.search(COLOR_RE[video["partner_color"]], text), text


def test_ground_truth_centroid_matches_decoded_pixels(world):
    """Where the object is fully visible and opaque, the centroid of its colour in the
    decoded H.264 frame is within 1.5 px of the JSON position."""
    checked = 0
    for video in rows(world / "labels.csv"):
        if video["num_objects"] != "1":
            continue
        gt = json.loads((world / "gt" / f"{video['video']}.json").read_text())
        rgb = np.array(gt["objects"][0]["rgb"], float)
        frames = decode(world / "videos" / f"{video['video']}.mp4")
        assert len(frames) == gt["num_frames"] == len(gt["frames"])
        for frame, truth in zip(frames[::4], gt["frames"][::4]):
            obj = truth["objects"][0]
            if obj["visible_fraction"] < 0.999 or obj["opacity"] < 1:
                assert obj["opacity"] < 1 or obj["visible_fraction"] >= 0.999 or video["label"].startswith("move")
                continue
            x0, y0, x1, y1 = obj["bbox"]
            xa, ya = max(int(x0) - 3, 0), max(int(y0) - 3, 0)
            patch = frame[ya:int(y1) + 4, xa:int(x1) + 4].astype(float)
            ys, xs = np.nonzero(np.linalg.norm(patch - rgb, axis=2) < 60)
            assert len(xs) > 20
            assert abs(xs.mean() + xa - obj["x"]) < 1.5 and abs(ys.mean() + ya - obj["y"]) < 1.5, (video, truth)
            # nothing of that colour outside the object's box
            outside = np.linalg.norm(frame.astype(float) - rgb, axis=2) < 40
            outside[ya:int(y1) + 4, xa:int(x1) + 4] = False
            assert outside.sum() == 0
            checked += 1
    assert checked > 50


def test_ground_truth_follows_the_action(world):
    for video in rows(world / "labels.csv"):
        gt = json.loads((world / "gt" / f"{video['video']}.json").read_text())
        first, last = gt["frames"][0]["objects"][0], gt["frames"][-1]["objects"][0]
        label = video["label"]
        if label == "move_left":
            assert last["x"] < first["x"] - 20
        elif label == "move_right":
            assert last["x"] > first["x"] + 20
        elif label == "move_up":
            assert last["y"] < first["y"] - 20
        elif label == "move_down":
            assert last["y"] > first["y"] + 20
        elif label == "grow":
            assert last["radius"] > 2 * first["radius"]
        elif label == "shrink":
            assert last["radius"] < first["radius"] / 2
        elif label == "fade_in":
            assert first["opacity"] < 0.1 and last["opacity"] == 1
        elif label == "fade_out":
            assert first["opacity"] == 1 and last["opacity"] < 0.1
        elif label == "stay_still":
            assert (first["x"], first["y"], first["radius"]) == (last["x"], last["y"], last["radius"])
        elif label == "collide":
            dists = [np.hypot(f["objects"][0]["x"] - f["objects"][1]["x"], f["objects"][0]["y"] - f["objects"][1]["y"])
                     - f["objects"][0]["radius"] - f["objects"][1]["radius"] for f in gt["frames"]]
            assert min(dists) < 1 and dists[-1] > min(dists) + 5  # they touch, then part
        elif label == "approach":
            dists = [abs(f["objects"][0]["x"] - f["objects"][1]["x"]) for f in gt["frames"]]
            assert dists[-1] < dists[0] - 20 and np.all(np.diff(dists) <= 1e-6)


def test_splits_by_video_and_compositional_combos_never_in_train(world):
    splits = load_splits(world / "splits.json")
    assert list(splits) == ["train", "val", "test", "test_compositional"]
    names = [n for v in splits.values() for n in v]
    assert len(names) == len(set(names)) == N
    assert all(splits.values())
    labels = {r["video"]: r for r in rows(world / "labels.csv")}
    assert all(labels[n]["split"] == s for s, v in splits.items() for n in v)

    def combos(row):
        out = {(row["color"], row["shape"], row["label"])}
        if row["partner_color"]:
            out.add((row["partner_color"], row["partner_shape"], row["label"]))
        return out

    seen = set().union(*(combos(labels[n]) for s in ("train", "val", "test") for n in splits[s]))
    heldout = {tuple(t) for t in json.loads((world / "world.json").read_text())["heldout_combos"]}
    assert not seen & heldout
    for n in splits["test_compositional"]:
        row = labels[n]
        assert (row["color"], row["shape"], row["label"]) in heldout
        assert (row["color"], row["shape"], row["label"]) not in seen


def test_class_folders_link_to_the_videos(world):
    links = sorted((world / "classes").glob("*/*/*.mp4"))
    assert len(links) == N
    labels = {r["video"]: r for r in rows(world / "labels.csv")}
    for link in links:
        split, label = link.parent.parent.name, link.parent.name
        assert link.is_symlink() and link.resolve() == (world / "videos" / link.name).resolve()
        assert (labels[link.stem]["split"], labels[link.stem]["label"]) == (split, label)


def test_caption_statistics(world):
    stats = caption_stats(world)
    assert stats["videos"] == N
    assert 10 <= stats["captions_per_video"]["min"] <= stats["captions_per_video"]["max"] <= 20
    assert stats["share_4_to_12_words"] > 0.9
    assert 60 <= stats["vocabulary"] <= 250
    assert stats["non_english_rows"] > 0 and stats["empty_descriptions"] > 0
    assert stats["unique_captions"] > 0.6 * stats["english_captions"]  # annotators differ


def test_high_frame_rate_in_between_frames(tmp_path):
    from vidcap.io.writers import write_video

    plain, hfr = tmp_path / "plain", tmp_path / "hfr"
    generate_world(plain, num_videos=2, seed=5, level="medium", workers=1, seconds=1)
    generate_world(hfr, num_videos=2, seed=5, level="medium", workers=1, seconds=1, high_fps_factor=3)
    for name in ("syn00000_0_1", "syn00001_0_1"):
        normal = content(hfr / "videos" / f"{name}.mp4")
        # the normal video does not depend on the factor
        assert np.array_equal(content(plain / "videos" / f"{name}.mp4"), normal)
        dense = content(hfr / "hfr" / f"{name}.mkv")
        assert len(dense) == (len(normal) - 1) * 3 + 1
        # frames 0, 3, 6, ... are the normal video's frames before H.264: encoded with the
        # world's settings (crf 18, x264 veryfast, one thread) they give the normal video's
        # decoded frames, and frame 0 followed by the frames just after 0, 3, 6, ... does not.
        # Identical on AVX2 CPUs; on an AVX-512 one the lossless round trip moves a few blocks
        # (measured: 0.9 % of pixels, mean difference 0.02 levels, against 2.2-3.2 and 78 %
        # for the shifted frames), so "the same" is a mean difference under 0.2.
        diffs = []
        for frames in (dense[::3], np.concatenate([dense[:1], dense[1::3]])):
            assert len(frames) == len(normal)
            write_video(tmp_path / "again.mp4", frames, 25, crf=18, options={"preset": "veryfast"})
            diffs.append(np.abs(content(tmp_path / "again.mp4").astype(int) - normal.astype(int)).mean())
        assert diffs[0] < 0.2 < 1.0 < diffs[1], (name, diffs)
        gt = json.loads((hfr / "gt" / f"{name}.json").read_text())
        assert gt["hfr"]["num_frames"] == len(dense) and gt["hfr"]["fps"] == 75
        assert gt["hfr"]["frames"][3]["objects"] == gt["frames"][1]["objects"]
        # in-betweens are real intermediate states, not copies of the key frames
        actor = next(o["id"] for o in gt["objects"] if o["role"] == "actor")
        states = [tuple(f["objects"][actor][k] for k in ("x", "y", "radius", "angle", "opacity"))
                  for f in gt["hfr"]["frames"][-4:]]
        assert len(set(states)) == (1 if gt["label"] == "stay_still" else 4), gt["label"]


def test_hard_level_camera_ground_truth_matches_pixels(tmp_path):
    """With camera motion, photos and noise, the actor's centre pixels (per the JSON)
    have the actor's colour whenever it is fully visible."""
    out = tmp_path / "hard"
    generate_world(out, num_videos=3, seed=11, level="hard", workers=1, seconds=1)
    checked = 0
    for video in rows(out / "labels.csv"):
        gt = json.loads((out / "gt" / f"{video['video']}.json").read_text())
        assert gt["camera_moves"] and len(gt["objects"]) >= 2  # at least one distractor
        actor = next(o for o in gt["objects"] if o["role"] == "actor")
        frames = decode(out / "videos" / f"{video['video']}.mp4")
        for frame, truth in zip(frames, gt["frames"]):
            obj = truth["objects"][actor["id"]]
            if obj["visible_fraction"] < 0.999 or obj["opacity"] < 1:
                continue
            x, y, r = round(obj["x"]), round(obj["y"]), max(1, int(obj["radius"] * 0.25))
            centre = frame[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3).astype(float)
            assert np.linalg.norm(np.median(centre, axis=0) - actor["rgb"]) < 35
            checked += 1
    assert checked > 20


def test_cli_matches_api(tmp_path, capsys):
    from vidcap.cli import main

    assert main(["synth", str(tmp_path / "cli"), "--num-videos", "2", "--seed", "9", "--seconds", "1",
                 "--size", "96x64", "--workers", "1", "--stats", "-q"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["summary"]["num_videos"] == 2 and printed["caption_stats"]["videos"] == 2
    generate_world(tmp_path / "api", num_videos=2, seed=9, seconds=1, size=(96, 64), workers=1)
    assert_same_world(tmp_path / "cli", tmp_path / "api")
    assert content(tmp_path / "api" / "videos" / "syn00000_0_1.mp4").shape == (25, 64, 96, 3)


def test_progress_is_reported_through_the_callback(tmp_path, capsys):
    events = []
    generate_world(tmp_path / "w", num_videos=3, seed=1, seconds=1, size=(64, 48), workers=1,
                   progress=events.append)
    assert [(e.task, e.done, e.total, e.unit) for e in events] == [("synth", i, 3, "video") for i in (1, 2, 3)]
    assert capsys.readouterr() == ("", "")  # no bar, no prints
    with pytest.raises(ConfigError, match="progress"):
        generate_world(tmp_path / "bar", num_videos=1, progress=True)
    assert not (tmp_path / "bar").exists()


def split_counts(n: int, seed: int) -> list[str]:
    """The split of each video before any repair: 10 % each (at least one when n >= 4) for
    val, test and test_compositional, the rest train, shuffled by the world's rng."""
    rng = np.random.default_rng([seed, 2])
    small = [max(round(n / 10), 1 if n >= 4 else 0)] * 3
    names = np.repeat(["train", "val", "test", "test_compositional"], [n - sum(small)] + small)
    return [str(s) for s in names[rng.permutation(n)]]


@pytest.mark.parametrize("n,seed", [(20, 5), (20, 3), (17, 6), (23, 1), (30, 8), (33, 7), (48, 1), (100, 1)])
def test_every_class_outside_train_has_train_videos(n, seed):
    labels = _class_labels(n, seed)
    before, after = split_counts(n, seed), _assign_splits(labels, seed)
    train = {lab for lab, s in zip(labels, after) if s == "train"}
    assert {lab for lab, s in zip(labels, after) if s != "train"} <= train
    missing = {lab for lab, s in zip(labels, before) if s != "train"} - {lab for lab, s in zip(labels, before)
                                                                          if s == "train"}
    assert missing, "each case needs a repair, or it tests nothing"
    # a repair swaps two videos (or moves one into train): one change per missing class, at most two videos each
    changed = [i for i in range(n) if before[i] != after[i]]
    assert 0 < len(changed) <= 2 * len(missing)
    assert Counter(after)["train"] >= Counter(before)["train"]
    assert _assign_splits(labels, seed) == after


@pytest.mark.parametrize("n,seed", [(24, 17), (1000, 11), (40, 1)])
def test_splits_that_need_no_repair_stay_as_they_were(n, seed):
    labels = _class_labels(n, seed)
    assert _assign_splits(labels, seed) == split_counts(n, seed)


def test_tiny_world_puts_every_video_in_train():
    labels = _class_labels(8, 2)
    assert len(set(labels)) == 8 and _assign_splits(labels, 2) == ["train"] * 8


def test_world_splits_have_every_class_in_train(world):
    labels = rows(world / "labels.csv")
    train = {r["label"] for r in labels if r["split"] == "train"}
    assert {r["label"] for r in labels} == train == set(CLASSES)
    assert Counter(r["split"] for r in labels) == {"train": 16, "val": 2, "test": 1, "test_compositional": 1}


def test_contact_sheet(world, tmp_path):
    from PIL import Image

    from vidcap.io.video import sample_frames

    path = contact_sheet(world, tmp_path / "sheet.png", num_videos=3, frames_per_video=3)
    with Image.open(path) as img:
        assert img.format == "PNG"
        sheet = np.asarray(img.convert("RGB"))
    assert sheet.shape[1] > 3 * 160 and sheet.shape[0] > 3 * 120
    first = rows(world / "labels.csv")[0]["video"]  # the first row shows the first video
    clip = sample_frames(world / "videos" / f"{first}.mp4", 3, short="repeat")
    assert list(clip.indices) == [0, 37, 74]
    for frame in clip.frames:  # every frame appears pixel for pixel
        assert found(sheet, frame), first


def found(image: np.ndarray, patch: np.ndarray) -> bool:
    """Whether ``patch`` occurs in ``image`` pixel for pixel."""
    import cv2

    scores = cv2.matchTemplate(image, np.ascontiguousarray(patch), cv2.TM_SQDIFF)
    y, x = np.unravel_index(np.argmin(scores), scores.shape)
    return np.array_equal(image[y:y + patch.shape[0], x:x + patch.shape[1]], patch)


def test_world_sheet_composes_frames_and_text():
    import cv2

    from vidcap.viz.sheets import world_sheet

    rng = np.random.default_rng(0)
    small, big = rng.integers(0, 256, (60, 80, 3), np.uint8), rng.integers(0, 256, (120, 160, 3), np.uint8)
    sheet = world_sheet([[big, big], [small, small]], [["a red circle moves up"], ["a long caption " * 60]],
                        titles=[["v1"], ["v2"]], frame_labels=[["frame 0", "frame 9"], ["frame 0", "frame 9"]])
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    assert found(sheet, big)  # frames at the cell size are copied exactly
    assert not found(sheet, small)  # smaller ones are scaled up to the cell
    assert found(sheet, cv2.resize(small, (160, 120), interpolation=cv2.INTER_AREA))
    text = sheet[:, 2 * 160 + 3 * 6:]
    assert (text < 128).any(axis=2).sum() > 500  # captions are drawn (and wrapped: the long one is tall)
    assert sheet.shape[0] > 2 * (120 + 16) + 100  # the long caption wraps onto many lines


@pytest.mark.parametrize("kwargs,match", [
    ({"num_videos": 0}, "num_videos"),
    ({"level": "extreme"}, "level"),
    ({"size": (161, 120)}, "even"),
    ({"fps": 1, "seconds": 1}, "at least 2 frames"),
    ({"high_fps_factor": 1}, "high_fps_factor"),
    ({"seed": -1}, "seed"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = {"num_videos": 1, **kwargs}
    with pytest.raises(ConfigError, match=match):
        generate_world(tmp_path / "bad", **args)
    assert not (tmp_path / "bad").exists()


def test_reading_a_folder_without_a_world_raises_data_error(tmp_path):
    from vidcap.errors import DataError

    with pytest.raises(DataError, match="video_corpus.csv"):
        caption_stats(tmp_path)
    with pytest.raises(DataError, match="labels.csv"):
        contact_sheet(tmp_path, tmp_path / "sheet.png")
