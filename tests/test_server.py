"""`vidcap serve`: every endpoint of the HTTP API, its bad inputs and its security defaults.

Most tests use FastAPI's TestClient (the app in this process); the upload limit is
also checked against a real uvicorn server over a socket, where "refused before the
body is read" can be seen. Jobs that must be caught mid-run are held at their first
progress event by a gate (no sleeps, no timed assertions).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")

from clips import coded_frames, write_audio, write_clip
from fastapi.testclient import TestClient

from vidcap import api
from vidcap.errors import ConfigError
from vidcap.server.app import create_app
from vidcap.server.settings import Settings, parse_size

TOKEN = "a-test-token-of-24-chars"
WAIT = 180  # seconds a job may take on a loaded machine before a test gives up


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", coded_frames(30))


def make_client(data: Path, **kw) -> TestClient:
    return TestClient(create_app(Settings(data=data, **kw)), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path):
    with make_client(tmp_path / "data") as c:
        yield c


def upload(c, path: Path, name: str | None = None, **kw):
    with open(path, "rb") as f:
        return c.post("/api/videos", files={"file": (name or path.name, f, "application/octet-stream")}, **kw)


def wait_for(c, jid: str, states=("done", "failed", "cancelled"), **kw) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{jid}", **kw).json()
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {jid} did not reach {states} in {WAIT} s: {job}")


class Gate:
    """Wraps a task's runner so that its first progress event waits until the test opens the gate."""

    def __init__(self, c, task: str):
        self.reached, self.opened = threading.Event(), threading.Event()
        manager = c.app.state.jobs
        real = manager.runners[task]

        def held(ctx):
            inner = ctx.progress

            def progress(event):
                self.reached.set()
                assert self.opened.wait(WAIT)
                inner(event)

            ctx.progress = progress
            return real(ctx)

        manager.runners[task] = held

    def wait(self):
        assert self.reached.wait(WAIT), "the job never reported progress"


def tree(root: Path, skip: Path) -> set[str]:
    return {str(p) for p in root.rglob("*") if skip not in p.parents and p != skip}


def cli_sentence(path: Path) -> str:
    """The one sentence `vidcap info FILE` prints for a file it cannot read (run from the file's folder)."""
    from golden import call

    code, _, err = call(["info", path.name], cwd=path.parent)
    assert code == 2
    return err.strip().splitlines()[-1].removeprefix("vidcap: skipped ")


# --------------------------------------------------------------------------- the page, health, docs
def test_health_page_and_docs(client):
    h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["auth"] is False and "caption" in h["tasks"] and h["classifiers"] == []
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"] and "<title>vidcap</title>" in page.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert js.headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower() and "cdn" not in docs.text  # works offline
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/videos", "/api/videos/{video_id}", "/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events",
              "/api/jobs/{job_id}/files/{name}", "/api/search", "/api/health"):
        assert p in paths, p
    assert client.get("/api/nothing").json() == {"error": "no such page or endpoint: /api/nothing"}


