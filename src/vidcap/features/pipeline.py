"""Features for many videos: decode in worker processes, infer in batches, store, resume.

Decoding runs in ``workers`` processes while the main process runs the backbone,
so the two overlap. Each video's result is stored as soon as it is ready; a
failed video is recorded with its error and the rest carry on. Re-running skips
the videos whose features are current (see :class:`FeatureStore`).
"""
from __future__ import annotations

import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from vidcap.errors import ConfigError, DataError, VidcapError
from vidcap.features.extract import Features, get_engine
from vidcap.features.store import FeatureStore, Params, remove_stale_temps
from vidcap.io import center_crop, sample_frames
from vidcap.parallel import pool_context

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}


@dataclass
class ExtractSummary:
    """What a run did: one record per video (see FeatureStore.save) and counts."""

    out_dir: Path
    records: list[dict] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "ok"]

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "videos": len(self.records),
            "ok": len(self.ok),
            "skipped": self.skipped,
            "failed": [{"source": r["source"], "error": r["error"]} for r in self.failed],
            "seconds": round(self.seconds, 3),
        }


def find_videos(inputs: Iterable) -> list[Path]:
    """Expand files, folders (searched recursively for video extensions) and
    ``.txt`` lists of paths (one per line, ``#`` comments) into video paths."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
        elif path.suffix.lower() == ".txt" and path.is_file():
            base = path.parent
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line)
                    found.append(entry if entry.is_absolute() else base / entry)
        else:
            found.append(path)  # missing or odd files are recorded as failures later
    seen, unique = set(), []
    for p in found:
        key = str(p.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _decode_job(path: str, num_frames, fps, short, resize: int, crop: int):
    """Worker: decode one video's sampled frames at the backbone's input size.

    Returns ``(clip, None)`` or ``(None, error message)``; never raises, so one
    bad video cannot stop the run.
    """
    try:
        clip = sample_frames(path, num_frames, fps=fps, short=short, short_side=resize)
        clip.frames = np.ascontiguousarray(center_crop(clip.frames, crop))
        return clip, None
    except VidcapError as exc:
        return None, str(exc)
    except Exception as exc:  # an unexpected failure is recorded, not fatal
        log.exception("unexpected error decoding %s", path)
        return None, f"{path}: unexpected error: {type(exc).__name__}: {exc}"


def default_workers() -> int:
    """One decode process per spare core, at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def extract_many(
    inputs,
    out_dir,
    *,
    backbone: str = "mobilenet_v2",
    num_frames: int | None = 80,
    fps: float | None = None,
    short: str = "pad",
    workers: int | None = None,
    backend: str = "auto",
    pretrained: bool = True,
    progress: bool = False,
) -> ExtractSummary:
    """Extract and store features of every video in ``inputs`` under ``out_dir``.

    ``inputs``: files, folders or ``.txt`` lists. ``workers``: decode processes
    (0 decodes in this process). ``pretrained=False`` uses random weights (for
    timing only; recorded as such). Returns an :class:`ExtractSummary`; failed
    videos are recorded there and in the store, the others still finish.
    """
    started = time.perf_counter()
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    videos = find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {list(map(str, inputs))}")
    if num_frames is None and fps is None:
        raise ConfigError("give num_frames or fps")
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}")

    store = FeatureStore(out_dir)
    remove_stale_temps(store.root)
    engine = get_engine(backbone, backend, pretrained)
    params = Params(backbone, engine.backbone.weights_hash() if engine.pretrained else "random",
                    None if fps is not None else num_frames, fps, short)
    names = store.assign_names(videos)

    summary = ExtractSummary(out_dir=store.root)
    todo = []
    for video, name in zip(videos, names):
        if video.is_file() and store.is_current(name, video, params):
            summary.records.append(store.read_record(name))
            summary.skipped += 1
        else:
            todo.append((video, name))

    bar = _progress(len(videos), summary.skipped, progress)
    job_args = (num_frames if fps is None else None, fps, short, engine.backbone.resize, engine.backbone.crop)

    def finish(video: Path, name: str, clip, error):
        if error is not None:
            record = store.save_failure(name, video, params, error)
            log.warning("%s", error)
        else:
            feats = np.zeros((len(clip.frames), engine.backbone.dim), dtype=np.float32)
            if clip.mask.any():
                feats[clip.mask] = engine(clip.frames[clip.mask])
            record = store.save(name, video, params, Features(feats, clip.timestamps, clip.indices, clip.mask, backbone), clip.info)
        summary.records.append(record)
        bar.update(1)
        bar.set_postfix(failed=len(summary.failed), refresh=False)

    try:
        if workers == 0 or len(todo) <= 1:
            for video, name in todo:
                finish(video, name, *_decode_job(str(video), *job_args))
        else:
            _run_pool(todo, job_args, workers, finish)
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - started
        order = {name: i for i, name in enumerate(names)}
        summary.records.sort(key=lambda r: order.get(r["name"], len(order)))
        store.write_manifest(summary.records)
    return summary


def _run_pool(todo, job_args, workers: int, finish) -> None:
    """Decode in processes, at most ``2 * workers`` videos ahead of inference.

    If a decoder process dies (a crash inside FFmpeg), the videos it had in hand
    are recorded as failed and a fresh pool carries on with the rest.
    """
    ctx = pool_context()
    queue = iter(todo)
    while True:
        pending: dict = {}
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            def submit_next() -> bool:
                item = next(queue, None)
                if item is not None:
                    pending[pool.submit(_decode_job, str(item[0]), *job_args)] = item
                return item is not None

            for _ in range(2 * workers):
                submit_next()
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        video, name = pending[future]
                        result = future.result()  # raises BrokenProcessPool if a decoder died
                        del pending[future]
                        submit_next()
                        finish(video, name, *result)
                return
            except BrokenProcessPool:
                for video, name in pending.values():
                    finish(video, name, None, f"{video}: the decoder process crashed on this or a video decoded beside it")


def _progress(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="video", desc="extract", disable=not enabled, dynamic_ncols=True)
