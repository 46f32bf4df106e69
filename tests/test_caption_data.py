"""Caption corpora (MSVD CSV, MSR-VTT JSON), cleaning, splits and the vocabulary."""
import csv
import json

import numpy as np
import pytest

from vidcap.data.captions import clean_caption, load_corpus, load_msrvtt, load_msvd, split_by_video
from vidcap.data.vocab import BOS, EOS, PAD, UNK, Vocabulary
from vidcap.errors import DataError, ModelError

HEADER = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def msvd_rows():
    # the real MSVD layout: several workers per clip, many languages, some junk rows
    return [
        ["mv89psg6zh4", 33, 46, 1, "clean", 17, "English", "A bird is bathing in a sink."],
        ["mv89psg6zh4", 33, 46, 2, "clean", 12, "English", 'A bird "splashes" around/under a faucet!'],
        ["mv89psg6zh4", 33, 46, 3, "unverified", 9, "Spanish", "Un pájaro se baña."],
        ["-4wsuPCjDBc", 5, 9, 4, "clean", 20, "English", "A man is slicing a tomato?"],
        ["-4wsuPCjDBc", 5, 9, 5, "clean", 20, "English", ""],  # empty: not text
        ["-4wsuPCjDBc", 5, 9, 6, "clean", 20, "English", "123 ..."],  # no letters: not text
        ["-4wsuPCjDBc", "x", 9, 7, "clean", 20, "English", "A man cuts."],  # bad start time
        ["gone_video", 1, 2, 8, "clean", 20, "English", "Nobody has this clip."],
        ["-4wsuPCjDBc", 5.0, 9.0, 9, "clean", 20, "English", "Someone is cutting\na tomato."],
    ]


def test_clean_caption_is_the_seeds():
    assert clean_caption('A Man, "Slicing" a/b\\c?!.\nok') == "a man slicing abc ok"  # newline -> space
    assert clean_caption("  two   spaces ") == "two spaces"


def test_load_msvd_real_layout_with_bad_rows(tmp_path):
    path = write_csv(tmp_path / "video_corpus.csv", msvd_rows())
    feats = tmp_path / "feats"
    feats.mkdir()
    for name in ("mv89psg6zh4_33_46", "-4wsuPCjDBc_5_9"):
        np.save(feats / f"{name}.npy", np.zeros((4, 8), np.float32))
    corpus = load_msvd(path, features_dir=feats)
    assert corpus.videos == ["-4wsuPCjDBc_5_9", "mv89psg6zh4_33_46"]
    assert corpus.captions["mv89psg6zh4_33_46"] == ["a bird is bathing in a sink", "a bird splashes aroundunder a faucet"]
    assert corpus.captions["-4wsuPCjDBc_5_9"] == ["a man is slicing a tomato", "someone is cutting a tomato"]
    assert dict(corpus.dropped) == {
        "not_english": 1,
        "description_not_text": 2,
        "bad_video_id_or_times": 1,
        "features_missing": 1,
    }
    # without a folder nothing is dropped for being missing
    assert "gone_video_1_2" in load_msvd(path).captions


def test_msvd_drops_videos_whose_extraction_failed(tmp_path):
    path = write_csv(tmp_path / "c.csv", msvd_rows()[:2] + msvd_rows()[3:4])
    for name, status in (("mv89psg6zh4_33_46", "ok"), ("-4wsuPCjDBc_5_9", "failed")):
        np.save(tmp_path / f"{name}.npy", np.zeros((4, 8), np.float32))
        (tmp_path / f"{name}.json").write_text(json.dumps({"status": status}))
    corpus = load_msvd(path, features_dir=tmp_path)
    assert corpus.videos == ["mv89psg6zh4_33_46"]
    assert corpus.dropped["features_failed"] == 1


def test_msvd_video_folder(tmp_path):
    path = write_csv(tmp_path / "c.csv", msvd_rows())
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "mv89psg6zh4_33_46.avi").write_bytes(b"x")
    corpus = load_msvd(path, videos_dir=tmp_path / "videos")
    assert corpus.videos == ["mv89psg6zh4_33_46"]
    assert corpus.dropped["video_missing"] == 3


