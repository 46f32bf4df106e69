"""Every result vidcap returns: plain data that renders the same everywhere.

Each result type has ``to_dict()`` (plain, JSON-ready data), ``to_json()`` (strict
JSON: NaN and infinities become null, so ``JSON.parse`` accepts it), ``save(path)``
(the format is chosen by the extension; ``.json`` always works) and ``render()`` (what
the command line prints for a person). Types that mean something as a picture also
have ``plot(path)``. The CLI, the web service and the Python API all use these
objects, so a result looks the same wherever it is read.

The records that the files layer makes itself -- :class:`VideoInfo` (a probe) and
:class:`Cue` (a subtitle) -- are defined there and shown here, so that this module
sits above :mod:`vidcap.io` and nothing below imports it.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError
from vidcap.io.subtitles import Cue
from vidcap.io.video import VideoInfo

__all__ = ["Cue", "VideoInfo"]  # and every class below


class Result:
    """The common behaviour of result types (all dataclasses)."""

    #: extra formats of :meth:`save` beyond ``.json``: extension -> method name
    FORMATS: dict[str, str] = {}

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        from vidcap.io.files import to_json

        return to_json(self.to_dict(), indent=indent)

    def save(self, path) -> Path:
        """Write the result to ``path``; the extension picks the format."""
        from vidcap.io.files import write_json, write_text

        path = Path(path)
        ext = path.suffix.lower()
        if ext == ".json":
            return write_json(path, self.to_dict())
        if ext in self.FORMATS:
            name = self.FORMATS[ext]
            method = getattr(self, name)
            return write_text(path, method()) if name.startswith("to_") else method(path)
        known = ", ".join([".json", *self.FORMATS])
        raise ConfigError(f"cannot save a {type(self).__name__} as {path}: use one of {known}")

    def render(self) -> str:
        """What the command line prints for a person (default: the JSON)."""
        return self.to_json()


def _round(x, digits: int = 4):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), digits)


class VideoFailures:
    """For results whose ``failed`` lists ``{"video"/"path", "error"}`` records: the errors alone."""

    failed: list[dict]

    @property
    def failures(self) -> list[str]:
        return [f["error"] for f in self.failed]


@dataclass
class Failure(Result):
    """An input that could not be processed, among many that were."""

    video: str
    error: str

    def render(self) -> str:
        return f"skipped {self.error}"


# --------------------------------------------------------------------------- video in
@dataclass
class Features(Result):
    """Features of one video's sampled frames.

    features: ``(T, D) float32``; rows where ``mask`` is False are zeros.
    timestamps: ``(T,) float64`` seconds; indices: ``(T,)`` frame numbers (-1: padding).
    """

    features: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray
    mask: np.ndarray
    backbone: str
    video: str = ""

    FORMATS = {".npy": "_save_npy"}

    def to_dict(self) -> dict:
        return {"video": self.video, "backbone": self.backbone, "shape": list(self.features.shape),
                "timestamps": [round(float(t), 6) for t in self.timestamps],
                "indices": [int(i) for i in self.indices], "mask": [bool(m) for m in self.mask]}

    def _save_npy(self, path) -> Path:
        from vidcap.io.files import save_npy

        return save_npy(path, self.features.astype(np.float32, copy=False))

    def render(self) -> str:
        return f"{self.video}: {tuple(self.features.shape)} {self.backbone} features"


@dataclass
class BackboneInfo(Result):
    name: str
    dim: int
    input: int
    offline: bool  # whether the weights are on this machine
    source: str

    HEADER = f"{'name':<18}{'dim':>6}{'input':>7}  {'weights here':<13}source"

    def render(self) -> str:
        return f"{self.name:<18}{self.dim:>6}{self.input:>7}  {'yes' if self.offline else 'no':<13}{self.source}"


@dataclass
class ModelInfo(Result):
    """One model a task can run (``vidcap models``): ``kind`` bundled (ships offline) or hub (fetched once)."""

    task: str
    model: str  # the --model value that selects it
    kind: str
    here: bool  # whether its weights are on this machine
    source: str

    HEADER = f"{'task':<11}{'model':<38}{'kind':<9}{'here':<6}source"

    def render(self) -> str:
        return f"{self.task:<11}{self.model:<38}{self.kind:<9}{'yes' if self.here else 'no':<6}{self.source}"


@dataclass
class ExtractSummary(Result):
    """What a feature-extraction run did: one record per video (see FeatureStore.save) and counts."""

    out_dir: str
    records: list[dict] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "ok"]

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def failures(self) -> list[str]:
        return [r["error"] for r in self.failed]

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "videos": len(self.records), "ok": len(self.ok), "skipped": self.skipped,
                "failed": [{"source": r["source"], "error": r["error"]} for r in self.failed],
                "seconds": round(self.seconds, 3)}

    def render(self) -> str:
        return (f"{len(self.ok)} videos ok ({self.skipped} already done), {len(self.failed)} failed, "
                f"{self.seconds:.1f} s -> {self.out_dir}")


@dataclass
class WorldSummary(Result):
    """A generated world (``vidcap synth``)."""

    out_dir: str
    num_videos: int
    seed: int
    level: str
    size: tuple[int, int]
    fps: float
    seconds: float
    num_frames: int
    high_fps_factor: int | None
    classes: list[str]
    splits: dict[str, int]
    num_captions: int
    seconds_elapsed: float = 0.0

    def render(self) -> str:
        splits = ", ".join(f"{k} {v}" for k, v in self.splits.items())
        return (f"{self.out_dir}: {self.num_videos} {self.level} videos ({splits}), {self.num_captions} captions, "
                f"{self.seconds_elapsed:.1f} s")


# --------------------------------------------------------------------------- captioning
@dataclass
class CaptionResult(Result):
    video: str
    caption: str
    score: float | None  # log-probability of the caption under the model (None when it failed)
    beam_size: int
    error: str | None = None  # why the video could not be captioned (caption is then "")
    in_domain: bool | None = None  # is the video like the model's training videos? None: the model cannot say
    domain_distance: float | None = None  # how far from them, in units of the domain's edge (<= 1: inside)
    warning: str | None = None  # set when the video is out of the model's domain
    shots: list[dict] | None = None  # a per-shot captioner's (BLIP): each {start, end, frame, caption, score}

    def to_dict(self) -> dict:
        out = {"video": self.video, "caption": self.caption, "score": _round(self.score, 6),
               "beam_size": self.beam_size, "in_domain": self.in_domain, "domain_distance": self.domain_distance}
        for key in ("warning", "error", "shots"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def shot_lines(self) -> list[str]:
        """One line a shot (a per-shot captioner's): its times and caption."""
        return [f"  {s['start']:7.2f}-{s['end']:7.2f} s  {s['caption']}" for s in self.shots or []]

    def render(self) -> str:
        return "\n".join([f"{self.video}: {self.caption}", *self.shot_lines()])


@dataclass
class CaptionEvaluation(Result):
    split: str
    beam_size: int
    metrics: dict
    predictions: dict[str, str]
    references: dict[str, list[str]]

    def table(self) -> str:
        keys = [k for k in ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr") if k in self.metrics]
        return " | ".join(f"{k:>8}" for k in keys) + "\n" + " | ".join(f"{self.metrics[k]:8.4f}" for k in keys)

    def render(self) -> str:
        lines = [f"{k}: {v}    [ref: {self.references[k][0]}]" for k, v in list(self.predictions.items())[:10]]
        if len(self.predictions) > 10:
            lines.append(f"... {len(self.predictions) - 10} more")
        lines += ["", f"{self.split} split, {len(self.predictions)} videos, beam size {self.beam_size}", self.table()]
        return "\n".join(lines)


# --------------------------------------------------------------------------- classification
@dataclass
class WindowPrediction(Result):
    """One window: frames ``[start_frame, end_frame]`` of the source, seconds ``[start, end)``."""

    index: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    labels: list[str]
    probs: list[float]


@dataclass
class ClassificationResult(Result):
    video: str
    model: str
    classes: list[str]
    window: int
    stride: int
    frame_step: float
    fps: float  # the source video's frame rate
    windows: list[WindowPrediction]
    label: str  # the whole-video verdict
    prob: float
    top_k: list[tuple[str, float]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # annotated video / GIF written
    in_domain: bool | None = None  # as in CaptionResult
    domain_distance: float | None = None
    warning: str | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["top_k"] = [{"label": lab, "prob": p} for lab, p in self.top_k]
        d.pop("classes")
        return d

    def window_at(self, t: float) -> WindowPrediction | None:
        """The window whose centre is nearest to time ``t`` among those covering it (else the nearest)."""
        if not self.windows:
            return None
        covering = [w for w in self.windows if w.start <= t < w.end] or self.windows
        return min(covering, key=lambda w: abs((w.start + w.end) / 2 - t))

    def render(self) -> str:
        lines = [f"{self.video}"]
        for w in self.windows:
            tops = ", ".join(f"{lab} {p:.2f}" for lab, p in zip(w.labels, w.probs))
            lines.append(f"{w.start:7.2f}-{w.end:7.2f}s  {tops}")
        lines.append(f"video: {self.label} ({self.prob:.2f})")
        lines.append("top actions:")
        lines += [f"  {lab}: {p * 100:5.2f}%" for lab, p in self.top_k]
        lines += [f"wrote {p}" for p in self.outputs.values()]
        return "\n".join(lines)


@dataclass
class ClassifierEvaluation(Result):
    split: str
    num_videos: int
    accuracy: float
    top5: float
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted
    per_class: dict[str, float]
    skipped: list[dict]
    model: str = ""
    confusion_png: str | None = None

    FORMATS = {".png": "plot"}

    def plot(self, path) -> Path:
        """The row-normalised confusion matrix as a PNG."""
        from vidcap.viz.plots import plot_confusion

        title = f"{Path(self.model).parent.name or self.model} on {self.split}: accuracy {self.accuracy:.2f}"
        out = plot_confusion(np.asarray(self.confusion), self.classes, path, title=title)
        self.confusion_png = str(out)
        return out

    def render(self) -> str:
        lines = [f"{self.split}: {self.num_videos} videos, accuracy {self.accuracy:.3f}, top-5 {self.top5:.3f}"]
        lines += [f"  {cls:16s} {acc:.2f}" for cls, acc in self.per_class.items()]
        if self.confusion_png:
            lines.append(f"confusion matrix: {self.confusion_png}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- emotions
@dataclass
class EmotionSample:
    """One face in one analysed frame."""

    time: float  # seconds from the start of the source
    frame: int  # frame index in the source
    face_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels
    score: float  # detector confidence (detector-specific scale)
    probs: np.ndarray  # (K,) smoothed probabilities
    raw: np.ndarray  # (K,) this frame's probabilities, before smoothing


@dataclass
class EmotionTimeline(Result):
    """Every face sample of a run, plus how it was made."""

    labels: tuple[str, ...]
    samples: list[EmotionSample]
    source: str
    fps: float
    frames_read: int
    frames_analyzed: int
    detector: str
    model: str
    smoothing: float
    every: int
    outputs: dict[str, str] = field(default_factory=dict)

    FORMATS = {".csv": "to_csv", ".png": "plot"}

    def face_ids(self) -> list[int]:
        return sorted({s.face_id for s in self.samples})

    def label(self, sample: EmotionSample, *, smoothed: bool = True) -> str:
        return self.labels[int(np.argmax(sample.probs if smoothed else sample.raw))]

    def flicker_rate(self, *, smoothed: bool = True) -> float:
        """Share of consecutive samples of the same face whose top label changes (NaN: no face seen twice)."""
        changes = pairs = 0
        last: dict[int, str] = {}
        for s in self.samples:
            label = self.label(s, smoothed=smoothed)
            if s.face_id in last:
                pairs += 1
                changes += label != last[s.face_id]
            last[s.face_id] = label
        return changes / pairs if pairs else float("nan")

    def summary(self) -> dict:
        """Per face: dominant emotion, share of its samples in each emotion, time seen."""
        faces = {}
        for fid in self.face_ids():
            rows = [s for s in self.samples if s.face_id == fid]
            top = [self.label(s) for s in rows]
            share = {name: top.count(name) / len(top) for name in self.labels}
            mean = np.mean([s.probs for s in rows], axis=0)
            faces[str(fid)] = {
                "dominant": max(self.labels, key=lambda n: (share[n], mean[self.labels.index(n)])),
                "share": {k: round(v, 4) for k, v in share.items()},
                "mean_probs": {k: round(float(v), 4) for k, v in zip(self.labels, mean)},
                "first_seen": round(rows[0].time, 3),
                "last_seen": round(rows[-1].time, 3),
                "samples": len(rows),
            }
        return {
            "source": self.source, "frames_read": self.frames_read, "frames_analyzed": self.frames_analyzed,
            "frames_with_faces": len({s.frame for s in self.samples}), "faces": faces,
            "flicker_rate": _round(self.flicker_rate(smoothed=True)),
            "flicker_rate_raw": _round(self.flicker_rate(smoothed=False)),
            "detector": self.detector, "model": self.model, "smoothing": self.smoothing, "every": self.every,
            "outputs": dict(self.outputs),
        }

    def columns(self) -> list[str]:
        return (["time", "frame", "face_id", "x1", "y1", "x2", "y2", "score", "label"]
                + [f"p_{n}" for n in self.labels] + [f"raw_{n}" for n in self.labels])

    def rows(self) -> list[dict]:
        out = []
        for s in self.samples:
            row = {"time": round(s.time, 4), "frame": s.frame, "face_id": s.face_id,
                   "x1": round(s.box[0], 1), "y1": round(s.box[1], 1), "x2": round(s.box[2], 1),
                   "y2": round(s.box[3], 1), "score": round(s.score, 4), "label": self.label(s)}
            row.update({f"p_{n}": round(float(p), 5) for n, p in zip(self.labels, s.probs)})
            row.update({f"raw_{n}": round(float(p), 5) for n, p in zip(self.labels, s.raw)})
            out.append(row)
        return out

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "summary": self.summary(), "timeline": self.rows()}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buf.getvalue()

    def save(self, path) -> Path:
        out = super().save(path)
        self.outputs["plot" if out.suffix.lower() == ".png" else "timeline"] = str(out)
        return out

    def plot(self, path, *, max_faces: int = 6) -> Path:
        """A PNG with one panel per face: smoothed probability of each emotion over time."""
        from vidcap.viz.plots import plot_emotions

        out = plot_emotions(self, path, max_faces=max_faces)
        self.outputs["plot"] = str(out)
        return out

    def render(self) -> str:
        s = self.summary()
        lines = [f"{self.source}: {self.frames_read} frames, {self.frames_analyzed} analysed, "
                 f"{len(s['faces'])} face(s)"]
        for fid, face in s["faces"].items():
            share = face["share"][face["dominant"]]
            lines.append(f"  face #{fid}: {face['dominant']} {share * 100:.0f}% of {face['samples']} samples, "
                         f"{face['first_seen']:.2f}-{face['last_seen']:.2f} s")
        lines += [f"wrote {p}" for p in self.outputs.values()]
        return "\n".join(lines)


# --------------------------------------------------------------------------- interpolation
@dataclass
class InterpolationResult(Result):
    """What :func:`vidcap.api.interpolate` wrote."""

    path: str
    mode: str
    factor: int
    input_frames: int
    output_frames: int
    input_fps: float
    output_fps: float
    duration: float  # seconds of the output video
    scene_cuts: int
    audio: bool  # True when the input's audio was copied into the output
    method: str = "dis"  # how the frames were made: rife, dis or blend
    lossless: bool = False  # the exact RGB frames were stored (libx264rgb / FFV1), not 4:2:0 H.264
    warning: str = ""  # one sentence when the method asked for could not run (auto without RIFE's weights)

    def render(self) -> str:
        return (f"wrote {self.path}: {self.input_frames} -> {self.output_frames} frames at {self.output_fps:g} fps "
                f"({self.duration:.2f} s, {self.mode}, {self.method}{', lossless' if self.lossless else ''}, "
                f"{self.scene_cuts} scene cut(s))")


@dataclass
class InbetweenResult(Result):
    out: str
    frames: int  # written: first, the generated ones, last
    generated: int
    files: int
    cut: bool = False  # the two images look like different shots: they were repeated, not morphed
    method: str = "dis"  # how the frames were made: rife, dis or blend
    warning: str = ""  # one sentence when the frames were not morphed (a cut), else empty

    def render(self) -> str:
        note = " (different shots: repeated, not morphed)" if self.cut else ""
        return f"wrote {self.out}: {self.frames} frames, {self.generated} generated by {self.method}{note}"


# --------------------------------------------------------------------------- shots, object tags, on-screen text
@dataclass
class Shot(Result):
    """One shot: frames ``[start_frame, end_frame]``, seconds ``[start, end)``."""

    index: int
    start: float
    end: float
    start_frame: int
    end_frame: int

    def render(self) -> str:
        return f"{self.index:4d}  {self.start:8.2f}-{self.end:8.2f} s  frames {self.start_frame}-{self.end_frame}"


@dataclass
class ShotList(Result):
    """The shots of one video (``vidcap.api.shots``)."""

    video: str
    detector: str
    fps: float
    duration: float
    shots: list[Shot]

    FORMATS = {".csv": "to_csv"}

    def to_dict(self) -> dict:
        return {"video": self.video, "detector": self.detector, "fps": self.fps, "duration": self.duration,
                "shots": [s.to_dict() for s in self.shots]}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(Shot)], lineterminator="\n")
        writer.writeheader()
        writer.writerows(s.to_dict() for s in self.shots)
        return buf.getvalue()

    def render(self) -> str:
        return "\n".join([f"{self.video}: {len(self.shots)} shot(s), {self.duration:.2f} s ({self.detector} detector)"]
                         + [s.render() for s in self.shots])


@dataclass
class ShotTags(Result):
    """The objects seen in one shot: ImageNet classes and their mean probability over its keyframes."""

    start: float
    end: float
    times: list[float]  # the keyframes' times (seconds)
    labels: list[str]
    probs: list[float]

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "times": self.times,
                "tags": [{"label": lab, "prob": round(float(p), 4)} for lab, p in zip(self.labels, self.probs)]}


