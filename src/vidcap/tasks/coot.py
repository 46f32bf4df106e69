"""COOT at work: annotated multi-event videos as tensors, the checkpoint, retrieval at both levels.

Data (:func:`event_features`, :func:`event_tensors`): every annotated video's frame features
at :data:`RATE` per second, through the feature store (cached under the store's keys,
failures recorded and skipped); each event's frames sampled into a clip of
``clip_frames`` (the event's annotated segment: COOT's clips are the ground-truth events),
``video_frames`` evenly spaced frames for the global context; each sentence's MiniLM token
states, and the paragraph's (its sentences' tokens in time order). A video with more
events than the model has clip positions is an error naming it
(:func:`vidcap.data.events.check_clip_count`), never a silent cut.

Evaluation (:func:`evaluate_coot`), on the annotated videos: paragraph->video and
video->paragraph among the V videos (chance R@1 = 1/V), sentence->clip and clip->sentence
among all N events of them (chance 1/N); R@1/5/10 and median rank. Videos and paragraphs are
scored twice: by their own vectors (COOT's video/paragraph level) and by the clip level (a
paragraph's sentences' best clips in the video, averaged: :func:`best_clip_scores`).

A COOT checkpoint is a plain dict (``torch.save``; ``torch.load(weights_only=True)``):
``format``, ``model_args`` (:class:`~vidcap.models.coot.CootConfig`), ``model``,
``model_id``, ``text_model``, ``backbone``, ``rate`` (frames per second of the features),
``metrics``, ``train`` and, in ``last.pt`` only, ``train_state``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidcap.errors import DataError, ModelError
from vidcap.io.checkpoints import load_checkpoint, resolve_run, restore_model, state_hash
from vidcap.io.files import plain
from vidcap.models.coot import CootConfig, CootModel
from vidcap.progress import Callback, report
from vidcap.results import CootEvaluation
from vidcap.tasks.moments import RATE as MOMENT_RATE

log = logging.getLogger(__name__)

MODEL_FORMAT = "vidcap.coot"
MODEL_FORMAT_VERSION = 1
RATE = MOMENT_RATE  # frames per second of the features: the moments' own


# --------------------------------------------------------------------------- data
def event_features(gt: dict, names: list[str], videos, cache, *, backbone: str = "mobilenet_v2",
                   progress: Callback | None = None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict]]:
    """``({name: (features (N, D), seconds (N,))}, failed)`` of the annotated videos ``names`` in
    the folder ``videos``, at :data:`RATE` frames a second, stored in the feature store ``cache``.
    A video that is missing or cannot be decoded is in ``failed`` as ``{"video", "error"}``."""
    from vidcap.features.pipeline import extract_many
    from vidcap.features.store import FeatureStore
    from vidcap.tasks.dense import find_annotated

    paths, failed = {}, []
    for name in names:
        try:
            paths[name] = find_annotated(Path(videos), name)
        except DataError as exc:
            failed.append({"video": name, "error": str(exc)})
    feats = {}
    if paths:
        summary = extract_many(list(paths.values()), cache, backbone=backbone, num_frames=None, fps=RATE,
                               progress=progress)
        by_source = {r.get("source"): r for r in summary.records}
        store = FeatureStore(cache)
        for name, path in paths.items():
            record = by_source.get(str(path.resolve()))
            if record is None or record.get("status") != "ok":
                failed.append({"video": name, "error": (record or {}).get("error") or f"{path}: no features"})
                continue
            array, record = store.load(record["name"])
            keep = np.asarray(record["mask"], dtype=bool)
            feats[name] = array[keep], np.asarray(record["timestamps"], dtype=np.float64)[keep]
    for f in failed:
        log.warning("left out: %s", f["error"])
    return feats, failed


@dataclass
class EventTensors:
    """V annotated videos as COOT's inputs (C: the most events of any of them)."""

    names: list[str]
    clips: torch.Tensor  # (V, C, F, D) frame features of each event's clip
    clip_mask: torch.Tensor  # (V, C, F) bool
    frames: torch.Tensor  # (V, G, D) the whole video's frames (global context)
    frame_mask: torch.Tensor  # (V, G)
    words: torch.Tensor  # (V, C, W, 384) token states of each event's sentence
    word_mask: torch.Tensor  # (V, C, W)
    para: torch.Tensor  # (V, P, 384) the paragraph's tokens
    para_mask: torch.Tensor  # (V, P)

    INPUTS = ("clips", "clip_mask", "frames", "frame_mask", "words", "word_mask", "para", "para_mask")

    def __len__(self) -> int:
        return len(self.names)

    def batch(self, idx) -> dict[str, torch.Tensor]:
        """The model's inputs for the videos ``idx`` (a list or tensor of indices)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        return {k: getattr(self, k)[idx] for k in self.INPUTS}

    @property
    def events(self) -> torch.Tensor:
        """``(V, C)`` bool: which clip slots hold an event."""
        return self.clip_mask.any(-1)


def _even(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    from vidcap.io.sampling import even_indices

    return even_indices(n, k, short="pad")


def event_tensors(gt: dict, feats: dict[str, tuple[np.ndarray, np.ndarray]], config: CootConfig,
                  names: list[str] | None = None) -> EventTensors:
    """The inputs of the videos ``names`` (default: every one in ``feats``) under ``config``'s sizes."""
    from vidcap.data.events import check_clip_count
    from vidcap.features.text import token_vectors

    names = [n for n in (names if names is not None else list(feats)) if n in feats]
    if not names:
        raise DataError("no annotated video has features")
    for n in names:
        check_clip_count(gt[n], config.max_clips)
    c = config
    C = max(len(gt[n].events) for n in names)
    D = next(iter(feats.values()))[0].shape[1]
    sentences = sorted({e.sentence for n in names for e in gt[n].events})
    tokens = dict(zip(sentences, token_vectors(sentences)))
    V = len(names)
    W = min(c.sentence_words, max(len(tokens[s]) for s in sentences))  # no longer than the data needs
    P = min(c.paragraph_words, max(sum(len(tokens[s]) for s in gt[n].sentences) for n in names))
    clips, clip_mask = np.zeros((V, C, c.clip_frames, D), np.float32), np.zeros((V, C, c.clip_frames), bool)
    frames, frame_mask = np.zeros((V, c.video_frames, D), np.float32), np.zeros((V, c.video_frames), bool)
    words, word_mask = np.zeros((V, C, W, c.text_dim), np.float32), np.zeros((V, C, W), bool)
    para, para_mask = np.zeros((V, P, c.text_dim), np.float32), np.zeros((V, P), bool)
    for v, name in enumerate(names):
        f, times = feats[name]
        for k, e in enumerate(gt[name].events):
            inside = np.flatnonzero((times >= e.start - 1e-6) & (times < e.end))
            if not len(inside):  # an event shorter than the frame step: its nearest frame
                inside = np.array([int(np.argmin(np.abs(times - (e.start + e.end) / 2)))])
            idx, m = _even(len(inside), c.clip_frames)
            clips[v, k, m], clip_mask[v, k] = f[inside[idx[m]]], m
            w = tokens[e.sentence][:W]
            words[v, k, : len(w)], word_mask[v, k, : len(w)] = w, True
        idx, m = _even(len(f), c.video_frames)
        frames[v, m], frame_mask[v] = f[idx[m]], m
        p = np.concatenate([tokens[s] for s in gt[name].sentences])[:P]
        para[v, : len(p)], para_mask[v, : len(p)] = p, True
    t = torch.from_numpy
    return EventTensors(names, t(clips), t(clip_mask), t(frames), t(frame_mask), t(words), t(word_mask), t(para),
                        t(para_mask))


