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
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DataError, VidcapError
from vidcap.features.extract import check_fit, decode_fitted, get_engine
from vidcap.features.store import FeatureStore, Params, remove_stale_temps
from vidcap.io.video import SEEK_MODES
from vidcap.io.files import find_videos
from vidcap.parallel import check_main_guard, process_pool
from vidcap.progress import Callback, report
from vidcap.results import ExtractSummary, Features

log = logging.getLogger(__name__)

def _decode_job(path: str, num_frames, fps, short, resize: int, crop: int, seek: str = "exact", fit: str = "crop"):
    """Worker: decode one video's sampled frames at the backbone's input size
    (:func:`~vidcap.features.extract.decode_fitted`).

    Returns ``(clip, None)`` or ``(None, error message)``; never raises, so one
    bad video cannot stop the run.
    """
    try:
        return decode_fitted(path, num_frames, fps=fps, short=short, seek=seek, resize=resize, crop=crop,
                             fit=fit), None
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
    precision: str = "fp32",
    seek: str = "exact",
    fit: str = "crop",
    runner=None,
    progress: Callback | None = None,
) -> ExtractSummary:
    """Extract and store features of every video in ``inputs`` under ``out_dir``.

    ``inputs``: files, folders or ``.txt`` lists. ``workers``: decode processes
    (0 decodes in this process). ``pretrained=False`` uses random weights (for
    timing only; recorded as such). ``precision``: fp32, bf16, int8 or auto (see
    :class:`~vidcap.features.extract.Engine`); the one that runs is part of each video's
    cache key. ``seek="fast"``: keyframes in place of nearby samples, faster on long
    videos, approximate (:func:`vidcap.io.sample_frames`; part of the cache key). ``fit``: how a
    frame becomes the backbone's square, ``crop`` (the centre) or ``pad`` (the whole frame,
    letterboxed; :func:`~vidcap.features.extract.decode_fitted`; part of the cache key).
    ``progress`` gets an event per video. Returns an
    :class:`~vidcap.results.ExtractSummary`; failed videos are recorded there and in
    the store, the others still finish. ``runner``: where the decoding and the backbone
    run instead of here (:class:`vidcap.scale.ray.RayRunner`: a Ray cluster); the
    store, its names, cache keys and records are the same.
    """
    started = time.perf_counter()
    videos = runner.find(inputs) if runner is not None else find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {inputs!r}")
    if num_frames is None and fps is None:
        raise ConfigError("give num_frames or fps")
    if seek not in SEEK_MODES:
        raise ConfigError(f"seek must be one of {SEEK_MODES}, got {seek!r}")
    check_fit(fit)
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}")
    if workers and len(videos) > 1 and runner is None:
        check_main_guard()  # before anything is written

    if runner is not None and precision != "fp32":
        raise ConfigError(f"precision {precision!r} is not available with a cluster runner yet; use fp32")

    store = FeatureStore(out_dir)
    remove_stale_temps(store.root)
    engine = get_engine(backbone, backend, pretrained, precision)
    params = Params(backbone, engine.weights_key, None if fps is not None else num_frames, fps, short,
                    engine.precision, seek, fit)
    names = store.assign_names(videos)

    summary = ExtractSummary(out_dir=str(store.root))
    todo = []
    for video, name in zip(videos, names):
        if (runner.is_current(store, name, video, params) if runner is not None
                else video.is_file() and store.is_current(name, video, params)):
            summary.records.append(store.read_record(name))
            summary.skipped += 1
        else:
            todo.append((video, name))

    report(progress, "extract", summary.skipped, len(videos))
    job_args = (num_frames if fps is None else None, fps, short, engine.backbone.resize, engine.backbone.crop, seek,
                fit)

    def finish(video: Path, name: str, clip, error, feats=None, **hashes):
        """Store one video's result; ``feats`` and ``hashes`` (digest, stat) when a runner computed them."""
        if error is not None:
            record = store.save_failure(name, video, params, error)
            log.warning("%s", error)
        else:
            if feats is None:
                feats = np.zeros((len(clip.frames), engine.backbone.dim), dtype=np.float32)
                if clip.mask.any():
                    feats[clip.mask] = engine(clip.frames[clip.mask])
            features = Features(feats, clip.timestamps, clip.indices, clip.mask, backbone, str(video))
            record = store.save_features(name, video, params, features, clip.info, **hashes)
        summary.records.append(record)
        report(progress, "extract", len(summary.records), len(videos), info={"failed": len(summary.failed)})

    try:
        if runner is not None:
            if todo:
                runner.run(todo, job_args, finish, engine=(backbone, backend, pretrained))
        elif workers == 0 or len(todo) <= 1:
            for video, name in todo:
                finish(video, name, *_decode_job(str(video), *job_args))
        else:
            _run_pool(todo, job_args, workers, finish)
    finally:
        summary.seconds = time.perf_counter() - started
        order = {name: i for i, name in enumerate(names)}
        summary.records.sort(key=lambda r: order.get(r["name"], len(order)))
        store.write_manifest()
    return summary


def _run_pool(todo, job_args, workers: int, finish) -> None:
    """Decode in processes, at most ``2 * workers`` videos ahead of inference.

    If a decoder process dies (a crash inside FFmpeg), the videos it had in hand
    are recorded as failed and a fresh pool carries on with the rest.
    """
    queue = iter(todo)
    while True:
        pending: dict = {}
        with process_pool(workers) as pool:
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