@dataclass
class TagResult(Result):
    """Object tags of one video: per shot, and over the whole video (shots weighted by length)."""

    video: str
    model: str
    shots: list[ShotTags]
    top: list[tuple[str, float]]  # the video's tags, most probable first

    def to_dict(self) -> dict:
        return {"video": self.video, "model": self.model,
                "tags": [{"label": lab, "prob": round(float(p), 4)} for lab, p in self.top],
                "shots": [s.to_dict() for s in self.shots]}

    def render(self) -> str:
        lines = [f"{self.video}: " + ", ".join(f"{lab} {p:.2f}" for lab, p in self.top)]
        for s in self.shots:
            tops = ", ".join(f"{lab} {p:.2f}" for lab, p in zip(s.labels, s.probs))
            lines.append(f"  {s.start:7.2f}-{s.end:7.2f} s  {tops}")
        return "\n".join(lines)


@dataclass
class TextLine(Result):
    """A line of on-screen text read on one shot's keyframe."""

    start: float  # the shot, seconds
    end: float
    time: float  # the keyframe read
    text: str
    score: float  # the recogniser's confidence, 0-1
    box: list[list[float]]  # the line's four corners (x, y) on the keyframe, pixels

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "time": self.time, "text": self.text,
                "score": round(float(self.score), 4), "box": [[round(float(v), 1) for v in p] for p in self.box]}


