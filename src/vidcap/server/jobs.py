"""Jobs: a bounded queue in front of a small pool of worker threads in the server's process.

The threads share the process's loaded models (:class:`vidcap.server.tasks.Models`),
so they stay warm between jobs. At most ``workers`` jobs run and ``queue`` wait; one
more is refused with :class:`QueueFull` (HTTP 429 with ``Retry-After``).

Progress comes from the task's own ``progress=`` callback: each event updates the
job's live state and wakes the server-sent-event streams that follow it. The same
callback is how a job is cancelled: once ``DELETE /api/jobs/{id}`` set the job's
flag, the next call raises :class:`JobCancelled` inside the task, which unwinds it
(its files are written atomically, so nothing half-written is left) and the job ends
``cancelled``. Records live in SQLite (:mod:`vidcap.server.db`); a job that a stopped
server left queued or running is marked failed with a reason at the next start.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from vidcap.errors import VidcapError
from vidcap.server.db import FINISHED, Database, now
from vidcap.server.tasks import RUNNERS, Context, Models, Params, stages
from vidcap.server.uploads import media_type

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised by a cancelled job's progress callback (not a VidcapError: no task may record it as a failure)."""


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"the job queue is full; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Live:
    """The in-memory state of a queued or running job."""

    task: str
    stages: tuple[str, ...]
    duration: float  # seconds of the video, for progress reported in seconds without a total
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "queued"
    progress: float = 0.0
    stage: str | None = None
    message: str | None = None
    info: dict = field(default_factory=dict)


def fraction(event, live: Live) -> float:
    """Overall progress 0-1 of a job from one event of one of its stages."""
    f = event.fraction
    if f is None and event.unit == "s" and live.duration > 0:
        f = min(1.0, max(0.0, float(event.done) / live.duration))
    if f is None:
        return live.progress
    k = live.stages.index(event.task) if event.task in live.stages else 0
    return (k + f) / len(live.stages)


