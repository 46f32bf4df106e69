"""vidcap's batch commands on a Ray cluster: a Ray Data pipeline over the same task functions.

``--engine ray`` (``engine="ray"`` in :mod:`vidcap.api`) runs ``extract``, ``caption``,
``index``, ``subtitles`` and ``describe`` over a cluster instead of this machine's
processes; what they compute is the local engine's, by the same code:

* **extract**: the videos are decoded and sampled in CPU tasks
  (:func:`vidcap.features.pipeline._decode_job`), the backbone runs in a pool of
  actors (``map_batches`` with an ``ActorPoolStrategy``, the model loaded once per
  actor), and this process -- the driver -- stores each result as it arrives, through
  :func:`vidcap.features.pipeline.extract_many` itself: the same feature store,
  names, cache keys, records and manifest, so a re-run skips what is done.
* **caption**, **index**, **subtitles**, **describe**: actors run the task's own
  function on their videos (the captioner, the retrieval model, Whisper loaded once
  per actor); ``index`` writes into the library under its lock, as concurrent local
  runs do, so the library must be on a folder every node reaches.

Each actor asks for one GPU when the cluster has GPUs; on CPUs the actors hold at
most half of the CPUs and the decode tasks take fractions of one, so the tasks that
feed the actors are never starved of CPUs (the hang of Ray issue 44687). A failure
of one video is recorded as the local engine records it; a worker process that dies
(a crash, a kill, a lost node) is replaced and its videos are retried, up to
``RETRIES`` times, one video at a time in the end, so one poisonous video fails alone.
One progress callback reports videos done, from the driver; Ray's own bars are off.

Ray is the optional extra ``vidcap[ray]``; the cluster is the one this process is
connected to, else ``address`` (or ``RAY_ADDRESS``), else a local instance started for
the job and stopped after it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import warnings
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DataError, MissingDependencyError, VidcapError
from vidcap.progress import Callback, report
from vidcap.scale.sources import find_inputs, is_uri, local_copy, remote_stat

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
INSTALL = 'pip install "vidcap[ray]"'
RETRIES = 2  # a video whose worker process died is tried this many more times
# Ray Data settings for a job: no bars of its own (the driver reports), the original
# exception of a task, and blocks whose retries ran out are dropped (and recorded) instead of failing the job
DATA_SETTINGS = {"enable_progress_bars": False, "print_on_execution_start": False, "max_errored_blocks": -1,
                 "raise_original_map_exception": True, "max_consecutive_actor_init_deaths": RETRIES}


def uses_ray(engine: str) -> bool:
    """True for ``engine="ray"`` (Ray must be installed), False for ``"local"``."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "ray":
        _ray()
    return engine == "ray"


def _ray():
    """The ray module (importing it sets RAY_CLIENT_MODE=0, its default: the environment is left as it was)."""
    import sys

    if "ray.data" in sys.modules:
        return sys.modules["ray"]
    env = dict(os.environ)
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError(f"--engine ray needs Ray, which is not installed; install it with `{INSTALL}`") \
            from None
    finally:
        _restore(env)
    return ray


@contextlib.contextmanager
def session(address: str | None = None):
    """Ray for one job: the cluster this process is connected to, else the one at ``address``
    (``"auto"``: the one started on this machine with ``ray start``; None: ``RAY_ADDRESS``),
    else a local instance on this machine's cores, shut down afterwards with the
    environment restored."""
    env = dict(os.environ)
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            _restore(env)
            where = address or os.environ.get("RAY_ADDRESS") or "this machine"
            raise ConfigError(f"cannot connect to the Ray cluster at {where}: {str(exc).splitlines()[0]}") from None
    ctx = ray.data.DataContext.get_current()
    saved = {k: getattr(ctx, k) for k in DATA_SETTINGS}
    for k, v in DATA_SETTINGS.items():
        setattr(ctx, k, v)
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        data_log.setLevel(level)
        for k, v in saved.items():
            setattr(ctx, k, v)
        if started:
            ray.shutdown()
            _restore(env)


def _restore(env: dict) -> None:
    for k in set(os.environ) - set(env):
        del os.environ[k]
    os.environ.update(env)


