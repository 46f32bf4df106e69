"""Caption corpora: MSVD ``video_corpus.csv`` and MSR-VTT JSON, cleaned as the seed does.

A corpus is ``{video name: [cleaned caption, ...]}`` plus a record of every row that
was dropped and why. Video names follow the seed: ``VideoID_Start_End`` for MSVD,
``video_id`` for MSR-VTT; the video is ``<name>.<ext>`` and its features ``<name>.npy``.
Splits are always by video, never by caption row.
"""
from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidcap.errors import DataError
from vidcap.io.files import read_json

log = logging.getLogger(__name__)

MSVD_COLUMNS = ("VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description")
MSVD_REQUIRED = ("VideoID", "Start", "End", "Language", "Description")
VIDEO_EXTS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv")
_STRIP = str.maketrans("", "", '.,"?!\\/')
MAX_ROW_LINES = 10  # a description may hold a newline or two; more is a quote left open


def clean_caption(text: str) -> str:
    """The seed's cleaning: drop ``. , " ? ! \\ /``, lowercase, single spaces.

    A newline becomes a space (the seed deletes it, gluing two words together).
    """
    return " ".join(text.translate(_STRIP).lower().split())


@dataclass
class CaptionCorpus:
    """Cleaned captions per video name and the rows that were dropped."""

    captions: dict[str, list[str]]
    dropped: Counter = field(default_factory=Counter)
    splits: dict[str, list[str]] | None = None  # only when the file carries its own (MSR-VTT)
    source: str = ""

    @property
    def videos(self) -> list[str]:
        return sorted(self.captions)

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def num_captions(self) -> int:
        return sum(len(c) for c in self.captions.values())

    def summary(self) -> dict:
        return {
            "source": self.source,
            "videos": len(self),
            "captions": self.num_captions,
            "dropped": dict(self.dropped),
        }


def _find_video(videos_dir: Path, name: str) -> Path | None:
    for ext in VIDEO_EXTS:
        p = videos_dir / f"{name}{ext}"
        if p.is_file():
            return p
    return None


def _available(name: str, videos_dir: Path | None, features_dir: Path | None) -> str | None:
    """The reason a video must be dropped, or None when everything needed exists."""
    if features_dir is not None:
        if not (features_dir / f"{name}.npy").is_file():
            return "features_missing"
        record = features_dir / f"{name}.json"
        if record.is_file():
            try:
                failed = json.loads(record.read_text(encoding="utf-8")).get("status") == "failed"
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                failed = False
            if failed:
                return "features_failed"
    if videos_dir is not None and _find_video(videos_dir, name) is None:
        return "video_missing"
    return None


def _finish(captions: dict, dropped: Counter, path: Path, videos_dir, features_dir, what: str) -> None:
    if not captions:
        where = " and ".join(str(p) for p in (videos_dir, features_dir) if p is not None)
        if dropped.get("video_missing") or dropped.get("features_missing"):
            raise DataError(
                f"no caption in {path} matches a video in {where}: check that the folder holds "
                f"<name>.mp4 / <name>.npy files named like the {what}"
            )
        raise DataError(f"{path} contains no usable caption (dropped rows: {dict(dropped) or 'none'})")
    for reason, n in sorted(dropped.items()):
        log.info("%s: dropped %d caption rows (%s)", path.name, n, reason)


def load_msvd(
    path: str | Path,
    *,
    videos_dir: str | Path | None = None,
    features_dir: str | Path | None = None,
    language: str = "English",
) -> CaptionCorpus:
    """Read an MSVD ``video_corpus.csv``.

    Keeps rows whose ``Language`` is ``language``; the video name is
    ``VideoID_Start_End``. Rows are dropped (and counted per reason in
    ``corpus.dropped``) when the language differs, Start/End are not numbers, the
    description is not text, or, when a folder is given, the video / features for
    that name are missing.
    """
    from vidcap.errors import DecodeError
    from vidcap.io.files import check_readable

    try:
        path = check_readable(path, "caption corpus")
    except DecodeError as exc:
        raise DataError(f"caption corpus {exc}") from None
    vdir = Path(videos_dir) if videos_dir is not None else None
    fdir = Path(features_dir) if features_dir is not None else None
    for d in (vdir, fdir):
        if d is not None and not d.is_dir():
            raise DataError(f"folder {d} does not exist")
    captions: dict[str, list[str]] = {}
    dropped: Counter = Counter()
    availability: dict[str, str | None] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in MSVD_REQUIRED if c not in header]
            if missing:
                raise DataError(
                    f"{path} lacks the MSVD column(s) {missing}; expected a header like {','.join(MSVD_COLUMNS)}"
                )
            rows = 0
            line = reader.line_num
            for row in reader:
                rows += 1
                if reader.line_num - line > MAX_ROW_LINES:  # a quote that is never closed swallows the rest
                    raise DataError(f"{path} line {line + 1}: a quoted field runs over {reader.line_num - line} "
                                    "lines; a quote is not closed")
                line = reader.line_num
                if (row.get("Language") or "").strip() != language:
                    dropped["not_" + language.lower()] += 1
                    continue
                try:
                    start, end = (int(float(row[k])) for k in ("Start", "End"))
                    if not (row["VideoID"] or "").strip():
                        raise ValueError
                except (TypeError, ValueError, OverflowError):
                    dropped["bad_video_id_or_times"] += 1
                    continue
                text = row.get("Description")
                cleaned = clean_caption(text) if isinstance(text, str) else ""
                if not cleaned or not any(ch.isalpha() for ch in cleaned):
                    dropped["description_not_text"] += 1
                    continue
                name = f"{row['VideoID'].strip()}_{start}_{end}"
                if name not in availability:
                    availability[name] = _available(name, vdir, fdir)
                if availability[name] is not None:
                    dropped[availability[name]] += 1
                    continue
                captions.setdefault(name, []).append(cleaned)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text CSV file ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataError(f"{path} is not a valid CSV file: {exc}") from exc
    if rows == 0:
        raise DataError(f"caption corpus {path} is empty (a header but no rows)")
    _finish(captions, dropped, path, vdir, fdir, "VideoID_Start_End names of the corpus")
    return CaptionCorpus(captions, dropped, None, str(path))


