"""Facial emotions across a video or a webcam stream.

frames ─► face detector (every N-th frame) ─► tracker (one id per face) ─►
emotion classifier on each face crop ─► per-face temporal smoothing ─►
:class:`EmotionTimeline` (CSV / JSON / plot / summary) and an annotated video.

The seed recipe classifies the largest face of every frame independently, so
labels flicker from frame to frame. Here each face keeps its id and its
probabilities are smoothed with an exponential moving average whose time
constant is ``smoothing`` seconds (0 turns smoothing off): the weight of a new
observation is ``1 - exp(-dt / smoothing)``, so the result does not depend on
the frame rate or on ``every``.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from vidcap.errors import ConfigError, DecodeError
from vidcap.models.emotion import COLORS_BGR, EmotionClassifier, load_classifier
from vidcap.models.faces import FaceDetector, get_detector
from vidcap.tracking import IoUTracker

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- #
# Results                                                                      #
# --------------------------------------------------------------------------- #
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
class EmotionTimeline:
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

    # -- derived ---------------------------------------------------------------
    def face_ids(self) -> list[int]:
        return sorted({s.face_id for s in self.samples})

    def label(self, sample: EmotionSample, *, smoothed: bool = True) -> str:
        return self.labels[int(np.argmax(sample.probs if smoothed else sample.raw))]

    def flicker_rate(self, *, smoothed: bool = True) -> float:
        """Share of consecutive samples of the same face whose top label changes.

        0 means every face keeps one label throughout; NaN when no face was seen
        twice.
        """
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
            "source": self.source,
            "frames_read": self.frames_read,
            "frames_analyzed": self.frames_analyzed,
            "frames_with_faces": len({s.frame for s in self.samples}),
            "faces": faces,
            "flicker_rate": _nan_to_none(self.flicker_rate(smoothed=True)),
            "flicker_rate_raw": _nan_to_none(self.flicker_rate(smoothed=False)),
            "detector": self.detector,
            "model": self.model,
            "smoothing": self.smoothing,
            "every": self.every,
            "outputs": dict(self.outputs),
        }

    # -- serialisation -----------------------------------------------------------
    def rows(self) -> list[dict]:
        out = []
        for s in self.samples:
            row = {"time": round(s.time, 4), "frame": s.frame, "face_id": s.face_id,
                   "x1": round(s.box[0], 1), "y1": round(s.box[1], 1),
                   "x2": round(s.box[2], 1), "y2": round(s.box[3], 1),
                   "score": round(s.score, 4), "label": self.label(s)}
            row.update({f"p_{n}": round(float(p), 5) for n, p in zip(self.labels, s.probs)})
            row.update({f"raw_{n}": round(float(p), 5) for n, p in zip(self.labels, s.raw)})
            out.append(row)
        return out

    def columns(self) -> list[str]:
        return (["time", "frame", "face_id", "x1", "y1", "x2", "y2", "score", "label"]
                + [f"p_{n}" for n in self.labels] + [f"raw_{n}" for n in self.labels])

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "summary": self.summary(), "timeline": self.rows()}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the timeline as ``.csv`` or ``.json`` (chosen by extension), atomically."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            text = self.to_csv()
        elif path.suffix.lower() == ".json":
            text = json.dumps(self.to_dict(), indent=1)
        else:
            raise ConfigError(f"timeline file {str(path)!r} must end in .csv or .json")
        _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        self.outputs["timeline"] = str(path)
        return path

    def plot(self, path: str | os.PathLike, *, max_faces: int = 6) -> Path:
        """A PNG with one panel per face: smoothed probability of each emotion over time."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise ConfigError(f"plot file {str(path)!r} must end in .png")
        ids = sorted(self.face_ids(), key=lambda f: -sum(s.face_id == f for s in self.samples))[:max_faces]
        ids.sort()
        fig = Figure(figsize=(10, 2.4 * max(len(ids), 1) + 0.6), dpi=100)
        if not ids:
            ax = fig.subplots()
            ax.text(0.5, 0.5, "no face found", ha="center", va="center", fontsize=16)
            ax.set_axis_off()
        else:
            axes = np.atleast_1d(fig.subplots(len(ids), 1, sharex=True, squeeze=False)[:, 0])
            for ax, fid in zip(axes, ids):
                rows = [s for s in self.samples if s.face_id == fid]
                t = [s.time for s in rows]
                probs = np.stack([s.probs for s in rows])
                for k, name in enumerate(self.labels):
                    b, g, r = COLORS_BGR.get(name, (0, 0, 0))
                    ax.plot(t, probs[:, k], color=(r / 255, g / 255, b / 255), label=name, lw=1.5,
                            marker="." if len(t) < 3 else None)
                ax.set_ylim(0, 1)
                ax.set_ylabel(f"face {fid}")
                ax.grid(alpha=0.3)
            axes[0].legend(ncol=len(self.labels), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.35))
            axes[-1].set_xlabel("time (s)")
        fig.suptitle(f"emotions over time — {Path(self.source).name}", y=0.995)
        fig.tight_layout()
        _atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
        self.outputs["plot"] = str(path)
        return path


