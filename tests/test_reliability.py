"""Hostile inputs and hostile conditions: outputs over inputs, concurrent writers, kills at
the wrong moment, non-regular files, read-only and full disks, odd sizes (issue 20's rows)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clips import coded_frames, write_clip
from vidcap import api
from vidcap.cli import main
from vidcap.errors import ConfigError, DataError

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@contextlib.contextmanager
def mounted(path: Path, *, size: str = "2m", read_only: bool = False):
    """A small tmpfs at ``path`` (read-only when asked); skips where the test cannot mount."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}"
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root, or no mount namespace)")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def cli(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_sentence(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("vidcap:")]
    assert lines and "Traceback" not in err, err
    return lines[-1]


# --------------------------------------------------------------------------- 1. outputs over inputs
def test_an_output_over_its_input_is_refused_and_the_input_kept(tmp_path, capsys):
    from vidcap.viz.annotate import annotate_video

    video = write_clip(tmp_path / "c.mp4", coded_frames(12))
    (tmp_path / "link.mp4").symlink_to(video)
    before = md5(video)
    for out in (video, tmp_path / "link.mp4", tmp_path / "." / "c.mp4"):
        with pytest.raises(ConfigError, match="is the input"):
            annotate_video(video, out)  # classify -o / --gif draw through it
        with pytest.raises(ConfigError, match="is the input"):
            api.emotions(video, output=out)
        with pytest.raises(ConfigError, match="is the input"):
            api.subtitles(video, burn=out)
        with pytest.raises(ConfigError, match="is the input"):
            api.interpolate(video, out)
    code, _, err = cli(["emotions", video, "-o", video, "--no-preview"], capsys)
    assert code == 2 and "is the input" in one_sentence(err)
    assert md5(video) == before


# --------------------------------------------------------------------------- 2, 3. concurrent writers
def _run_together(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen([sys.executable, "-m", "vidcap", *c], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=600), *p.communicate()) for p in procs]


@pytest.mark.slow
def test_two_extract_runs_into_one_store_keep_both(tmp_path):
    for folder, offset in (("X", 0), ("Y", 100)):
        (tmp_path / folder).mkdir()
        for i in range(6):  # same file names, different content
            write_clip(tmp_path / folder / f"clip{i}.mp4", coded_frames(10)[::-1] if offset else coded_frames(10))
    runs = _run_together([["extract", tmp_path / "X", "--out", tmp_path / "feats", "--num-frames", "3",
                           "--workers", "0", "-q"],
                          ["extract", tmp_path / "Y", "--out", tmp_path / "feats", "--num-frames", "3",
                           "--workers", "0", "-q"]], tmp_path)
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    records = [json.loads(p.read_text()) for p in (tmp_path / "feats").glob("*.json") if p.name != "manifest.json"]
    sources = sorted(r["source"] for r in records if r["status"] == "ok")
    assert len(sources) == 12 and len(set(sources)) == 12  # every video once, none lost
    manifest = json.loads((tmp_path / "feats" / "manifest.json").read_text())
    assert manifest["ok"] == 12
    for r in records:  # each entry holds its own video's features
        own = api.extract(r["source"], num_frames=3).features
        assert np.allclose(np.load(tmp_path / "feats" / f"{r['name']}.npy"), own, atol=1e-5)


@pytest.mark.slow
def test_two_index_runs_into_one_library_add_each_video_once(tmp_path):
    api.synth(tmp_path / "w", num_videos=6, seconds=1, workers=1)
    lib = tmp_path / "lib"
    args = ["index", tmp_path / "w" / "videos", "--library", lib, "--no-transcripts", "--caption-model", "none", "-q"]
    runs = _run_together([args, args], tmp_path)
    assert [r.returncode for r in runs] == [0, 0], [r.stderr[-2000:] for r in runs]
    assert "Traceback" not in runs[0].stderr + runs[1].stderr
    check = api.library_check(lib)
    assert check.rows == check.videos == 6 and not check.duplicates
    added = sum(json.loads(r.stdout)["added"] for r in runs)
    assert added == 6  # the other run skipped what this one added
    # a library with duplicate rows (as older versions could leave): found, then repaired
    from vidcap.tasks.library import Library

    t = Library(lib).table()
    t.add(t.to_arrow().slice(0, 2))
    assert api.library_check(lib).duplicates and main(["library", "check", "--library", str(lib)]) == 1
    repaired = api.library_check(lib, repair=True)
    assert repaired.removed == 2 and not api.library_check(lib).duplicates and api.library_check(lib).rows == 6


