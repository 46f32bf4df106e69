"""The HTTP face of vidcap: ``create_app(settings)`` builds the FastAPI app of `vidcap serve`.

Thin, like the command line: a route checks its input, calls :mod:`vidcap.api` (a
job runs it through :mod:`vidcap.server.jobs`) and returns the result's ``to_dict()``.
Only ids appear in URLs; a file is reached through its record in the database and
must be a regular file inside ``--data`` (or a video the ``--library`` lists). Every
error is one sentence in ``{"error": ...}``; no response carries a traceback.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidcap import api
from vidcap.errors import (
    ConfigError,
    DataError,
    DecodeError,
    MissingDependencyError,
    ModelError,
    VidcapError,
)
from vidcap.io.files import to_json
from vidcap.server import uploads
from vidcap.server.db import FINISHED, Database
from vidcap.server.jobs import JobManager, QueueFull, Scrubber
from vidcap.server.settings import Settings
from vidcap.server.tasks import PARAMS, JobRequest, Models
from vidcap.server.uploads import UploadError, media_type, sniff

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
ID_PATTERN = r"^[0-9a-f]{32}$"
FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,60}\.[a-z0-9]{1,8}$"
Id = Annotated[str, PathParam(pattern=ID_PATTERN, description="an id the server gave")]
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
SEARCHES_AT_ONCE = 2
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "the video"}}}}}}}
STATUS = ((DecodeError, 415), (ConfigError, 422), (DataError, 422), (ModelError, 503),
          (MissingDependencyError, 503), (VidcapError, 422))


class StrictJSON(JSONResponse):
    """JSON as vidcap writes it: NaN and infinities become null (``JSON.parse`` accepts it)."""

    def render(self, content) -> bytes:
        return to_json(content, indent=None).encode("utf-8")


def error(status: int, message: str, headers: dict | None = None) -> StrictJSON:
    return StrictJSON({"error": message}, status_code=status, headers=headers)


class SecurityHeaders:
    """Headers on every response: no MIME sniffing, no framing, no referrer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- response shapes (for /docs)
class File(BaseModel):
    name: str
    type: str
    size: int
    url: str


class Video(BaseModel):
    id: str
    name: str
    size: int
    type: str
    info: dict
    created: str
    url: str


class Job(BaseModel):
    id: str
    task: str
    video: str
    params: dict
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    stage: str | None = None
    message: str | None = None
    error: str | None = None
    result: dict | None = None
    files: list[File] = []
    created: str
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None  # how long the task itself ran (no queue, no HTTP)


class Deleted(BaseModel):
    id: str
    deleted: bool


def video_out(row: dict) -> dict:
    return {k: row[k] for k in ("id", "name", "size", "type", "info", "created")} | {"url": f"/api/videos/{row['id']}/file"}


def regular_file_inside(root: Path, name: str) -> Path | None:
    """``root/name`` if it is a regular file (not a link) that really lies inside ``root``."""
    path = root / name
    try:
        st = os.lstat(path)
    except OSError:
        return None
    real_root = os.path.realpath(root)
    if not stat.S_ISREG(st.st_mode) or os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
        return None
    return path


class LibraryIndex:
    """The ``--library``'s entries by id (for playing a search hit), refreshed when an id is missing."""

    def __init__(self, root: Path | None):
        self.root = root
        self._entries: dict = {}
        self._at = 0.0
        self._lock = threading.Lock()

    def entries(self, *, refresh: bool = False) -> dict:
        with self._lock:
            if self.root is not None and (refresh or time.monotonic() - self._at > 30):
                self._entries = {e.id: e for e in api.library_list(self.root)}
                self._at = time.monotonic()
            return self._entries

    def get(self, vid: str):
        return self.entries().get(vid) or self.entries(refresh=True).get(vid)


