"""The golden run: every ``vidcap`` command on a small generated world, outputs normalised.

``run(tmp)`` calls ``vidcap.cli.main`` in this process for each command (models load
once), and returns ``{step: {"argv", "exit", "out", "files"}}`` with paths replaced by
``<tmp>`` and run-dependent values (timings, file hashes, dates) removed, so that two
runs of the same code give equal results and a refactoring can be checked against a
run of the code before it (``tests/golden/cli.json``, compared by ``test_golden.py``).

Regenerate the stored file (only when an output changed on purpose; say why in the
commit): ``VIDCAP_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py``.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# keys whose values depend on the run (time, machine, file metadata), not on the code
VOLATILE = {"seconds", "finished", "indexed_at", "created", "mtime_ns", "stat", "hash", "elapsed",
            "model_id", "id", "seconds_elapsed"}


def normalise(obj, tmp: str):
    if isinstance(obj, dict):
        return {k: normalise(v, tmp) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, (list, tuple)):
        return [normalise(v, tmp) for v in obj]
    if isinstance(obj, str):
        return obj.replace(tmp, "<tmp>")
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def _parse(text: str):
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text.splitlines()


def call(argv: list[str], cwd: Path | None = None) -> tuple[int, str, str]:
    from vidcap.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(old)
    return int(code or 0), out.getvalue(), err.getvalue()


def _csv_rows(path: Path, drop=("seconds",)) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# --------------------------------------------------------------------------- inputs
def face_video(path: Path) -> Path:
    """A camera panning over the smiling astronaut: 20 frames, 320x240."""
    import cv2
    import skimage.data

    from vidcap.io import write_video

    img = skimage.data.astronaut()
    frames = []
    for i in range(20):
        x0 = 60 + 4 * i
        frames.append(cv2.resize(img[20:350, x0:x0 + 440], (320, 240), interpolation=cv2.INTER_AREA))
    return write_video(path, frames, fps=20)


def fer_csv(path: Path) -> Path:
    """A tiny FER2013-format CSV: grey 48x48 images whose pattern depends on the label."""
    rng = np.random.default_rng(0)
    usage = ["Training"] * 42 + ["PrivateTest"] * 14 + ["PublicTest"] * 14
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for k, u in enumerate(usage):
            label = k % 7
            img = rng.integers(0, 60, (48, 48))
            img[:, label * 6 : label * 6 + 6] += 180
            w.writerow([label, " ".join(map(str, img.reshape(-1).tolist())), u])
    return path


def speech_video(path: Path, tmp: Path) -> Path:
    """espeak-ng saying two sentences over 5 s of a moving square, with an AAC track."""
    import subprocess
    import wave

    rate = 22050
    parts = [np.zeros(int(0.5 * rate), np.float32)]
    for i, text in enumerate(["The quick brown fox jumps over the lazy dog.", "Video captioning is fun."]):
        wav = tmp / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
        with wave.open(str(wav)) as w:
            parts.append(np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768)
        parts.append(np.zeros(int(0.6 * rate), np.float32))
    audio = np.concatenate(parts)
    n = int(len(audio) / rate * 25)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        packets = []
        for i in range(n):
            f = np.full((120, 160, 3), 30, np.uint8)
            x = int(130 * i / max(1, n - 1))
            f[45:75, x:x + 30] = (230, 200, 40)
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            packets += vs.encode(vf)
        packets += vs.encode()
        for k in range(0, len(audio), 1024):
            af = av.AudioFrame.from_ndarray(audio[None, k:k + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = rate, k, Fraction(1, rate)
            packets += a.encode(af)
        packets += a.encode()
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base) if p.dts is not None else 0.0):
            out.mux(p)
    return path


# --------------------------------------------------------------------------- the run
def run(tmp: Path) -> dict:
    tmp = Path(tmp)
    steps: dict[str, dict] = {}
    root = str(tmp)

    def step(name: str, argv: list[str], files=None, cwd=None):
        code, text, err = call(argv, cwd=cwd)
        entry = {"argv": normalise(argv, root), "exit": code, "out": normalise(_parse(text), root)}
        if code:  # the one-sentence error (progress bars and warnings before it are not compared)
            lines = [ln for ln in err.splitlines() if ln.startswith("vidcap:")]
            entry["error"] = normalise(lines[-1] if lines else err.strip().splitlines()[-1:], root)
        if files is not None:
            entry["files"] = normalise(files(), root)
        steps[name] = entry
        return entry

    w = tmp / "world"
    step("synth", ["synth", str(w), "--num-videos", "24", "--seed", "17", "--seconds", "2", "--workers", "1", "-q"],
         files=lambda: {"splits": json.loads((w / "splits.json").read_text()),
                        "corpus_rows": len(_csv_rows(w / "video_corpus.csv"))})
    vids = sorted((w / "videos").glob("*.mp4"))
    splits = json.loads((w / "splits.json").read_text())
    test_vids = [w / "videos" / f"{n}.mp4" for n in splits["test"][:2]]
    step("info_one", ["info", str(vids[0]), "-q"])
    step("info_two", ["info", str(vids[0]), str(vids[1]), "-q"])
    step("backbones", ["backbones", "-q"])

    feats = tmp / "feats"
    step("extract", ["extract", str(w / "videos"), "--out", str(feats), "--num-frames", "8", "--workers", "0", "-q"],
         files=lambda: {p.stem: [list(np.load(p).shape), round(float(np.load(p).mean()), 4)]
                        for p in sorted(feats.glob("syn0000*.npy"))})
    step("extract_again", ["extract", str(w / "videos"), "--out", str(feats), "--num-frames", "8", "--workers", "0", "-q"])

    step("caption", ["caption", *map(str, test_vids), "--json"])
    bad = tmp / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    step("caption_bad", ["caption", str(test_vids[0]), str(bad), "--json"])

    refs = {"a": ["a red circle moves left", "the red ball goes left"], "b": ["a blue square grows"]}
    (tmp / "refs.json").write_text(json.dumps(refs))
    (tmp / "preds.json").write_text(json.dumps({"a": "a red circle moves to the left", "b": "a blue square shrinks"}))
    step("score", ["score", "--refs", str(tmp / "refs.json"), "--preds", str(tmp / "preds.json"), "-q"])

    run_c = tmp / "run_caption"
    corpus = str(w / "video_corpus.csv")
    step("train_caption", ["train", "caption", "--corpus", corpus, "--features", str(feats), "--splits",
                           str(w / "splits.json"), "--out-dir", str(run_c), "--epochs", "3", "--batch-size", "8",
                           "--hidden", "64", "-q"],
         files=lambda: {"log": _csv_rows(run_c / "log.csv")})
    step("evaluate_caption", ["evaluate", "--model", str(run_c), "--corpus", corpus, "--features", str(feats),
                              "--splits", str(w / "splits.json"), "--split", "test", "--metrics", "bleu", "cider",
                              "--tokenize", "simple", "-q"])

    run_k = tmp / "run_classify"
    step("train_classify", ["train", "classify", str(w), "--model", "pool", "--epochs", "3", "--num-frames", "8",
                            "--out-dir", str(run_k), "-q"])
    step("evaluate_classify", ["evaluate", "classify", str(w), "--model", str(run_k), "--split", "test", "-q"])
    step("classify", ["classify", str(vids[0]), "--model", str(run_k), "--window", "8", "--stride", "4", "-q"])

    face = face_video(tmp / "face.mp4")
    step("emotions", ["emotions", str(face), "--timeline", str(tmp / "faces.csv"), "--plot", str(tmp / "faces.png"),
                      "--no-preview", "-q"],
         files=lambda: {"timeline_rows": len(_csv_rows(tmp / "faces.csv", drop=())),
                        "plot": (tmp / "faces.png").is_file()})
    fer = fer_csv(tmp / "fer.csv")
    step("train_emotions", ["train", "emotions", str(fer), "--out", str(tmp / "run_emotions"), "--epochs", "2",
                            "--batch-size", "16", "-q"])

    slow = tmp / "slow.mp4"
    step("interpolate", ["interpolate", str(vids[0]), "--factor", "2", "-o", str(slow), "-q"],
         files=lambda: {"frames": _frames(slow)})
    import cv2

    from vidcap.io import sample_frames

    clip = sample_frames(vids[0], 2)
    cv2.imwrite(str(tmp / "a.png"), cv2.cvtColor(clip.frames[0], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp / "b.png"), cv2.cvtColor(clip.frames[1], cv2.COLOR_RGB2BGR))
    step("inbetween", ["inbetween", str(tmp / "a.png"), str(tmp / "b.png"), "--num-frames", "3", "-o",
                       str(tmp / "tween") + "/", "-q"],
         files=lambda: sorted(p.name for p in (tmp / "tween").iterdir()))

    lib = tmp / "lib"
    step("index", ["index", str(w / "videos"), "--library", str(lib), "--no-transcripts", "-q"])
    step("index_again", ["index", str(w / "videos"), "--library", str(lib), "--no-transcripts", "-q"])
    step("library_ls", ["library", "ls", "--library", str(lib), "-q"])
    cwd = tmp / "cwd"
    cwd.mkdir()
    step("search", ["search", "a red circle moves to the left", "--library", str(lib), "--k", "3", "-q"], cwd=cwd,
         files=lambda: sorted(p.name for p in cwd.iterdir()))
    step("search_caption", ["search", "a circle", "--library", str(lib), "--k", "3", "--mode", "caption", "--json",
                            "--sheet", "none"])
    entry = step("library_rm", ["library", "rm", vids[0].stem, "--library", str(lib), "-q"])
    entry["out"] = len(entry["out"] or [])  # the ids are content hashes of encoder output
    run_r = tmp / "run_retrieval"
    step("train_retrieval", ["train", "retrieval", "--corpus", corpus, "--features", str(feats), "--out-dir",
                             str(run_r), "--epochs", "2", "--batch-size", "8", "-q"])
    step("evaluate_retrieval", ["evaluate", "retrieval", "--corpus", corpus, "--library", str(lib), "--videos",
                                str(w / "videos"), "--split", "test", "--modes", "learned", "caption", "-q"])

    speech = speech_video(tmp / "speech.mp4", tmp)
    step("subtitles", ["subtitles", str(speech), "-o", str(tmp / "speech.srt"), "--json"],
         files=lambda: (tmp / "speech.srt").read_text().splitlines())
    step("describe", ["describe", str(speech), "--window", "2", "-o", str(tmp / "describe.json"), "-q"])
    return steps


# Whisper's word-level outputs hang on CTranslate2's int8 kernels, which differ by CPU: an
# AVX-512 VNNI machine gave word probabilities up to 0.08 from the AVX2 machine's that
# recorded cli.json (same words, same segments) and moved one word boundary by one 20 ms
# step. Those two get these absolute tolerances; everything else the relative one below.
WORD_TOLERANCE = {"probability": 0.1, "start": 0.021, "end": 0.021}


def _tolerance(path: str, want: float) -> float:
    parent, _, key = path.rpartition("/")
    if "/words[" in parent and key in WORD_TOLERANCE:
        return WORD_TOLERANCE[key]
    return 1e-4 + 1e-3 * abs(want)


def compare(got, want, path: str = "") -> list[str]:
    """Differences between two normalised runs; floats within 1e-3 (relative) count as equal,
    whisper's word probabilities and times within WORD_TOLERANCE."""
    out: list[str] = []
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f"{path}/{k}: missing")
            elif k not in want:
                out.append(f"{path}/{k}: new ({json.dumps(got[k])[:120]})")
            else:
                out += compare(got[k], want[k], f"{path}/{k}")
    elif isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            out.append(f"{path}: {len(got)} items, expected {len(want)}")
        for i, (g, e) in enumerate(zip(got, want)):
            out += compare(g, e, f"{path}[{i}]")
    elif isinstance(want, float) or isinstance(got, float):
        if not (isinstance(got, (int, float)) and isinstance(want, (int, float))
                and abs(got - want) <= _tolerance(path, want)):
            out.append(f"{path}: {got!r}, expected {want!r}")
    elif got != want:
        out.append(f"{path}: {json.dumps(got)[:160]}, expected {json.dumps(want)[:160]}")
    return out


if __name__ == "__main__":  # python tests/golden.py OUT.json: record a run
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        result = run(Path(d))
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