# --------------------------------------------------------------------------- videos
def test_upload_list_get_play_delete(client, clip, tmp_path):
    r = upload(client, clip)
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["name"] == "clip.mp4" and v["type"] == "video/mp4" and v["size"] == clip.stat().st_size
    assert v["info"]["num_frames"] == 30 and v["info"]["width"] == 80 and "path" not in v["info"]
    assert [x["id"] for x in client.get("/api/videos").json()] == [v["id"]]
    assert client.get(f"/api/videos/{v['id']}").json() == v
    body = client.get(v["url"])
    assert body.status_code == 200 and body.content == clip.read_bytes()
    assert body.headers["content-type"] == "video/mp4" and body.headers["content-disposition"].startswith("inline")
    part = client.get(v["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == clip.read_bytes()[:100]
    stored = [p for p in (tmp_path / "data" / "videos").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == clip.read_bytes()
    assert client.delete(f"/api/videos/{v['id']}").json() == {"id": v["id"], "deleted": True}
    assert client.get(f"/api/videos/{v['id']}").status_code == 404
    assert client.delete(f"/api/videos/{v['id']}").status_code == 404
    assert not [p for p in (tmp_path / "data" / "videos").rglob("*") if p.is_file()]


def test_not_a_video_gets_the_cli_sentence(client, tmp_path):
    """A text file, random bytes, an audio-only file and an empty file: 415 and the CLI's own sentence."""
    import numpy as np

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("this is not a video\n")
    (bad / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    write_audio(bad / "talk.m4a", seconds=1.0)
    (bad / "empty.mp4").write_bytes(b"")
    for path in sorted(bad.iterdir()):
        r = upload(client, path)
        assert r.status_code == 415, (path.name, r.text)
        assert r.json() == {"error": cli_sentence(path)}, path.name
        assert "Traceback" not in r.text and str(tmp_path) not in r.text
    assert "audio only" in upload(client, bad / "talk.m4a").json()["error"]
    assert client.get("/api/videos").json() == []
    assert not [p for sub in ("uploads", "videos") for p in (tmp_path / "data" / sub).iterdir()]


def test_malformed_uploads(client, clip):
    assert client.post("/api/videos", content=clip.read_bytes(), headers={"Content-Type": "video/mp4"}).status_code == 415
    r = client.post("/api/videos", files={"other": ("x.mp4", clip.read_bytes())})
    assert r.status_code == 422 and "field named 'file'" in r.json()["error"]
    r = client.post("/api/videos", content=b"--xyz\r\nbroken", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    r = client.post("/api/videos", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code in (400, 422) and "error" in r.json()
    assert client.get("/api/videos").json() == []


def test_upload_limit_in_process(tmp_path, clip):
    with make_client(tmp_path / "data", max_upload=1000) as c:
        r = upload(c, clip)
        assert r.status_code == 413 and "limit of 1000 bytes" in r.json()["error"]

        def chunks():  # no Content-Length: the limit is found while streaming
            for _ in range(100):
                yield b"x" * 1000

        r = c.post("/api/videos", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code in (400, 413)
        assert not list((tmp_path / "data" / "uploads").iterdir())


@pytest.fixture
def live_server(tmp_path):
    """A real uvicorn server in a thread, on a free loopback port, with a 1 MB upload limit."""
    import uvicorn

    app = create_app(Settings(data=tmp_path / "data", max_upload=1 << 20))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield sock.getsockname()[1], tmp_path / "data"
    server.should_exit = True
    thread.join(WAIT)
    sock.close()


def _request(port: int, head: str, body_parts=(), *, read_after: int = 0) -> tuple[str, int]:
    """Send a request head, then body parts until the server answers; returns (status line, bytes of body sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    s.sendall(head.encode())
    sent = 0
    s.setblocking(False)
    answer = b""
    for part in body_parts:
        try:
            answer += s.recv(65536)
        except BlockingIOError:
            pass
        if answer:
            break
        try:
            s.setblocking(True)
            s.sendall(part)
            sent += len(part)
            s.setblocking(False)
        except (BrokenPipeError, ConnectionResetError):
            break
    s.setblocking(True)
    s.settimeout(WAIT)
    while b"\r\n" not in answer:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent


def test_upload_limit_is_enforced_before_the_body_is_read(live_server):
    port, data = live_server
    boundary = "vidcapboundary"
    head = (f"POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}"
            f"\r\nContent-Length: {3 * 1024 ** 3}\r\n\r\n")
    status, sent = _request(port, head)  # a 3 GB body announced, not a byte of it sent
    assert status == "HTTP/1.1 413 Request Entity Too Large" and sent == 0
    chunked = (f"POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
               f"boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n")
    first = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\r\n").encode()
    piece = b"x" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(first), first)] + [b"%x\r\n%s\r\n" % (len(piece), piece)] * 1600  # 100 MB
    status, sent = _request(port, chunked, parts)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert sent < 20 * (1 << 20)  # refused near the 1 MB limit (plus the sockets' buffers), not after 100 MB
    assert not list((data / "uploads").iterdir()) and not list((data / "videos").iterdir())
    for raw in ("/api/jobs/" + "0" * 32 + "/files/../../vidcap.sqlite3", "/static/../../server/app.py",
                "/static/..%2F..%2Fserver%2Fapp.py", "/api/videos/../../../etc/passwd"):
        status, _ = _request(port, f"GET {raw} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert status.split()[1] in ("404", "422"), (raw, status)


# --------------------------------------------------------------------------- paths
def test_names_and_ids_cannot_reach_outside_data(client, clip, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("TOP-SECRET-CONTENT")
    before = tree(tmp_path, tmp_path / "data")
    names = ["../../escape.mp4", f"{tmp_path}/absolute.mp4", "%2e%2e%2fencoded.mp4", "..\\..\\windows.mp4",
             "..", "sub/../../dots.mp4"]
    stored = [upload(client, clip, name).json() for name in names]
    assert [v["name"] for v in stored] == ["escape.mp4", "absolute.mp4", "%2e%2e%2fencoded.mp4", "windows.mp4",
                                           "video", "dots.mp4"]
    assert tree(tmp_path, tmp_path / "data") == before  # nothing written outside --data
    for v in stored:
        assert Path(tmp_path / "data" / "videos" / v["id"]).is_dir()
    vid = stored[0]["id"]
    job = client.post("/api/jobs", json={"task": "interpolate", "video": vid}).json()
    job = wait_for(client, job["id"])
    assert job["state"] == "done", job
    jid = job["id"]
    for url in ("/api/videos/..%2F..%2Fsecret.txt", f"/api/videos/{vid}/..%2F..%2F..%2Fsecret.txt",
                f"/api/jobs/{jid}/files/..%2F..%2Fvidcap.sqlite3", f"/api/jobs/{jid}/files/%2Fetc%2Fpasswd",
                f"/api/jobs/{jid}/files/{tmp_path}/secret.txt", f"/api/jobs/{jid}/files/%2e%2e",
                "/api/jobs/%2e%2e/files/vidcap.sqlite3", "/static/..%2F..%2Fserver%2Fapp.py", "/api/videos/" + "0" * 32,
                f"/api/jobs/{jid}/files/interpolated.mp4%00.txt", "/api/library/..%2Fsecret/video"):
        r = client.get(url)
        assert r.status_code in (404, 409, 422), (url, r.status_code)
        assert "TOP-SECRET" not in r.text, url
    # a symbolic link planted among a job's files, and in place of a video, is not followed
    job_dir = tmp_path / "data" / "jobs" / jid
    (job_dir / "evil.srt").symlink_to(outside)
    client.app.state.db.update_job(jid, files=job["files"] + [{"name": "evil.srt", "type": "x", "size": 6,
                                                                 "url": f"/api/jobs/{jid}/files/evil.srt"}])
    assert client.get(f"/api/jobs/{jid}/files/evil.srt").status_code == 404
    (job_dir / "interpolated.mp4").unlink()
    (job_dir / "interpolated.mp4").symlink_to(outside)
    assert client.get(f"/api/jobs/{jid}/files/interpolated.mp4").status_code == 404
    video_file = next((tmp_path / "data" / "videos" / vid).iterdir())
    video_file.unlink()
    video_file.symlink_to(outside)
    assert client.get(f"/api/videos/{vid}/file").status_code == 404
    assert outside.read_text() == "TOP-SECRET-CONTENT"


# --------------------------------------------------------------------------- jobs
def test_caption_job_end_to_end(client, clip, tmp_path):
    vid = upload(client, clip).json()["id"]
    r = client.post("/api/jobs", json={"task": "caption", "video": vid, "params": {"beam_size": 2, "frames": True}})
    assert r.status_code == 202
    job = r.json()
    assert job["state"] in ("queued", "running")
    assert job["params"] == {"beam_size": 2, "length_penalty": None, "frames": True}
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        text = "".join(events.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("event:")]
    kinds = [b.split("\n", 1)[0].removeprefix("event: ") for b in blocks]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"progress"}
    progress = [json.loads(b.split("data: ", 1)[1])["progress"] for b in blocks[:-1]]
    assert progress == sorted(progress) and progress[-1] == 1.0
    end = json.loads(blocks[-1].split("data: ", 1)[1])
    done = client.get(f"/api/jobs/{job['id']}").json()
    assert end == done and done["state"] == "done" and done["progress"] == 1.0 and done["error"] is None
    result = done["result"]
    direct = api.caption(clip, beam_size=2)[0]
    assert result["caption"] == direct.caption and result["video"] == "clip.mp4" and result["beam_size"] == 2
    assert len(result["frames"]["times"]) == len(result["frames"]["indices"]) > 1
    assert [f["name"] for f in done["files"]] == ["frames.jpg"]
    img = client.get(done["files"][0]["url"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and img.content[:2] == b"\xff\xd8"
    assert str(tmp_path) not in json.dumps(done)
    assert [j["id"] for j in client.get("/api/jobs").json()] == [job["id"]]
    assert [j["id"] for j in client.get(f"/api/jobs?video={vid}").json()] == [job["id"]]
    assert client.app.state.models.loaded() == ["caption"]  # loaded once, kept for the next job
    second = wait_for(client, client.post("/api/jobs", json={"task": "caption", "video": vid}).json()["id"])
    assert second["result"] == api.caption(clip)[0].to_dict() | {"video": "clip.mp4"} and second["files"] == []
    assert client.delete(f"/api/videos/{vid}").status_code == 200
    assert client.get(f"/api/jobs/{job['id']}/files/frames.jpg").status_code == 200  # results outlive the video
    assert client.delete(f"/api/jobs/{job['id']}").json() == {"id": job["id"], "deleted": True}
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (tmp_path / "data" / "jobs" / job["id"]).exists()


def test_job_parameters_are_the_api_s():
    """Each task's parameters carry the name and the default of its vidcap.api function's parameter."""
    import inspect

    from vidcap.server.tasks import PARAMS

    extra = {"caption": {"frames"}, "subtitles": {"burn"}, "classify": {"model"}}  # not api defaults as such
    for task, model in PARAMS.items():
        signature = inspect.signature(getattr(api, task)).parameters
        for name, field in model.model_fields.items():
            if name in extra.get(task, ()):
                continue
            assert name in signature, (task, name)
            assert field.default == signature[name].default, (task, name)


def test_describe_and_emotions_jobs(client, clip):
    vid = upload(client, clip).json()["id"]
    params = {"window": 0.6, "speech": False}
    job = wait_for(client, client.post("/api/jobs", json={"task": "describe", "video": vid, "params": params}).json()["id"])
    assert job["state"] == "done", job
    direct = api.describe(clip, window=0.6, speech=False)
    assert job["result"] == direct.to_dict() | {"path": "clip.mp4"}
    assert [f["name"] for f in job["files"]] == ["description.srt", "description.vtt"]
    assert client.get(job["files"][1]["url"]).text == direct.to_vtt()
    job = wait_for(client, client.post("/api/jobs", json={"task": "emotions", "video": vid}).json()["id"])
    assert job["state"] == "done", job
    assert job["result"]["summary"]["faces"] == {} and job["result"]["summary"]["frames_read"] == 30
    assert [f["name"] for f in job["files"]] == ["annotated.mp4", "emotions.csv", "emotions.png"]
    assert client.get(job["files"][2]["url"]).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_job_requests(client, clip):
    vid = upload(client, clip).json()["id"]
    cases = [
        ({"task": "nope", "video": vid}, 422, "task"),
        ({"task": "caption", "video": "../../etc"}, 422, "video"),
        ({"task": "caption", "video": "0" * 32}, 404, "no video"),
        ({"task": "caption", "video": vid, "params": {"output": "/tmp/x.mp4"}}, 422, "Extra inputs"),
        ({"task": "caption", "video": vid, "params": {"model": "/etc/passwd"}}, 422, "Extra inputs"),
        ({"task": "interpolate", "video": vid, "params": {"factor": 3}}, 422, "factor"),
        ({"task": "emotions", "video": vid, "params": {"every": 0}}, 422, "every"),
        ({"task": "subtitles", "video": vid, "params": {"language": "../x"}}, 422, "language"),
        ({"task": "classify", "video": vid}, 422, "no classifier is configured on this server"),
        ({"task": "classify", "video": vid, "params": {"model": "../runs"}}, 422, "model"),
    ]
    for body, status, words in cases:
        r = client.post("/api/jobs", json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["error"], (body, r.json())
    assert client.post("/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 422
    for method in ("get", "delete"):
        assert getattr(client, method)("/api/jobs/" + "a" * 32).status_code == 404
    assert client.get("/api/jobs/" + "a" * 32 + "/events").status_code == 404
    assert client.get("/api/jobs/not-an-id").status_code == 422
    assert client.get("/api/jobs").json() == []


def test_failed_job_says_one_sentence(client, tmp_path):
    """A task that raises a VidcapError fails with its sentence; one that has a defect says so, without a traceback."""
    path = tmp_path / "silent.mp4"
    write_clip(path, coded_frames(10))
    vid = upload(client, path).json()["id"]
    job = wait_for(client, client.post("/api/jobs", json={"task": "subtitles", "video": vid}).json()["id"])
    assert job["state"] == "failed" and job["error"].startswith("silent.mp4 ") and "audio" in job["error"]
    assert job["result"] is None and job["files"] == []

    def broken(ctx):
        raise RuntimeError(f"boom at {ctx.video}")

    client.app.state.jobs.runners["caption"] = broken
    job = wait_for(client, client.post("/api/jobs", json={"task": "caption", "video": vid}).json()["id"])
    assert job["state"] == "failed" and "internal error while running caption (RuntimeError)" in job["error"]
    assert "boom" not in json.dumps(job) and "Traceback" not in json.dumps(job)


def test_cancel_a_running_job(client, clip, tmp_path):
    """DELETE sets the job's flag; the task's next progress call raises and the job ends cancelled, leaving nothing."""
    gate = Gate(client, "interpolate")
    vid = upload(client, clip).json()["id"]
    job = client.post("/api/jobs", json={"task": "interpolate", "video": vid, "params": {"factor": 4}}).json()
    gate.wait()
    r = client.delete(f"/api/jobs/{job['id']}")
    assert r.status_code == 202 and r.json()["state"] == "running"  # cooperative: it stops at its next event
    gate.opened.set()
    job = wait_for(client, job["id"])
    assert job["state"] == "cancelled" and job["error"] == "cancelled" and job["files"] == []
    assert not (tmp_path / "data" / "jobs" / job["id"]).exists()
    assert not [p for p in (tmp_path / "data").rglob("*.mp4") if "videos" not in p.parts]  # no half-written video


def test_full_queue_answers_429_and_a_queued_job_cancels_at_once(tmp_path, clip):
    with make_client(tmp_path / "data", workers=1, queue=1) as c:
        gate = Gate(c, "interpolate")
        vid = upload(c, clip).json()["id"]
        running = c.post("/api/jobs", json={"task": "interpolate", "video": vid}).json()
        gate.wait()
        queued = c.post("/api/jobs", json={"task": "interpolate", "video": vid}).json()
        assert c.get(f"/api/jobs/{queued['id']}").json()["state"] == "queued"
        full = c.post("/api/jobs", json={"task": "interpolate", "video": vid})
        assert full.status_code == 429 and int(full.headers["retry-after"]) >= 1 and "queue is full" in full.json()["error"]
        assert c.get("/api/health").json()["jobs"] == {"running": 1, "queued": 1, "workers": 1, "capacity": 2}
        assert c.delete(f"/api/videos/{vid}").status_code == 409
        assert c.delete(f"/api/jobs/{queued['id']}").json()["state"] == "cancelled"
        gate.opened.set()
        assert wait_for(c, running["id"])["state"] == "done"
        assert c.get(f"/api/jobs/{queued['id']}").json()["state"] == "cancelled"
        assert c.post("/api/jobs", json={"task": "interpolate", "video": vid}).status_code == 202


def test_restart_keeps_finished_jobs_and_fails_interrupted_ones(tmp_path, clip):
    data = tmp_path / "data"
    with make_client(data) as c:
        vid = upload(c, clip).json()["id"]
        done = wait_for(c, c.post("/api/jobs", json={"task": "interpolate", "video": vid}).json()["id"])
        assert done["state"] == "done"
        db = c.app.state.db
        for state in ("queued", "running"):  # what a killed server leaves behind
            db.add_job({"id": state * 4 + "0" * (32 - 4 * len(state)), "task": "caption", "video": vid, "params": {}})
            db.update_job(state * 4 + "0" * (32 - 4 * len(state)), state=state)
        (data / "jobs" / ("running" * 4 + "0" * 4)).mkdir()
        (data / "uploads" / "cut-off.part").write_bytes(b"half an upload")
    with make_client(data) as c:
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()}
        assert jobs[done["id"]] == done
        assert c.get(done["files"][0]["url"]).status_code == 200
        for state in ("queued", "running"):
            j = jobs[state * 4 + "0" * (32 - 4 * len(state))]
            assert j["state"] == "failed" and f"the server stopped before this job finished (it was {state})" in j["error"]
        assert not (data / "jobs" / ("running" * 4 + "0" * 4)).exists()
        assert not list((data / "uploads").iterdir())
        assert [v["id"] for v in c.get("/api/videos").json()] == [vid]


def test_file_types_and_downloads(client, clip):
    def writes(ctx):
        (ctx.out / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
        (ctx.out / "a.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhi\n")
        (ctx.out / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        (ctx.out / "a.csv").write_text("t,x\n")
        (ctx.out / ".a.123.tmp.mp4").write_bytes(b"")  # an atomic writer's temporary: never listed
        return {}

    client.app.state.jobs.runners["caption"] = writes
    vid = upload(client, clip).json()["id"]
    job = wait_for(client, client.post("/api/jobs", json={"task": "caption", "video": vid}).json()["id"])
    assert [f["name"] for f in job["files"]] == ["a.csv", "a.png", "a.srt", "a.vtt"]
    want = {"a.srt": ("application/x-subrip", "attachment"), "a.vtt": ("text/vtt", "inline"),
            "a.png": ("image/png", "inline"), "a.csv": ("text/csv", "attachment")}
    for name, (ctype, disposition) in want.items():
        r = client.get(f"/api/jobs/{job['id']}/files/{name}")
        assert r.status_code == 200 and r.headers["content-type"].split(";")[0] == ctype, name
        assert r.headers["content-disposition"] == f'{disposition}; filename="{name}"', name
        d = client.get(f"/api/jobs/{job['id']}/files/{name}?download=true")
        assert d.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert client.get(f"/api/jobs/{job['id']}/files/.a.123.tmp.mp4").status_code in (404, 422)


# --------------------------------------------------------------------------- security
def test_token_is_required_everywhere_but_health(tmp_path, clip):
    with make_client(tmp_path / "data", token=TOKEN) as c:
        assert c.get("/api/health").json() == {"status": "ok", "auth": True}  # nothing more without the token
        assert c.get("/").status_code == 200  # the page holds no data; it asks for the token
        for method, url in (("get", "/api/videos"), ("post", "/api/videos"), ("get", "/api/jobs"),
                            ("post", "/api/jobs"), ("get", "/api/search?q=x"), ("get", "/api/jobs/" + "0" * 32),
                            ("delete", "/api/videos/" + "0" * 32), ("get", "/api/library")):
            r = getattr(c, method)(url)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", url
            assert "Authorization: Bearer" in r.json()["error"]
            assert getattr(c, method)(url, headers={"Authorization": "Bearer wrong-token-of-some-length"}).status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/api/health", headers=good).json()["tasks"]
        assert c.get("/api/videos", headers=good).json() == []
        assert upload(c, clip, headers=good).status_code == 201
        assert upload(c, clip, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_settings_refuse_an_open_host_without_a_token(tmp_path):
    for host in ("127.0.0.1", "127.3.4.5", "::1", "localhost"):
        assert Settings(host=host, data=tmp_path).check().host == host
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.org"):
        with pytest.raises(ConfigError, match="needs a token"):
            Settings(host=host, data=tmp_path).check()
        Settings(host=host, data=tmp_path, token=TOKEN).check()
    with pytest.raises(ConfigError, match="at least 16"):
        Settings(host="0.0.0.0", token="short", data=tmp_path).check()
    with pytest.raises(ConfigError, match="every web site"):
        Settings(cors_origins=["*"], data=tmp_path).check()
    assert parse_size("2G") == 2 * 1024 ** 3 and parse_size("500M") == 500 * 1024 ** 2 and parse_size(1000) == 1000
    from golden import call

    env = os.environ.pop("VIDCAP_TOKEN", None)
    try:
        code, _, err = call(["serve", "--host", "0.0.0.0", "--data", str(tmp_path / "d")])
    finally:
        if env is not None:
            os.environ["VIDCAP_TOKEN"] = env
    assert code == 2 and "--host 0.0.0.0 is reachable from other machines" in err and not (tmp_path / "d").exists()


def test_cors_is_off_by_default(tmp_path):
    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    with make_client(tmp_path / "a") as c:
        assert "access-control-allow-origin" not in c.options("/api/jobs", headers=pre).headers
        assert "access-control-allow-origin" not in c.get("/api/health", headers={"Origin": pre["Origin"]}).headers
    with make_client(tmp_path / "b", cors_origins=["https://app.example"]) as c:
        r = c.options("/api/jobs", headers={**pre, "Origin": "https://app.example"})
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-origin" not in c.options("/api/jobs", headers=pre).headers


def test_an_endpoint_defect_is_one_sentence(client, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom in /very/secret/place")

    monkeypatch.setattr(api, "probe", boom)
    r = client.post("/api/videos", files={"file": ("a.mp4", b"0123")})
    assert r.status_code == 500 and r.json() == {"error": "internal error; the server log has the details"}


# --------------------------------------------------------------------------- search
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world")
    api.synth(root, num_videos=12, seed=5, seconds=2, workers=1)
    return root


@pytest.fixture(scope="module")
def library(world, tmp_path_factory) -> Path:
    lib = tmp_path_factory.mktemp("library") / "lib"
    api.index(sorted((world / "videos").glob("*.mp4"))[:3], lib, transcripts=False)
    return lib


def test_classify_job_with_a_configured_model(tmp_path, world):
    run = api.train_classify(world, tmp_path / "run", model="pool", epochs=1, num_frames=8).out_dir
    video = min((world / "videos").glob("*.mp4"))
    with make_client(tmp_path / "data", classifiers={"actions": run}) as c:
        assert c.get("/api/health").json()["classifiers"] == ["actions"]
        vid = upload(c, video).json()["id"]
        r = c.post("/api/jobs", json={"task": "classify", "video": vid, "params": {"model": "other"}})
        assert r.status_code == 422 and "it has actions" in r.json()["error"]
        params = {"model": "actions", "window": 4, "stride": 2}
        job = wait_for(c, c.post("/api/jobs", json={"task": "classify", "video": vid, "params": params}).json()["id"])
        assert job["state"] == "done", job
        direct = api.classify(video, run, window=4, stride=2)[0]
        result = job["result"]
        assert result["label"] == direct.label and len(result["top_k"]) == 5 and result["model"] == "actions"
        assert [w["labels"] for w in result["windows"]] == [w.labels for w in direct.windows]
        assert [f["name"] for f in job["files"]] == ["annotated.mp4"] and str(run) not in json.dumps(job)
        annotated = c.get(job["files"][0]["url"])
        assert annotated.status_code == 200 and annotated.headers["content-type"] == "video/mp4"
        assert c.app.state.models.loaded() == ["classify:actions"]


def test_search_over_the_library(tmp_path, library):
    with make_client(tmp_path / "data", library=library) as c:
        assert c.get("/api/health").json()["library"] == {"name": "lib", "videos": 3}
        r = c.get("/api/search", params={"q": "a red circle moves to the left", "k": 2})
        assert r.status_code == 200, r.text
        out = r.json()
        direct = api.search("a red circle moves to the left", library, k=2)
        assert [h["id"] for h in out["results"]] == [h.id for h in direct.hits]
        assert [h["score"] for h in out["results"]] == pytest.approx([h.score for h in direct.hits], abs=1e-5)
        hit = out["results"][0]
        assert hit["thumbs"].startswith("data:image/jpeg;base64,") and "path" not in hit and hit["time"] is None
        assert str(library) not in r.text
        video = c.get(hit["video_url"])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert video.content == Path(direct.hits[0].path).read_bytes()
        assert sorted(e["id"] for e in c.get("/api/library").json()) == sorted(e.id for e in api.library_list(library))
        for params in ({"q": ""}, {"q": "x", "k": 0}, {"q": "x", "k": 1000}, {"q": "x", "mode": "magic"}, {}):
            assert c.get("/api/search", params=params).status_code == 422, params
        assert c.get("/api/library/" + "0" * 32 + "/video").status_code == 404


def test_search_without_a_library(client):
    r = client.get("/api/search", params={"q": "a circle"})
    assert r.status_code == 409 and "--library" in r.json()["error"]
    assert client.get("/api/library").status_code == 409


# --------------------------------------------------------------------------- the schema, fuzzed
def test_no_request_from_the_schema_gets_a_500(tmp_path, clip):
    """Property-based: requests that schemathesis generates from the OpenAPI schema never get a 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    app = create_app(Settings(data=tmp_path / "data"))
    with TestClient(app, raise_server_exceptions=False) as c:
        upload(c, clip)  # a real video, so that listings are not empty
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [op.ok() for op in schema.get_all_operations()]
        assert len(operations) >= 14
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def no_server_error(case):
                case.validate_response(case.call(), checks=[not_a_server_error])

            no_server_error()
