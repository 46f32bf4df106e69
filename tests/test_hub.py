"""Hub models for users online, loaded exactly as users load them, from local files in the hub formats.

Nothing here downloads: each family gets a randomly initialised model of the real class,
saved where and how the hub puts it (torchvision: a state dict under
``$TORCH_HOME/hub/checkpoints/<file of the weights url>``; transformers: ``save_pretrained``
folders, also inside a Hugging Face cache layout), then runs end to end on a generated video.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from clips import coded_frames, write_clip

from vidcap import api
from vidcap.errors import ConfigError, ModelError
from vidcap.tasks import hub

torch = pytest.importorskip("torch")
tvv = pytest.importorskip("torchvision.models.video")

GREY = 128  # a flat grey video: every normalised input value is known from the weights' mean/std


def grey_video(path, n: int, fps: int = 15, size=(48, 64)) -> Path:
    frames = np.full((n, *size, 3), GREY, np.uint8)
    return write_clip(path, frames, fps=fps, codec="libx264rgb", pix_fmt="rgb24", options={"crf": "0"})


# --------------------------------------------------------------------------- references
def test_references_parse_without_torch():
    assert hub.parse("torchvision:s3d") == hub.ModelRef("torchvision", "s3d")
    assert hub.parse("kinetics400") == hub.ModelRef("torchvision", "r2plus1d_18")
    assert hub.parse("hf:microsoft/git-base-vatex") == hub.ModelRef("hf", "microsoft/git-base-vatex")
    assert hub.parse("runs/x").kind == "path"
    copied = hub.parse("/somewhere/s3d-d76dad2f.pth")
    assert (copied.kind, copied.name, copied.path) == ("torchvision", "s3d", Path("/somewhere/s3d-d76dad2f.pth"))
    with pytest.raises(ConfigError, match="torchvision:mvit_v2_s"):
        hub.parse("torchvision:resnet50")
    with pytest.raises(ConfigError, match="hf:ORG/NAME"):
        hub.parse("hf:git-base-vatex")


def test_weight_files_are_torchvisions_own():
    """The file names `vidcap models` checks without torch are those of torchvision's weight urls."""
    for name, (enum, file) in hub.TORCHVISION_VIDEO.items():
        weights = getattr(tvv, enum).KINETICS400_V1
        assert os.path.basename(urlparse(weights.url).path) == file, name