@dataclass
class OcrResult(Result):
    """The on-screen text of one video: what was read on each shot's keyframe."""

    video: str
    shots: int
    lines: list[TextLine]

    FORMATS = {".srt": "to_srt", ".vtt": "to_vtt"}

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)

    def cues(self) -> list[Cue]:
        """One cue per shot that holds text (its lines, top to bottom), for SRT/VTT."""
        by_shot: dict[tuple[float, float], list[str]] = {}
        for line in self.lines:
            by_shot.setdefault((line.start, line.end), []).append(line.text)
        return [Cue(start, end, texts, "visual") for (start, end), texts in by_shot.items()]

    def to_srt(self) -> str:
        from vidcap.io.subtitles import to_srt

        return to_srt(self.cues())

    def to_vtt(self) -> str:
        from vidcap.io.subtitles import to_vtt

        return to_vtt(self.cues())

    def to_dict(self) -> dict:
        return {"video": self.video, "shots": self.shots, "text": self.text, "lines": [x.to_dict() for x in self.lines]}

    def render(self) -> str:
        lines = [f"{self.video}: {len(self.lines)} line(s) of text in {self.shots} shot(s)"]
        lines += [f"  {x.start:7.2f}-{x.end:7.2f} s  {x.text}  ({x.score:.2f})" for x in self.lines]
        return "\n".join(lines)