# --------------------------------------------------------------------------- checkpoints
def make_checkpoint(model: CootModel, *, backbone: str, rate: float = RATE, text_model: str = "all-MiniLM-L6-v2",
                    metrics: dict | None = None, train: dict | None = None) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "model_args": model.config.to_dict(),
            "model": state, "model_id": state_hash(state), "text_model": text_model, "backbone": backbone,
            "rate": float(rate), "metrics": plain(metrics or {}), "train": plain(train or {})}


class Coot:
    """A loaded COOT checkpoint: :meth:`embed` turns :class:`EventTensors` into the four kinds of vectors."""

    def __init__(self, ckpt: dict, path="checkpoint"):
        self.path = str(path)
        self.model = restore_model(lambda args: CootModel(CootConfig(**args)), ckpt, path)
        self.config = self.model.config
        self.model_id: str = ckpt["model_id"]
        self.backbone: str = ckpt["backbone"]
        self.rate = float(ckpt.get("rate", RATE))
        self.metrics: dict = ckpt.get("metrics", {})

    @classmethod
    def load(cls, path) -> "Coot":
        p = resolve_run(path, what="COOT model")
        return cls(load_checkpoint(p, format=MODEL_FORMAT, version=MODEL_FORMAT_VERSION, what="COOT",
                                   required=("model_args", "model", "model_id", "backbone")), p)

    @torch.inference_mode()
    def embed(self, data: EventTensors, batch_size: int = 64) -> dict[str, np.ndarray]:
        """``clip``/``sentence (N, E)`` (the N events, video by video), ``video``/``paragraph (V, E)``
        and ``owner (N,)`` (each event's video)."""
        return embed(self.model, data, batch_size)