def _nan_to_none(x: float):
    return None if math.isnan(x) else round(x, 4)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- #
# Per-frame analysis                                                           #
# --------------------------------------------------------------------------- #
def face_crop(grey: np.ndarray, box, margin: float = 0.1) -> np.ndarray:
    """Square crop around ``box`` grown by ``margin`` of its side on each side.

    Parts outside the frame are filled by repeating the edge pixels.
    ``grey``: ``(H, W) uint8``; returns ``(S, S) uint8``.
    """
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(int(round(side)), 2)
    h, w = grey.shape
    pad = max(0, -left, -top, left + size - w, top + size - h)
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return grey[top + pad:top + pad + size, left + pad:left + pad + size]


@dataclass
class FaceState:
    """One face in one analysed frame."""

    face_id: int
    box: np.ndarray  # (4,) x1 y1 x2 y2
    score: float
    probs: np.ndarray  # smoothed
    raw: np.ndarray
    time: float = 0.0
    frame: int = 0


class EmotionTracker:
    """Detect, track, classify and smooth faces frame by frame.

    Args:
        detector: a :class:`FaceDetector` or a registered name (``"haar"``, ``"mtcnn"``).
        classifier: an :class:`EmotionClassifier` or what :func:`load_classifier`
            takes (``"fer"`` or a seed-network checkpoint path).
        smoothing: EMA time constant in seconds; 0 disables smoothing.
        margin: crop margin around each face box, as a fraction of its side.
        max_age: analysed frames a face may go unseen before its id is retired.
        min_hits: consecutive detections before a new face is reported; its
            earlier samples are then reported too (nothing is lost). 1 reports
            every detection at once; 2 drops one-off false detections.
    """

    def __init__(self, detector: FaceDetector | str = "haar", classifier: EmotionClassifier | str = "fer", *,
                 smoothing: float = 0.5, margin: float = 0.1, max_age: int = 5, min_hits: int = 2,
                 backend: str = "onnx"):
        if smoothing < 0:
            raise ConfigError(f"smoothing must be >= 0 seconds, got {smoothing}")
        self.detector = get_detector(detector) if isinstance(detector, str) else detector
        self.classifier = load_classifier(classifier, backend=backend) if isinstance(classifier, str) else classifier
        self.smoothing, self.margin = float(smoothing), float(margin)
        self.tracker = IoUTracker(max_age=max_age, min_hits=min_hits)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def process(self, frame: np.ndarray, t: float, index: int = 0) -> list[FaceState]:
        """Analyse one ``(H, W, 3) uint8`` RGB frame shown at ``t`` seconds.

        Returns the faces of this frame whose track is confirmed, preceded by the
        held-back earlier samples of tracks confirmed just now (``.frame`` tells
        which frame each belongs to).
        """
        import cv2

        found = self.detector.detect(frame)
        tracks = self.tracker.update(found.boxes)
        if not tracks:
            return []
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        raw = self.classifier.predict([face_crop(grey, b, self.margin) for b in found.boxes])
        released: list[FaceState] = []
        for track, box, score, p in zip(tracks, found.boxes, found.scores, raw):
            prev, t_prev = track.state.get("probs"), track.state.get("time")
            if prev is None or self.smoothing == 0:
                smooth = p
            else:
                w = 1.0 - math.exp(-max(t - t_prev, 0.0) / self.smoothing)
                smooth = (w * p + (1 - w) * prev).astype(np.float32)
            track.state.update(probs=smooth, time=t)
            face = FaceState(track.id, np.asarray(box, np.float32), float(score), smooth, p, float(t), index)
            pending = track.state.setdefault("pending", [])
            if track.confirmed:
                released += pending + [face]
                pending.clear()
            else:
                pending.append(face)
        return released


# --------------------------------------------------------------------------- #
# Drawing (OpenCV, on BGR copies)                                             #
# --------------------------------------------------------------------------- #
FONT = 3  # cv2.FONT_HERSHEY_COMPLEX, as the seed