# --------------------------------------------------------------------------- search
@dataclass
class Hit(Result):
    rank: int
    id: str
    name: str
    path: str
    score: float
    caption: str
    transcript: str
    scores: dict  # the component scores: learned cosine, caption cosine, bm25, tags, text, clip, ...
    thumbs: bytes = field(default=b"", repr=False)  # JPEG of a strip of frames
    start: float | None = None  # the matched moment: the shot that matched best (None: the whole video)
    end: float | None = None
    domain_distance: float | None = None  # from the models' training videos, 1 = the edge (None: unknown)

    @property
    def in_domain(self) -> bool | None:
        return None if self.domain_distance is None else self.domain_distance <= 1.0

    @property
    def warning(self) -> str | None:
        if self.in_domain is not False:
            return None
        return (f"{self.name} is out of the search models' domain ({self.domain_distance:.1f}x the edge of "
                "their training videos): its caption and learned score are probably meaningless")

    def to_dict(self) -> dict:
        return {"rank": self.rank, "id": self.id, "name": self.name, "path": self.path,
                "score": round(float(self.score), 6), "caption": self.caption, "transcript": self.transcript,
                "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
                "start": self.start, "end": self.end, "in_domain": self.in_domain,
                "domain_distance": self.domain_distance}


@dataclass
class SearchResult(Result):
    query: str
    mode: str
    library: str
    hits: list[Hit]
    seconds: float = 0.0

    FORMATS = {".png": "contact_sheet"}

    def to_dict(self) -> dict:
        return {"query": self.query, "mode": self.mode, "library": self.library,
                "seconds": round(self.seconds, 4), "results": [h.to_dict() for h in self.hits]}

    def contact_sheet(self, path) -> Path:
        """A PNG: each result's frames in a row, annotated with rank, score and caption."""
        from vidcap.viz.sheets import search_sheet

        return search_sheet(self, path)

    plot = contact_sheet

    def render(self) -> str:
        if not self.hits:
            return f"no results for {self.query!r}"
        return "\n".join(f"{h.rank:3d}. {h.score:.4f}  {h.name:<28} "
                         + (f"[{h.start:.1f}-{h.end:.1f} s] " if h.start is not None else "") + h.caption
                         + ("  (out of the models' domain)" if h.in_domain is False else "")
                         for h in self.hits)


