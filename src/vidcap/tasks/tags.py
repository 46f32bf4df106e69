"""Object tags: what ImageNet objects each shot of a video shows, and the whole video.

Each shot (:func:`vidcap.features.shots.detect_shots`) gives ``keyframes`` frames spread
through it; EfficientNet-Lite0 with its ImageNet-1k head (the ``efficientnet_lite0``
backbone) classifies them, and the shot's tags are the classes of highest mean
probability. The video's tags are the shots' probabilities averaged with each shot
weighted by its length. The 1000 class names are ImageNet's: the tagger names objects
in that vocabulary only ("tabby", "espresso", "mountain bike", "missile"), and says
little about people, actions or scenes.

For search, a shot's tags become one sentence vector: the sum of the tag names' MiniLM
vectors weighted by their probabilities, so its dot product with a query's vector is the
expected similarity of the query to what the tagger saw (:func:`tag_vector`).
"""
from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

from vidcap.errors import ConfigError, DataError, VidcapError
from vidcap.progress import Callback, report
from vidcap.results import Failure, ShotList, ShotTags, TagResult

log = logging.getLogger(__name__)

MODEL = "efficientnet_lite0"
TOP_K = 5
KEYFRAMES = 3


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class Tagger:
    """EfficientNet-Lite0's ImageNet classifier on frames, loaded once."""

    def __init__(self, *, backend: str = "auto"):
        from vidcap.features import get_engine
        from vidcap.features.backbones import imagenet_classes

        self.engine = get_engine(MODEL, backend)
        self.classes = imagenet_classes()

    def probs(self, frames: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3) uint8`` RGB frames of any size -> ``(N, 1000)`` class probabilities
        (each frame resized to a short side of 256, centre 224 x 224)."""
        from vidcap.io import resize, short_side_size

        b = self.engine.backbone
        small = np.stack([resize(f, short_side_size(f.shape[1], f.shape[0], b.resize)) for f in frames])
        return _softmax(b.split(self.engine(self.engine.preprocess(small)))[1])

    def top(self, probs: np.ndarray, k: int) -> tuple[list[str], list[float]]:
        """The ``k`` most probable classes of one ``(1000,)`` distribution."""
        order = np.argsort(-probs)[:k]
        return [self.classes[i] for i in order], [round(float(probs[i]), 4) for i in order]


@lru_cache(maxsize=2)
def load_tagger(backend: str = "auto") -> Tagger:
    """The shared tagger (built once per process)."""
    return Tagger(backend=backend)


def _check(top_k: int, keyframes: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 1000:
        raise ConfigError(f"top_k must be an integer from 1 to 1000, got {top_k!r}")
    if isinstance(keyframes, bool) or not isinstance(keyframes, int) or keyframes < 1:
        raise ConfigError(f"keyframes must be a positive integer, got {keyframes!r}")


def decode_keyframes(path, shots: ShotList, keyframes: int) -> tuple[list[list[int]], dict, dict]:
    """Each shot's keyframe numbers, and the decoded frames ``{number: (H, W, 3) uint8 RGB}``
    and their times ``{number: seconds}``, full size."""
    from vidcap.features.shots import keyframes as pick
    from vidcap.io import frames_at

    wanted = [pick(s, keyframes) for s in shots.shots]
    frames, times = frames_at(path, sorted({i for idx in wanted for i in idx}))
    return [[i for i in idx if i in frames] for idx in wanted], frames, times


def shot_means(wanted: list[list[int]], frames: dict, fn, dim: int) -> np.ndarray:
    """``(S, dim)``: ``fn(frames (N, H, W, 3)) -> (N, dim)`` on every shot's keyframes at once, averaged
    per shot (zeros for a shot with none)."""
    flat = [i for idx in wanted for i in idx]
    values = fn(np.stack([frames[i] for i in flat])) if flat else np.zeros((0, dim), np.float32)
    out, at = np.zeros((len(wanted), dim), dtype=np.float32), 0
    for s, idx in enumerate(wanted):
        if idx:
            out[s] = values[at:at + len(idx)].mean(axis=0)
            at += len(idx)
    return out


def shot_probs(wanted: list[list[int]], frames: dict, tagger: Tagger) -> np.ndarray:
    """``(S, 1000)``: the mean class probabilities of each shot's keyframes."""
    return shot_means(wanted, frames, tagger.probs, len(tagger.classes))