def draw_faces(bgr: np.ndarray, faces: list[FaceState], labels, *, held: list[FaceState] = ()) -> np.ndarray:
    """Boxes coloured by each face's top emotion, with ``#id label`` above them.

    ``held`` faces (tracked, but missed by the detector a moment ago) get a thin
    box at their last position, so a missed frame does not blink in the video.
    """
    import cv2

    for f, thickness in [(f, 2) for f in faces] + [(f, 1) for f in held]:
        name = labels[int(np.argmax(f.probs))]
        color = COLORS_BGR.get(name, (255, 255, 255))
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(bgr, (x1, y1), (x2, y2), color, thickness)
        cv2.putText(bgr, f"#{f.face_id} {name}", (x1, max(y1 - 6, 12)), FONT, 0.45, color, 1, cv2.LINE_AA)
    return bgr


def probability_panel(height: int, width: int, labels, probs: np.ndarray | None, title: str = "") -> np.ndarray:
    """The seed's bar chart: one coloured bar per emotion, ``name: xx.xx%`` on it."""
    import cv2

    panel = np.zeros((height, width, 3), np.uint8)
    top = 18 if title else 0
    if title:
        cv2.putText(panel, title, (6, 13), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    step = max(min(35, (height - top - 5) // max(len(labels), 1)), 8)
    scale = min(0.45, step / 40)
    for i, name in enumerate(labels):
        p = 0.0 if probs is None else float(probs[i])
        y0 = top + i * step + 3
        cv2.rectangle(panel, (5, y0), (5 + int(p * (width - 10)), y0 + step - 4),
                      COLORS_BGR.get(name, (200, 200, 200)), -1)
        cv2.putText(panel, f"{name}: {p * 100:.2f}%", (10, y0 + int(step * 0.62)), FONT, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def annotate(frame: np.ndarray, faces: list[FaceState], labels, *, held: list[FaceState] = ()) -> np.ndarray:
    """RGB frame → RGB frame with boxes, plus the bar panel of one face beside it.

    The output's width and height are even (padded by one black pixel if needed)
    so that it can be encoded as yuv420p.
    """
    import cv2

    bgr = draw_faces(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), faces, labels, held=held)
    h, w = bgr.shape[:2]
    # the panel shows the most confident face (the seed shows the largest; with
    # several faces a large false detection would otherwise take the panel)
    main = max(faces or held, key=lambda f: (f.score, (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])),
               default=None)
    title = f"face #{main.face_id}" if main else "no face"
    panel = probability_panel(h, max(w, 240), labels, None if main is None else main.probs, title)
    out = np.hstack([bgr, panel])
    out = cv2.copyMakeBorder(out, 0, out.shape[0] % 2, 0, out.shape[1] % 2, cv2.BORDER_CONSTANT)
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------- #
# Sources and the whole run                                                    #
# --------------------------------------------------------------------------- #
def is_webcam(source) -> bool:
    return isinstance(source, int) or (isinstance(source, str) and source.isdigit())


def display_available() -> bool:
    """True where a window can open: an X11/Wayland display, macOS or Windows."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_source(source) -> tuple[Iterator[tuple[np.ndarray, float]], float, str]:
    """``(frames, fps, name)``: frames yield ``(RGB (H, W, 3) uint8, seconds)``."""
    if is_webcam(source):
        return _webcam_frames(int(source))
    from vidcap.io import iter_frames, probe

    path = Path(source)
    if not path.is_file():
        raise DecodeError(f"video {str(path)!r} does not exist; pass a file or a webcam index such as 0")
    info = probe(path)
    fps = info.avg_fps or info.real_fps or 25.0
    return iter_frames(path), float(fps), str(path)


def _webcam_frames(index: int):
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise DecodeError(f"webcam {index} could not be opened; check the device index and permissions")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

    def frames():
        start = time.monotonic()
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.monotonic() - start
        finally:
            cap.release()

    return frames(), float(fps if 1 <= fps <= 240 else 30.0), f"webcam:{index}"


# A face missed by the detector stays drawn (thin box) this long in the video.
HOLD_SECONDS = 0.3


class _Preview:
    """An OpenCV window; turns itself off where HighGUI is missing (headless build)."""

    def __init__(self, name="vidcap emotions"):
        self.name, self.on = name, True

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False when the user pressed q."""
        import cv2

        if not self.on:
            return True
        try:
            cv2.imshow(self.name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return (cv2.waitKey(1) & 0xFF) != ord("q")
        except cv2.error as exc:
            log.warning("no preview window: this OpenCV build cannot open windows (%s)", str(exc).splitlines()[0])
            self.on = False
            return True

    def close(self):
        import cv2

        if self.on:
            try:
                cv2.destroyAllWindows()
            except cv2.error:
                pass


def _run(frames, engine: EmotionTracker, samples: list, *, every, max_frames, writer, window, bar,
         live: bool) -> tuple[int, int]:
    """The frame loop of :func:`analyze`; appends to ``samples``, returns (read, analysed)."""
    faces: list[FaceState] = []
    recent: dict[int, FaceState] = {}  # last sighting of each face, for drawing only
    read = analysed = 0
    try:
        for index, (frame, t) in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            read += 1
            if index % every == 0:
                released = engine.process(frame, t, index)
                faces = [f for f in released if f.frame == index]
                recent.update({f.face_id: f for f in faces})
                analysed += 1
                samples += [EmotionSample(f.time, f.frame, f.face_id, tuple(float(v) for v in f.box),
                                          f.score, f.probs, f.raw) for f in released]
            if writer is not None or window is not None:
                current = {f.face_id for f in faces}
                held = [f for f in recent.values() if f.face_id not in current and t - f.time <= HOLD_SECONDS]
                shown = annotate(frame, faces, engine.labels, held=held)
                if writer is not None:
                    writer.write(shown)
                if window is not None and not window.show(shown):
                    break
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        if not live:
            raise
        log.info("webcam stopped by the user after %d frames", read)  # Ctrl-C ends a live run
    return read, analysed


def analyze(
    source,
    *,
    output: str | os.PathLike | None = None,
    timeline: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    detector: str | FaceDetector = "haar",
    model: str | EmotionClassifier = "fer",
    backend: str = "onnx",
    every: int = 1,
    smoothing: float = 0.5,
    margin: float = 0.1,
    forget_after: float = 1.0,
    min_hits: int = 2,
    max_frames: int | None = None,
    preview: bool | None = None,
    progress: bool = False,
) -> EmotionTimeline:
    """Track the emotions of every face in a video file or a webcam stream.

    Args:
        source: a video path, or a webcam index (``0`` or ``"0"``).
        output: annotated video (boxes, labels, probability bars) to write.
        timeline: ``.csv`` or ``.json`` file for the per-sample timeline.
        plot: ``.png`` file for the probability-over-time plot.
        detector: ``"haar"`` (fast, the seed's) or ``"mtcnn"`` (slower, finds more).
        model: ``"fer"`` (pretrained 7-class) or a ``vidcap train emotions`` checkpoint.
        every: analyse every N-th frame; the frames between reuse the last result.
        smoothing: EMA time constant in seconds (0: every frame on its own).
        forget_after: seconds a face may go undetected and still keep its id.
        min_hits: analysed frames in a row a new face must be found in before it
            counts (2 drops one-off false detections; 1 keeps every detection).
        max_frames: stop after reading this many frames. A webcam otherwise runs
            until q is pressed in the preview or Ctrl-C, and its outputs are still written.
        preview: show a live window; None shows one only when a display exists.
    Returns:
        :class:`EmotionTimeline`; files written are listed in ``.outputs``.
    """
    if int(every) < 1:
        raise ConfigError(f"every must be a positive number of frames, got {every}")
    every = int(every)
    for path, suffixes in ((timeline, (".csv", ".json")), (plot, (".png",))):
        if path is not None and Path(path).suffix.lower() not in suffixes:
            raise ConfigError(f"{str(path)!r} must end in {' or '.join(suffixes)}")
    frames, fps, name = open_source(source)
    max_age = max(1, int(round(forget_after * fps / every)))
    engine = EmotionTracker(detector, model, smoothing=smoothing, margin=margin, max_age=max_age,
                            min_hits=min_hits, backend=backend)
    if preview is None:
        preview = display_available()
    elif preview and not display_available():
        log.warning("no display found ($DISPLAY is unset): running without a preview window")
        preview = False
    window = _Preview() if preview else None
    writer = None
    if output is not None:
        from vidcap.io.writers import VideoWriter

        writer = VideoWriter(output, fps, options={"preset": "veryfast"})
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="frame", desc=Path(name).name, leave=False)
    samples: list[EmotionSample] = []
    try:
        read, analysed = _run(frames, engine, samples, every=every, max_frames=max_frames, writer=writer,
                              window=window, bar=bar, live=is_webcam(source))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        close = getattr(frames, "close", None)
        if close:
            close()
        if window is not None:
            window.close()
        if bar is not None:
            bar.close()
    samples.sort(key=lambda s: (s.frame, s.face_id))  # held-back samples arrive late
    result = EmotionTimeline(
        labels=engine.labels, samples=samples, source=name, fps=fps, frames_read=read,
        frames_analyzed=analysed, detector=engine.detector.name,
        model=engine.classifier.name, smoothing=engine.smoothing, every=every,
    )
    if read == 0:
        if writer is not None:
            writer.abort()
        raise DecodeError(f"{name}: no frame could be read")
    if writer is not None:
        result.outputs["video"] = str(writer.close())
    if timeline is not None:
        result.save(timeline)
    if plot is not None:
        result.plot(plot)
    log.info("%s: %d frames, %d analysed, %d face samples, %d faces", name, read, analysed,
             len(samples), len(result.face_ids()))
    return result