def embed(model: CootModel, data: EventTensors, batch_size: int = 64) -> dict[str, np.ndarray]:
    """See :meth:`Coot.embed` (the model in eval mode)."""
    if data.clips.shape[-1] != model.config.feature_dim:
        raise ModelError(f"features have {data.clips.shape[-1]} dimensions; the COOT model takes "
                         f"{model.config.feature_dim}")
    out = {k: [] for k in ("clip", "sentence", "video", "paragraph")}
    for s in range(0, len(data), batch_size):
        b = data.batch(range(s, min(s + batch_size, len(data))))
        v = model.encode_video(b["clips"], b["clip_mask"], b["frames"], b["frame_mask"])
        t = model.encode_text(b["words"], b["word_mask"], b["para"], b["para_mask"])
        valid = data.events[s:s + batch_size]
        out["clip"].append(v["parts"][valid])
        out["sentence"].append(t["parts"][valid])
        out["video"].append(v["whole"])
        out["paragraph"].append(t["whole"])
    arrays = {k: torch.cat(x).float().numpy() for k, x in out.items()}
    arrays["owner"] = np.repeat(np.arange(len(data)), data.events.sum(1).numpy())
    return arrays


def best_clip_scores(cos: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """``(V, V)`` paragraph x video scores from ``cos (N, N)`` sentence x clip cosines: the mean over
    the paragraph's sentences of each one's best clip in the video (``owner``: each event's video)."""
    V = int(owner.max()) + 1
    best = np.stack([cos[:, owner == v].max(1) for v in range(V)], axis=1)  # (N, V): each sentence's best clip
    return np.stack([best[owner == p].mean(0) for p in range(V)])  # (V, V)


def retrieval_scores(vectors: dict[str, np.ndarray]) -> dict[str, dict]:
    """R@1/5/10, MdR of ``p2v``, ``v2p`` (the video and paragraph vectors), ``s2c``, ``c2s`` (clip and
    sentence vectors), and ``p2v_clips``, ``v2p_clips``: videos and paragraphs scored by
    :func:`best_clip_scores` of the clip level."""
    from vidcap.metrics.retrieval import retrieval_metrics

    V, N = len(vectors["video"]), len(vectors["clip"])
    cos = vectors["sentence"] @ vectors["clip"].T  # (N, N)
    videos = retrieval_metrics(vectors["paragraph"] @ vectors["video"].T, np.arange(V))
    clips = retrieval_metrics(cos, np.arange(N))
    by_clips = retrieval_metrics(best_clip_scores(cos, vectors["owner"]), np.arange(V))
    return {"p2v": videos["t2v"], "v2p": videos["v2t"], "s2c": clips["t2v"], "c2s": clips["v2t"],
            "p2v_clips": by_clips["t2v"], "v2p_clips": by_clips["v2t"]}


# --------------------------------------------------------------------------- evaluation
def evaluate_coot(annotations, videos, *, model, subset: str | None = None, limit: int | None = None, cache=None,
                  progress: Callback | None = None) -> CootEvaluation:
    """Retrieval at both levels on annotated multi-event videos (an ActivityNet Captions or YouCook2
    file; the videos found by id in the folder ``videos``). ``subset``: a YouCook2 subset only.
    ``cache``: the feature store (default ``<videos>/features-4fps``)."""
    from vidcap.tasks.dense import annotated

    coot = model if isinstance(model, Coot) else Coot.load(model)
    gt, names = annotated(annotations, videos, limit, subset=subset)
    report(progress, "features", 0, len(names))
    feats, failed = event_features(gt, names, videos, cache or Path(videos) / f"features-{coot.rate:g}fps",
                                   backbone=coot.backbone, progress=progress)
    if len(feats) < 2:
        raise DataError(f"{annotations}: {len(feats)} of {len(names)} annotated videos could be read; retrieval "
                        "needs at least 2" + (f" ({failed[0]['error']})" if failed else ""))
    data = event_tensors(gt, feats, coot.config, names)
    vectors = coot.embed(data)
    metrics = retrieval_scores(vectors)
    return CootEvaluation(str(annotations), len(data), int(len(vectors["clip"])), metrics,
                          {"videos": round(100 / len(data), 2), "events": round(100 / len(vectors["clip"]), 2)},
                          coot.path, failed)
