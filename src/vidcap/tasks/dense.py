"""``vidcap describe`` scored as dense captioning: one caption per event, with its times.

:func:`evaluate_describe` describes every annotated video in each way asked -- with shot-based pieces
(a piece per shot of at least ``window`` seconds, ``window``-second pieces elsewhere),
with fixed ``window``-second pieces, and with a learned boundary model one piece per
predicted event (``learned``) -- and scores each set of timed captions against the
annotated events with the ActivityNet Captions protocol
(:func:`vidcap.metrics.temporal.dense_caption_scores`: METEOR over the prediction-event
pairs at tIoU 0.3/0.5/0.7/0.9, averaged; the pieces' recall and precision as proposals).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from vidcap.errors import ConfigError, DataError, VidcapError
from vidcap.progress import Callback, report
from vidcap.results import DenseCaptionEvaluation

log = logging.getLogger(__name__)

PROPOSALS = ("shots", "windows", "learned")


def load_events(path, subset: str | None = None) -> dict:
    """``{video: EventVideo}`` of an ActivityNet Captions or YouCook2 annotation file; ``subset``:
    only that YouCook2 subset (``training``, ``validation``, ...)."""
    from vidcap.data.events import load_activitynet_captions, load_youcook2

    path = Path(path)
    try:
        top = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: is not a readable JSON annotation file ({exc})") from exc
    if isinstance(top, dict) and "database" in top:
        return load_youcook2(path, split=subset)
    if subset is not None:
        raise ConfigError(f"{path} is an ActivityNet Captions file, which has no subsets; "
                          f"drop subset={subset!r} or give a YouCook2 file")
    return load_activitynet_captions(path)


def annotated(annotations, videos, limit: int | None = None, subset: str | None = None) -> tuple[dict, list[str]]:
    """The events of an annotation file (``subset``: see :func:`load_events`) and the ids to score
    (the first ``limit``), once ``videos`` is known to be a folder."""
    if not Path(videos).is_dir():
        raise DataError(f"{videos}: is not a folder of videos")
    gt = load_events(annotations, subset)
    names = list(gt)[: limit if limit is not None else None]
    if not names:
        raise DataError(f"{annotations}: holds no annotated videos")
    return gt, names


def find_annotated(folder: Path, name: str) -> Path:
    """The video of annotation id ``name`` in ``folder`` (any video extension)."""
    from vidcap.data.captions import _find_video

    path = _find_video(folder, name)
    if path is None:
        raise DataError(f"{folder}: has no video named {name!r} (the annotations' id)")
    return path


def evaluate_describe(annotations, videos, *, window: float = 5.0, proposals=None, model=None,
                      beam_size: int | None = None, limit: int | None = None, scorer=None, boundaries=None,
                      progress: Callback | None = None) -> DenseCaptionEvaluation:
    """Dense-captioning scores of :func:`vidcap.tasks.subtitles.visual_captions` on the videos of
    ``annotations`` (found by name in the folder ``videos``), per kind of ``proposals``.

    A video that cannot be found or described is recorded in ``failed`` and left out of the
    scores; ``limit``: only the first N annotated videos; ``scorer``: the sentence metric
    ``(refs, preds) -> {name: value}`` (default METEOR, which needs Java). ``proposals``: some of
    ``shots``, ``windows`` and ``learned`` (one piece per event of the learned ``boundaries`` model);
    default all that can run.
    """
    from vidcap.metrics.temporal import dense_caption_scores
    from vidcap.tasks.boundaries import BoundaryModel
    from vidcap.tasks.caption import Captioner
    from vidcap.tasks.subtitles import visual_captions

    if proposals is None:
        proposals = PROPOSALS if boundaries is not None else ("shots", "windows")
    kinds = [proposals] if isinstance(proposals, str) else list(proposals)
    bad = [k for k in kinds if k not in PROPOSALS]
    if bad or not kinds:
        raise ConfigError(f"proposals must be some of {PROPOSALS}, got {proposals!r}")
    if "learned" in kinds and boundaries is None:
        raise ConfigError("learned proposals need a boundary model: pass boundaries=RUN "
                          "(train one with `vidcap train boundaries`)")
    if boundaries is not None and not isinstance(boundaries, BoundaryModel):
        boundaries = BoundaryModel.load(boundaries)
    if not window > 0:
        raise ConfigError(f"window must be a positive number of seconds, got {window}")
    folder = Path(videos)
    gt, names = annotated(annotations, folder, limit)
    captioner = model if isinstance(model, Captioner) else Captioner.load(model)
    preds: dict[str, dict[str, list]] = {k: {} for k in kinds}
    failed: list[dict] = []
    report(progress, "describe", 0, len(names))
    for done, name in enumerate(names, start=1):
        try:
            path = find_annotated(folder, name)
            for kind in kinds:
                pieces = visual_captions(path, window=window, shots=kind == "shots", captioner=captioner,
                                         beam_size=beam_size, boundaries=boundaries if kind == "learned" else None)
                preds[kind][name] = [(e.start, e.end, e.text) for e in pieces]
        except VidcapError as exc:
            failed.append({"video": name, "error": str(exc)})
            log.warning("not scored: %s", exc)
            for kind in kinds:
                preds[kind].pop(name, None)
        report(progress, "describe", done, len(names), info={"failed": len(failed)})
    scored = [n for n in names if n in preds[kinds[0]]]
    if not scored:
        raise DataError(f"none of the {len(names)} annotated videos could be described: {failed[0]['error']}")
    truth = {n: gt[n] for n in scored}
    out = {}
    for kind in kinds:
        scores = dense_caption_scores(preds[kind], truth, scorer=scorer)
        scores["pieces"] = sum(len(p) for p in preds[kind].values())
        out[kind] = scores
    return DenseCaptionEvaluation(str(annotations), len(scored), sum(len(truth[n].events) for n in scored),
                                  float(window), out, failed)
