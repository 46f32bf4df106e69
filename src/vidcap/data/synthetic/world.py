"""Writing a world: each video end to end, then the tables, splits and class links.

:func:`generate_world` is the entry point; :func:`iter_world` yields one record per
finished video. :func:`contact_sheet` reads a written world back into a picture.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from vidcap.data.synthetic.captions import CORPUS_COLUMNS, _corpus_rows, _event_corpus, _make_workers, _read_corpus
from vidcap.data.synthetic.plans import (SPLITS, _assign_splits, _class_labels, _event_schedule, _heldout, _plan,
                                         video_name)
from vidcap.data.synthetic.render import _fits_background, _image_tracks, _render
from vidcap.data.synthetic.vocabulary import ACTIONS, CLASSES, COLORS, LEVELS, SHAPES, SIZES
from vidcap.errors import ConfigError, DataError
from vidcap.io.files import atomic_path, write_json, write_text
from vidcap.progress import Callback, report
from vidcap.results import WorldSummary

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LABEL_COLUMNS = ["video", "label", "phrase", "split", "level", "num_objects", "color", "shape", "size",
                 "partner_color", "partner_shape", "objects", "background"]
BITEXACT = {"fflags": "+bitexact"}  # muxers write no random ids or version strings
SECONDS, EVENT_SECONDS = 3, 5  # default length of a one-event video / of each event of a multi-event one
SUBSETS = {"train": "training", "val": "validation", "test": "testing", "test_compositional": "testing"}  # YouCook2's
CONTINUE_TRIES = 20  # plans tried for an event that continues the scene before it becomes a cut


# ----------------------------------------------------------------------------------
# One video end to end (runs in a worker process)
# ----------------------------------------------------------------------------------
def _make_video(task: tuple[int, str, str, str], ctx: dict) -> dict:
    """Render, encode and describe one video; returns its record for the tables."""
    from vidcap.io.writers import VideoWriter

    index, split, label, name = task
    out = Path(ctx["out_dir"])
    plan = _plan(index, split, label, name, ctx)
    k = ctx["factor"]
    name = plan.name
    frames_gt, hfr_gt = [], []
    tracks = _image_tracks(plan, ctx)
    video = VideoWriter(out / "videos" / f"{name}.mp4", ctx["fps"], crf=ctx["crf"], threads=1,
                        options={"preset": ctx["preset"]}, container_options=BITEXACT)
    hfr = (VideoWriter(out / "hfr" / f"{name}.mkv", ctx["fps"] * k, lossless=True, threads=1,
                       container_options=BITEXACT) if k > 1 else None)
    try:
        for j in range(ctx["dense_frames"]):
            frame, truth = _render(plan, tracks, j, ctx)
            if hfr is not None:
                hfr.write(frame)
                hfr_gt.append({"index": j, "t": round(j / (ctx["fps"] * k), 6), "objects": truth})
            if j % k == 0:
                video.write(frame)
                frames_gt.append({"index": j // k, "t": round(j / k / ctx["fps"], 6), "objects": truth})
        video.close()
        if hfr is not None:
            hfr.close()
    except BaseException:
        video.abort()
        if hfr is not None:
            hfr.abort()
        raise
    w, h = ctx["size"]
    objects = [_obj_dict(i, o) for i, o in enumerate(plan.objects)]
    gt = {"video": name, "label": plan.label, "phrase": ACTIONS[plan.label].phrase, "split": split,
          "level": ctx["level"], "fps": ctx["fps"], "num_frames": len(frames_gt), "width": w, "height": h,
          "speed": plan.speed, "background": plan.background, "camera_moves": bool(ctx["camera"]),
          "objects": objects, "frames": frames_gt}
    if hfr is not None:
        gt["hfr"] = {"factor": k, "fps": ctx["fps"] * k, "video": f"hfr/{name}.mkv",
                     "num_frames": len(hfr_gt), "frames": hfr_gt}
    write_text(out / "gt" / f"{name}.json", json.dumps(gt, separators=(",", ":")))
    return {"name": name, "split": split, "label": plan.label, "corpus": _corpus_rows(plan, ctx),
            "labels": _labels_row(plan, name, split, ctx)}


def _labels_row(plan, name: str, split: str, ctx: dict) -> list:
    """The ``labels.csv`` row of a video whose (first) event is ``plan`` (LABEL_COLUMNS)."""
    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    acting = [o for o in plan.objects if o.role in ("actor", "partner")]
    return [name, plan.label, ACTIONS[plan.label].phrase, split, ctx["level"], len(acting),
            actor.color, actor.shape, actor.size, partner.color if partner else "",
            partner.shape if partner else "",
            ";".join(f"{o.size} {o.color} {o.shape}" for o in acting), plan.background["name"]]


def _event_plans(index: int, split: str, name: str, labels: list[str], planned: list[str], ctx: dict):
    """The plans of a multi-event video's events and each event's boundary.

    Event ``e`` is planned like a one-event video with ``key=(43, e + 1, attempt)``.
    A planned ``"continue"`` keeps the previous event's background (canvas included)
    for the first attempt whose acting objects stand out on it; when none of
    ``CONTINUE_TRIES`` does, the boundary becomes a ``"cut"`` (with attempt 0's plan).
    """
    plans, boundaries = [], []
    for e, label in enumerate(labels):
        plan = _plan(index, split, label, name, ctx, key=(43, e + 1, 0))
        boundary = "start" if e == 0 else "cut"
        if e and planned[e - 1] == "continue":
            prev = plans[-1]
            for attempt in range(CONTINUE_TRIES):
                cand = plan if attempt == 0 else _plan(index, split, label, name, ctx, key=(43, e + 1, attempt))
                if _fits_background(prev.background, [o.rgb for o in cand.objects if o.role in ("actor", "partner")]):
                    plan, boundary = cand, "continue"
                    plan.background, plan.bg_world, plan.pad = prev.background, prev.bg_world, prev.pad
                    break
        plans.append(plan)
        boundaries.append(boundary)
    return plans, boundaries


def _obj_dict(i: int, o, **extra) -> dict:
    return {"id": i, "role": o.role, "shape": o.shape, "color": o.color, "size": o.size, "rgb": list(o.rgb), **extra}


def _make_event_video(task: tuple, ctx: dict) -> dict:
    """Render, encode and describe one multi-event video (see :func:`iter_world`)."""
    from vidcap.io.writers import VideoWriter

    index, split, _, name, labels, planned = task
    out = Path(ctx["out_dir"])
    fps, n = ctx["fps"], ctx["num_frames"]
    plans, boundaries = _event_plans(index, split, name, labels, planned, ctx)
    frames_gt, objects, events = [], [], []
    video = VideoWriter(out / "videos" / f"{name}.mp4", fps, crf=ctx["crf"], threads=1,
                        options={"preset": ctx["preset"]}, container_options=BITEXACT)
    try:
        for e, plan in enumerate(plans):
            offset = len(objects)
            objects.extend(_obj_dict(offset + i, o, event=e) for i, o in enumerate(plan.objects))
            tracks = _image_tracks(plan, ctx)
            for j in range(n):
                frame, truth = _render(plan, tracks, j, ctx)
                video.write(frame)
                g = e * n + j
                frames_gt.append({"index": g, "t": round(g / fps, 6), "event": e,
                                  "objects": [{**t, "id": offset + t["id"]} for t in truth]})
            events.append({"index": e, "label": plan.label, "phrase": ACTIONS[plan.label].phrase,
                           "boundary": boundaries[e], "start_frame": e * n, "end_frame": (e + 1) * n,
                           "start": round(e * n / fps, 6), "end": round((e + 1) * n / fps, 6),
                           "speed": plan.speed, "background": plan.background,
                           "objects": list(range(offset, len(objects)))})
        video.close()
    except BaseException:
        video.abort()
        raise
    corpus, sentences = _event_corpus(plans, ctx)
    for ev, sentence in zip(events, sentences):
        ev["sentence"] = sentence
    w, h = ctx["size"]
    duration = round(len(plans) * n / fps, 6)
    gt = {"video": name, "label": plans[0].label, "phrase": ACTIONS[plans[0].label].phrase, "split": split,
          "level": ctx["level"], "fps": fps, "num_frames": len(frames_gt), "width": w, "height": h,
          "duration": duration, "camera_moves": bool(ctx["camera"]), "objects": objects, "events": events,
          "frames": frames_gt}
    write_text(out / "gt" / f"{name}.json", json.dumps(gt, separators=(",", ":")))
    return {
        "name": name, "split": split, "label": plans[0].label, "corpus": corpus,
        "labels": _labels_row(plans[0], name, split, ctx),
        "events": {"duration": duration, "segments": [(ev["start"], ev["end"]) for ev in events],
                   "sentences": sentences},
    }


# ----------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------
def _plain(x) -> int | float:
    """A plain int or float (for the JSON files) from any real number."""
    return int(x) if float(x).is_integer() else float(x)


def _check_args(num_videos, seed, level, size, fps, seconds, high_fps_factor, workers) -> tuple[int, int]:
    if not isinstance(num_videos, (int, np.integer)) or num_videos < 1:
        raise ConfigError(f"num_videos must be a positive integer, got {num_videos!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"size must be (width, height), got {size!r}") from exc
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise ConfigError(f"size must be even and at least 32x32 (H.264 4:2:0), got {w}x{h}")
    if not fps or fps <= 0 or not seconds or seconds <= 0:
        raise ConfigError(f"fps and seconds must be positive, got fps={fps!r} seconds={seconds!r}")
    if round(fps * seconds) < 2:
        raise ConfigError(f"a video needs at least 2 frames; fps={fps!r} x seconds={seconds!r} is too few")
    if high_fps_factor is not None and (not isinstance(high_fps_factor, (int, np.integer)) or high_fps_factor < 2):
        raise ConfigError(f"high_fps_factor must be an integer >= 2 or None, got {high_fps_factor!r}")
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ConfigError(f"workers must be a positive integer or None, got {workers!r}")
    return w, h


def _check_events(events, high_fps_factor) -> tuple[int, int] | None:
    """``events`` as ``(lo, hi)`` with ``1 <= lo <= hi``, or None; ConfigError otherwise."""
    if events is None:
        return None
    try:
        lo, hi = events
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"events must be None or (min, max) numbers of events per video, got {events!r}") from exc
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (lo, hi)) or not 1 <= lo <= hi:
        raise ConfigError(f"events must be (min, max) whole numbers with 1 <= min <= max, got {events!r}")
    if high_fps_factor is not None:
        raise ConfigError("high_fps_factor cannot be combined with events yet; leave one of them out")
    return int(lo), int(hi)


def iter_world(out_dir, *, num_videos: int, seed: int = 0, level: str = "easy",
               size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float | None = None,
               high_fps_factor: int | None = None, workers: int | None = None,
               crf: float = 18, events: tuple[int, int] | None = None) -> Iterator[dict]:
    """Generate the world, yielding one record per finished video.

    The arguments are checked at once; the videos are made as the iterator is
    consumed, and the tables (``video_corpus.csv``, ``labels.csv``, ``splits.json``,
    ``classes/``, ``world.json``; with ``events`` also ``events.json`` and
    ``youcook2.json``) are written after the last video.
    :func:`generate_world` is the plain function (with a progress callback) and
    documents the arguments.
    """
    event_range = _check_events(events, high_fps_factor)
    if seconds is None:
        seconds = SECONDS if event_range is None else EVENT_SECONDS
    w, h = _check_args(num_videos, seed, level, size, fps, seconds, high_fps_factor, workers)
    if min(workers or os.cpu_count() or 1, num_videos) > 1:
        from vidcap.parallel import check_main_guard

        check_main_guard()  # before anything is written
    seed, num_videos = int(seed), int(num_videos)
    high_fps_factor = int(high_fps_factor) if high_fps_factor is not None else None
    fps, seconds = _plain(fps), _plain(seconds)
    out = Path(out_dir)
    for sub in ("videos", "gt") + (("hfr",) if high_fps_factor else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    n_frames = int(round(fps * seconds))
    factor = int(high_fps_factor or 1)
    labels = _class_labels(num_videos, seed)
    split_of = _assign_splits(labels, seed)
    if event_range is None:
        names = [video_name(i, seconds) for i in range(num_videos)]
        schedules = None
    else:
        schedules = [_event_schedule(i, labels[i], seed, *event_range) for i in range(num_videos)]
        names = [video_name(i, round(len(sched[0]) * n_frames / fps, 6)) for i, sched in enumerate(schedules)]
    ctx = {
        "out_dir": str(out), "seed": seed, "level": level, "size": (w, h), "fps": fps, "crf": crf,
        "preset": "veryfast", "factor": factor, "num_frames": n_frames, "dense_frames": (n_frames - 1) * factor + 1,
        "camera": LEVELS[level].camera,
        "heldout": _heldout(seed), "workers": _make_workers(seed),
    }
    tasks = [(i, split_of[i], labels[i], names[i]) for i in range(num_videos)]
    if schedules is not None:
        ctx["events"] = list(event_range)
        tasks = [task + tuple(schedules[i]) for i, task in enumerate(tasks)]
    n_workers = min(workers or os.cpu_count() or 1, num_videos)
    params = {"num_videos": num_videos, "n_frames": n_frames, "high_fps_factor": high_fps_factor, "seconds": seconds}
    return _run(out, tasks, ctx, n_workers, params)


def _run(out: Path, tasks: list[tuple], ctx: dict, n_workers: int, params: dict) -> Iterator[dict]:
    records: list[dict] = []
    make = _make_event_video if "events" in ctx else _make_video
    if n_workers == 1:
        for task in tasks:
            rec = make(task, ctx)
            records.append(rec)
            yield rec
    else:
        from functools import partial

        from vidcap.parallel import process_pool

        with process_pool(n_workers, initializer=_init_worker) as pool:
            for rec in pool.map(partial(make, ctx=ctx), tasks, chunksize=4):
                records.append(rec)
                yield rec
    _write_tables(out, records, ctx, **params)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _write_tables(out: Path, records: list[dict], ctx: dict, **params) -> None:
    corpus = [row for rec in records for row in rec["corpus"]]
    write_text(out / "video_corpus.csv", _csv_text(CORPUS_COLUMNS, corpus))
    write_text(out / "labels.csv", _csv_text(LABEL_COLUMNS, [rec["labels"] for rec in records]))
    splits = {s: [rec["name"] for rec in records if rec["split"] == s] for s in SPLITS}
    write_json(out / "splits.json", splits, indent=1)
    _link_classes(out, records)
    world = {
        "generator": "vidcap.data.synthetic", "format_version": FORMAT_VERSION, "seed": ctx["seed"],
        "level": ctx["level"], "num_videos": params["num_videos"], "size": list(ctx["size"]), "fps": ctx["fps"],
        "seconds": params["seconds"], "num_frames": params["n_frames"], "high_fps_factor": params["high_fps_factor"],
        "classes": [{"label": a.name, "phrase": a.phrase, "objects": a.objects} for a in ACTIONS.values()],
        "colors": COLORS, "shapes": SHAPES, "sizes": list(SIZES),
        "heldout_combos": [list(t) for t in ctx["heldout"]],
        "splits": {s: len(v) for s, v in splits.items()},
        "layout": {"videos": "videos/<name>.mp4", "corpus": "video_corpus.csv", "labels": "labels.csv",
                   "splits": "splits.json", "classes": "classes/<split>/<label>/<name>.mp4",
                   "ground_truth": "gt/<name>.json", "high_fps": "hfr/<name>.mkv"},
    }
    if "events" in ctx:
        _write_events(out, records)
        lo, hi = ctx["events"]
        world["events"] = {"min": lo, "max": hi, "seconds_per_event": params["seconds"],
                           "frames_per_event": params["n_frames"]}
        world["layout"].update(events="events.json", youcook2="youcook2.json")
        del world["layout"]["high_fps"]
    write_json(out / "world.json", world, indent=1)


def _write_events(out: Path, records: list[dict]) -> None:
    """``events.json`` (ActivityNet Captions layout) and ``youcook2.json`` (YouCook2's; subsets
    ``training``, ``validation``, ``testing`` for both test splits)."""
    from vidcap.data.events import Event, EventVideo, save_activitynet_captions, save_youcook2

    videos = {rec["name"]: EventVideo(rec["name"], rec["events"]["duration"],
                                      tuple(Event(s, e, text) for (s, e), text
                                            in zip(rec["events"]["segments"], rec["events"]["sentences"])))
              for rec in records}
    save_activitynet_captions(videos, out / "events.json")
    save_youcook2(videos, out / "youcook2.json", subset={rec["name"]: SUBSETS[rec["split"]] for rec in records})


def _link_classes(out: Path, records: list[dict]) -> None:
    """``classes/<split>/<label>/<name>.mp4`` as relative links to ``videos/``."""
    root = out / "classes"
    if root.exists():  # rebuild: drop our old links and empty folders, nothing else
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_symlink() or (path.is_file() and path.suffix == ".mp4"):
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rec in records:
        folder = root / rec["split"] / rec["label"]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / f"{rec['name']}.mp4"
        target = out / "videos" / f"{rec['name']}.mp4"
        try:
            link.symlink_to(os.path.relpath(target, folder))
        except OSError:  # filesystems without symlinks: hard link, else copy
            try:
                os.link(target, link)
            except OSError:
                with atomic_path(link) as tmp:
                    shutil.copy2(target, tmp)


def generate_world(out_dir, *, num_videos: int, seed: int = 0, level: str = "easy",
                   size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float | None = None,
                   high_fps_factor: int | None = None, workers: int | None = None,
                   crf: float = 18, progress: Callback | None = None,
                   events: tuple[int, int] | None = None) -> WorldSummary:
    """Generate ``num_videos`` captioned, labelled videos into ``out_dir``.

    Args:
        out_dir: output folder (created); existing files of the same names are replaced.
        num_videos: how many videos.
        seed: the world's seed. The same seed and arguments give the same decoded
            frames, captions, labels, splits, ground truth and tables, whatever the
            number of workers; the video files themselves are not promised byte for
            byte (they are muxed with ``fflags=+bitexact``, but another FFmpeg or
            x264 build encodes differently).
        level: ``easy`` (flat backgrounds, no clutter), ``medium`` (photos, textures,
            a distractor, light noise) or ``hard`` (camera pan/zoom, distractors,
            occluding pillars, sensor noise).
        size: (width, height) in pixels, both even.
        fps, seconds: frame rate and length; every video has ``round(fps * seconds)`` frames
            (with ``events``: every event). ``seconds`` None: 3, or 5 per event with ``events``.
        high_fps_factor: also write ``hfr/<name>.mkv`` at ``factor * fps`` (lossless); not with ``events``.
        workers: processes (default: one per CPU); the output does not depend on it.
        crf: H.264 quality of ``videos/*.mp4``.
        progress: called with a :class:`vidcap.progress.Progress` (task ``"synth"``,
            unit ``"video"``) after each video; None reports nothing.
        events: None (one action per video, as always) or ``(lo, hi)``: multi-event
            videos. Video ``i`` holds ``K`` events, ``K`` uniform in ``lo..hi`` from
            ``(seed, i)``; each event is one action planned and rendered like a
            one-event video of ``seconds``, so the video lasts ``K * seconds`` and is
            named by it (``syn00003_0_20``). Event 0's action is the world's balanced
            label (``labels.csv``, ``classes/``: the first event's action and objects);
            each later action differs from the one before. At each boundary the scene
            either continues (the same background, new objects) or cuts to a new
            background (``"boundary"`` in the ground truth). Event ``e`` spans
            ``[e * n / fps, (e + 1) * n / fps]`` seconds (``n = round(fps * seconds)``
            frames). ``events.json`` (ActivityNet Captions) and ``youcook2.json`` hold
            each event's sentence (one annotator's caption of it); each row of
            ``video_corpus.csv`` is an annotator's paragraph (one caption per event,
            in order; no non-English or empty rows); ``gt/<name>.json`` adds
            ``"events"`` (label, boundary, frames, seconds, background, objects,
            sentence), a per-frame ``"event"`` and objects numbered across events.

    Returns:
        a :class:`WorldSummary`.
    """
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a callable taking a vidcap.progress.Progress, or None; got {progress!r}")
    started = time.perf_counter()
    if seconds is None:
        seconds = SECONDS if events is None else EVENT_SECONDS
    iterator = iter_world(out_dir, num_videos=num_videos, seed=seed, level=level, size=size, fps=fps,
                          seconds=seconds, high_fps_factor=high_fps_factor, workers=workers, crf=crf, events=events)
    n_captions = 0
    splits: Counter = Counter()
    for done, rec in enumerate(iterator, start=1):
        n_captions += sum(1 for r in rec["corpus"] if r[6] == "English" and r[7])
        splits[rec["split"]] += 1
        report(progress, "synth", done, num_videos, unit="video")
    w, h = (int(v) for v in size)
    summary = WorldSummary(str(out_dir), int(num_videos), int(seed), level, (w, h), _plain(fps), _plain(seconds),
                           int(round(fps * seconds)), None if high_fps_factor is None else int(high_fps_factor),
                           CLASSES,
                           {s: splits.get(s, 0) for s in SPLITS}, n_captions,
                           round(time.perf_counter() - started, 3))
    log.info("generated %d %s videos in %s (%.1f s)", num_videos, level, out_dir, summary.seconds_elapsed)
    return summary


# ----------------------------------------------------------------------------------
# Reading a world back: a contact sheet
# ----------------------------------------------------------------------------------
def contact_sheet(out_dir, path, *, num_videos: int = 8, frames_per_video: int = 4,
                  labels: Sequence[str] | None = None) -> Path:
    """Save a PNG grid of decoded frames, one row per video, with its label and captions.

    ``out_dir`` is a world folder or a list of them (rows then alternate between the
    worlds, e.g. an easy and a hard one). Rows show different classes (``labels``
    picks them; default: the first videos of distinct classes). Frames are decoded
    from the written mp4 files; the drawing is :func:`vidcap.viz.sheets.world_sheet`.
    """
    from vidcap.io.video import sample_frames
    from vidcap.io.images import write_image
    from vidcap.viz.sheets import world_sheet

    worlds = [Path(d) for d in out_dir] if isinstance(out_dir, (list, tuple)) else [Path(out_dir)]
    tables = []
    for world in worlds:
        if not (world / "labels.csv").is_file():
            raise DataError(f"no labels.csv in {str(world)!r}; generate a world there first")
        with open(world / "labels.csv", encoding="utf-8", newline="") as f:
            tables.append(list(csv.DictReader(f)))
    order = list(dict.fromkeys(r["label"] for t in tables for r in t))
    wanted = list(labels) if labels else order[:num_videos]
    rows = []  # (world, labels row)
    for k, lab in enumerate(wanted):
        first = k % len(worlds)  # alternate between the worlds, falling back to the others
        for i in [first] + [i for i in range(len(worlds)) if i != first]:
            match = next((r for r in tables[i] if r["label"] == lab), None)
            if match is not None:
                rows.append((worlds[i], match))
                break
    if not rows:
        raise DataError(f"none of the labels {wanted} occur in {[str(w) for w in worlds]}")
    corpora = {w: _read_corpus(w) for w in worlds}
    frames, frame_labels, titles, captions = [], [], [], []
    for world, row in rows:
        name = row["video"]
        clip = sample_frames(world / "videos" / f"{name}.mp4", frames_per_video, short="repeat")
        frames.append(list(clip.frames))
        frame_labels.append([f"frame {i}" for i in clip.indices])
        titles.append([f"{name} ({row['level']})", f"label: {row['label']}"])
        captions.append([r["Description"] for r in corpora[world] if r["Language"] == "English" and r["Description"]
                         and f"{r['VideoID']}_{r['Start']}_{r['End']}" == name][:3])
    return write_image(path, world_sheet(frames, captions, titles=titles, frame_labels=frame_labels))
