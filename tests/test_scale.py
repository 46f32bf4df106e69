"""`--engine ray`: the same stored outputs as the local engine, skips on re-runs, failures
recorded with the local sentences, object-store URIs, and a two-node cluster that loses a
worker mid-job (ray.cluster_utils.Cluster, in a subprocess of its own).

Real data throughout: videos of the generated world (tiny, 10 frames), real
MobileNetV2 features, the bundled caption and retrieval models.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from clips import write_audio

from vidcap import api
from vidcap.scale.ray import RETRIES, crashed, plan

TESTS = Path(__file__).parent
FRAMES = 4


def _world(root: Path, n: int, seed: int = 3) -> Path:
    api.synth(root, num_videos=n, seed=seed, seconds=1, size=(64, 48), fps=10, workers=1)
    return root / "videos"


def _bad_inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.mp4").write_text("not a video")
    (folder / "empty.avi").write_bytes(b"")
    return [folder / "broken.mp4", folder / "empty.avi", write_audio(folder / "talk.m4a")]


def _store(out: Path) -> dict:
    """name -> (record without its time, array) of a feature store."""
    result = {}
    for p in sorted(out.glob("*.json")):
        if p.name == "manifest.json":
            continue
        record = json.loads(p.read_text())
        record.pop("finished", None)
        array = np.load(out / f"{p.stem}.npy") if record["status"] == "ok" else None
        result[p.stem] = (record, array)
    return result


@pytest.fixture(scope="session")
def ray_local(s3_server):
    """One local Ray for the session's Ray tests (2 CPUs), shut down and the environment restored after.
    Its workers see the local S3 server (the variables are set before Ray starts them)."""
    ray = pytest.importorskip("ray")
    env = dict(os.environ)
    os.environ.update(s3_server.env if s3_server is not None else {})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
    for k in set(os.environ) - set(env):
        del os.environ[k]
    os.environ.update(env)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("scale")
    videos = _world(root / "world", 10)
    bad = _bad_inputs(root / "bad")
    local = root / "local"
    api.extract_many([videos, *bad], local, num_frames=FRAMES, workers=0)
    return root, videos, bad, local


# --------------------------------------------------------------------------- without a cluster
def test_plan_leaves_cpus_for_the_decode_tasks_and_gives_gpus_to_actors():
    small = plan({"CPU": 2.0}, 40)
    assert small.actors == 1 and small.actor_cpus == 1.0 and small.task_cpus == 0.5 and small.actor_gpus == 0
    two = plan({"CPU": 2.0}, 40, workers=2)
    assert two.actors * two.actor_cpus <= 1.0 and two.task_cpus < 1  # Ray issue 44687: the tasks still get CPUs
    gpus = plan({"CPU": 32.0, "GPU": 4.0}, 1000)
    assert gpus.actors == 4 and gpus.actor_gpus == 1.0 and gpus.task_cpus == 1.0 and gpus.per_block == 8
    assert plan({"CPU": 2.0}, 3).per_block == 1
    with pytest.raises(Exception, match="workers .* must be 1 or more"):
        plan({"CPU": 2.0}, 3, workers=0)


def test_without_ray_the_engine_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from vidcap.cli import main\n"
            f"sys.exit(main(['extract', {str(tmp_path)!r}, '--out', {str(tmp_path / 'f')!r}, '--engine', 'ray']))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == ('vidcap: error: --engine ray needs Ray, which is not installed; '
                                  'install it with `pip install "vidcap[ray]"`')
    from vidcap.cli import main

    with pytest.raises(SystemExit):
        main(["extract", str(tmp_path), "--out", str(tmp_path / "f"), "--engine", "spark"])


# --------------------------------------------------------------------------- on the session's local Ray
@pytest.mark.slow
def test_ray_extract_stores_what_the_local_engine_stores(world, ray_local, tmp_path):
    _, videos, bad, local = world
    out = tmp_path / "ray"
    events = []
    summary = api.extract_many([videos, *bad], out, num_frames=FRAMES, engine="ray", workers=2,
                               progress=events.append)
    assert len(summary.ok) == 10 and len(summary.failed) == 3 and summary.skipped == 0
    mine, theirs = _store(out), _store(local)
    assert mine.keys() == theirs.keys()
    for name, (record, array) in theirs.items():
        assert mine[name][0] == record, name  # same cache key, hash, stat, timestamps, error sentence
        if array is not None:
            assert np.array_equal(mine[name][1], array), name
    errors = {Path(r["source"]).name: r["error"] for r in summary.failed}
    assert "audio only" in errors["talk.m4a"] and "broken.mp4" in errors["broken.mp4"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ok"] == 10 and manifest["failed"] == 3
    # one bar, from the driver: videos done, counting up to all of them
    done = [e.done for e in events if e.task == "extract"]
    assert done == sorted(done) and done[-1] == 13 and {e.total for e in events} == {13}
    # a re-run does nothing again (and starts no job: every video is current)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    again = api.extract_many([videos, *bad], out, num_frames=FRAMES, engine="ray")
    assert again.skipped == 10 and {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")} == mtimes


@pytest.mark.slow
def test_a_stopped_ray_job_rerun_does_the_rest_once(world, ray_local, tmp_path):
    """The driver is stopped (Ctrl-C) after 4 videos; the re-run skips those 4 and stores the
    other 6, each once, with the local engine's features."""
    _, videos, _, local = world
    out = tmp_path / "stopped"

    def stop(event):
        if event.done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.extract_many(videos, out, num_frames=FRAMES, engine="ray", progress=stop)
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    assert len(first) == 4 and json.loads((out / "manifest.json").read_text())["ok"] == 4
    again = api.extract_many(videos, out, num_frames=FRAMES, engine="ray")
    assert again.skipped == 4 and len(again.ok) == 10 and not again.failed
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy") if p.name in first} == first
    mine, theirs = _store(out), _store(local)
    assert sorted(mine) == sorted(v.stem for v in videos.glob("*.mp4"))
    assert all(mine[k][0] == theirs[k][0] and np.array_equal(mine[k][1], theirs[k][1]) for k in mine)


