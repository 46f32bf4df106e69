"""Multi-event videos: ActivityNet Captions and YouCook2 annotation files.

A video holds several events, each a segment ``[start, end]`` in seconds and one
sentence; the sentences in time order are the video's paragraph. Two layouts:

* ActivityNet Captions (``train.json``, ``val_1.json``)::

    {"v_id": {"duration": 82.7, "timestamps": [[s, e], ...], "sentences": ["...", ...]}}

* YouCook2 (``youcookii_annotations_trainval.json``)::

    {"database": {"vid": {"duration": 241.6, "subset": "training", "recipe_type": "113", "url": "...",
                          "annotations": [{"segment": [s, e], "id": 0, "sentence": "..."}, ...]}}}

Every event is checked: a segment inside ``[0, duration]`` with ``start < end`` and a
non-empty sentence. Events may overlap (ActivityNet's do); :func:`overlaps` lists them.
With ``repair=True`` three repairs replace the error, each logged as a warning: a segment
reaching past the video is clipped to ``[0, duration]`` (one wholly outside is still an
error), a reversed segment is swapped, an event with an empty sentence is dropped.
Nothing is ever shifted.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from vidcap.errors import ConfigError, DataError
from vidcap.io.files import read_json, write_json

log = logging.getLogger(__name__)

ANET_LAYOUT = 'the ActivityNet Captions layout {video: {"duration", "timestamps", "sentences"}}'
YC2_LAYOUT = ('the YouCook2 layout {"database": {video: {"duration", "subset", '
              '"annotations": [{"segment", "sentence"}]}}}')


@dataclass(frozen=True)
class Event:
    """One event: ``[start, end]`` in seconds and its sentence."""

    start: float
    end: float
    sentence: str


@dataclass(frozen=True)
class EventVideo:
    """A video of ``duration`` seconds and its events, sorted by start (then end)."""

    name: str
    duration: float
    events: tuple[Event, ...]

    def __post_init__(self):
        object.__setattr__(self, "events", tuple(sorted(self.events, key=lambda e: (e.start, e.end))))

    @property
    def segments(self) -> list[tuple[float, float]]:
        return [(e.start, e.end) for e in self.events]

    @property
    def sentences(self) -> list[str]:
        return [e.sentence for e in self.events]


def overlaps(video: EventVideo) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of events (indices into ``video.events``) that share
    some time; segments that only touch do not overlap."""
    ev = video.events
    return [(i, j) for i in range(len(ev)) for j in range(i + 1, len(ev))
            if min(ev[i].end, ev[j].end) > max(ev[i].start, ev[j].start)]


def check_clip_count(video: EventVideo, num_clips: int) -> None:
    """DataError when ``video`` has more sentences than ``num_clips``: each sentence needs a clip of its own."""
    if isinstance(num_clips, bool) or not isinstance(num_clips, int) or num_clips < 0:
        raise ConfigError(f"num_clips={num_clips!r} must be a whole number >= 0")
    if len(video.events) > num_clips:
        raise DataError(f"video {video.name!r} has {len(video.events)} sentences but only {num_clips} clips; "
                        f"sample at least {len(video.events)} clips or merge its events")


# --------------------------------------------------------------------------- checks
def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _video(path, name: str, duration, items: list, *, repair: bool) -> EventVideo:
    """Check ``items`` = ``[(segment, sentence), ...]`` of one video (indices as in the file)."""
    where = f"{path}: video {name!r}"
    if not _number(duration) or duration <= 0:
        raise DataError(f"{where} has duration {duration!r}; it must be a positive number of seconds")
    duration = float(duration)
    events = []
    for i, (seg, sentence) in enumerate(items):
        at = f"{where}, event {i}"
        if not isinstance(sentence, str):
            raise DataError(f"{at}: the sentence is {type(sentence).__name__}, expected a string")
        if not sentence.strip():
            if not repair:
                raise DataError(f"{at}: the sentence is empty; fix the file or pass repair=True to drop the event")
            log.warning("%s: dropped, its sentence is empty", at)
            continue
        if not isinstance(seg, (list, tuple)) or len(seg) != 2 or not all(_number(x) for x in seg):
            raise DataError(f"{at}: the segment {seg!r} must be two finite numbers [start, end] in seconds")
        start, end = float(seg[0]), float(seg[1])
        if start > end:
            if not repair:
                raise DataError(f"{at}: the segment [{start}, {end}] is reversed; "
                                "fix the file or pass repair=True to swap start and end")
            log.warning("%s: reversed segment [%s, %s] swapped", at, start, end)
            start, end = end, start
        if start == end:
            raise DataError(f"{at}: the segment [{start}, {end}] has zero length; give it an end after its start")
        if start < 0 or end > duration:
            if min(end, duration) <= max(start, 0.0):
                raise DataError(f"{at}: the segment [{start}, {end}] lies wholly outside the video's "
                                f"[0, {duration}] seconds; fix or remove it")
            if not repair:
                raise DataError(f"{at}: the segment [{start}, {end}] reaches outside the video's [0, {duration}] "
                                "seconds; fix the file or pass repair=True to clip it")
            log.warning("%s: segment [%s, %s] clipped to the video's [0, %s] seconds", at, start, end, duration)
            start, end = max(start, 0.0), min(end, duration)
        events.append(Event(start, end, sentence))
    if not events:
        raise DataError(f"{where} has no events{' left after repairs' if items else ''}; "
                        "every video needs at least one")
    return EventVideo(name, duration, tuple(events))