# --------------------------------------------------------------------------- the app
def create_app(settings: Settings) -> FastAPI:
    """The app for ``settings`` (checked here); its job pool starts and stops with the app's lifespan."""
    settings.check()
    data = settings.data
    for sub in ("uploads", "videos", "jobs"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for stale in (data / "uploads").glob("*.part"):  # an upload a stopped server was receiving
        stale.unlink(missing_ok=True)
    db = Database(data / "vidcap.sqlite3")
    for jid in db.recover():
        shutil.rmtree(data / "jobs" / jid, ignore_errors=True)
    models = Models(settings.classifiers)
    manager = JobManager(db, data / "jobs", models, workers=settings.workers, queue=settings.queue, data=data)
    library = LibraryIndex(settings.library)
    library_name = None if settings.library is None else PurePosixPath(str(settings.library)).name  # folder or URI
    searches = threading.BoundedSemaphore(SEARCHES_AT_ONCE)
    scrub = Scrubber([(str(data), "data"), (str(settings.library or ""), "library")])

    @asynccontextmanager
    async def lifespan(app):
        manager.start(asyncio.get_running_loop())
        yield
        await to_thread.run_sync(manager.shutdown)
        db.close()

    app = _fastapi(lifespan=lifespan)
    app.state.settings, app.state.db, app.state.jobs, app.state.models = settings, db, manager, models
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    _error_handlers(app, scrub)
    bearer = HTTPBearer(auto_error=False, description="the token `vidcap serve` was started with")

    def authorized(request: Request) -> bool:
        if settings.token is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(value.strip().encode(), settings.token.encode())

    def require_token(request: Request, _=Depends(bearer)) -> None:
        if not authorized(request):
            raise HTTPException(401, "this server needs `Authorization: Bearer TOKEN` with the token it was started "
                                     "with", headers={"WWW-Authenticate": "Bearer"})

    r = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    @app.get("/api/health", tags=["server"], summary="is the server up (no token needed)")
    def health(request: Request) -> dict:
        out = {"status": "ok", "auth": settings.token is not None}
        if authorized(request):
            out |= {"tasks": list(PARAMS), "classifiers": list(settings.classifiers), "jobs": manager.counts(),
                    "models_loaded": models.loaded(), "max_upload": settings.max_upload,
                    "library": None if settings.library is None else {"name": library_name,
                                                                      "videos": len(library.entries())}}
        return out

    # -- videos
    @r.post("/videos", status_code=201, response_model=Video, tags=["videos"], openapi_extra=UPLOAD_BODY,
            summary="upload a video (multipart/form-data, field 'file'); its type is decided by probing it",
            responses={413: {"description": "larger than --max-upload"}, 415: {"description": "not a video"}})
    async def upload_video(request: Request):
        vid = secrets.token_hex(16)
        part = data / "uploads" / f"{vid}.part"
        up = await uploads.receive(request, part, settings.max_upload)
        try:
            info = await to_thread.run_sync(api.probe, part)
        except VidcapError as exc:
            part.unlink(missing_ok=True)
            raise UploadError(415, str(exc).replace(str(part), up.name)) from None
        ext, mime = await to_thread.run_sync(sniff, part)
        dest = data / "videos" / vid / f"{uploads.safe_stem(up.name)}{ext}"  # the extension from the bytes
        dest.parent.mkdir(parents=True)
        os.replace(part, dest)
        info = info.to_dict()
        info.pop("path", None)
        db.add_video({"id": vid, "name": up.name, "file": str(dest.relative_to(data)), "size": up.size, "type": mime,
                      "info": info})
        return video_out(db.video(vid))

    def video_or_404(vid: str) -> dict:
        row = db.video(vid)
        if row is None:
            raise HTTPException(404, f"no video {vid} on this server; GET /api/videos lists them")
        return row

    @r.get("/videos", response_model=list[Video], tags=["videos"], summary="the uploaded videos, newest first")
    def list_videos():
        return [video_out(v) for v in db.videos()]

    @r.get("/videos/{video_id}", response_model=Video, tags=["videos"], summary="one uploaded video")
    def get_video(video_id: Id):
        return video_out(video_or_404(video_id))

    @r.get("/videos/{video_id}/file", tags=["videos"], summary="the uploaded video's bytes (ranges supported)",
           response_class=FileResponse)
    def video_file(video_id: Id):
        row = video_or_404(video_id)
        path = regular_file_inside(data / "videos" / video_id, Path(row["file"]).name)
        if path is None:
            raise HTTPException(404, f"the file of video {video_id} is gone")
        return FileResponse(path, media_type=row["type"], filename=f"{Path(row['name']).stem}{path.suffix}",
                            content_disposition_type="inline")

    @r.delete("/videos/{video_id}", response_model=Deleted, tags=["videos"],
              summary="delete an uploaded video (its finished jobs keep their results)",
              responses={409: {"description": "jobs on it are queued or running"}})
    def delete_video(video_id: Id):
        video_or_404(video_id)
        if db.active_jobs(video_id):
            raise HTTPException(409, f"video {video_id} has queued or running jobs; cancel them first "
                                     "(DELETE /api/jobs/ID)")
        shutil.rmtree(data / "videos" / video_id, ignore_errors=True)
        return {"id": video_id, "deleted": db.remove_video(video_id)}

    # -- jobs
    def job_or_404(jid: str) -> dict:
        job = manager.get(jid)
        if job is None:
            raise HTTPException(404, f"no job {jid} on this server; GET /api/jobs lists them")
        return job

    @r.post("/jobs", status_code=202, response_model=Job, tags=["jobs"],
            summary="run a task on an uploaded video; the names and defaults are vidcap.api's",
            responses={429: {"description": "the queue is full (see Retry-After)"}})
    def create_job(job: Annotated[JobRequest, Body()]):
        video = video_or_404(job.video)
        if job.task == "classify":
            models.classifier_name(job.params.model)  # refuse now, not in the queue
        try:
            return manager.submit(job.task, video, job.params)
        except QueueFull as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None

    @r.get("/jobs", response_model=list[Job], tags=["jobs"], summary="jobs, newest first (also after a restart)")
    def list_jobs(video: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100):
        return [manager.overlay(j) for j in db.jobs(video=video, limit=limit)]

    @r.get("/jobs/{job_id}", response_model=Job, tags=["jobs"], summary="state, progress 0-1, result, error")
    def get_job(job_id: Id):
        return job_or_404(job_id)

    @r.get("/jobs/{job_id}/events", tags=["jobs"], response_class=StreamingResponse,
           summary="server-sent events: `progress` while the job runs, then `end` with the whole job")
    async def job_events(job_id: Id):
        await to_thread.run_sync(job_or_404, job_id)
        return StreamingResponse(_events(manager, job_id), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    @r.delete("/jobs/{job_id}", tags=["jobs"], response_model=Job | Deleted,
              summary="cancel a queued or running job (it stops at its next progress event); "
                      "a finished job is deleted with its files")
    def delete_job(job_id: Id):
        job = job_or_404(job_id)
        if job["state"] in FINISHED:
            return {"id": job_id, "deleted": manager.remove(job_id)}
        return StrictJSON(jsonable_encoder(manager.cancel(job_id)), status_code=202)

    @r.get("/jobs/{job_id}/files/{name}", tags=["jobs"], response_class=FileResponse,
           summary="a file a job wrote: annotated video, SRT/VTT, PNG, CSV (download=true: as an attachment)")
    def job_file(job_id: Id, name: Annotated[str, PathParam(pattern=FILE_PATTERN)], download: bool = False):
        job = job_or_404(job_id)
        listed = {f["name"] for f in job.get("files") or []}
        path = regular_file_inside(data / "jobs" / job_id, name) if name in listed else None
        if path is None:
            raise HTTPException(404, f"job {job_id} has no file {name}")
        attach = download or path.suffix in (".srt", ".csv")
        return FileResponse(path, media_type=media_type(name), filename=name,
                            content_disposition_type="attachment" if attach else "inline")

    # -- search
    def library_or_409():
        if settings.library is None:
            raise HTTPException(409, "this server has no library to search: start it with `vidcap serve "
                                     "--library DIR` (a library of `vidcap index`)")
        return settings.library

    @r.get("/search", tags=["search"], summary="the library's videos ranked for a text query (vidcap.api.search)")
    def search(q: Annotated[str, Query(min_length=1, max_length=500, description="the query")],
               k: Annotated[int, Query(ge=1, le=100)] = api.search.__kwdefaults__["k"],
               mode: Literal[api.RETRIEVAL_MODES] = api.search.__kwdefaults__["mode"]) -> dict:
        lib = library_or_409()
        with searches:
            result = api.search(q, lib, k=k, mode=mode)
        out = result.to_dict()
        out["library"] = library_name
        for hit, row in zip(result.hits, out["results"]):
            entry = library.get(hit.id)
            row.pop("path", None)
            row["thumbs"] = "data:image/jpeg;base64," + base64.b64encode(hit.thumbs).decode() if hit.thumbs else None
            row["video_url"] = f"/api/library/{hit.id}/video"
            row["duration"] = entry.duration if entry is not None else None
            row["time"] = hit.start  # the start of the shot that matched (None: the whole video matched)
        return out

    @r.get("/library", tags=["search"], summary="the videos of the library")
    def library_videos() -> list[dict]:
        library_or_409()
        return [{k: v for k, v in e.to_dict().items() if k != "path"} | {"video_url": f"/api/library/{e.id}/video"}
                for e in library.entries(refresh=True).values()]

    @r.get("/library/{video_id}/video", tags=["search"], response_class=FileResponse,
           summary="a library video's bytes (ranges supported)")
    def library_video(video_id: Id):
        library_or_409()
        entry = library.get(video_id)
        path = Path(entry.path) if entry is not None else None
        if path is None or not path.is_file():
            raise HTTPException(404, f"no video {video_id} in the library")
        return FileResponse(path, media_type=sniff(path)[1], filename=path.name, content_disposition_type="inline")

    app.include_router(r)

    # -- the page
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _fastapi(**kwargs) -> FastAPI:
    """A FastAPI app whose /docs works offline (fastapi-offline bundles Swagger UI) when that package is here."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("vidcap")
    except PackageNotFoundError:  # running from a source tree that was not installed
        release = "0"
    meta = dict(title="vidcap", version=release, default_response_class=StrictJSON,
                description="Video understanding over HTTP: every task of `vidcap.api`. Errors are "
                            "`{\"error\": \"one sentence\"}`.", **kwargs)
    try:
        from fastapi_offline import FastAPIOffline
    except ImportError:
        return FastAPI(redoc_url=None, **meta)
    return FastAPIOffline(redoc_url=None, **meta)


def _error_handlers(app: FastAPI, scrub: Scrubber) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc):
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such page or endpoint: {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        errors = jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")})
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", []))
        body = {"error": f"invalid request: {where}: {first.get('msg')}",
                "detail": [{k: e.get(k) for k in ("loc", "msg", "type")} for e in errors]}
        return StrictJSON(body, status_code=422)

    @app.exception_handler(UploadError)
    async def upload_error(request, exc):
        return error(exc.status, scrub(str(exc)), {"Connection": "close"} if exc.status == 413 else None)

    @app.exception_handler(VidcapError)
    async def vidcap_error(request, exc):
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        return error(status, scrub(str(exc)))

    @app.exception_handler(Exception)
    async def internal(request, exc):
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "internal error; the server log has the details")


async def _events(manager: JobManager, jid: str):
    """Server-sent events of one job until it finishes (a comment every 15 s keeps proxies from closing it)."""
    changed = asyncio.Event()
    manager.watch(jid, changed)
    try:
        yield "retry: 2000\n\n"
        last = None
        while True:
            changed.clear()
            job = await to_thread.run_sync(manager.get, jid)
            if job is None:
                return
            snap = {k: job.get(k) for k in ("id", "state", "progress", "stage", "message", "error")}
            if snap != last:
                yield f"event: progress\ndata: {to_json(snap, indent=None)}\n\n"
                last = snap
            if job["state"] in FINISHED:
                yield f"event: end\ndata: {to_json(job, indent=None)}\n\n"
                return
            try:
                await asyncio.wait_for(changed.wait(), 15)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
    finally:
        manager.unwatch(jid, changed)