def load_msrvtt(
    path: str | Path,
    *,
    videos_dir: str | Path | None = None,
    features_dir: str | Path | None = None,
) -> CaptionCorpus:
    """Read an MSR-VTT annotation JSON (``{"videos": [...], "sentences": [...]}``).

    Each sentence has ``video_id`` and ``caption``; each video ``video_id`` and
    optionally ``split`` (train/validate/test), returned as ``corpus.splits``
    with ``validate`` renamed ``val``.
    """
    path = Path(path)
    data = read_json(path, "caption corpus")
    if not isinstance(data, dict) or not isinstance(data.get("sentences"), list):
        raise DataError(f"{path} is not an MSR-VTT annotation file: it needs a 'sentences' list")
    vdir = Path(videos_dir) if videos_dir is not None else None
    fdir = Path(features_dir) if features_dir is not None else None
    if not data["sentences"]:
        raise DataError(f"caption corpus {path} is empty (no sentences)")
    captions: dict[str, list[str]] = {}
    dropped: Counter = Counter()
    availability: dict[str, str | None] = {}
    for s in data["sentences"]:
        name = s.get("video_id") if isinstance(s, dict) else None
        text = s.get("caption") if isinstance(s, dict) else None
        if not isinstance(name, str) or not name:
            dropped["bad_video_id"] += 1
            continue
        cleaned = clean_caption(text) if isinstance(text, str) else ""
        if not cleaned or not any(ch.isalpha() for ch in cleaned):
            dropped["description_not_text"] += 1
            continue
        if name not in availability:
            availability[name] = _available(name, vdir, fdir)
        if availability[name] is not None:
            dropped[availability[name]] += 1
            continue
        captions.setdefault(name, []).append(cleaned)
    _finish(captions, dropped, path, vdir, fdir, "video_id values of the annotations")
    splits = None
    if isinstance(data.get("videos"), list):
        splits = {}
        for v in data["videos"]:
            if isinstance(v, dict) and v.get("video_id") in captions and v.get("split"):
                key = {"validate": "val", "validation": "val"}.get(v["split"], v["split"])
                splits.setdefault(key, []).append(v["video_id"])
        splits = splits or None
    return CaptionCorpus(captions, dropped, splits, str(path))


def load_corpus(path: str | Path, **kwargs) -> CaptionCorpus:
    """MSVD CSV or MSR-VTT JSON, by file extension."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        return load_msrvtt(p, **kwargs)
    return load_msvd(p, **kwargs)


def split_by_video(names, *, val_frac: float = 0.1, test_frac: float = 0.2, seed: int = 0) -> dict[str, list[str]]:
    """Shuffle video names (not caption rows) into train/val/test."""
    names = sorted(set(names))
    if not 0 <= val_frac < 1 or not 0 <= test_frac < 1 or val_frac + test_frac >= 1:
        raise DataError(f"split fractions val={val_frac} test={test_frac} must be in [0, 1) and sum below 1")
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = int(round(test_frac * len(names)))
    n_val = int(round(val_frac * len(names)))
    shuffled = [names[i] for i in order]
    return {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test : n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val :]),
    }


def resolve_splits(corpus: CaptionCorpus, corpus_path, splits=None, *, seed: int = 0) -> dict[str, list[str]]:
    """The split of a corpus, by one rule for every task: ``splits`` when given (a
    ``splits.json`` path or a dict), else the ``splits.json`` beside the corpus file, else
    the corpus' own (MSR-VTT's JSON carries one), else a random split by video (seeded)."""
    if isinstance(splits, dict):
        return splits
    if splits is not None:
        return load_splits(splits)
    beside = Path(corpus_path).parent / "splits.json"
    if beside.is_file():
        log.info("using the splits of %s", beside)
        return load_splits(beside)
    if corpus.splits:
        return corpus.splits
    return split_by_video(corpus.videos, seed=seed)


def load_splits(path: str | Path) -> dict[str, list[str]]:
    """A ``splits.json`` of ``{"train": [names], "val": [...], "test": [...], ...}``."""
    path = Path(path)
    data = read_json(path, "splits file")
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in data.values()
    ):
        raise DataError(f"splits file {path} must map split names to lists of video names")
    return data