def test_environment_decides_the_caches(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub.hf_cache_dir() == tmp_path / "hf" / "hub"
    assert hub.torchvision_file("s3d") == Path(torch.hub.get_dir()) / "checkpoints" / "s3d-d76dad2f.pth"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.offline()


def test_models_lists_every_task_and_imports_no_torch(tmp_path):
    env = {**os.environ, "TORCH_HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "s3d-d76dad2f.pth").write_bytes(b"x")
    code = ("import sys; from vidcap.cli import main; main(['models', '--json']); "
            "print('MODULES', ' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120).stdout
    text, modules = out.rsplit("MODULES ", 1)
    assert not {"torch", "transformers", "torchvision"} & set(modules.split())
    rows = {r["model"]: r for r in json.loads(text)}
    assert rows["torchvision:s3d"]["here"] and not rows["torchvision:mvit_v2_s"]["here"]
    assert rows["torchvision:s3d"]["task"] == "classify" and rows["torchvision:s3d"]["kind"] == "hub"
    assert rows["hf:microsoft/git-base-vatex"]["task"] == "caption" and not rows["hf:microsoft/git-base-vatex"]["here"]
    assert {r["kind"] for r in rows.values()} == {"bundled", "hub"}


# --------------------------------------------------------------------------- torchvision Kinetics-400
@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A TORCH_HOME whose cache gets each torchvision model's random weights on first use."""
    return tmp_path_factory.mktemp("torch_home")


def cache_weights(torch_home: Path, name: str) -> dict:
    """Save a ``weights=None`` model's state dict where torchvision's own loader would look for it."""
    enum = getattr(tvv, hub.TORCHVISION_VIDEO[name][0]).KINETICS400_V1
    path = torch_home / "hub" / "checkpoints" / os.path.basename(urlparse(enum.url).path)
    torch.manual_seed(0)
    state = getattr(tvv, name)(weights=None).state_dict()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    return state


# clip length, frames per second and crop of each model's weights, as torchvision's meta states them
KINETICS = {"r2plus1d_18": (16, 15.0, 112), "r3d_18": (16, 15.0, 112), "s3d": (128, 15.0, 224),
            "mvit_v2_s": (16, 7.5, 224), "swin3d_t": (32, 15.0, 224)}


def test_each_weights_own_preprocessing():
    from vidcap.tasks.hub_torchvision import sampling_of, weights_of

    for name in hub.TORCHVISION_VIDEO:
        weights = weights_of(name)
        s = sampling_of(weights)
        t = weights.transforms()
        assert s["mean"] == pytest.approx(list(t.mean)) and s["std"] == pytest.approx(list(t.std)), name
        assert s["clip_size"] == t.crop_size[0] == t.crop_size[1]
        assert s["clip_resize"] == (t.resize_size[0] if len(t.resize_size) == 1 else tuple(t.resize_size))
        assert f"clip_len={s['num_frames']}" in weights.meta["_docs"]
        if name in KINETICS:
            assert (s["num_frames"], s["frame_rate"], s["clip_size"]) == KINETICS[name]
    assert sampling_of(weights_of("r2plus1d_18"))["clip_resize"] == (128, 171)  # (H, W), not the short side


# the real architectures cost 3 (r3d_18) to 30 (s3d, 128 frames at 224 x 224) seconds a window on a shared CPU
@pytest.mark.parametrize("model", [pytest.param(m, marks=[] if m == "torchvision:r3d_18" else [pytest.mark.slow])
                                   for m in ("torchvision:r3d_18", "kinetics400", "torchvision:s3d",
                                             "torchvision:mvit_v2_s", "torchvision:swin3d_t")])
def test_torchvision_kinetics_end_to_end(model, torch_home, tmp_path, monkeypatch):
    from vidcap.tasks.classify import VideoClassifier
    from vidcap.tasks.hub_torchvision import weights_of

    name = hub.parse(model).name
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    state = cache_weights(torch_home, name)
    frames, rate, crop = KINETICS[name]
    step = round(15 / rate)
    video = grey_video(tmp_path / "grey.mkv", frames * step)  # one window at the model's frame rate
    clf = VideoClassifier.load(model)
    weights = weights_of(name)
    assert clf.classes == list(weights.meta["categories"]) and len(clf.classes) == 400
    assert (clf.num_frames, clf.frame_rate, clf.clip_size, clf.default_window) == (frames, rate, crop, frames)
    for key in list(state)[:3]:
        assert torch.equal(clf.net.net.state_dict()[key], state[key])  # the cached file is what was loaded
    seen = []
    clf.net.net.register_forward_hook(lambda mod, args, out: seen.append((args[0].clone(), out.clone())))
    (result,) = api.classify(video, clf)
    (x, logits), = seen  # what the torchvision network read and gave
    assert x.shape == (1, 3, frames, crop, crop)
    t = weights.transforms()
    for c in range(3):  # the weights' own normalisation
        assert abs(float(x[:, c].mean()) - (GREY / 255 - t.mean[c]) / t.std[c]) < 0.02
    assert result.frame_step == pytest.approx(step, rel=1e-3) and result.window == frames and len(result.windows) == 1
    p = torch.softmax(logits[0], -1)
    order = torch.argsort(p, descending=True)[:5]
    (w,) = result.windows
    assert w.labels == [clf.classes[i] for i in order]
    assert w.probs == pytest.approx([float(p[i]) for i in order], abs=1e-4)
    assert w.probs == sorted(w.probs, reverse=True)
    assert result.label == w.labels[0] and len(result.top_k) == 5
    assert result.model == (f"{model} (torchvision:{name})" if model == "kinetics400" else model)


def test_a_copied_weight_file_from_the_cli(torch_home, tmp_path, monkeypatch, capsys):
    from vidcap.cli import main

    cache_weights(torch_home, "r3d_18")
    copied = tmp_path / "copy" / "r3d_18-b3b3357e.pth"
    copied.parent.mkdir()
    copied.write_bytes((torch_home / "hub" / "checkpoints" / copied.name).read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    video = write_clip(tmp_path / "coded.mp4", coded_frames(16, 64, 80), fps=15)
    annotated = tmp_path / "annotated.mp4"
    assert main(["classify", str(video), "--model", str(copied), "--top-k", "3", "-o", str(annotated), "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["outputs"]["video"] == str(annotated) and api.probe(annotated).num_frames == 16
    assert out["model"] == "torchvision:r3d_18" and out["window"] == 16 and out["stride"] == 8
    assert len(out["windows"]) == 1 and len(out["windows"][0]["labels"]) == 3
    assert out["windows"][0]["end"] == pytest.approx(16 / 15, abs=1e-3)
    assert {t["label"] for t in out["top_k"]} <= set(tvv.R3D_18_Weights.KINETICS400_V1.meta["categories"])


def test_missing_torchvision_weights_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    video = grey_video(tmp_path / "v.mkv", 20)
    with pytest.raises(ModelError) as err:
        api.classify(video, "torchvision:s3d")
    msg = str(err.value)
    assert "\n" not in msg and msg.count("; ") <= 2
    for part in ("s3d-d76dad2f.pth", "S3D_Weights.KINETICS400_V1", str(tmp_path / "hub" / "checkpoints"), "--model"):
        assert part in msg
    with pytest.raises(ModelError, match="r2plus1d_18-91a641e6.pth"):
        api.classify(video, str(tmp_path / "r2plus1d_18-91a641e6.pth"))


# --------------------------------------------------------------------------- transformers: tiny GIT and CLIP
WORDS = "a man woman is cooking dancing playing guitar person the in on of photo video".split()


def bert_tokenizer():
    from transformers import BertTokenizer

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)}
    return BertTokenizer(vocab=vocab)


def image_processor(size=32):
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


TINY_VISION = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
               "image_size": 32, "patch_size": 16}


@pytest.fixture(scope="module")
def git_folder(tmp_path_factory):
    from transformers import GitConfig, GitForCausalLM, GitProcessor

    tok = bert_tokenizer()
    cfg = GitConfig(vision_config=TINY_VISION, vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                    num_image_with_embedding=6, bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                    pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("git-tiny-vatex")
    GitForCausalLM(cfg).save_pretrained(folder)
    GitProcessor(image_processor=image_processor(), tokenizer=tok).save_pretrained(folder)
    return folder


def as_hf_cache(folder: Path, home: Path, repo: str) -> None:
    """Lay a saved folder out as huggingface_hub's cache does: models--ORG--NAME/{refs/main,snapshots/<commit>}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = home / "hub" / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    (root / "snapshots").mkdir()
    snap = root / "snapshots" / commit
    snap.mkdir()
    for f in folder.iterdir():
        (snap / f.name).symlink_to(f)  # the cache links snapshot files to blobs


def test_git_captions_a_video_from_a_folder_and_the_hub_cache(git_folder, tmp_path, monkeypatch, capsys):
    from vidcap.cli import main
    from vidcap.results import CaptionResult
    from vidcap.tasks.hub_git import GitCaptioner

    video = write_clip(tmp_path / "coded.mp4", coded_frames(30, 64, 80), fps=15)
    (res,) = api.caption(video, model=str(git_folder), beam_size=3)
    assert isinstance(res, CaptionResult) and res.beam_size == 3 and res.error is None
    assert res.caption and set(res.caption.split()) <= set(WORDS) and res.score < 0
    cap = api.load_captioner(git_folder)
    assert isinstance(cap, GitCaptioner) and cap.num_frames == 6
    seen = []
    cap.model.git.image_encoder.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((args or (kwargs["pixel_values"],))[0].shape), with_kwargs=True)
    (greedy,) = api.caption(video, model=cap, beam_size=1)
    assert seen[:6] == [(1, 3, 32, 32)] * 6  # GIT's encoder reads the video's 6 frames, one by one
    assert greedy.beam_size == 1 and greedy.score <= 0
    # hf:ORG/NAME offline, from the Hugging Face cache under HF_HOME
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    as_hf_cache(git_folder, tmp_path / "hf", "microsoft/git-base-vatex")
    assert main(["caption", str(video), "--model", "hf:microsoft/git-base-vatex", "--beam-size", "3", "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["caption"] == res.caption and out["score"] == pytest.approx(res.score, abs=1e-5)


def test_hf_model_offline_without_a_copy_is_one_sentence(tmp_path, monkeypatch, capsys):
    from vidcap.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    video = grey_video(tmp_path / "v.mkv", 12)
    with pytest.raises(ModelError) as err:
        api.caption(video, model="hf:microsoft/git-base-vatex")
    msg = str(err.value)
    assert "\n" not in msg
    for part in ("HF_HUB_OFFLINE", "config.json", "hf download microsoft/git-base-vatex", "--model git-base-vatex",
                 str(tmp_path / "empty" / "hub")):
        assert part in msg
    assert main(["classify", str(video), "--model", "hf:openai/clip-vit-base-patch32", "--labels", "a,b"]) == 2
    assert "hf download openai/clip-vit-base-patch32" in capsys.readouterr().err


def clip_tokenizer():
    """CLIP's BPE tokenizer over single characters (no merges): every ASCII word is spelled out."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in (chr(i) for i in range(33, 127)):
            vocab.setdefault(c + suffix, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[])


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    tok = clip_tokenizer()
    cfg = CLIPConfig(text_config={"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 37,
                                  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
                                  "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
                     vision_config=TINY_VISION, projection_dim=16)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip-tiny")
    CLIPModel(cfg).save_pretrained(folder)
    CLIPProcessor(image_processor=image_processor(), tokenizer=tok).save_pretrained(folder)
    return folder


def test_clip_zero_shot_labels(clip_folder, tmp_path, capsys):
    from vidcap.cli import main
    from vidcap.tasks.classify import VideoClassifier

    video = write_clip(tmp_path / "coded.mp4", coded_frames(60, 64, 80), fps=20)  # 3 s: 12 frames at 4 per second
    labels = ["cooking", "dancing", "playing guitar"]
    clf = VideoClassifier.load(clip_folder, labels=",".join(labels))
    assert clf.classes == labels and clf.kind == "clip"
    (res,) = api.classify(video, clf, top_k=2)
    assert res.window == 8 and res.frame_step == pytest.approx(5.0) and len(res.windows) == 2
    assert all(set(w.labels) <= set(labels) and len(w.labels) == 2 for w in res.windows)
    # each window's probabilities: the softmax over labels of its mean frame embedding against the prompts
    from vidcap.io import center_crop, frames_at, short_side_size

    w = res.windows[0]
    idx = np.arange(w.start_frame, w.end_frame + 1, 5)
    frames, _ = frames_at(video, idx, size=short_side_size(80, 64, 32))
    crop = np.stack([center_crop(frames[i], 32) for i in idx])
    with torch.no_grad():
        m, p = clf.net.model, clf.net.processor
        img = m.get_image_features(pixel_values=p(images=list(crop), return_tensors="pt")["pixel_values"])
        img = torch.nn.functional.normalize(getattr(img, "pooler_output", img), dim=-1).mean(0)
        txt = p(text=[f"a photo of {s}." for s in labels], return_tensors="pt", padding=True)
        t = m.get_text_features(input_ids=txt["input_ids"], attention_mask=txt["attention_mask"])
        t = torch.nn.functional.normalize(getattr(t, "pooler_output", t), dim=-1)
        probs = torch.softmax(m.logit_scale.exp() * torch.nn.functional.normalize(img, dim=-1) @ t.T, -1)
    order = torch.argsort(probs, descending=True)[:2]
    assert w.labels == [labels[i] for i in order]
    assert w.probs == pytest.approx([float(probs[i]) for i in order], abs=1e-4)
    assert main(["classify", str(video), "--model", str(clip_folder), "--labels", "cooking,dancing", "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert {lab for win in out["windows"] for lab in win["labels"]} <= {"cooking", "dancing"}


def test_labels_need_a_clip_model_and_clip_needs_labels(clip_folder, git_folder, tmp_path):
    video = grey_video(tmp_path / "v.mkv", 40, fps=20)
    with pytest.raises(ConfigError, match="--labels"):
        api.classify(video, clip_folder)
    with pytest.raises(ConfigError, match="at least two labels"):
        api.classify(video, clip_folder, labels="cooking")
    with pytest.raises(ConfigError, match="CLIP"):
        api.classify(video, "torchvision:s3d", labels="a,b")
    with pytest.raises(ConfigError, match="'git'"):
        api.classify(video, git_folder)
    with pytest.raises(ConfigError, match="not a caption model"):
        api.caption(video, model=str(clip_folder))


def photo_shots(path, photos: list[str], n: int = 12) -> Path:
    """A video of scikit-image photos, ``n`` frames each, with a hard cut between them (one shot a photo)."""
    import cv2
    import skimage.data

    from vidcap.io import write_video

    frames = []
    for name in photos:
        img = getattr(skimage.data, name)()
        img = np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3])
        frames += [cv2.resize(img, (80, 64), interpolation=cv2.INTER_AREA)] * n
    return write_video(path, frames, fps=12)


def test_clip_shot_vectors_search_a_library(clip_folder, tmp_path, monkeypatch, capsys):
    from vidcap.cli import main
    from vidcap.features.shots import detect_shots
    from vidcap.tasks import tags as tagging
    from vidcap.tasks.library import Library
    from vidcap.tasks.search import score_matrices

    two = photo_shots(tmp_path / "two.mp4", ["astronaut", "coffee"])
    one = photo_shots(tmp_path / "one.mp4", ["chelsea"])
    lib = tmp_path / "lib"
    monkeypatch.chdir(clip_folder.parent)  # a relative --clip: the library records the absolute folder
    summary = api.index([two, one], lib, model="none", caption_model="none", transcripts=False, tags=False,
                        clip=clip_folder.name)
    assert len(summary.added) == 2 and not summary.failed
    monkeypatch.chdir(tmp_path)
    library = Library(lib)
    assert library.clip == {"model": str(clip_folder.resolve()), "dim": 16}

    # each shot's vector: its keyframes through CLIP's image tower, averaged, unit length
    m, p = library.load_clip().model, library.load_clip().processor
    ids = {r["name"]: r["id"] for r in library.rows(["id", "name"])}
    stored = {(r["video"], r["shot"]): r for r in library.shot_rows(["video", "shot", "start", "end", "vec_clip"])}
    assert sorted(s for v, s in stored if v == ids["two"]) == [0, 1] and len(stored) == 3
    for video in (two, one):
        shots = detect_shots(video)
        wanted, frames, _ = tagging.decode_keyframes(video, shots, tagging.KEYFRAMES)
        for shot, idx in zip(shots.shots, wanted):
            with torch.no_grad():
                emb = m.get_image_features(pixel_values=p(images=[frames[i] for i in idx],
                                                          return_tensors="pt")["pixel_values"])
            emb = torch.nn.functional.normalize(getattr(emb, "pooler_output", emb), dim=-1).mean(0)
            expect = torch.nn.functional.normalize(emb, dim=0).numpy()
            assert np.asarray(stored[ids[video.stem], shot.index]["vec_clip"]) == pytest.approx(expect, abs=1e-5)

    # a query: its text vector against every shot; a video scores its best shot, whose times it carries
    query = "a cup of coffee"
    with torch.no_grad():
        tok = p(text=[query], return_tensors="pt", padding=True)
        q = m.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
    q = torch.nn.functional.normalize(getattr(q, "pooler_output", q), dim=-1)[0].numpy()
    best = {}
    for (vid, _), r in stored.items():
        score = float(q @ np.asarray(r["vec_clip"]))
        if vid not in best or score > best[vid][0]:
            best[vid] = (score, r["start"], r["end"])
    result = api.search(query, lib, mode="clip", k=2)
    order = sorted(best, key=lambda v: -best[v][0])
    assert [h.id for h in result.hits] == order
    for h in result.hits:
        assert h.score == pytest.approx(best[h.id][0], abs=1e-4) == pytest.approx(h.scores["clip"], abs=1e-4)
        assert (h.start, h.end) == pytest.approx(best[h.id][1:])
    mats = score_matrices(lib, ["two", "one"], [query])
    assert mats["clip"][0] == pytest.approx([best[ids["two"]][0], best[ids["one"]][0]], abs=1e-4)
    # evaluation: every mode the library can answer -- here CLIP alone -- by the same scores
    from vidcap.metrics.retrieval import retrieval_metrics

    corpus = tmp_path / "corpus.json"
    sentences = [("two", "an astronaut and a cup of coffee"), ("two", "coffee"), ("one", "a cat")]
    corpus.write_text(json.dumps({"videos": [{"video_id": "two"}, {"video_id": "one"}],
                                  "sentences": [{"video_id": v, "caption": c} for v, c in sentences]}))
    ev = api.evaluate_retrieval(corpus, lib, splits={"test": ["two", "one"]})
    clip_scores = score_matrices(lib, ["two", "one"], [c for _, c in sentences])["clip"]
    assert list(ev.modes) == ["clip"] and ev.modes["clip"] == retrieval_metrics(clip_scores, np.array([0, 0, 1]))

    assert main(["search", query, "--library", str(lib), "--mode", "clip", "--k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["id"] == order[0]
    # re-indexing keeps the library's CLIP model; nothing is added twice
    assert api.index([two], lib, model="none", caption_model="none", transcripts=False).skipped == [str(two)]

    # a library without CLIP vectors refuses CLIP, and the hub model offline is one sentence
    plain = tmp_path / "plain"
    api.index([one], plain, model="none", caption_model="none", transcripts=False, tags=False)
    with pytest.raises(ModelError, match="without a CLIP model"):
        api.index([two], plain, model="none", caption_model="none", transcripts=False, clip=clip_folder)
    with pytest.raises(ConfigError, match="--clip"):
        api.search(query, plain, mode="clip")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert main(["index", str(one), "--library", str(tmp_path / "new"), "--model", "none", "--caption-model",
                 "none", "--clip", "hf:openai/clip-vit-base-patch32"]) == 2
    assert "hf download openai/clip-vit-base-patch32" in capsys.readouterr().err
    assert not (tmp_path / "new" / "library.json").exists()


@pytest.fixture(scope="module")
def blip_folder(tmp_path_factory):
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    tok = bert_tokenizer()
    cfg = BlipConfig(text_config={"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 37,
                                  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 64,
                                  "encoder_hidden_size": 32, "bos_token_id": tok.cls_token_id,
                                  "eos_token_id": tok.sep_token_id, "sep_token_id": tok.sep_token_id,
                                  "pad_token_id": tok.pad_token_id},
                     vision_config=TINY_VISION, projection_dim=16)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("blip-tiny")
    BlipForConditionalGeneration(cfg).save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok
                  ).save_pretrained(folder)
    return folder


def test_blip_captions_each_shot(blip_folder, tmp_path, monkeypatch, capsys):
    from vidcap.cli import main
    from vidcap.features.shots import detect_shots
    from vidcap.io import frames_at
    from vidcap.tasks.hub_blip import BlipCaptioner

    video = photo_shots(tmp_path / "three.mp4", ["astronaut", "coffee", "chelsea"], n=12)
    cuts = detect_shots(video)
    assert len(cuts.shots) == 3
    cap = api.load_captioner(blip_folder)
    assert isinstance(cap, BlipCaptioner)
    seen = []
    cap.model.vision_model.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append((args or (kwargs["pixel_values"],))[0].clone()), with_kwargs=True)
    (res,) = api.caption(video, model=cap, beam_size=1)
    assert [(s["start"], s["end"]) for s in res.shots] == [(s.start, s.end) for s in cuts.shots]
    assert [s["frame"] for s in res.shots] == [(s.start_frame + s.end_frame + 1) // 2 for s in cuts.shots]
    frames, _ = frames_at(video, [s["frame"] for s in res.shots])
    for s, pixels in zip(res.shots, seen):  # BLIP saw each shot's middle frame through its own processor
        expect = cap.processor(images=[frames[s["frame"]]], return_tensors="pt")["pixel_values"]
        assert torch.allclose(pixels, expect)
        with torch.no_grad():
            out = cap.model.generate(pixel_values=expect, max_length=40, num_beams=1, do_sample=False)
        assert s["caption"] == cap.processor.batch_decode(out, skip_special_tokens=True)[0].strip()
        assert set(s["caption"].split()) <= set(WORDS) and s["score"] < 0
    assert (res.caption, res.score) == (res.shots[0]["caption"], res.shots[0]["score"])  # shots of equal length
    # from the hub cache, offline, through the CLI
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    as_hf_cache(blip_folder, tmp_path / "hf", "Salesforce/blip-image-captioning-base")
    assert main(["caption", str(video), "--model", "hf:Salesforce/blip-image-captioning-base", "--beam-size", "1",
                 "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    assert out["caption"] == res.caption and [s["caption"] for s in out["shots"]] == [s["caption"] for s in res.shots]
    assert main(["caption", str(video), "--model", "hf:Salesforce/blip-image-captioning-base",
                 "--beam-size", "1"]) == 0
    text = capsys.readouterr().out
    assert all(s["caption"] in text for s in res.shots) and f"{res.shots[2]['start']:7.2f}" in text


def test_a_hub_captioner_captions_library_rows_and_describe_refuses_it(git_folder, tmp_path):
    from vidcap.tasks.library import Library

    video = write_clip(tmp_path / "coded.mp4", coded_frames(30, 64, 80), fps=15)
    (expect,) = api.caption(video, model=str(git_folder))
    lib = tmp_path / "lib"
    assert api.index([video], lib, model="none", caption_model=str(git_folder), transcripts=False,
                     tags=False).added == [str(video)]
    (row,) = Library(lib).rows(["caption", "caption_score", "domain_distance"])
    assert row["caption"] == expect.caption and row["caption_score"] == pytest.approx(expect.score, abs=1e-5)
    assert row["domain_distance"] is None  # the hub model's training videos are unknown here
    assert api.search(expect.caption.split()[0], lib, mode="caption").hits[0].caption == expect.caption
    with pytest.raises(ConfigError, match="vidcap caption VIDEO --model"):
        api.describe(video, model=str(git_folder), speech=False)