@dataclass
class IndexSummary(VideoFailures, Result):
    library: str
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    total: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"library": self.library, "added": len(self.added), "skipped": len(self.skipped),
                "failed": self.failed, "total": self.total, "seconds": round(self.seconds, 2)}

    def render(self) -> str:
        return (f"{self.library}: added {len(self.added)}, already indexed {len(self.skipped)}, "
                f"failed {len(self.failed)}; {self.total} videos in the library ({self.seconds:.1f} s)")


@dataclass
class LibraryEntry(Result):
    id: str
    name: str
    path: str
    duration: float
    width: int
    height: int
    has_audio: bool
    caption: str
    transcript: str
    indexed_at: str

    def render(self) -> str:
        extra = self.caption or ""
        if self.transcript:
            extra += f"  [speech: {self.transcript[:60]}]"
        return f"{self.id[:12]}  {self.name:<28} {self.duration:6.1f}s  {extra}"


@dataclass
class LibraryCheck(Result):
    """What ``vidcap library check`` found (and, with ``--repair``, fixed)."""

    library: str
    rows: int
    videos: int  # distinct ids
    duplicates: dict[str, int]  # id -> rows holding it
    missing_files: list[str]  # indexed videos whose file is gone
    removed: int = 0  # duplicate rows removed by a repair
    repaired: bool = False

    def render(self) -> str:
        lines = [f"{self.library}: {self.rows} rows, {self.videos} videos, {len(self.duplicates)} duplicated, "
                 f"{len(self.missing_files)} with their file gone"]
        if self.repaired:
            lines.append(f"removed {self.removed} duplicate row(s)")
        elif self.duplicates:
            lines.append("run with --repair to keep one row per video")
        lines += [f"  file gone: {p}" for p in self.missing_files]
        return "\n".join(lines)