# --------------------------------------------------------------------------- 4. a kill between array and record
def test_an_array_without_its_record_is_never_taken_as_complete(tmp_path):
    video = write_clip(tmp_path / "v.mp4", coded_frames(30))
    first = api.extract_many(video, tmp_path / "feats", num_frames=8, workers=0)
    assert len(first.ok) == 1
    # a 16-frame run killed after it renamed its .npy into place, before its record
    np.save(tmp_path / "feats" / "v.npy", np.zeros((16, 1280), np.float32))
    again = api.extract_many(video, tmp_path / "feats", num_frames=8, workers=0)
    assert again.skipped == 0 and len(again.ok) == 1  # redone, not "already done"
    assert np.load(tmp_path / "feats" / "v.npy").shape == (8, 1280)
    from vidcap.features.store import FeatureStore

    np.save(tmp_path / "feats" / "v.npy", np.zeros((16, 1280), np.float32))
    with pytest.raises(DataError, match="shape"):
        FeatureStore(tmp_path / "feats").load("v")


# --------------------------------------------------------------------------- 6, 14. odd paths and non-regular files
def test_non_regular_files_are_one_sentence_and_never_hang(tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo.mp4")
    os.mkfifo(tmp_path / "refs.json")
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    (tmp_path / "preds.json").write_text("{}")
    started = time.monotonic()
    for argv, words in (
        (["subtitles", tmp_path / "fifo.mp4", "-o", tmp_path / "s.srt"], "is a FIFO, not a regular file"),
        (["caption", tmp_path / "fifo.mp4"], "is a FIFO, not a regular file"),
        (["info", tmp_path / "fifo.mp4"], "is a FIFO, not a regular file"),
        (["score", "--refs", tmp_path / "refs.json", "--preds", tmp_path / "preds.json"], "is a FIFO"),
        (["caption", tmp_path / "loop.mp4"], "symbolic link loop"),
        (["train", "caption", "--corpus", tmp_path / "fifo.mp4", "--features", tmp_path, "--out-dir", tmp_path / "r"],
         "is a FIFO"),
    ):
        code, _, err = cli(argv, capsys)
        assert code == 2 and words in one_sentence(err), (argv, err)
    assert time.monotonic() - started < 120  # nothing waited for a writer on the FIFO
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'loop.mp4'}\n")
    summary = api.extract_many(listing, tmp_path / "feats", workers=0)
    assert "symbolic link loop" in summary.failed[0]["error"]
    listing.write_bytes(b"\xff\xfe not utf-8\n")
    with pytest.raises(DataError, match="not UTF-8"):
        api.extract_many(listing, tmp_path / "feats", workers=0)


