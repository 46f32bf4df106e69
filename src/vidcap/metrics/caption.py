"""COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) via the reference toolkit.

Numbers come from ``pycocoevalcap`` itself (the code behind the COCO and MSVD/MSR-VTT
leaderboards), including its Stanford PTB tokenizer. METEOR and the PTB tokenizer
run Java; when ``java`` is not on PATH they raise :class:`MissingDependencyError`.
``tokenize="simple"`` skips Java for the tokenizer (the seed's cleaning + whitespace
split), which is what training uses for its per-epoch validation CIDEr.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from vidcap.data.captions import clean_caption
from vidcap.errors import DataError, MissingDependencyError, require
from vidcap.io.files import read_json

log = logging.getLogger(__name__)

METRICS = ("bleu", "meteor", "rouge", "cider")
KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def _java() -> None:
    if shutil.which("java") is None:
        raise MissingDependencyError(
            "METEOR and the PTB tokenizer need a Java runtime: install one "
            "(`apt-get install default-jre-headless`) or use metrics without METEOR and tokenize='simple'"
        )


def _tokenize(refs: dict, preds: dict, how: str):
    if how == "ptb":
        _java()
        ptb = require("pycocoevalcap.tokenizer.ptbtokenizer", "pycocoevalcap").PTBTokenizer()
        both = {f"r{k}": [{"caption": c} for c in v] for k, v in refs.items()}
        both.update({f"p{k}": [{"caption": preds[k]}] for k in preds})
        tok = ptb.tokenize(both)
        return {k: tok[f"r{k}"] for k in refs}, {k: tok[f"p{k}"] for k in preds}
    if how == "simple":
        return {k: [clean_caption(c) for c in v] for k, v in refs.items()}, {k: [clean_caption(preds[k])] for k in preds}
    raise DataError(f"tokenize={how!r} must be 'ptb' or 'simple'")


def score_captions(
    refs: dict[str, list[str]],
    preds: dict[str, str],
    *,
    metrics=METRICS,
    tokenize: str = "ptb",
    per_video: bool = False,
) -> dict:
    """Corpus-level caption metrics of ``preds`` against ``refs``.

    refs: ``{id: [reference, ...]}``; preds: ``{id: caption}``. Every predicted id
    must have references; references without a prediction are ignored (logged).
    Returns ``{"Bleu_1".."Bleu_4", "METEOR", "ROUGE_L", "CIDEr": float}`` for the
    metrics asked for, plus ``"per_video": {id: {metric: score}}`` when ``per_video``.
    CIDEr is pycocoevalcap's CIDEr-D (sigma 6, clipped counts, x10).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise DataError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    if not preds:
        raise DataError("there are no predicted captions to score")
    preds = {str(k): v for k, v in preds.items()}
    refs = {str(k): v for k, v in refs.items()}
    missing = [k for k in preds if k not in refs]
    if missing:
        raise DataError(f"{len(missing)} predicted id(s) have no references, e.g. {missing[0]!r}")
    for k, v in preds.items():
        if not isinstance(v, str):
            raise DataError(f"the prediction for {k!r} is {type(v).__name__}, expected one caption string")
    for k in preds:
        if not isinstance(refs[k], list) or not refs[k] or not all(isinstance(c, str) for c in refs[k]):
            raise DataError(f"the references for {k!r} must be a non-empty list of caption strings")
    skipped = len(refs) - len(preds)
    if skipped:
        log.info("%d referenced id(s) have no prediction and are not scored", skipped)
    ids = sorted(preds)
    gts, res = _tokenize({k: refs[k] for k in ids}, {k: preds[k] for k in ids}, tokenize)
    # the toolkit's scorers want the same key order in both
    gts = {k: gts[k] for k in ids}
    res = {k: res[k] for k in ids}
    out: dict = {}
    per: dict[str, dict] = {k: {} for k in ids}
    for name in metrics:
        if name == "bleu":
            scorer = require("pycocoevalcap.bleu.bleu", "pycocoevalcap").Bleu(4)
            keys = KEYS[:4]
        elif name == "meteor":
            _java()
            scorer = require("pycocoevalcap.meteor.meteor", "pycocoevalcap").Meteor()
            keys = ("METEOR",)
        elif name == "rouge":
            scorer = require("pycocoevalcap.rouge.rouge", "pycocoevalcap").Rouge()
            keys = ("ROUGE_L",)
        else:
            scorer = require("pycocoevalcap.cider.cider", "pycocoevalcap").Cider()
            keys = ("CIDEr",)
        score, scores = scorer.compute_score(gts, res, verbose=0) if name == "bleu" else scorer.compute_score(gts, res)
        if name == "meteor":
            _close_meteor(scorer)
        if len(keys) == 1:
            score, scores = [score], [scores]
        for key, s, ss in zip(keys, score, scores):
            out[key] = float(s)
            for k, v in zip(ids, ss):
                per[k][key] = float(v)
    if per_video:
        out["per_video"] = per
    return out


def _close_meteor(scorer) -> None:
    """Stop the METEOR Java process now rather than at garbage collection."""
    proc = getattr(scorer, "meteor_p", None)
    if proc is not None:
        with scorer.lock:
            proc.stdin.close()
            proc.kill()
            proc.wait()
        scorer.meteor_p = None
        scorer.__class__ = _ClosedMeteor


class _ClosedMeteor:
    """What a METEOR scorer becomes once its process is closed (its __del__ is a no-op)."""


def load_refs_preds(refs_path: str | Path, preds_path: str | Path) -> tuple[dict, dict]:
    """Read ``{"id": ["ref", ...]}`` and ``{"id": "caption"}`` JSON files."""
    out = []
    for path, kind in ((refs_path, "references"), (preds_path, "predictions")):
        path = Path(path)
        data = read_json(path, f"{kind} file")
        if not isinstance(data, dict):
            raise DataError(f"{kind} file {path} must hold one JSON object keyed by video id")
        out.append(data)
    refs, preds = out
    for k, v in list(refs.items()):
        if isinstance(v, str):
            refs[k] = [v]
    return refs, preds
