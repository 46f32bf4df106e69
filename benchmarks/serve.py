"""`vidcap serve` under load, against a local server started by this script.

Measured in one run, on a small generated world (a library of its videos, 2 s clips
for the caption jobs, one 10 s clip for the overhead):

* 20 concurrent clients, 200 requests mixing searches and small caption jobs (a job
  counts from its POST to its `end` server-sent event): p50/p95 latency, errors
  (any status but 2xx; a 429 is retried after its Retry-After and counted apart),
  lost jobs (accepted but not done at the end), the server's peak RSS;
* the API's overhead over calling ``vidcap.api.caption`` directly on the same 10 s
  video, warm: a job's time from its POST to its `end` event against the time its
  ``api.caption`` call took inside the server (the job record's ``seconds``), median of
  N, and per request; for reference the same call in a process of its own (run in
  turn with the jobs: on a shared machine its spread is large), and the job with
  ``frames=true``, which also writes the frame strip the page shows;
* a search through the API (warm) against `vidcap search` run as a command (cold);
* uploading a 1 GiB file (a 10 s MP4 followed by a 1 GiB ``free`` box): the server's
  RSS above its idle level while it streams the body to disk.

The server's memory is read from /proc/PID/status (VmRSS) every 20 ms. Usage::

    python benchmarks/serve.py                  # the numbers in docs/serve.md
    python benchmarks/serve.py --requests 60 --upload-mb 200   # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

QUERIES = ["a red circle moves to the left", "a blue square grows", "a star is spinning", "two shapes collide",
           "a green triangle moves up", "a yellow hexagon fades out"]


class RSS:
    """Samples a process's resident memory (MiB) in a thread; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int):
        self.pid, self._peak, self._stop = pid, 0.0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> float:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self):
        while not self._stop.is_set():
            try:
                self._peak = max(self._peak, self.now())
            except OSError:
                return
            time.sleep(0.02)

    def reset(self) -> None:
        self._peak = self.now()

    def peak(self) -> float:
        return self._peak

    def stop(self) -> None:
        self._stop.set()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, library: Path, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", "serve", "--port", str(port), "--data", str(data),
                             "--library", str(library)], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"the server did not start:\n{log.read_text()[-3000:]}")


def upload(client: httpx.Client, path: Path) -> dict:
    with open(path, "rb") as f:
        r = client.post("/api/videos", files={"file": (path.name, f, "video/mp4")}, timeout=600)
    r.raise_for_status()
    return r.json()


def run_job(client: httpx.Client, body: dict) -> tuple[dict | None, int, int]:
    """POST a job (retrying a 429 after Retry-After) and follow its events to the end: (job, status, retries)."""
    retries = 0
    while True:
        r = client.post("/api/jobs", json=body, timeout=60)
        if r.status_code != 429:
            break
        retries += 1
        time.sleep(float(r.headers.get("retry-after", "1")))
    if r.status_code != 202:
        return None, r.status_code, retries
    jid = r.json()["id"]
    with client.stream("GET", f"/api/jobs/{jid}/events", timeout=600) as events:
        name = None
        for line in events.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "end":  # the `end` event carries the whole job
                return json.loads(line[6:]), 200, retries
    return client.get(f"/api/jobs/{jid}").json(), 200, retries


