"""The bundled caption model and `vidcap caption`: CLI and API agree; it describes the generated world."""
import csv
import json

import pytest
import torch

from vidcap import api
from vidcap.cli import main
from vidcap.data import synthetic
from vidcap.errors import DataError, VidcapError
from vidcap.tasks.caption import DEFAULT_MODEL, Captioner

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A fresh easy world (a seed the bundled model never saw)."""
    root = tmp_path_factory.mktemp("world")
    synthetic.generate_world(root, num_videos=16, seed=90210, level="easy", workers=1)
    with open(root / "labels.csv", newline="") as f:
        labels = list(csv.DictReader(f))
    return root, labels


@pytest.fixture(scope="module")
def captions(world):
    root, labels = world
    results = api.caption([root / "videos" / f"{row['video']}.mp4" for row in labels], beam_size=3)
    return [r.caption for r in results]


def action_phrases(label):
    if label in synthetic.VERBS:
        phrases = {p for pair in synthetic.VERBS[label] for p in pair if p}
        if label in synthetic._ROLL:
            phrases |= set(synthetic._ROLL[label])
        return phrases
    return {t.replace("{a}", "").replace("{b}", "").strip() for t in synthetic.PAIR_TEMPLATES[label]}


def test_bundled_model_is_small_and_plain_data():
    assert DEFAULT_MODEL.is_file() and DEFAULT_MODEL.stat().st_size < 8_000_000
    ckpt = torch.load(DEFAULT_MODEL, weights_only=True)
    assert ckpt["backbone"] == "mobilenet_v2" and "train_state" not in ckpt
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())


def test_bundled_model_describes_the_generated_world(world, captions):
    _, labels = world
    color = shape = action = 0
    for row, text in zip(labels, captions):
        words = text.split()
        color += any(w in words for w in synthetic.COLOR_WORDS[row["color"]])
        shape += any(w in words for w in synthetic.SHAPE_WORDS[row["shape"]])
        action += any(p in text for p in action_phrases(row["label"]))
    n = len(labels)
    assert color / n >= 0.6, (color, captions)
    assert shape / n >= 0.6, (shape, captions)
    # actions are the hard part: pooled CNN features barely see where an object moves
    # (left/right/up/down); chance is 1/16
    assert action / n >= 0.15, (action, captions)


def test_cli_and_api_agree(world, captions, capsys):
    root, labels = world
    videos = [str(root / "videos" / f"{row['video']}.mp4") for row in labels[:2]]
    assert main(["caption", *videos, "--beam-size", "3", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [p["caption"] for p in printed] == captions[:2]
    assert [p["video"] for p in printed] == videos
    assert main(["caption", videos[0], "--beam-size", "1"]) == 0
    greedy = capsys.readouterr().out.strip()
    assert greedy == api.caption(videos[0], beam_size=1)[0].caption
    assert main(["caption", videos[0], "--json"]) == 0  # one video: still a list
    assert [p["video"] for p in json.loads(capsys.readouterr().out)] == videos[:1]
    assert main(["caption", str(root / "videos"), "--json"]) == 0  # a folder: every video in it
    assert len(json.loads(capsys.readouterr().out)) == len(labels)


def test_cli_errors(tmp_path, capsys):
    assert main(["caption", str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert main(["caption", str(tmp_path / "missing.mp4"), "--model", str(tmp_path / "bad.pt")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_a_bad_video_among_good_ones_is_reported_and_the_rest_captioned(world, captions, tmp_path, capsys):
    root, labels = world
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    good = [str(root / "videos" / f"{row['video']}.mp4") for row in labels[:2]]
    assert main(["caption", good[0], str(bad), good[1], "--beam-size", "3", "--json"]) == 1
    out = capsys.readouterr()
    printed = json.loads(out.out)
    assert [p["caption"] for p in printed] == [captions[0], "", captions[1]]
    assert "error" not in printed[0] and "bad.mp4" in printed[1]["error"] and printed[1]["score"] is None
    assert "bad.mp4" in out.err
    with pytest.raises(VidcapError, match="bad.mp4"):
        api.caption([good[0], bad])


def test_each_caption_is_printed_as_soon_as_its_video_is_done(world, captions):
    root, labels = world
    videos = [root / "videos" / f"{row['video']}.mp4" for row in labels[:3]]
    seen = []
    results = api.caption(videos, beam_size=3, progress=lambda e: seen.append((e.done, e.total, e.item)))
    assert [(d, t) for d, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert [item.caption for _, _, item in seen] == [r.caption for r in results] == captions[:3]


@pytest.mark.slow
def test_train_from_raw_videos_via_cli(world, tmp_path, capsys):
    root, labels = world
    out = tmp_path / "run"
    code = main(["train", "caption", "--corpus", str(root / "video_corpus.csv"), "--videos", str(root / "videos"),
                 "--splits", str(root / "splits.json"), "--out-dir", str(out), "--num-frames", "4", "--epochs", "2",
                 "--hidden", "16", "--lr", "0.01", "--threads", "1", "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 2 and summary["extra"]["data"]["num_frames"] == 4
    assert summary["extra"]["data"]["videos"]["train"] == sum(r["split"] == "train" for r in labels)
    assert len(list((out / "features").glob("*.npy"))) == len(labels)  # features cached in the run folder
    cap = Captioner.load(out)
    assert cap.num_frames == 4 and cap.backbone == "mobilenet_v2" and cap.fit == "pad"  # the default: whole frames
    # the checkpoint's sampling travels with it: captioning a raw video uses 4 frames too
    text = api.caption(root / "videos" / f"{labels[0]['video']}.mp4", model=cap, beam_size=1)[0].caption
    import numpy as np

    feats = np.load(out / "features" / f"{labels[0]['video']}.npy")
    assert text == cap.caption_features(feats, beam_size=1)[0][0]


def test_onnx_and_torch_decoding_agree(world, captions):
    root, labels = world
    videos = [root / "videos" / f"{row['video']}.mp4" for row in labels[:4]]
    onnx, torch_ = Captioner.load(backend="onnx"), Captioner.load(backend="torch")
    assert onnx.backend == "onnx" and torch_.backend == "torch"
    assert [r.caption for r in torch_.caption(videos, beam_size=3)] == captions[:4]
    for beam in (1, 3):
        a, b = onnx.caption(videos, beam_size=beam), torch_.caption(videos, beam_size=beam)
        assert [r.caption for r in a] == [r.caption for r in b]
        assert [r.score for r in a] == pytest.approx([r.score for r in b], abs=1e-3)


def test_caption_in_a_new_process_imports_no_torch(world, captions):
    import subprocess
    import sys

    root, labels = world
    video = str(root / "videos" / f"{labels[0]['video']}.mp4")
    code = ("import sys; from vidcap.cli import main; code = main(['caption', sys.argv[1], '--beam-size', '3']); "
            "print('torch' in sys.modules); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code, video], capture_output=True, text=True, timeout=600,
                         check=False)
    assert out.returncode == 0, out.stderr
    caption, torch_loaded = out.stdout.strip().splitlines()
    assert caption == captions[0] and torch_loaded == "False"


def test_evaluate_extracts_features_only_for_the_scored_videos(world, tmp_path):
    root, labels = world
    names = [r["video"] for r in labels]
    splits = {"train": names[:12], "test": names[12:15]}
    res = api.evaluate_caption(None, root / "video_corpus.csv", videos=root / "videos", splits=splits,
                               split="test", cache_dir=tmp_path / "cache", tokenize="simple", metrics=("cider",))
    assert sorted(res.predictions) == sorted(splits["test"])
    assert sorted(p.stem for p in (tmp_path / "cache").glob("*.npy")) == sorted(splits["test"])
    with pytest.raises(DataError, match="split 'val' .* has no videos"):
        api.evaluate_caption(None, root / "video_corpus.csv", videos=root / "videos", splits=splits, split="val",
                             cache_dir=tmp_path / "cache2")
    assert not (tmp_path / "cache2").exists()
