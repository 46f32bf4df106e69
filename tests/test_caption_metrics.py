"""COCO caption metrics: hand-computed values and parity with the toolkit run directly."""
import json
import math
import shutil

import pytest

from vidcap.errors import DataError
from vidcap.metrics.caption import score_captions

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR / PTB tokenizer need java")

COLORS = ["red", "green", "blue", "yellow", "purple"]
SHAPES = ["circle", "square", "triangle", "star"]
ACTIONS = ["moves left", "bounces", "grows", "spins", "falls down"]


def corpus():
    refs, preds = {}, {}
    for i in range(20):
        c, s, a = COLORS[i % 5], SHAPES[i % 4], ACTIONS[(i * 3) % 5]
        refs[f"vid{i}"] = [f"A {c} {s} {a}.", f"The {s}, which is {c}, {a}", f"a {c} shape {a}"]
        pc = c if i % 3 else COLORS[(i + 1) % 5]  # some wrong colours
        preds[f"vid{i}"] = f"a {pc} {s} {a}" if i % 4 else f"{pc} {s}"
    return refs, preds


def test_hand_computed_bleu_and_rouge():
    refs = {"x": ["the cat is on the mat"]}
    preds = {"x": "the cat sat on the mat"}
    s = score_captions(refs, preds, metrics=("bleu", "rouge"), tokenize="simple")
    # unigrams 5/6, bigrams 3/5, trigrams 1/4, equal lengths (no brevity penalty)
    assert s["Bleu_1"] == pytest.approx(5 / 6, abs=1e-6)
    assert s["Bleu_2"] == pytest.approx(math.sqrt(5 / 6 * 3 / 5), abs=1e-6)
    assert s["Bleu_3"] == pytest.approx((5 / 6 * 3 / 5 * 1 / 4) ** (1 / 3), abs=1e-6)
    assert s["Bleu_4"] < 1e-3  # no 4-gram matches
    # LCS "the cat on the mat" = 5 of 6 words each way
    assert s["ROUGE_L"] == pytest.approx(5 / 6, abs=1e-6)
    short = score_captions(refs, {"x": "the cat"}, metrics=("bleu",), tokenize="simple")
    assert short["Bleu_1"] == pytest.approx(math.exp(1 - 6 / 2), abs=1e-6)  # brevity penalty


def test_cider_known_values():
    refs = {"a": ["a red circle"], "b": ["two blue squares spin"]}
    same = score_captions(refs, {"a": "a red circle", "b": "two blue squares spin"}, metrics=("cider",), tokenize="simple")
    # identical tf-idf vectors give 10 per n-gram order; "a red circle" has no 4-gram: (4 + 3) / 8 * 10
    assert same["CIDEr"] == pytest.approx(8.75, abs=1e-6)
    off = score_captions(refs, {"a": "green", "b": "green"}, metrics=("cider",), tokenize="simple", per_video=True)
    assert off["CIDEr"] == 0.0 and off["per_video"]["a"]["CIDEr"] == 0.0


@needs_java
@pytest.mark.slow
def test_parity_with_the_toolkit_run_directly():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    refs, preds = corpus()
    ours = score_captions(refs, preds, per_video=True)
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": v}] for k, v in preds.items()})
    theirs = {}
    b, _ = Bleu(4).compute_score(gts, res, verbose=0)
    theirs.update({f"Bleu_{i + 1}": x for i, x in enumerate(b)})
    theirs["ROUGE_L"], _ = Rouge().compute_score(gts, res)
    theirs["CIDEr"], _ = Cider().compute_score(gts, res)
    for k, v in theirs.items():
        assert ours[k] == pytest.approx(v, abs=1e-6), k
    # METEOR is the toolkit's own jar; a prediction equal to a reference scores 1 on its own
    for k, p in preds.items():
        exact = any(p.lower() == r.lower().rstrip(".") for r in refs[k])
        assert (ours["per_video"][k]["METEOR"] == pytest.approx(1.0)) == exact, k
    # sanity of the numbers themselves
    assert 0 < ours["Bleu_4"] < ours["Bleu_1"] <= 1 and 0 < ours["METEOR"] < 1 and ours["CIDEr"] > 0


def test_bad_inputs():
    with pytest.raises(DataError, match="no predicted"):
        score_captions({"a": ["x"]}, {})
    with pytest.raises(DataError, match="have no references"):
        score_captions({"a": ["x"]}, {"b": "x"}, tokenize="simple")
    with pytest.raises(DataError, match="non-empty list"):
        score_captions({"a": []}, {"a": "x"}, tokenize="simple")
    with pytest.raises(DataError, match="unknown metric"):
        score_captions({"a": ["x"]}, {"a": "x"}, metrics=("spice",))


def test_score_cli_matches_api(tmp_path, capsys):
    from vidcap.cli import main

    refs, preds = corpus()
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    code = main(["score", "--refs", str(tmp_path / "refs.json"), "--preds", str(tmp_path / "preds.json"),
                 "--tokenize", "simple", "--metrics", "bleu", "rouge", "cider"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == score_captions(refs, preds, tokenize="simple", metrics=("bleu", "rouge", "cider"))
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["score", "--refs", str(tmp_path / "refs.json"), "--preds", str(tmp_path / "bad.json")]) == 2