@pytest.mark.slow
def test_object_store_uris(world, ray_local, tmp_path):
    """A ``file://`` URI goes through the pyarrow filesystem layer exactly as s3:// or gs:// would:
    listed, copied to the worker, hashed there; the features are the local file's."""
    _, videos, _, local = world
    out = tmp_path / "uri"
    uri = videos.resolve().as_uri()
    summary = api.extract_many([uri], out, num_frames=FRAMES, engine="ray")
    assert len(summary.ok) == 10 and not summary.failed
    theirs = _store(local)
    for name, (record, array) in _store(out).items():
        assert record["source"] == f"{uri}/{name}.mp4" and record["info"]["path"] == record["source"]
        assert record["hash"] == theirs[name][0]["hash"] and np.array_equal(array, theirs[name][1])
    assert api.extract_many([uri], out, num_frames=FRAMES, engine="ray").skipped == 10
    missing = api.extract_many([f"{uri}/nothing.mp4"], tmp_path / "none", num_frames=FRAMES, engine="ray")
    assert missing.failed[0]["error"] == f"{uri}/nothing.mp4: no such object"
    with pytest.raises(Exception, match="object-store URIs work with extract and caption"):
        api.index([uri], tmp_path / "lib", engine="ray")


@pytest.mark.slow
def test_ray_index_into_object_storage_equals_the_local_library(world, ray_local, s3, tmp_path):
    """The actors write an ``s3://`` library under its lock object: the same rows as a local index."""
    import shutil
    import uuid

    from vidcap.tasks.library import Library

    _, videos, bad, _ = world
    videos = sorted(videos.glob("*.mp4"))[:5]
    options = {"model": "none", "caption_model": "none", "transcripts": False, "tags": False}
    here = api.index([*videos, bad[0]], tmp_path / "lib", **options)
    uri = f"s3://{s3.bucket}/ray-{uuid.uuid4().hex[:8]}"
    try:
        there = api.index([*videos, bad[0]], uri, engine="ray", **options)
        assert (len(there.added), there.total, there.library) == (5, 5, uri)
        assert [f["error"] for f in there.failed] == [f["error"] for f in here.failed] and len(here.failed) == 1
        columns = ["id", "name", "path", "duration", "width", "thumbs"]
        key = lambda r: r["id"]  # noqa: E731
        assert sorted(Library(uri).rows(columns), key=key) == sorted(Library(tmp_path / "lib").rows(columns), key=key)
        again = api.index(videos, uri, engine="ray", **options)
        assert not again.added and len(again.skipped) == 5
    finally:  # the actors kept the features in this machine's cache, under the URI's folder
        shutil.rmtree(Library(uri, create=True).features_dir("mobilenet_v2", 16).parent.parent, ignore_errors=True)


