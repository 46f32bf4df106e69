"""Captions: MSVD-style corpus rows in the styles of simulated annotators, and their statistics.

Rows have MSVD's columns (``CORPUS_COLUMNS``): 10-20 English captions per video, each
by a different annotator with a consistent style, a few Spanish/French rows and a
few empty descriptions, as in the real ``video_corpus.csv``.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from vidcap.data.synthetic.plans import _Obj, _Plan
from vidcap.data.synthetic.vocabulary import (_MOVING, _ROLL, ADVERBS, COLOR_WORDS, FOREIGN, PAIR_TEMPLATES,
                                             SHAPE_WORDS, SIZE_WORDS, VERBS)
from vidcap.errors import DataError

CORPUS_COLUMNS = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]


def _make_workers(seed: int, n: int = 60) -> list[dict]:
    """A pool of simulated annotators, each with a consistent writing style."""
    rng = np.random.default_rng([seed, 5])
    ids = rng.choice(90000, size=n, replace=False) + 10000
    workers = []
    for i in range(n):
        workers.append({
            "id": int(ids[i]),
            "the": float(rng.uniform(0.05, 0.6)),
            "bare": float(rng.uniform(0.0, 0.12)),      # drops the article
            "size": float(rng.uniform(0.15, 0.8)),
            "progressive": float(rng.uniform(0.1, 0.6)),
            "there": float(rng.uniform(0.0, 0.25)),
            "prefix": float(rng.uniform(0.0, 0.2)),     # "the video shows ..."
            "adverb": float(rng.uniform(0.1, 0.6)),
            "synonym": float(rng.uniform(0.2, 0.8)),
            "background": float(rng.uniform(0.0, 0.25)),
            "postcolor": float(rng.uniform(0.0, 0.1)),  # "a ball colored red"
            "capital": bool(rng.random() < 0.5),
            "period": bool(rng.random() < 0.4),
        })
    return workers


def _noun_phrase(rng, st: dict, color: str, shape: str, size: str, *, definite=None, with_size=True) -> str:
    words_c = COLOR_WORDS[color]
    cw = words_c[0] if rng.random() > st["synonym"] * 0.5 else words_c[rng.integers(len(words_c))]
    sw_all = SHAPE_WORDS[shape]
    sw = sw_all[0] if rng.random() > st["synonym"] else sw_all[rng.integers(len(sw_all))]
    adjs = []
    if with_size and SIZE_WORDS[size] and rng.random() < st["size"]:
        adjs.append(SIZE_WORDS[size][rng.integers(len(SIZE_WORDS[size]))])
    if rng.random() < st["postcolor"]:
        body = " ".join(adjs + [sw, "colored" if rng.random() < 0.7 else "that is", cw])
    else:
        body = " ".join(adjs + [cw, sw])
    if definite is None:
        definite = rng.random() < st["the"]
    if definite:
        return f"the {body}"
    if rng.random() < st["bare"]:
        return body
    return ("an " if body[0] in "aeiou" else "a ") + body


def _captions_for(plan: _Plan, workers: list[dict], rng, n: int) -> list[tuple[dict, str]]:
    """``n`` English captions of the video, each by a different annotator."""
    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    chosen = rng.choice(len(workers), size=min(n, len(workers)), replace=False)
    out = []
    for wi in chosen:
        st = workers[int(wi)]
        with_size = plan.label not in ("grow", "shrink")
        if partner is None:
            verbs = list(VERBS[plan.label])
            if actor.shape == "circle" and plan.label in _ROLL:
                verbs.append(_ROLL[plan.label])
            pres, prog = verbs[0] if rng.random() > st["synonym"] else verbs[rng.integers(len(verbs))]
            adverb = ""
            if plan.label in _MOVING and plan.speed in ADVERBS and rng.random() < st["adverb"]:
                adverb = ADVERBS[plan.speed][rng.integers(len(ADVERBS[plan.speed]))]

            def subject(definite=None) -> str:
                return _noun_phrase(rng, st, actor.color, actor.shape, actor.size, definite=definite,
                                    with_size=with_size)

            roll = rng.random()
            if prog and roll < st["there"]:
                text = f"there is {subject(False)} {prog}"
            elif prog and roll < st["there"] + st["prefix"]:
                lead = ["the video shows", "we see", "a video of", "this is"][rng.integers(4)]
                text = f"{lead} {subject(False)} {prog}"
            elif prog and rng.random() < st["progressive"]:
                text = f"{subject()} is {prog}"
            else:
                text = f"{subject()} {pres}"
            if adverb:
                text = f"{text} {adverb}"
            if plan.background["kind"] == "flat" and rng.random() < st["background"]:
                prep = "on" if rng.random() < 0.7 else "against"
                text = f"{text} {prep} a {plan.background['name']} background"
        else:
            templates = PAIR_TEMPLATES[plan.label]
            tpl = templates[0] if rng.random() > st["synonym"] else templates[rng.integers(len(templates))]
            a = _noun_phrase(rng, st, actor.color, actor.shape, actor.size)
            b = _noun_phrase(rng, st, partner.color, partner.shape, partner.size)
            text = tpl.format(a=a, b=b)
        if st["capital"]:
            text = text[0].upper() + text[1:]
        if st["period"]:
            text += "."
        out.append((st, text))
    return out


def _foreign_caption(plan: _Plan, rng) -> tuple[str, str]:
    lang = list(FOREIGN)[rng.integers(len(FOREIGN))]
    tr = FOREIGN[lang]

    def np_(o: _Obj) -> str:
        noun, fem = tr["shapes"][o.shape]
        return f"{tr['a'][fem]} {noun} {tr['colors'][o.color][fem]}"

    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    verb = tr["verbs"][plan.label]
    if partner is None:
        return lang, f"{np_(actor)} {verb}"
    return lang, verb.format(a=np_(actor), b=np_(partner))


def _corpus_rows(plan: _Plan, ctx: dict) -> list[list]:
    """The video's rows of ``video_corpus.csv`` (MSVD columns)."""
    rng = np.random.default_rng([ctx["seed"], plan.index, 17])
    workers = ctx["workers"]
    vid, start, end = plan.name.rsplit("_", 2)
    n = int(rng.integers(10, 21))
    rows = []
    for st, text in _captions_for(plan, workers, rng, n):
        source = "clean" if rng.random() < 0.85 else "unverified"
        rows.append([vid, start, end, st["id"], source, int(rng.integers(8, 90)), "English", text])
    if plan.index % 10 == 1:  # a few non-English rows
        for _ in range(int(rng.integers(1, 4))):
            lang, text = _foreign_caption(plan, rng)
            st = workers[int(rng.integers(len(workers)))]
            rows.append([vid, start, end, st["id"], "unverified", int(rng.integers(8, 90)), lang, text])
    if plan.index % 25 == 2:  # and a few empty descriptions
        st = workers[int(rng.integers(len(workers)))]
        rows.append([vid, start, end, st["id"], "unverified", int(rng.integers(8, 90)), "English", ""])
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def _event_corpus(plans: list[_Plan], ctx: dict) -> tuple[list[list], list[str]]:
    """A multi-event video's rows of ``video_corpus.csv`` and its events' sentences.

    10-20 simulated annotators each write one caption per event (in their own style);
    a row's Description is that annotator's paragraph, the captions in event order,
    each ended with a full stop. Event ``e``'s sentence (for ``events.json``) is the
    first annotator's caption of it. No non-English rows or empty descriptions.
    """
    first = plans[0]
    rng = np.random.default_rng([ctx["seed"], first.index, 43, 17])
    workers = ctx["workers"]
    vid, start, end = first.name.rsplit("_", 2)
    chosen = rng.choice(len(workers), size=int(rng.integers(10, 21)), replace=False)
    rows, sentences = [], []
    for r, wi in enumerate(chosen):
        st = workers[int(wi)]
        texts = [_captions_for(plan, [st], rng, 1)[0][1] for plan in plans]
        if r == 0:
            sentences = texts
        paragraph = " ".join(t if t.endswith(".") else t + "." for t in texts)
        source = "clean" if rng.random() < 0.85 else "unverified"
        rows.append([vid, start, end, st["id"], source, int(rng.integers(8, 90)), "English", paragraph])
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], sentences


