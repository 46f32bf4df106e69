"""Find the moment: which part of a video a sentence describes, with the learned joint embedding.

A video's candidate moments are sliding windows of ``window`` and ``2 * window`` seconds,
``window / 2`` apart (:func:`proposals`). Frames are decoded once at :data:`RATE` per
second and run through the retrieval model's backbone; each moment takes the model's
``num_frames`` evenly spaced frames inside it (the model's own sampling) and is embedded
by the video side (:func:`moment_vectors`). A sentence ranks the moments by cosine with its
text embedding. :func:`evaluate_moments` scores that as moment retrieval on annotated
multi-event videos: each event's sentence is a query in its own video, R@1/R@5 at tIoU
0.5 and 0.7 (:func:`vidcap.metrics.temporal.moment_recall`), beside the chance of a
moment drawn at random from the same candidates. Paragraph retrieval: a video's
paragraph (its events' sentences) scores a video by the mean over its sentences of the
best moment's cosine; R@1/5/10 and median rank, paragraph->video and video->paragraph.
With a library, also across the whole corpus: `vidcap search` must put the right video
first with the right moment.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DataError, VidcapError
from vidcap.progress import Callback, report
from vidcap.results import MomentEvaluation

log = logging.getLogger(__name__)

RATE = 4.0  # frames decoded per second for the moments' features
WINDOW = 5.0


def proposals(duration: float, window: float = WINDOW) -> list[tuple[float, float]]:
    """Sliding windows ``(start, end)`` of ``window`` and ``2 * window`` seconds every ``window / 2``
    seconds over ``[0, duration]`` (the last of each length ends at the video's end)."""
    if not window > 0:
        raise ConfigError(f"window must be a positive number of seconds, got {window}")
    if not duration > 0:
        return []
    out = set()
    for length in (window, 2 * window):
        start = 0.0
        while True:
            out.add((round(start, 3), round(min(start + length, duration), 3)))
            if start + length >= duration - 1e-6:
                break
            start += window / 2
    return sorted(out)


def moment_vectors(video, rmodel, *, window: float = WINDOW) -> tuple[list[tuple[float, float]], np.ndarray]:
    """The candidate moments of ``video`` and their ``(P, embed_dim)`` unit vectors under ``rmodel``."""
    from vidcap.features import get_engine
    from vidcap.io import iter_frames, probe, short_side_size
    from vidcap.io.sampling import even_indices

    engine = get_engine(rmodel.backbone)
    info = probe(video)
    size = short_side_size(info.width, info.height, engine.backbone.resize)
    step = max(1, round((info.avg_fps or RATE) / RATE))
    frames, times = [], []
    for n, (frame, t) in enumerate(iter_frames(video, size=size)):
        if n % step == 0:
            frames.append(engine.preprocess(frame[None])[0])
            times.append(t)
    if not frames:
        raise DataError(f"{video}: no frame could be decoded")
    feats, times = engine(np.stack(frames)), np.asarray(times)  # (N, D), (N,)
    moments, stacked, masks = [], [], []
    for start, end in proposals(float(info.duration or times[-1]), window):
        inside = np.flatnonzero((times >= start - 1e-6) & (times < end))
        if not len(inside):
            continue
        idx, mask = even_indices(len(inside), rmodel.num_frames, short=rmodel.short)
        f = np.zeros((rmodel.num_frames, feats.shape[1]), np.float32)
        f[mask] = feats[inside[idx[mask]]]
        moments.append((start, end))
        stacked.append(f)
        masks.append(mask)
    return moments, rmodel.embed_videos(np.stack(stacked), np.stack(masks))


def _corpus_recall(library, gt: dict, names: list[str], folder: Path, rmodel) -> dict[str, float]:
    """Every event sentence searched over the library of all ``names``: the fraction whose top hit is
    its video with a moment at tIoU >= 0.5 / 0.7, and whose top hit is its video."""
    from vidcap.metrics.temporal import tiou
    from vidcap.tasks.dense import find_annotated
    from vidcap.tasks.search import index, search

    paths = {n: find_annotated(folder, n) for n in names}
    summary = index(list(paths.values()), library, model=rmodel, caption_model="none", transcripts=False,
                    tags=False, moments=True)
    if summary.failed:
        raise DataError(f"{len(summary.failed)} video(s) could not be indexed: {summary.failed[0]['error']}")
    by_path = {str(p.resolve()): n for n, p in paths.items()}
    hits = {0.5: 0, 0.7: 0, "video": 0}
    total = 0
    for name in names:
        for e in gt[name].events:
            top = search(e.sentence, library, k=1, model=rmodel).hits[0]
            total += 1
            if by_path.get(str(Path(top.path).resolve())) != name:
                continue
            hits["video"] += 1
            iou = tiou((top.start, top.end), (e.start, e.end)) if top.start is not None else 0.0
            for t in (0.5, 0.7):
                hits[t] += iou >= t - 1e-9
    return {"corpus R@1@0.5": hits[0.5] / total, "corpus R@1@0.7": hits[0.7] / total,
            "corpus video R@1": hits["video"] / total}


def evaluate_moments(annotations, videos, *, model=None, window: float = WINDOW, limit: int | None = None,
                     library=None, progress: Callback | None = None) -> MomentEvaluation:
    """Moment retrieval on the annotated videos (ActivityNet Captions or YouCook2 file; the videos
    found by id in the folder ``videos``): every event sentence ranks its own video's moments.
    ``model``: a retrieval checkpoint or run folder (default: the bundled one). ``library``: a
    folder to index the videos into (with moments, without captions, transcripts or tags; once)
    and search each sentence across all of them: ``corpus R@1@t``, the top hit is the event's
    video and its moment reaches tIoU ``t``."""
    from vidcap.metrics.retrieval import retrieval_metrics
    from vidcap.metrics.temporal import moment_recall, tiou_matrix
    from vidcap.tasks.dense import annotated, find_annotated
    from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

    rmodel = model if isinstance(model, RetrievalModel) else RetrievalModel.load(model or DEFAULT_MODEL)
    if library is not None and window != WINDOW:
        raise ConfigError(f"a library's moments are {WINDOW:g} s windows; evaluate it with window={WINDOW:g}")
    gt, names = annotated(annotations, videos, limit)
    ranked, truth, chance, failed, counts = [], [], {0.5: [], 0.7: []}, [], []
    vectors, sentences = {}, {}  # per scored video: its moments' vectors, its sentences' text vectors
    report(progress, "moments", 0, len(names))
    for done, name in enumerate(names, start=1):
        try:
            path = find_annotated(Path(videos), name)
            moments, vecs = moment_vectors(path, rmodel, window=window)
        except VidcapError as exc:
            failed.append({"video": name, "error": str(exc)})
            log.warning("not scored: %s", exc)
            report(progress, "moments", done, len(names), info={"failed": len(failed)})
            continue
        events = gt[name].events
        vectors[name], sentences[name] = vecs, rmodel.embed_text([e.sentence for e in events])
        scores = sentences[name] @ vecs.T  # (E, P)
        iou = tiou_matrix(moments, [(e.start, e.end) for e in events])  # (P, E)
        for i, e in enumerate(events):
            ranked.append([moments[j] for j in np.argsort(-scores[i], kind="stable")[:5]])
            truth.append((e.start, e.end))
            for t in chance:
                chance[t].append(float((iou[:, i] >= t - 1e-9).mean()))
        counts.append(len(moments))
        report(progress, "moments", done, len(names), info={"failed": len(failed)})
    if not ranked:
        raise DataError(f"none of the {len(names)} annotated videos could be scored: {failed[0]['error']}")
    order = list(vectors)
    para = np.array([[float((sentences[p] @ vectors[v].T).max(1).mean()) for v in order] for p in order])
    paragraph = retrieval_metrics(para, np.arange(len(order)))
    paragraph = {"p2v": paragraph["t2v"], "v2p": paragraph["v2t"]}
    metrics = {**moment_recall(ranked, truth, k=1), **moment_recall(ranked, truth, k=5)}
    metrics.update({f"chance R@1@{t:g}": float(np.mean(v)) for t, v in chance.items()})
    if library is not None:
        metrics.update(_corpus_recall(library, gt, [n for n in names if n not in {f["video"] for f in failed}],
                                      Path(videos), rmodel))
    return MomentEvaluation(str(annotations), len(counts), len(truth), float(window), float(np.mean(counts)),
                            {k: round(v, 4) for k, v in metrics.items()}, paragraph, rmodel.path, failed)