@pytest.mark.slow
def test_ray_caption_and_describe_give_the_local_results(world, ray_local, tmp_path, capsys):
    _, videos, bad, _ = world
    inputs = sorted(videos.glob("*.mp4"))[:3] + [bad[0]]
    here = api.caption(inputs, errors="record")
    there = api.caption(inputs, errors="record", engine="ray")
    assert [r.to_dict() for r in there] == [r.to_dict() for r in here]
    assert there[-1].error == here[-1].error and "broken.mp4" in there[-1].error
    # describe: each video's timeline into the folder, equal to the local one
    from vidcap.cli import main

    assert main(["describe", *map(str, inputs[:2]), "--window", "0.5", "-o", str(tmp_path / "d"), "--engine", "ray",
                 "-q"]) == 0
    printed = json.loads(capsys.readouterr().out)
    local = api.describe(inputs[0], window=0.5)
    assert printed[0] == local.to_dict() and json.loads((tmp_path / "d" / f"{inputs[0].stem}.json").read_text()) == \
        local.to_dict()
    # subtitles of videos without speech: the local sentence for each
    subs = api.subtitles(inputs[:2], tmp_path / "s", engine="ray")
    assert [type(s).__name__ for s in subs] == ["Failure", "Failure"]
    with pytest.raises(Exception) as local_error:
        api.subtitles(inputs[0], tmp_path / "x.srt")
    assert subs[0].error == str(local_error.value)


# --------------------------------------------------------------------------- two nodes, one worker killed
def two_node_job(root: str) -> dict:
    """Run in a subprocess: a 2 x 1 CPU cluster extracts and indexes 40 videos; a model
    actor is killed with SIGKILL after 10 videos of each job. Returns what the test checks."""
    import signal

    import ray
    from ray.cluster_utils import Cluster

    from vidcap.tasks.library import Library

    root_ = Path(root)
    videos = _world(root_ / "world", 40, seed=5)
    local = root_ / "local"
    api.extract_many(videos, local, num_frames=FRAMES, workers=0)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    raylets = {n.all_processes["raylet"][0].process.pid for n in cluster.list_all_nodes()}
    killed = []

    def kill_an_actor(event):
        if event.done >= 10 and len(killed) < len(done_jobs) + 1:
            for pid in _actors(raylets):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break

    done_jobs: list = []
    try:
        summary = api.extract_many(videos, root_ / "ray", num_frames=FRAMES, engine="ray", workers=2,
                                   progress=kill_an_actor)
        done_jobs.append("extract")
        indexed = api.index(videos, root_ / "lib", model="none", caption_model="none", transcripts=False,
                            tags=False, engine="ray", progress=kill_an_actor)
    finally:
        ray.shutdown()
        cluster.shutdown()
    mine, theirs = _store(root_ / "ray"), _store(local)
    rows = Library(root_ / "lib").rows(["id", "name"])
    return {
        "killed": len(killed), "ok": len(summary.ok), "failed": summary.failures,
        "records": sorted(mine) == sorted(theirs),
        "equal": all(np.array_equal(mine[k][1], theirs[k][1]) and mine[k][0] == theirs[k][0] for k in theirs),
        "indexed": len(indexed.added), "index_failed": indexed.failures, "rows": len(rows),
        "ids": len({r["id"] for r in rows}), "names": sorted(r["name"] for r in rows) == sorted(v.stem for v in
                                                                                                videos.glob("*.mp4")),
        "duplicates": Library(root_ / "lib").check().duplicates,
        "shots": Library(root_ / "lib").shots() is not None,  # tags=False reached the actors
    }


def _actors(raylets: set[int]) -> list[int]:
    """Process ids of the cluster's Ray Data actors (children of its raylets)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in raylets and cmd.startswith("ray::MapWorker"):
            found.append(int(proc.name))
    return sorted(found)


@pytest.mark.slow
def test_two_nodes_lose_a_worker_and_every_video_is_stored_once(tmp_path):
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (make setup installs it)")
    code = f"import json, test_scale; print('RESULT', json.dumps(test_scale.two_node_job({str(tmp_path)!r})))"
    run = subprocess.run([sys.executable, "-c", code], cwd=TESTS, capture_output=True, text=True, timeout=900,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.rsplit("RESULT ", 1)[1])
    assert result["killed"] == 2  # one model actor of each job
    assert result["ok"] == 40 and result["failed"] == [] and result["records"] and result["equal"]
    assert result["indexed"] == 40 and result["index_failed"] == []
    assert result["rows"] == result["ids"] == 40 and result["names"] and result["duplicates"] == {}
    assert not result["shots"]


def test_crash_message_names_the_video_and_the_tries():
    assert crashed("a.mp4") == (f"a.mp4: the worker process died on this video {RETRIES + 1} times (a crash in "
                                "the decoder or the model, out of memory, or a lost node)")