# --------------------------------------------------------------------------- resources
@dataclasses.dataclass(frozen=True)
class Plan:
    """How a job uses the cluster: model actors and their resources, decode-task CPUs, videos per block."""

    actors: int
    actor_cpus: float
    actor_gpus: float
    task_cpus: float
    per_block: int


def plan(resources: dict, videos: int, workers: int | None = None, *, max_block: int = 8) -> Plan:
    """The actors (``workers``, default one per GPU, else one per two CPUs), one GPU each
    when there are GPUs, at most half of the CPUs for all of them, so the decode tasks
    (half a CPU each on small clusters) always have CPUs left (Ray issue 44687)."""
    cpus, gpus = float(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    if workers is not None and workers < 1:
        raise ConfigError(f"workers (model actors) must be 1 or more with --engine ray, got {workers}")
    actors = workers or gpus or max(1, int(cpus // 2))
    return Plan(actors=actors, actor_cpus=round(min(1.0, cpus / (2 * actors)), 3), actor_gpus=1.0 if gpus else 0.0,
                task_cpus=1.0 if cpus >= 8 else 0.5, per_block=max(1, min(max_block, videos // (8 * actors))))


# --------------------------------------------------------------------------- running stages
def _apply(batch: dict, fn) -> dict:
    """Run ``fn`` on every row's payload of a batch (payloads travel pickled)."""
    out = [pickle.dumps(fn(pickle.loads(d)), protocol=5) for d in batch["data"]]
    return {"key": batch["key"], "data": np.array(out, dtype=object)}


def _task(batch: dict, fn, kwargs: dict) -> dict:
    return _apply(batch, lambda item: fn(item, **kwargs))


class _Actor:
    """A model stage: ``cls(**kwargs)`` built once per actor; its ``one(item)`` is called per
    video, or its ``many(items)`` once per block when it has one."""

    def __init__(self, cls, kwargs: dict):
        self.stage = cls(**kwargs)

    def __call__(self, batch: dict) -> dict:
        if not hasattr(self.stage, "many"):
            return _apply(batch, self.stage.one)
        outs = self.stage.many([pickle.loads(d) for d in batch["data"]])
        return {"key": batch["key"], "data": np.array([pickle.dumps(o, protocol=5) for o in outs], dtype=object)}


def run_stages(ray, items: list, stages: list, p: Plan):
    """Yield ``(key, output)`` for each ``(key, payload)`` of ``items`` as it comes out of
    ``stages`` (``("task", fn, kwargs)`` or ``("actor", cls, kwargs)``), in any order; a
    video whose retries ran out is tried again alone, then yields ``(key, None)``."""
    todo, per_block = list(items), p.per_block
    while todo:
        ds = ray.data.from_items([{"key": k, "data": pickle.dumps(v, protocol=5)} for k, v in todo],
                                 override_num_blocks=max(1, -(-len(todo) // per_block)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 2.60 names no parameter yet for the retry bounds it still honours
            for kind, fn, kwargs in stages:
                if kind == "task":
                    ds = ds.map_batches(_task, fn_kwargs={"fn": fn, "kwargs": kwargs}, batch_size=None,
                                        num_cpus=p.task_cpus, max_retries=RETRIES)
                else:
                    ds = ds.map_batches(_Actor, fn_constructor_kwargs={"cls": fn, "kwargs": kwargs}, batch_size=None,
                                        compute=ray.data.ActorPoolStrategy(size=p.actors), num_cpus=p.actor_cpus,
                                        num_gpus=p.actor_gpus or None, max_restarts=-1, max_task_retries=RETRIES)
        done = set()
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for key, data in zip(batch["key"], batch["data"]):
                    done.add(int(key))
                    yield int(key), pickle.loads(data)
        except VidcapError:
            raise
        except Exception as exc:  # noqa: BLE001 -- Ray's own failure (not a video's): one sentence
            cause = _vidcap_cause(exc)
            if cause is not None:
                raise cause from None
            raise VidcapError(f"the Ray job failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        todo = [(k, v) for k, v in todo if k not in done]
        if per_block == 1:
            for k, _ in todo:
                yield k, None
            return
        per_block = 1  # the videos of blocks whose retries ran out: again, one per block


def _vidcap_cause(exc: BaseException) -> VidcapError | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, VidcapError):
            return exc
        exc, seen = exc.__cause__ or getattr(exc, "cause", None), seen + 1
    return None


def crashed(video) -> str:
    """The error recorded for a video whose worker process died on every try."""
    return (f"{video}: the worker process died on this video {RETRIES + 1} times (a crash in the decoder or "
            "the model, out of memory, or a lost node)")


# --------------------------------------------------------------------------- extract
def _decode(item: dict, job: tuple) -> dict:
    """CPU task: one video's sampled frames (the local pipeline's decoder), hashed where it is read."""
    from vidcap.features.pipeline import _decode_job

    video, tmp = item["video"], None
    try:
        with local_copy(video) as (path, digest, stat):
            tmp = str(path) if is_uri(video) else None
            clip, error = _decode_job(str(path), *job)
            if error is None:
                if tmp:
                    clip.info = dataclasses.replace(clip.info, path=video)
                return {"clip": clip, "error": None, "digest": digest(), "stat": stat()}
    except VidcapError as exc:
        error = str(exc)
    except OSError as exc:  # the file went away between decoding and hashing
        from vidcap.io.files import describe_os_error

        error = f"{video}: {describe_os_error(exc)}"
    return {"clip": None, "error": error.replace(tmp, video) if tmp else error}


class _Backbone:
    """Model stage of extract: the frame backbone (``vidcap.features.extract.get_engine``)."""

    def __init__(self, backbone: str, backend: str, pretrained: bool):
        from vidcap.features.extract import get_engine

        self.engine = get_engine(backbone, backend, pretrained)

    def one(self, out: dict) -> dict:
        from vidcap.features.extract import features_of

        clip = out["clip"]
        if clip is not None:
            try:
                out["feats"] = features_of(clip, self.engine).features
            except Exception as exc:  # recorded for this video, as the local pipeline records decode errors
                log.exception("backbone failed on %s", clip.info.path)
                out = {"clip": None, "error": f"{clip.info.path}: unexpected error: {type(exc).__name__}: {exc}"}
            else:
                clip.frames = clip.frames[:0]  # the driver needs the timestamps, not the pixels
        return out


class RayRunner:
    """Where :func:`vidcap.features.pipeline.extract_many` runs its videos with ``runner=``:
    decode tasks and backbone actors on a Ray cluster (see the module docstring)."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        _ray()
        self.address, self.workers = address, workers

    find = staticmethod(find_inputs)

    @staticmethod
    def is_current(store, name: str, video, params) -> bool:
        if is_uri(video):
            stat = remote_stat(video)
            return stat is not None and store.is_current(name, video, params, stat=stat)
        return video.is_file() and store.is_current(name, video, params)

    def run(self, todo: list, job: tuple, finish, *, engine: tuple) -> None:
        items = [(i, {"video": v if is_uri(v) else str(v)}) for i, (v, _) in enumerate(todo)]
        backbone, backend, pretrained = engine
        with session(self.address) as ray:
            p = plan(ray.cluster_resources(), len(items), self.workers)
            log.debug("ray: %d videos on %d backbone actor(s) %s", len(items), p.actors, p)
            stages = [("task", _decode, {"job": job}),
                      ("actor", _Backbone, {"backbone": backbone, "backend": backend, "pretrained": pretrained})]
            for key, out in run_stages(ray, items, stages, p):
                video, name = todo[key]
                if out is None:
                    finish(video, name, None, crashed(video))
                elif out["error"] is not None:
                    finish(video, name, None, out["error"])
                else:
                    finish(video, name, out["clip"], None, out["feats"], digest=out["digest"], stat=out["stat"])


# --------------------------------------------------------------------------- caption
class _Caption:
    """Model stage of caption: a :class:`~vidcap.tasks.caption.Captioner`, loaded once."""

    def __init__(self, model, beam_size, length_penalty):
        from vidcap.tasks.caption import Captioner

        self.captioner = Captioner.load(model)
        self.beam_size, self.length_penalty = beam_size, length_penalty

    def one(self, item: dict):
        from vidcap.results import CaptionResult

        video = item["video"]
        beam = self.captioner.beam_size if self.beam_size is None else int(self.beam_size)
        tmp = None
        try:
            with local_copy(video) as (path, _, _):
                tmp = str(path) if is_uri(video) else None
                result = self.captioner.caption_one(video if tmp is None else path, beam_size=beam,
                                                    length_penalty=self.length_penalty)
            return dataclasses.replace(result, video=video), None
        except VidcapError as exc:
            error = str(exc).replace(tmp, video) if tmp else str(exc)
            return CaptionResult(video, "", None, beam, error), type(exc)(error)


def caption(videos, *, model=None, beam_size: int | None = None, length_penalty: float | None = None,
            errors: str = "raise", address: str | None = None, workers: int | None = None,
            progress: Callback | None = None) -> list:
    """:meth:`vidcap.tasks.caption.Captioner.caption` on a Ray cluster (inputs may be URIs)."""
    if errors not in ("raise", "record"):
        raise ConfigError(f"errors={errors!r} must be 'raise' or 'record'")
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ConfigError("with --engine ray give the caption model as a path (each actor loads it once)")
    paths = find_inputs(videos)
    if not paths:
        raise DataError(f"no video to caption in {videos!r}")
    items = [(i, {"video": v if is_uri(v) else str(v)}) for i, v in enumerate(paths)]
    results: list = [None] * len(items)
    with session(address) as ray:
        p = plan(ray.cluster_resources(), len(items), workers)
        stage = ("actor", _Caption, {"model": None if model is None else str(model), "beam_size": beam_size,
                                     "length_penalty": length_penalty})
        for done, (key, out) in enumerate(run_stages(ray, items, [stage], p), start=1):
            if out is None:
                from vidcap.results import CaptionResult

                out = (CaptionResult(items[key][1]["video"], "", None, beam_size or 0, crashed(items[key][1]["video"])),
                       VidcapError(crashed(items[key][1]["video"])))
            result, exc = out
            if exc is not None and errors == "raise":
                raise exc
            results[key] = result
            report(progress, "caption", done, len(items), item=result)
    return results


# --------------------------------------------------------------------------- index
class _Index:
    """Model stage of index: :func:`vidcap.tasks.search.index` on each video, into the shared library."""

    def __init__(self, library, options: dict):
        from vidcap.tasks.retrieval import RetrievalModel

        model = options.get("model")
        if model not in (None, "none"):
            options = {**options, "model": RetrievalModel.load(model)}  # once per actor
        self.library, self.options = library, options

    def many(self, items: list[dict]) -> list[dict]:
        from vidcap.tasks.search import index

        videos = [item["video"] for item in items]
        try:
            s = index(videos, self.library, **self.options)
        except VidcapError as exc:  # the job's problem (models, library), not a video's
            return [{"job_error": exc}] * len(items)
        status = {_resolved(p): {"status": "added"} for p in s.added}
        status.update({_resolved(p): {"status": "skipped"} for p in s.skipped})
        status.update({_resolved(f["path"]): {"status": "failed", "error": f["error"]} for f in s.failed})
        return [status.get(_resolved(v), {"status": "failed", "error": f"{v}: not indexed"}) for v in videos]


def _resolved(path) -> str:
    return str(Path(path).resolve())


def index(inputs, library, *, model=None, caption_model=None, transcripts: bool = True, tags: bool = True,
          ocr: bool = False, clip=None, moments: bool = False, backbone=None, num_frames=None,
          address: str | None = None, workers: int | None = None, progress: Callback | None = None):
    """:func:`vidcap.tasks.search.index` on a Ray cluster: each video once into ``library``
    (a folder every node reaches, or an object-store URI), whatever is killed and retried."""
    import time

    from vidcap.io.files import find_videos
    from vidcap.results import IndexSummary
    from vidcap.tasks.library import Library

    started = time.perf_counter()
    local_only(inputs, "index")
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ConfigError("with --engine ray give the retrieval model as a path (each actor loads it once)")
    videos = find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {inputs!r}")
    lib = Library(library, create=True)
    root = lib.root if lib.remote else lib.root.resolve()
    options = {"model": None if model is None else str(model), "caption_model": caption_model,
               "transcripts": transcripts, "tags": tags, "ocr": ocr, "clip": None if clip is None else str(clip),
               "moments": moments,
               "backbone": backbone, "num_frames": num_frames}
    items = [(i, {"video": str(v)}) for i, v in enumerate(videos)]
    summary = IndexSummary(str(lib.root))
    with session(address) as ray:
        p = plan(ray.cluster_resources(), len(items), workers, max_block=64)  # the library's text index is rebuilt per block
        for done, (key, out) in enumerate(run_stages(ray, items, [("actor", _Index, {"library": str(root),
                                                                                      "options": options})], p),
                                          start=1):
            video = items[key][1]["video"]
            out = out or {"status": "failed", "error": crashed(video)}
            if "job_error" in out:
                raise out["job_error"]
            if out["status"] == "failed":
                summary.failed.append({"path": video, "error": out["error"]})
            else:
                getattr(summary, out["status"]).append(video)
            report(progress, "index", done, len(items), info={"failed": len(summary.failed)})
    summary.total = len(Library(root))
    summary.seconds = time.perf_counter() - started
    return summary


def local_only(inputs, command: str) -> None:
    """Refuse object-store inputs where a task records local paths."""
    for item in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        if is_uri(str(item)):
            raise ConfigError(f"{item}: `vidcap {command}` reads local files (or a folder every node mounts); "
                              "object-store URIs work with extract and caption")


# --------------------------------------------------------------------------- subtitles and describe
class _PerVideo:
    """Model stage of subtitles / describe: the task function per video, its models loaded once."""

    def __init__(self, task: str, options: dict):
        from vidcap.tasks import subtitles

        self.fn = getattr(subtitles, task)
        if task == "describe":  # the captioner loaded once per actor
            from vidcap.tasks.caption import Captioner

            model = options.get("model")
            options = {**{k: v for k, v in options.items() if k != "model"}, "captioner": Captioner.load(model)}
            if options.get("boundaries") is not None:
                from vidcap.tasks.boundaries import BoundaryModel

                options["boundaries"] = BoundaryModel.load(options["boundaries"])
        self.options = options

    def one(self, item: dict):
        from vidcap.results import Failure

        try:
            return self.fn(item["video"], output=item["output"], **self.options)
        except VidcapError as exc:
            return Failure(item["video"], str(exc))


def per_video(task: str, inputs, out_dir, options: dict, *, suffix: str, address: str | None = None,
              workers: int | None = None, progress: Callback | None = None) -> list:
    """``task`` (``"subtitles"`` or ``"describe"``) on every video of ``inputs`` on a Ray
    cluster, each into ``out_dir/<name><suffix>``; videos whose output exists are skipped
    (outputs are written atomically, so one that exists is complete)."""
    from vidcap.io.files import find_videos

    local_only(inputs, task)
    if out_dir is None:
        raise ConfigError(f"with --engine ray give -o FOLDER: each video's {suffix} goes there")
    out = Path(out_dir)
    if out.suffix.lower() in (".srt", ".vtt", ".json") or (out.exists() and not out.is_dir()):
        raise ConfigError(f"with --engine ray -o names a folder (each video's {suffix} goes there), not {out}")
    videos = find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {inputs!r}")
    out.mkdir(parents=True, exist_ok=True)
    targets = [out / f"{n}{suffix}" for n in unique_names(videos)]
    items = [(i, {"video": str(v), "output": str(t)}) for i, (v, t) in enumerate(zip(videos, targets))
             if not t.exists()]
    if len(items) < len(videos):
        report(progress, task, 0, len(items), message=f"{len(videos) - len(items)} video(s) already done in {out}")
    results: dict = {}
    if not items:
        return []
    with session(address) as ray:
        p = plan(ray.cluster_resources(), len(items), workers)
        for key, result in run_stages(ray, items, [("actor", _PerVideo, {"task": task, "options": options})], p):
            if result is None:
                from vidcap.results import Failure

                result = Failure(str(videos[key]), crashed(videos[key]))
            results[key] = result
            report(progress, task, len(results), len(items), item=result)
    return [results[k] for k in sorted(results)]


def unique_names(videos: list[Path]) -> list[str]:
    """A file name per video: its stem, ``<stem>-<8 hex of its path>`` for the later ones that share it."""
    import hashlib

    seen: set[str] = set()
    names = []
    for v in videos:
        stem = Path(v).stem
        names.append(stem if stem not in seen else f"{stem}-{hashlib.sha1(str(Path(v).resolve()).encode()).hexdigest()[:8]}")
        seen.add(stem)
    return names