def test_msvd_wrong_columns(tmp_path):
    path = write_csv(tmp_path / "c.csv", [["a", "b"]], header=["video", "caption"])
    with pytest.raises(DataError, match=r"lacks the MSVD column.*VideoID"):
        load_msvd(path)


def test_msvd_empty_corpus(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_msvd(write_csv(tmp_path / "c.csv", []))
    only_french = [["v", 1, 2, 1, "clean", 1, "French", "un chat"]]
    with pytest.raises(DataError, match="no usable caption"):
        load_msvd(write_csv(tmp_path / "d.csv", only_french))
    with pytest.raises(DataError, match="missing.csv: no such file"):
        load_msvd(tmp_path / "missing.csv")


def test_msvd_no_overlap_with_features(tmp_path):
    path = write_csv(tmp_path / "c.csv", msvd_rows())
    (tmp_path / "feats").mkdir()
    np.save(tmp_path / "feats" / "other_video.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(DataError, match="no caption .* matches a video"):
        load_msvd(path, features_dir=tmp_path / "feats")


def test_msrvtt_loader_with_splits(tmp_path):
    data = {
        "videos": [
            {"video_id": "video0", "split": "train"},
            {"video_id": "video1", "split": "validate"},
            {"video_id": "video2", "split": "test"},
        ],
        "sentences": [
            {"video_id": "video0", "caption": "a cartoon shows a dog", "sen_id": 0},
            {"video_id": "video0", "caption": "A dog, in a cartoon.", "sen_id": 1},
            {"video_id": "video1", "caption": "people are dancing", "sen_id": 2},
            {"video_id": "video2", "caption": None, "sen_id": 3},
            {"video_id": "video2", "caption": "a car drives", "sen_id": 4},
            {"caption": "no id"},
        ],
    }
    path = tmp_path / "train_val_videodatainfo.json"
    path.write_text(json.dumps(data))
    corpus = load_corpus(path)
    assert corpus.captions["video0"] == ["a cartoon shows a dog", "a dog in a cartoon"]
    assert corpus.splits == {"train": ["video0"], "val": ["video1"], "test": ["video2"]}
    assert dict(corpus.dropped) == {"description_not_text": 1, "bad_video_id": 1}
    path.write_text(json.dumps({"videos": []}))
    with pytest.raises(DataError, match="sentences"):
        load_msrvtt(path)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_msrvtt(path)


def test_split_by_video_never_shares_a_video():
    names = [f"v{i}" for i in range(50)]
    s = split_by_video(names + names, val_frac=0.1, test_frac=0.2, seed=3)  # duplicates = many caption rows
    assert sorted(s["train"] + s["val"] + s["test"]) == sorted(names)
    assert (len(s["train"]), len(s["val"]), len(s["test"])) == (35, 5, 10)
    assert s == split_by_video(names, val_frac=0.1, test_frac=0.2, seed=3)
    assert s != split_by_video(names, val_frac=0.1, test_frac=0.2, seed=4)


def test_vocabulary_threshold_specials_and_roundtrip():
    caps = ["a red circle moves", "a red square", "a blue circle", "zebra"]
    v = Vocabulary.build(caps, min_count=2)
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
    assert v.itos[4:] == ["a", "circle", "red"]  # by count, then alphabetically
    ids = v.encode("a red zebra circle", max_words=6)
    assert ids.tolist() == [BOS, v.stoi["a"], v.stoi["red"], UNK, v.stoi["circle"], EOS, PAD]
    assert v.decode(ids) == "a red <unk> circle"
    long = v.encode("a " * 30, max_words=5)
    assert long.tolist() == [BOS] + [v.stoi["a"]] * 4 + [EOS]  # cut so <eos> fits
    assert Vocabulary.from_dict(v.to_dict()) == v
    with pytest.raises(ModelError, match="expected"):
        Vocabulary.from_dict({"itos": ["a", "b"]})