def video_tags(shots: ShotList, probs: np.ndarray, tagger: Tagger, times: list[list[float]], *,
               top_k: int = TOP_K) -> TagResult:
    """The result for one video from its shots' ``(S, 1000)`` probabilities and keyframe
    times: per shot and, weighted by shot length, for the whole video."""
    per_shot = []
    for shot, p, t in zip(shots.shots, probs, times):
        labels, values = tagger.top(p, top_k)
        per_shot.append(ShotTags(shot.start, shot.end, [round(x, 3) for x in t], labels, values))
    weights = np.asarray([max(s.end - s.start, 1e-6) for s in shots.shots])
    overall = (probs * weights[:, None]).sum(axis=0) / weights.sum()
    labels, values = tagger.top(overall, top_k)
    return TagResult(shots.video, MODEL, per_shot, list(zip(labels, values)))


def tag(videos, *, top_k: int = TOP_K, keyframes: int = KEYFRAMES, detector: str = "adaptive",
        errors: str = "raise", progress: Callback | None = None) -> list[TagResult | Failure]:
    """Object tags of each video (files, folders, ``.txt`` lists): per shot and overall.

    ``top_k`` tags per shot and per video; ``keyframes`` frames classified per shot;
    ``detector``: the shot detector (:mod:`vidcap.features.shots`). ``errors="record"``
    gives a :class:`Failure` for a video that cannot be read (``"raise"``: its error).
    """
    from vidcap.features.shots import detect_shots
    from vidcap.io.files import find_videos

    _check(top_k, keyframes)
    if errors not in ("raise", "record"):
        raise ConfigError(f"errors={errors!r} must be 'raise' or 'record'")
    paths = find_videos(videos)
    if not paths:
        raise DataError(f"no video to tag in {videos!r}")
    tagger = load_tagger()
    out: list[TagResult | Failure] = []
    for n, path in enumerate(paths):
        try:
            shots = detect_shots(path, detector=detector)
            wanted, frames, times = decode_keyframes(path, shots, keyframes)
            result = video_tags(shots, shot_probs(wanted, frames, tagger), tagger,
                                [[times[i] for i in idx] for idx in wanted], top_k=top_k)
        except VidcapError as exc:
            if errors == "raise":
                raise
            result = Failure(str(path), str(exc))
        out.append(result)
        report(progress, "tag", n + 1, len(paths), item=result)
    return out


# ------------------------------------------------------------------ tags as sentence vectors
_LABEL_VECTORS: dict[str, np.ndarray] = {}


def label_vectors(labels: list[str]) -> np.ndarray:
    """``(len(labels), 384)`` MiniLM vectors of class names (each name encoded once per process)."""
    from vidcap.features.text import DIM, encode

    new = sorted({lab for lab in labels if lab not in _LABEL_VECTORS})
    if new:
        for lab, vec in zip(new, encode(new)):
            _LABEL_VECTORS[lab] = vec
    if not labels:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.stack([_LABEL_VECTORS[lab] for lab in labels])


def tag_vector(labels: list[str], probs: list[float]) -> np.ndarray:
    """``(384,)`` = sum of ``p_i * vector(label_i)``: its dot product with a unit query vector is
    the probability-weighted cosine of the query to the tags (at most 1)."""
    return (np.asarray(probs, dtype=np.float32)[:, None] * label_vectors(labels)).sum(axis=0)