def load_test(url: str, video_ids: list[str], requests: int, clients: int, rss: RSS) -> dict:
    plan = ["search" if i % 2 else "caption" for i in range(requests)]
    random.Random(0).shuffle(plan)
    lat = {"search": [], "caption": []}
    errors, retries, accepted, done_ids = [], 0, [], []
    lock = threading.Lock()
    local = threading.local()

    def one(i: int) -> None:
        nonlocal retries
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=600)
        c = local.client
        t = time.perf_counter()
        if plan[i] == "search":
            r = c.get("/api/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5})
            ok, status = r.status_code == 200 and len(r.json()["results"]) == 5, r.status_code
            job = None
        else:
            job, status, n = run_job(c, {"task": "caption", "video": video_ids[i % len(video_ids)]})
            ok = job is not None and job["state"] == "done" and bool(job["result"]["caption"])
            with lock:
                retries += n
                if job is not None:
                    accepted.append(job["id"])
                    if ok:
                        done_ids.append(job["id"])
        with lock:
            lat[plan[i]].append(time.perf_counter() - t)
            if not ok:
                errors.append(f"{plan[i]}: {status} {job and job.get('error')}")

    rss.reset()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t0
    final = httpx.get(url + "/api/jobs", params={"limit": 1000}).json()
    states = {j["id"]: j["state"] for j in final}
    lost = [j for j in accepted if states.get(j) != "done"]
    return {"lat": lat, "errors": errors, "retries": retries, "lost": lost, "accepted": len(accepted),
            "wall": wall, "peak": rss.peak()}


class Direct:
    """``vidcap.api.caption`` on one video in a process of its own (as clean as the server's), warm."""

    CODE = ("import sys, time\nfrom vidcap import api\ncap = api.load_captioner()\n"
            "api.caption(sys.argv[1], model=cap)\nprint('ready', flush=True)\n"
            "for _ in sys.stdin:\n    t = time.perf_counter()\n    api.caption(sys.argv[1], model=cap)\n"
            "    print(time.perf_counter() - t, flush=True)\n")

    def __init__(self, video: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, str(video)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def caption(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def __enter__(self) -> Direct:
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()
        self.proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=15, help="runs of the overhead and search comparisons")
    ap.add_argument("--upload-mb", type=int, default=1024, help="size of the big upload, MiB")
    args = ap.parse_args()

    from vidcap import api

    root = Path(tempfile.mkdtemp(prefix="vidcap-serve-bench-"))
    print(f"work folder {root}", file=sys.stderr)
    api.synth(root / "world", num_videos=8, seed=21, seconds=2, workers=1)
    api.synth(root / "long", num_videos=1, seed=22, seconds=10, workers=1)
    clips = sorted((root / "world" / "videos").glob("*.mp4"))
    long_clip = next((root / "long" / "videos").glob("*.mp4"))
    api.index(clips, root / "lib", transcripts=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(root / "data", root / "lib", port, root / "server.log")
    rss = RSS(server.pid)
    rows = []
    try:
        client = httpx.Client(base_url=url, timeout=600)
        ids = [upload(client, p)["id"] for p in clips[:4]]
        long_id = upload(client, long_clip)["id"]
        run_job(client, {"task": "caption", "video": ids[0]})  # warm: models loaded once
        client.get("/api/search", params={"q": QUERIES[0]})
        idle = rss.now()
        rows.append(("server RSS, warm and idle", f"{idle:.0f} MiB", ""))

        # -- the API's overhead over api.caption on the same 10 s video
        direct, through, inside, strip = [], [], [], []
        plain = {"task": "caption", "video": long_id}
        page = {**plain, "params": {"frames": True}}
        with Direct(long_clip) as baseline:
            for i in range(args.repeats):
                order = ("direct", "api", "page") if i % 2 == 0 else ("page", "api", "direct")  # drift cancels
                for side in order:
                    if side == "direct":
                        direct.append(baseline.caption())
                        continue
                    t = time.perf_counter()
                    job, _, _ = run_job(client, plain if side == "api" else page)
                    (through if side == "api" else strip).append(time.perf_counter() - t)
                    assert job["state"] == "done", job
                    if side == "api":
                        inside.append(job["seconds"])
        d, a, f = statistics.median(direct), statistics.median(through), statistics.median(strip)
        n = statistics.median(inside)
        each = statistics.median(t / s - 1 for t, s in zip(through, inside))
        rows.append(("caption, 10 s video: api.caption(model=loaded), in the job", f"{n * 1000:.0f} ms", "baseline"))
        rows.append(("caption, 10 s video: POST /api/jobs -> end event", f"{a * 1000:.0f} ms",
                     f"{(a / n - 1) * 100:+.1f} % (per request: {each * 100:+.1f} %)"))
        rows.append(("  the same with frames=true (the page's frame strip)", f"{f * 1000:.0f} ms",
                     f"{(f / n - 1) * 100:+.1f} %"))
        rows.append(("  api.caption(model=loaded) in a process of its own", f"{d * 1000:.0f} ms",
                     f"{(d / n - 1) * 100:+.1f} % (best of {args.repeats}: {min(direct) * 1000:.0f} ms)"))

        # -- warm search through the API vs the command, cold
        q = QUERIES[0]
        warm = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            client.get("/api/search", params={"q": q, "k": 10}).raise_for_status()
            warm.append(time.perf_counter() - t)
        cold = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "vidcap", "search", q, "--library", str(root / "lib"), "-q"],
                           check=True, capture_output=True)
            cold.append(time.perf_counter() - t)
        w, c = statistics.median(warm), statistics.median(cold)
        rows.append(("search: `vidcap search` command (cold)", f"{c * 1000:.0f} ms", "baseline"))
        rows.append(("search: GET /api/search (warm)", f"{w * 1000:.0f} ms", f"{c / w:.0f}x faster"))

        # -- 20 clients, mixed requests
        res = load_test(url, ids, args.requests, args.clients, rss)
        both = res["lat"]["search"] + res["lat"]["caption"]
        rows.append((f"{args.clients} clients x {args.requests} requests ({len(res['lat']['caption'])} caption jobs, "
                     f"{len(res['lat']['search'])} searches)", f"{res['wall']:.1f} s wall",
                     f"{args.requests / res['wall']:.1f} req/s"))
        for name, values in (("all", both), ("search", res["lat"]["search"]), ("caption job", res["lat"]["caption"])):
            rows.append((f"  latency {name}: p50 / p95", f"{pct(values, .5) * 1000:.0f} / {pct(values, .95) * 1000:.0f} ms",
                         ""))
        rows.append(("  errors / 429 retries / lost jobs", f"{len(res['errors'])} / {res['retries']} / {len(res['lost'])}",
                     f"{res['accepted']} jobs accepted"))
        rows.append(("  server peak RSS under load", f"{res['peak']:.0f} MiB", f"{res['peak'] - idle:+.0f} MiB over idle"))
        if res["errors"]:
            print("errors:", *res["errors"][:5], sep="\n  ", file=sys.stderr)

        # -- a 1 GiB upload
        big = root / "big.mp4"
        mib = 1 << 20
        with open(big, "wb") as f:
            f.write(long_clip.read_bytes())
            f.write(struct.pack(">I", args.upload_mb * mib) + b"free")
            block = bytes(mib)
            f.write(block[:mib - 8])
            for _ in range(args.upload_mb - 1):
                f.write(block)
        idle = rss.now()
        rss.reset()
        t = time.perf_counter()
        v = upload(client, big)
        seconds = time.perf_counter() - t
        peak = rss.peak()
        rows.append((f"upload {big.stat().st_size / mib:.0f} MiB ({v['type']}, {v['info']['num_frames']} frames)",
                     f"{seconds:.1f} s", f"{big.stat().st_size / mib / seconds:.0f} MiB/s"))
        rows.append(("  server RSS during the upload", f"{peak:.0f} MiB", f"{peak - idle:+.0f} MiB over idle"))
        client.delete(f"/api/videos/{v['id']}").raise_for_status()
        big.unlink()
    finally:
        server.terminate()
        server.wait(60)
        rss.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>16}  vs baseline")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    print(f"\n{os.cpu_count()} cores; the server ran with its defaults (one worker per two cores)", file=sys.stderr)


if __name__ == "__main__":
    main()