def _entry(path, name, entry, keys: tuple[str, ...], layout: str) -> dict:
    if not isinstance(entry, dict) or any(k not in entry for k in keys):
        raise DataError(f"{path}: video {name!r} is not in {layout}; it needs the keys {list(keys)}")
    return entry


# --------------------------------------------------------------------------- ActivityNet Captions
def load_activitynet_captions(path, *, repair: bool = False) -> dict[str, EventVideo]:
    """``{video id: EventVideo}`` from an ActivityNet Captions file (``train.json``, ``val_1.json``)."""
    data = read_json(path, "ActivityNet Captions file")
    if not isinstance(data, dict) or not data:
        raise DataError(f"{path} is not in {ANET_LAYOUT}: expected a non-empty JSON object keyed by video id")
    if "database" in data and isinstance(data["database"], dict):
        raise DataError(f"{path} is in the YouCook2 layout, not {ANET_LAYOUT}; read it with load_youcook2")
    videos = {}
    for name, entry in data.items():
        entry = _entry(path, name, entry, ("duration", "timestamps", "sentences"), ANET_LAYOUT)
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list):
            raise DataError(f"{path}: video {name!r} needs lists of timestamps and sentences")
        if len(stamps) != len(sentences):
            raise DataError(f"{path}: video {name!r} has {len(stamps)} timestamps but {len(sentences)} sentences; "
                            "each event needs one of each")
        videos[name] = _video(path, name, entry["duration"], list(zip(stamps, sentences)), repair=repair)
    return videos


def save_activitynet_captions(videos: dict[str, EventVideo], path) -> Path:
    """Write ``videos`` in the ActivityNet Captions layout, atomically (checked as the loader checks)."""
    out = {}
    for name, v in _checked(videos, path).items():
        out[name] = {"duration": v.duration, "timestamps": [[e.start, e.end] for e in v.events],
                     "sentences": list(v.sentences)}
    return write_json(path, out)


# --------------------------------------------------------------------------- YouCook2
def load_youcook2(path, *, split: str | None = None, repair: bool = False) -> dict[str, EventVideo]:
    """``{video id: EventVideo}`` from YouCook2's ``youcookii_annotations_trainval.json``.

    ``split`` keeps only the videos of that ``subset`` (``"training"`` or ``"validation"``).
    """
    data = read_json(path, "YouCook2 annotation file")
    db = data.get("database") if isinstance(data, dict) else None
    if not isinstance(db, dict) or not db:
        raise DataError(f"{path} is not in {YC2_LAYOUT}: expected a non-empty \"database\" object"
                        + ("; it looks like ActivityNet Captions, read it with load_activitynet_captions"
                           if isinstance(data, dict) and "database" not in data else ""))
    videos, subsets = {}, set()
    for name, entry in db.items():
        entry = _entry(path, name, entry, ("duration", "subset", "annotations"), YC2_LAYOUT)
        subsets.add(str(entry["subset"]))
        if split is not None and entry["subset"] != split:
            continue
        anns = entry["annotations"]
        if not isinstance(anns, list) or not all(isinstance(a, dict) and "segment" in a and "sentence" in a
                                                 for a in anns):
            raise DataError(f"{path}: video {name!r} is not in {YC2_LAYOUT}; "
                            "its annotations must be a list of {\"segment\", \"sentence\"} objects")
        videos[name] = _video(path, name, entry["duration"], [(a["segment"], a["sentence"]) for a in anns],
                              repair=repair)
    if not videos:
        raise DataError(f"{path} has no videos in the subset {split!r}; it has {sorted(subsets)}")
    return videos


def save_youcook2(videos: dict[str, EventVideo], path, subset: str | dict[str, str] = "training") -> Path:
    """Write ``videos`` in the YouCook2 layout, atomically; ``subset`` is one name for all
    videos or ``{video id: subset}``. ``recipe_type`` and ``url`` are not written."""
    db = {}
    for name, v in _checked(videos, path).items():
        sub = subset if isinstance(subset, str) else subset.get(name)
        if not isinstance(sub, str):
            raise ConfigError(f"subset names no split for video {name!r}")
        db[name] = {"duration": v.duration, "subset": sub,
                    "annotations": [{"segment": [e.start, e.end], "id": i, "sentence": e.sentence}
                                    for i, e in enumerate(v.events)]}
    return write_json(path, {"database": db})


def _checked(videos: dict[str, EventVideo], path) -> dict[str, EventVideo]:
    """``videos`` after the loaders' checks, so a saved file always loads back."""
    for name, v in videos.items():
        if name != v.name:
            raise ConfigError(f"the video keyed {name!r} is named {v.name!r}; key each video by its name")
        _video(path, name, v.duration, [((e.start, e.end), e.sentence) for e in v.events], repair=False)
    return videos
