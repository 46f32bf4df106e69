"""The feature store and the many-videos pipeline: skip, invalidate, collide, fail, resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clips import coded_frames, noise_frames, write_clip
from vidcap.cli import main as cli_main
from vidcap.errors import ConfigError
from vidcap.features import extract, extract_many
from vidcap.io.files import find_videos


def _videos(folder: Path, n: int, frames: int = 12) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(folder / f"v{i:02d}.mp4", noise_frames(frames, 64, 80, seed=i)) for i in range(n)]


def _mtimes(out: Path) -> dict:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}


def test_extract_many_real_samples_then_skip(samples, tmp_path):
    out = tmp_path / "features"
    videos = [samples[s] for s in ("bikes", "bigbuckbunny", "carphone_pristine")]
    first = extract_many(videos, out, num_frames=80, workers=1)
    assert len(first.ok) == 3 and not first.failed and first.skipped == 0
    for stem in ("bikes", "bigbuckbunny", "carphone_pristine"):
        array = np.load(out / f"{stem}.npy")  # the seed's layout: plain np.load
        assert array.shape == (80, 1280) and array.dtype == np.float32
        record = json.loads((out / f"{stem}.json").read_text())
        assert record["status"] == "ok" and record["params"]["backbone"] == "mobilenet_v2" and len(record["timestamps"]) == 80
    # Same features as the one-video API.
    assert np.allclose(np.load(out / "bikes.npy"), extract(samples["bikes"]).features, atol=1e-4)
    before = _mtimes(out)
    again = extract_many(videos, out, num_frames=80, workers=1)
    assert again.skipped == 3 and len(again.ok) == 3 and _mtimes(out) == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ok"] == 3 and manifest["failed"] == 0


def test_parameter_or_content_change_recomputes(tmp_path):
    a, b = _videos(tmp_path / "in", 2)
    out = tmp_path / "out"
    extract_many([a, b], out, num_frames=4, workers=0)
    before = _mtimes(out)
    # Touched but unchanged: the content hash says it is the same video.
    os.utime(a, ns=(time.time_ns(), time.time_ns()))
    assert extract_many([a, b], out, num_frames=4, workers=0).skipped == 2 and _mtimes(out) == before
    # New content under the same name: recomputed.
    write_clip(a, noise_frames(12, 64, 80, seed=99))
    result = extract_many([a, b], out, num_frames=4, workers=0)
    assert result.skipped == 1 and _mtimes(out)["v00.npy"] != before["v00.npy"]
    # New sampling parameters: everything recomputed.
    result = extract_many([a, b], out, num_frames=6, workers=0)
    assert result.skipped == 0 and np.load(out / "v01.npy").shape == (6, 1280)


def test_fast_seeking_is_part_of_the_cache_key_and_stores_the_frames_it_took(tmp_path, capsys):
    """``--seek fast`` through the CLI and the pool: the record names it and the keyframe times
    it took; the same run again is current; exact seeking recomputes and records as before."""
    video = write_clip(tmp_path / "long.mp4", coded_frames(600), gop=50)
    out = tmp_path / "out"
    assert cli_main(["extract", str(video), "--out", str(out), "--num-frames", "6", "--seek", "fast", "-q"]) == 0
    capsys.readouterr()
    record = json.loads((out / "long.json").read_text())
    fast = extract(video, num_frames=6, seek="fast")
    assert record["params"]["seek"] == "fast" and np.allclose(record["timestamps"], fast.timestamps)
    assert np.array_equal(np.load(out / "long.npy"), fast.features)
    assert not np.allclose(fast.timestamps, extract(video, num_frames=6).timestamps)  # it did move samples
    assert extract_many([video], out, num_frames=6, seek="fast", workers=0).skipped == 1
    assert extract_many([video], out, num_frames=6, workers=0).skipped == 0
    assert "seek" not in json.loads((out / "long.json").read_text())["params"]


def test_whole_frame_fit_sees_the_edges_and_is_part_of_the_cache_key(tmp_path, capsys):
    """A red box near the left edge of a 4:3 video: the centre crop cuts it off, ``--fit pad``
    (the whole frame, letterboxed) keeps it. The record names the fit; the same run again is
    current; the default (crop) recomputes and records as before."""
    from vidcap.features.extract import decode_fitted

    frames = np.zeros((8, 120, 160, 3), dtype=np.uint8)
    frames[:, 50:70, 4:22] = (255, 0, 0)
    video = write_clip(tmp_path / "edge.mp4", frames)

    def red(f):
        return int(((f[..., 0] > 150) & (f[..., 1] < 80)).sum())

    crop = decode_fitted(video, 2, resize=256, crop=224)
    pad = decode_fitted(video, 2, resize=256, crop=224, fit="pad")
    assert crop.frames.shape == pad.frames.shape == (2, 224, 224, 3)
    assert red(crop.frames) == 0 and red(pad.frames) > 2 * 0.8 * (18 * 1.4) * (20 * 1.4)
    assert not pad.frames[:, :20].any() and not pad.frames[:, -20:].any()  # black bars above and below

    out = tmp_path / "out"
    assert cli_main(["extract", str(video), "--out", str(out), "--num-frames", "4", "--fit", "pad", "-q"]) == 0
    capsys.readouterr()
    assert json.loads((out / "edge.json").read_text())["params"]["fit"] == "pad"
    padded = np.load(out / "edge.npy")
    assert np.array_equal(padded, extract(video, num_frames=4, fit="pad").features)
    assert extract_many([video], out, num_frames=4, fit="pad", workers=0).skipped == 1
    assert extract_many([video], out, num_frames=4, workers=0).skipped == 0
    assert "fit" not in json.loads((out / "edge.json").read_text())["params"]
    assert not np.allclose(np.load(out / "edge.npy"), padded)
    with pytest.raises(ConfigError, match="fit must be one of"):
        extract_many([video], out, num_frames=4, fit="squash", workers=0)


def test_same_file_name_in_two_folders_does_not_collide(tmp_path):
    x = write_clip(tmp_path / "a" / "clip.mp4", noise_frames(8, 64, 80, seed=1)) if (tmp_path / "a").mkdir() is None else None
    y = write_clip(tmp_path / "b" / "clip.mp4", noise_frames(8, 64, 80, seed=2)) if (tmp_path / "b").mkdir() is None else None
    out = tmp_path / "out"
    result = extract_many([tmp_path / "a", tmp_path / "b"], out, num_frames=4, workers=0)
    names = sorted(r["name"] for r in result.ok)
    assert len(names) == 2 and names[0] == "clip" and names[1].startswith("clip-")
    assert not np.allclose(np.load(out / f"{names[0]}.npy"), np.load(out / f"{names[1]}.npy"))
    # Stable on a re-run, even when listed the other way round.
    again = extract_many([y, x], out, num_frames=4, workers=0)
    assert again.skipped == 2 and sorted(r["name"] for r in again.ok) == names


def test_failures_are_recorded_and_the_rest_finish(tmp_path):
    good = _videos(tmp_path / "in", 3)
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_text("not a video")
    empty = tmp_path / "in" / "empty.avi"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    result = extract_many([tmp_path / "in"], out, num_frames=4, workers=1)
    assert len(result.ok) == 3 and len(result.failed) == 2
    errors = {Path(r["source"]).name: r["error"] for r in result.failed}
    assert "broken.mp4" in errors["broken.mp4"] and "empty" in errors["empty.avi"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["failed"] == 2 and {v["status"] for v in manifest["videos"]} == {"ok", "failed"}
    assert not (out / "broken.npy").exists()
    assert all((out / f"{v.stem}.npy").exists() for v in good)


def test_inputs_from_a_list_file(tmp_path):
    videos = _videos(tmp_path / "in", 2)
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\n" + "\n".join(str(v.relative_to(tmp_path)) for v in videos) + "\n\n")
    assert [p.resolve() for p in find_videos([listing])] == [v.resolve() for v in videos]


def _cli(*args, cwd=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "vidcap", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **kwargs)


@pytest.mark.slow
def test_killed_run_resumes_and_loses_nothing(tmp_path):
    videos = _videos(tmp_path / "in", 30, frames=16)
    out = tmp_path / "out"
    proc = _cli("extract", tmp_path / "in", "--out", out, "--num-frames", "8", "--workers", "1", "-q")
    deadline = time.time() + 300
    while len(list(out.glob("*.npy"))) < 10 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 halfway
    proc.wait()
    done = {}
    for record_path in out.glob("v*.json"):
        record = json.loads(record_path.read_text())  # every record is whole
        assert record["status"] in ("ok", "claimed"), record  # claimed: named, not computed yet
        if record["status"] == "ok":
            assert np.load(out / f"{record['name']}.npy").shape == (8, 1280)
            done[record["name"]] = (out / f"{record['name']}.npy").stat().st_mtime_ns
    assert 0 < len(done) < 30, len(done)
    rerun = _cli("extract", tmp_path / "in", "--out", out, "--num-frames", "8", "--workers", "1", "-q")
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr.decode()
    summary = json.loads(stdout)
    assert summary["ok"] == 30 and summary["skipped"] >= len(done) and summary["failed"] == []
    assert all((out / f"{name}.npy").stat().st_mtime_ns == mtime for name, mtime in done.items())
    assert sorted(p.stem for p in out.glob("v*.npy")) == sorted(v.stem for v in videos)
    assert not list(out.glob(".*tmp*"))


def test_cli_and_api_give_the_same_features(tmp_path, capsys):
    video = write_clip(tmp_path / "clip.mp4", coded_frames(30))
    assert cli_main(["extract", str(video), "--out", str(tmp_path / "cli"), "--num-frames", "5", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] == 1 and summary["failed"] == []
    assert np.allclose(np.load(tmp_path / "cli" / "clip.npy"), extract(video, num_frames=5).features, atol=1e-5)
    assert cli_main(["info", str(video), "-q"]) == 0
    info = json.loads(capsys.readouterr().out)  # a list, also for one video (`jq '.[].num_frames'`)
    assert [i["num_frames"] for i in info] == [30] and info[0]["width"] == 80
    assert cli_main(["info", str(tmp_path / "missing.mp4")]) == 2
    assert "missing.mp4: no such file" in capsys.readouterr().err
    assert cli_main(["info", str(video), str(tmp_path / "missing.mp4"), "--json"]) == 1  # some failed
    both = json.loads(capsys.readouterr().out)
    assert both[0]["num_frames"] == 30 and "no such file" in both[1]["error"]