@dataclass
class RetrievalEvaluation(Result):
    """Recall@K and median rank per search mode, text->video (t2v) and video->text (v2t)."""

    split: str
    videos: int
    queries: int
    modes: dict[str, dict]

    HEADER = ("| split | mode | T→V R@1 | R@5 | R@10 | MdR | V→T R@1 | R@5 | R@10 | MdR |\n"
              "|---|---|---|---|---|---|---|---|---|---|")

    def render(self) -> str:
        rows = []
        for mode, m in self.modes.items():
            t, v = m["t2v"], m["v2t"]
            rows.append(f"| {self.split} | {mode} | {t['R@1']:.1f} | {t['R@5']:.1f} | {t['R@10']:.1f} | {t['MdR']:g} "
                        f"| {v['R@1']:.1f} | {v['R@5']:.1f} | {v['R@10']:.1f} | {v['MdR']:g} |")
        return "\n".join(rows)


@dataclass
class DenseCaptionEvaluation(VideoFailures, Result):
    """``vidcap describe`` scored as dense captioning (ActivityNet Captions protocol), per kind of
    proposals: ``shots`` (a piece per long shot, windows elsewhere), ``windows`` (fixed windows) and
    ``learned`` (a piece per event of a learned boundary model)."""

    annotations: str
    videos: int
    events: int
    window: float
    proposals: dict[str, dict]  # kind -> METEOR@t, METEOR, recall@t, precision@t, recall, precision, pieces
    failed: list[dict] = field(default_factory=list)  # {"video", "error"}

    TABLE = ("| proposals | pieces | METEOR@0.3 | @0.5 | @0.7 | @0.9 | METEOR | recall@0.5 | recall | precision |\n"
             "|---|---|---|---|---|---|---|---|---|---|")

    def render(self) -> str:
        rows = [f"{self.videos} videos, {self.events} events ({self.annotations}); window {self.window:g} s",
                self.TABLE]
        for kind, m in self.proposals.items():
            rows.append(f"| {kind} | {m['pieces']} | " + " | ".join(f"{100 * m[f'METEOR@{t}']:.2f}" for t in
                                                                      ("0.3", "0.5", "0.7", "0.9"))
                        + f" | {100 * m['METEOR']:.2f} | {100 * m['recall@0.5']:.1f} | {100 * m['recall']:.1f} "
                          f"| {100 * m['precision']:.1f} |")
        return "\n".join(rows)