# ----------------------------------------------------------------------------------
# Reading a world's corpus back: statistics
# ----------------------------------------------------------------------------------
def _clean(text: str) -> list[str]:
    """Tokens of a caption after the seed's cleaning (the project's MSVD loader's rule)."""
    from vidcap.data.captions import clean_caption

    return clean_caption(text).split()


def _read_corpus(out_dir) -> list[dict]:
    path = Path(out_dir) / "video_corpus.csv"
    if not path.exists():
        raise DataError(f"no video_corpus.csv in {str(out_dir)!r}; generate a world there first")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CORPUS_COLUMNS:
            raise DataError(f"{str(path)!r} has columns {reader.fieldnames}, expected {CORPUS_COLUMNS}")
        return list(reader)


def caption_stats(out_dir) -> dict:
    """MSVD-style statistics of a world's ``video_corpus.csv``.

    Counts rows by language and empty descriptions, English captions per video, words
    per caption (after the seed's cleaning) and the vocabulary.
    """
    rows = _read_corpus(out_dir)
    english = [r for r in rows if r["Language"] == "English" and r["Description"].strip()]
    per_video = Counter(f"{r['VideoID']}_{r['Start']}_{r['End']}" for r in english)
    lengths = np.array([len(_clean(r["Description"])) for r in english]) if english else np.zeros(0)
    words = Counter(w for r in english for w in _clean(r["Description"]))
    counts = np.array(list(per_video.values())) if per_video else np.zeros(0)

    def desc(a: np.ndarray) -> dict:
        if not len(a):
            return {"mean": 0.0, "median": 0.0, "min": 0, "max": 0}
        return {"mean": round(float(a.mean()), 2), "median": float(np.median(a)), "min": int(a.min()),
                "max": int(a.max())}

    return {
        "rows": len(rows),
        "videos": len({f"{r['VideoID']}_{r['Start']}_{r['End']}" for r in rows}),
        "english_captions": len(english),
        "non_english_rows": sum(1 for r in rows if r["Language"] != "English"),
        "languages": dict(Counter(r["Language"] for r in rows)),
        "empty_descriptions": sum(1 for r in rows if not r["Description"].strip()),
        "captions_per_video": desc(counts),
        "words_per_caption": desc(lengths),
        "share_4_to_12_words": round(float(((lengths >= 4) & (lengths <= 12)).mean()), 4) if len(lengths) else 0.0,
        "unique_captions": len({" ".join(_clean(r["Description"])) for r in english}),
        "vocabulary": len(words),
        "annotators": len({r["WorkerID"] for r in rows}),
        "top_words": words.most_common(15),
    }