def test_deeply_nested_json_is_refused(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    (tmp_path / "preds.json").write_text("{}")
    for argv in (["score", "--refs", deep, "--preds", tmp_path / "preds.json"],
                 ["train", "caption", "--corpus", deep, "--features", tmp_path, "--out-dir", tmp_path / "r"]):
        code, _, err = cli(argv, capsys)
        assert code == 2 and "nests deeper than" in one_sentence(err), err


# --------------------------------------------------------------------------- 7, 8. damaged and tiny videos
def test_tiny_frames_interpolate_by_blending(tmp_path):
    for side in (1, 2):
        frames = [np.full((side, side, 3), v, np.uint8) for v in (0, 200, 0)]
        src = api.write_video(tmp_path / f"t{side}.mkv", frames, 5, lossless=True)
        result = api.interpolate(src, tmp_path / f"out{side}.mkv", factor=2)
        assert result.output_frames == 6 == api.probe(tmp_path / f"out{side}.mkv").num_frames


def test_a_slow_timelapse_interpolates_to_what_it_reports(tmp_path):
    src = write_clip(tmp_path / "lapse.mp4", coded_frames(3), times=[0, 9000, 18000])  # 2.5 h apart
    result = api.interpolate(src, tmp_path / "out.mp4", factor=2)
    assert result.output_frames == api.probe(tmp_path / "out.mp4").num_frames == 6


# --------------------------------------------------------------------------- 11. read-only and full disks
def test_read_only_and_full_disks_are_one_sentence(tmp_path, capsys):
    video = write_clip(tmp_path / "v.mp4", coded_frames(20))
    with mounted(tmp_path / "ro", read_only=True) as ro:
        for argv in (["extract", video, "--out", ro / "feats", "--workers", "0"],
                     ["synth", ro / "world", "--num-videos", "2", "--workers", "1"],
                     ["emotions", video, "--timeline", ro / "t.csv", "--no-preview"],
                     ["interpolate", video, "-o", ro / "slow.mp4"],
                     ["index", video, "--library", ro / "lib", "--no-transcripts", "--caption-model", "none"],
                     ["train", "caption", "--corpus", tmp_path / "c.csv", "--features", tmp_path,
                      "--out-dir", ro / "run"]):
            code, _, err = cli(argv, capsys)
            assert code == 2 and "read-only" in one_sentence(err).lower(), (argv, err)
    with mounted(tmp_path / "full", size="1m") as full:
        big = write_clip(tmp_path / "big.mp4", np.random.default_rng(0).integers(0, 255, (40, 240, 320, 3),
                                                                                 dtype=np.uint8))
        code, _, err = cli(["interpolate", big, "-o", full / "slow.mkv", "--factor", "2"], capsys)
        assert code == 2 and ("disk is full" in one_sentence(err) or "No space" in err), err
        assert not [p for p in full.iterdir() if p.suffix in (".mkv", ".tmp")]  # nothing half-written left


def test_output_modes_are_the_usual_ones(tmp_path):
    old = os.umask(0o022)
    try:
        video = write_clip(tmp_path / "v.mp4", coded_frames(10))
        r = api.emotions(video, timeline=tmp_path / "t.csv", plot=tmp_path / "p.png")
        api.interpolate(video, tmp_path / "s.mp4")
        api.extract_many(video, tmp_path / "feats", workers=0)
    finally:
        os.umask(old)
    assert r.outputs
    for path in (tmp_path / "t.csv", tmp_path / "p.png", tmp_path / "s.mp4", tmp_path / "feats" / "v.npy",
                 tmp_path / "feats" / "v.json"):
        assert path.stat().st_mode & 0o777 == 0o644, path


# --------------------------------------------------------------------------- 16. odd frame sizes
def test_odd_sizes_work_for_every_writer(tmp_path):
    from vidcap.viz.annotate import annotate_video

    frames = np.random.default_rng(1).integers(0, 255, (6, 241, 321, 3), dtype=np.uint8)
    odd = api.write_video(tmp_path / "odd.mkv", frames, 10, lossless=True)
    out = annotate_video(odd, tmp_path / "a.mp4", gif=tmp_path / "a.gif")
    assert out["frames"] == 6 and api.probe(tmp_path / "a.mp4").num_frames == 6
    assert api.emotions(odd, output=tmp_path / "e.mp4").outputs["video"]


# --------------------------------------------------------------------------- 18. nothing survives a kill -9
@pytest.mark.slow
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    (tmp_path / "v").mkdir()
    for i in range(30):
        write_clip(tmp_path / "v" / f"v{i}.mp4", coded_frames(120, 240, 320))
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", "extract", str(tmp_path / "v"), "--out",
                             str(tmp_path / "feats"), "--workers", "1", "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "feats").glob("*.npy")) and time.monotonic() < deadline:
        time.sleep(0.2)
    children = _descendants(proc.pid)
    assert children, "the run started no worker processes"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [c for c in children if _alive(c)]


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout.split()[2:]
    pairs = [(int(a), int(b)) for a, b in zip(out[::2], out[1::2])]
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, parent in pairs if parent == p]
        found += kids
        frontier += kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


# --------------------------------------------------------------------------- 20. exit codes
def test_exit_codes_say_whether_some_inputs_failed(tmp_path, capsys):
    good = write_clip(tmp_path / "good.mp4", coded_frames(10))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    assert cli(["extract", tmp_path, "--out", tmp_path / "feats", "--workers", "0", "-q"], capsys)[0] == 1
    code, out, err = cli(["index", good, tmp_path / "bad.mp4", "--library", tmp_path / "lib", "--no-transcripts",
                          "--caption-model", "none", "-q"], capsys)
    assert code == 1 and json.loads(out)["added"] == 1
    assert cli(["info", good], capsys)[0] == 0
    assert cli(["info", tmp_path / "nothing.mp4"], capsys)[0] == 2


# --------------------------------------------------------------------------- 21. datasets that hide problems
def test_class_folders_list_every_unreadable_entry(tmp_path):
    from vidcap.data.folders import load_dataset

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        for i in range(2):
            write_clip(tmp_path / "train" / cls / f"{i}.mp4", coded_frames(10))
    os.mkfifo(tmp_path / "train" / "a" / "fifo.mp4")
    (tmp_path / "train" / "b" / "gone.mp4").symlink_to(tmp_path / "nowhere.mp4")
    ds = load_dataset(tmp_path)
    skipped = {Path(s["path"]).name: s["error"] for s in ds.skipped}
    assert "FIFO" in skipped["fifo.mp4"] and "broken symbolic link" in skipped["gone.mp4"]
    assert sum(len(v) for v in ds.splits.values()) == 4


def test_a_corpus_with_an_open_quote_is_an_error(tmp_path):
    from vidcap.data.captions import load_msvd

    rows = ["VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description"]
    rows += [f"v{i},0,3,1,clean,10,English,\"a cat sits{' and' if i else ''}" if i == 1 else
             f"v{i},0,3,1,clean,10,English,a dog runs number {i}" for i in range(40)]
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match="line 3: a quoted field runs over .* a quote is not closed"):
        load_msvd(tmp_path / "c.csv")