@dataclass
class MomentEvaluation(VideoFailures, Result):
    """Moment retrieval (each event's sentence ranks its own video's candidate moments): R@1/R@5 at
    tIoU 0.5 and 0.7, the top moment's mean tIoU, and the chance of a random candidate."""

    annotations: str
    videos: int
    queries: int
    window: float
    moments_per_video: float
    metrics: dict  # R@1@0.5, R@1@0.7, R@5@0.5, R@5@0.7, mIoU, chance R@1@0.5/0.7 (+ corpus R@1@0.5/0.7, video R@1)
    paragraph: dict  # "p2v" / "v2p": R@1, R@5, R@10 (%), MdR, MnR, n -- among the scored videos
    model: str
    failed: list[dict] = field(default_factory=list)  # {"video", "error"}

    def render(self) -> str:
        m = self.metrics
        return (f"{self.videos} videos, {self.queries} queries ({self.annotations}); {self.moments_per_video:.1f} "
                f"candidate moments a video (windows of {self.window:g} and {2 * self.window:g} s)\n"
                "| R@1 tIoU 0.5 | R@1 0.7 | R@5 0.5 | R@5 0.7 | mIoU | chance R@1 0.5 | chance R@1 0.7 |\n"
                "|---|---|---|---|---|---|---|\n"
                f"| {100 * m['R@1@0.5']:.1f} | {100 * m['R@1@0.7']:.1f} | {100 * m['R@5@0.5']:.1f} "
                f"| {100 * m['R@5@0.7']:.1f} | {m['mIoU']:.3f} | {100 * m['chance R@1@0.5']:.1f} "
                f"| {100 * m['chance R@1@0.7']:.1f} |"
                + f"\nparagraph->video among {self.videos}: R@1 {self.paragraph['p2v']['R@1']:.1f}, R@5 "
                  f"{self.paragraph['p2v']['R@5']:.1f}, median rank {self.paragraph['p2v']['MdR']:g}; video->paragraph "
                  f"R@1 {self.paragraph['v2p']['R@1']:.1f}, R@5 {self.paragraph['v2p']['R@5']:.1f} "
                  f"(chance R@1 {100 / max(self.videos, 1):.1f})"
                + (f"\nacross the library: the top hit is the event's video {100 * m['corpus video R@1']:.1f} %, "
                   f"with its moment at tIoU 0.5 {100 * m['corpus R@1@0.5']:.1f} %, at 0.7 "
                   f"{100 * m['corpus R@1@0.7']:.1f} %" if "corpus R@1@0.5" in m else ""))


@dataclass
class CootEvaluation(VideoFailures, Result):
    """COOT retrieval at both levels: paragraph<->video among the videos, sentence<->clip among all
    their events (clips: the annotated segments)."""

    annotations: str
    videos: int
    events: int
    metrics: dict  # "p2v", "v2p", "p2v_clips", "v2p_clips", "s2c", "c2s": R@1, R@5, R@10 (%), MdR, MnR, n
    chance: dict  # chance R@1 (%): "videos" (1/V), "events" (1/N)
    model: str
    failed: list[dict] = field(default_factory=list)  # {"video", "error"}

    def render(self) -> str:
        rows = [("paragraph->video", "p2v", self.videos, "videos"), ("video->paragraph", "v2p", self.videos, "videos"),
                ("paragraph->video by clips", "p2v_clips", self.videos, "videos"),
                ("video->paragraph by clips", "v2p_clips", self.videos, "videos"),
                ("sentence->clip", "s2c", self.events, "events"), ("clip->sentence", "c2s", self.events, "events")]
        lines = [f"{self.videos} videos, {self.events} events ({self.annotations}); model {self.model}; "
                 "'by clips': a paragraph's sentences' best clips in the video, averaged",
                 "| direction | gallery | R@1 | R@5 | R@10 | median rank | chance R@1 |", "|---|---|---|---|---|---|---|"]
        for label, key, n, kind in rows:
            m = self.metrics[key]
            lines.append(f"| {label} | {n} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} | {m['MdR']:g} "
                         f"| {self.chance[kind]:.2f} |")
        return "\n".join(lines)