class Scrubber:
    """Takes the server's own paths out of what a job reports (results, error sentences)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = [(a, b) for a, b in pairs if a]

    def __call__(self, obj):
        if isinstance(obj, str):
            for a, b in self.pairs:
                obj = obj.replace(a, b)
            return obj
        if isinstance(obj, dict):
            return {k: self(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self(v) for v in obj]
        return obj


class JobManager:
    """Submit, follow and cancel jobs (see the module docstring)."""

    def __init__(self, db: Database, root: Path, models: Models, *, workers: int, queue: int, data: Path):
        self.db, self.root, self.models, self.data = db, Path(root), models, Path(data)
        self.workers, self.queue = int(workers), int(queue)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vidcap-job")
        self.live: dict[str, Live] = {}
        self.runners = dict(RUNNERS)
        self._lock = threading.Lock()
        self._durations: deque[float] = deque(maxlen=20)
        self._watchers: dict[str, set] = {}
        self._loop = None
        self.stopping = False

    # -- life
    def start(self, loop) -> None:
        self._loop = loop

    def shutdown(self) -> None:
        """Stop taking jobs; running ones are stopped at their next progress event and marked failed."""
        self.stopping = True
        with self._lock:
            for live in self.live.values():
                live.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- submit and follow
    def counts(self) -> dict:
        with self._lock:
            running = sum(1 for v in self.live.values() if v.state == "running")
            return {"running": running, "queued": len(self.live) - running, "workers": self.workers,
                    "capacity": self.workers + self.queue}

    def retry_after(self, queued: int) -> int:
        mean = sum(self._durations) / len(self._durations) if self._durations else 5.0
        return int(min(300, max(1, round(mean * (queued + 1) / self.workers))))

    def submit(self, task: str, video: dict, params: Params) -> dict:
        with self._lock:
            if self.stopping:
                raise QueueFull(5)
            if len(self.live) >= self.workers + self.queue:
                raise QueueFull(self.retry_after(len(self.live) - self.workers))
            jid = secrets.token_hex(16)
            self.live[jid] = Live(task, stages(task, params), float(video["info"].get("duration") or 0.0))
            self.db.add_job({"id": jid, "task": task, "video": video["id"], "params": params.model_dump()})
        self.pool.submit(self._run, jid, task, video, params)
        return self.get(jid)

    def get(self, jid: str) -> dict | None:
        row = self.db.job(jid)
        return None if row is None else self.overlay(row)

    def overlay(self, row: dict) -> dict:
        """A job's record with its live state (progress, stage) while it is queued or running."""
        row.setdefault("stage", None)
        row.setdefault("message", None)
        live = self.live.get(row["id"])
        if live is not None and row["state"] not in FINISHED:
            row.update(state=live.state, progress=round(live.progress, 4), stage=live.stage, message=live.message,
                       info=live.info)
        return row

    def cancel(self, jid: str) -> dict | None:
        """Ask a queued or running job to stop; a queued one ends at once, a running one at its next event."""
        with self._lock:
            live = self.live.get(jid)
            if live is not None:
                live.cancel.set()
                if live.state == "queued":  # no worker has it yet: it never starts
                    self.live.pop(jid)
                    self.db.update_job(jid, state="cancelled", error="cancelled", finished=now())
        self._notify(jid)
        return self.get(jid)

    def remove(self, jid: str) -> bool:
        """Forget a finished job and delete its files."""
        row = self.db.job(jid)
        if row is None or row["state"] not in FINISHED:
            return False
        shutil.rmtree(self.root / jid, ignore_errors=True)
        return self.db.remove_job(jid)

    # -- watching (server-sent events)
    def watch(self, jid: str, event) -> None:
        """``event`` (an asyncio.Event of the server's loop) is set whenever the job changes."""
        with self._lock:
            self._watchers.setdefault(jid, set()).add(event)

    def unwatch(self, jid: str, event) -> None:
        with self._lock:
            self._watchers.get(jid, set()).discard(event)
            if not self._watchers.get(jid):
                self._watchers.pop(jid, None)

    def _notify(self, jid: str) -> None:
        with self._lock:
            events = list(self._watchers.get(jid, ()))
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for ev in events:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    # -- running
    def _callback(self, jid: str, live: Live):
        last = [0.0]

        def progress(event) -> None:
            if live.cancel.is_set():
                raise JobCancelled(jid)
            if event is None:
                return
            live.progress = max(live.progress, fraction(event, live))
            live.stage = event.task
            live.info = {k: v for k, v in (event.info or {}).items() if isinstance(v, (int, float, str))}
            if event.message:
                live.message = event.message
            t = time.monotonic()
            if t - last[0] >= 0.1 or (event.total is not None and event.done >= event.total):
                last[0] = t
                self._notify(jid)

        return progress

    def _run(self, jid: str, task: str, video: dict, params: Params) -> None:
        with self._lock:
            live = self.live.get(jid)
            if live is None:  # cancelled while it waited
                return
            live.state = "running"
        out = self.root / jid
        state, error, result, seconds = "failed", None, None, None
        started = time.monotonic()
        video_path = self.data / video["file"]
        scrub = Scrubber([(str(video_path), video["name"]), (str(out) + "/", ""), (str(self.data), "data")])
        try:
            if live.cancel.is_set():
                raise JobCancelled(jid)
            self.db.update_job(jid, state="running", started=now())
            self._notify(jid)
            out.mkdir(parents=True, exist_ok=True)
            ctx = Context(video_path, out, params, self._callback(jid, live), self.models)
            began = time.monotonic()
            result = scrub(self.runners[task](ctx))
            seconds = round(time.monotonic() - began, 4)  # the task itself, without queue and HTTP
            state = "done"
        except JobCancelled:
            state = "failed" if self.stopping else "cancelled"
            error = "the server stopped while this job ran" if self.stopping else "cancelled"
        except VidcapError as exc:
            error = scrub(str(exc))
            log.info("job %s (%s) failed: %s", jid, task, error)
        except Exception as exc:  # a defect: the log has the traceback, the client one sentence
            log.exception("job %s (%s) failed", jid, task)
            error = f"internal error while running {task} ({type(exc).__name__}); the server log has the details"
        if state != "done":
            shutil.rmtree(out, ignore_errors=True)
        files = self._files(jid, out) if state == "done" else []
        self.db.update_job(jid, state=state, progress=1.0 if state == "done" else live.progress, error=error,
                           result=result, files=files, finished=now(), seconds=seconds)
        with self._lock:
            self.live.pop(jid, None)
            if state == "done":
                self._durations.append(time.monotonic() - started)
        self._notify(jid)

    @staticmethod
    def _files(jid: str, out: Path) -> list[dict]:
        files = []
        for p in sorted(out.iterdir()) if out.is_dir() else []:
            if p.name.startswith(".") or not p.is_file() or p.is_symlink():
                continue
            files.append({"name": p.name, "type": media_type(p.name).split(";")[0], "size": p.stat().st_size,
                          "url": f"/api/jobs/{jid}/files/{p.name}"})
        return files