# --------------------------------------------------------------------------- speech and descriptions
@dataclass
class Word:
    start: float  # seconds
    end: float
    text: str  # as Whisper writes it, without the leading space
    probability: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "text": self.text, "words": [w.to_dict() for w in self.words]}


@dataclass
class Transcript(Result):
    """What was said, when: segments (utterances) with their words."""

    path: str
    segments: list[Segment]
    language: str
    duration: float  # seconds of audio decoded
    model: str
    dropped: list[Segment] = field(default_factory=list)  # what Whisper "heard" in non-speech (see tasks.speech)

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)

    def to_dict(self) -> dict:
        return {"path": self.path, "language": self.language, "duration": self.duration, "model": self.model,
                "text": self.text, "segments": [s.to_dict() for s in self.segments],
                "dropped": [s.to_dict() for s in self.dropped]}

    def render(self) -> str:
        return self.text


@dataclass
class Subtitles(Result):
    """Speech subtitles of one video: the transcript and the cues cut from it."""

    path: str
    transcript: Transcript
    cues: list[Cue]
    outputs: dict[str, str] = field(default_factory=dict)

    FORMATS = {".srt": "to_srt", ".vtt": "to_vtt"}

    def to_srt(self) -> str:
        from vidcap.io.subtitles import to_srt

        return to_srt(self.cues)

    def to_vtt(self) -> str:
        from vidcap.io.subtitles import to_vtt

        return to_vtt(self.cues)

    def to_dict(self) -> dict:
        return {"path": self.path, "cues": [c.to_dict() for c in self.cues], "transcript": self.transcript.to_dict()}

    def render(self) -> str:
        return self.to_srt()


@dataclass
class Event:
    """One entry of a timeline: something said or something seen."""

    start: float
    end: float
    kind: str  # "speech" or "visual"
    text: str
    score: float | None = None  # visual: log-probability of the caption

    def to_dict(self) -> dict:
        d = {"start": self.start, "end": self.end, "kind": self.kind, "text": self.text}
        if self.score is not None:
            d["score"] = self.score
        return d


@dataclass
class Description(Result):
    """Timed visual captions and speech of one video."""

    path: str
    window: float
    visual: list[Event]
    speech: list[Event]
    speech_status: str  # "ok", "no_audio", "silent", "no_speech" or "off"
    speech_message: str = ""
    transcript: Transcript | None = None
    cues: list[Cue] = field(default_factory=list)

    FORMATS = {".srt": "to_srt", ".vtt": "to_vtt"}

    @property
    def timeline(self) -> list[Event]:
        return sorted(self.visual + self.speech, key=lambda e: (e.start, e.kind != "visual"))

    def to_dict(self) -> dict:
        return {"path": self.path, "window": self.window, "speech_status": self.speech_status,
                "speech_message": self.speech_message, "timeline": [e.to_dict() for e in self.timeline]}

    def to_srt(self) -> str:
        from vidcap.io.subtitles import to_srt

        return to_srt(self.cues)

    def to_vtt(self) -> str:
        from vidcap.io.subtitles import to_vtt

        return to_vtt(self.cues)

    def render(self) -> str:
        return self.to_srt()


# --------------------------------------------------------------------------- training
@dataclass
class TrainResult(Result):
    """A finished (or paused) training run; the run folder holds the rest (see vidcap.train.loop)."""

    task: str
    out_dir: str
    best: str | None
    last: str | None
    epochs_run: int
    best_epoch: int | None
    monitor: str  # the metric that picked best.pt
    best_score: float | None
    stopped_early: bool
    seconds: float
    history: list[dict] = field(default_factory=list, repr=False)
    extra: dict = field(default_factory=dict)  # task-specific: data sizes, test metrics, skipped videos

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "history"}
        d["best_score"] = _round(self.best_score, 6)
        d["seconds"] = round(self.seconds, 2)
        return d

    def render(self) -> str:
        score = "-" if self.best_score is None else f"{self.best_score:.4f}"
        lines = [f"trained {self.task} for {self.epochs_run} epochs ({self.seconds:.0f} s); best epoch "
                 f"{self.best_epoch} by {self.monitor} = {score}" + (", stopped early" if self.stopped_early else "")]
        test = self.extra.get("test")
        if test:
            lines.append("test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items() if isinstance(v, (int, float))))
        skipped = self.extra.get("skipped")
        if skipped:
            lines.append(f"{len(skipped)} unreadable videos skipped (listed in {Path(self.out_dir) / 'skipped.json'})")
        lines.append(f"run folder: {self.out_dir}")
        return "\n".join(lines)
