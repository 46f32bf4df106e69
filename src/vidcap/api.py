"""vidcap's public functions in one place: ``from vidcap.api import caption, extract, ...``.

Each name lives in the module that owns it (the CLI calls the same functions);
this file only points at them. Imports are lazy, so ``import vidcap.api`` stays
fast and a missing optional dependency only matters for the name that needs it.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # video in and out
    "probe": "vidcap.io", "sample_frames": "vidcap.io", "iter_frames": "vidcap.io", "write_video": "vidcap.io",
    # frame features
    "extract": "vidcap.features", "extract_many": "vidcap.features", "get_engine": "vidcap.features",
    # the generated world
    "generate_world": "vidcap.data.synthetic",
    # captioning
    "Captioner": "vidcap.train.checkpoint", "train_caption": "vidcap.train.caption",
    "evaluate_caption": "vidcap.train.caption", "score_captions": "vidcap.metrics.caption",
    "load_corpus": "vidcap.data.captions",
    # classification
    "classify_video": "vidcap.classify", "load_classifier": "vidcap.classify",
    "train_classifier": "vidcap.train.classify", "evaluate_classifier": "vidcap.train.classify",
    # emotions
    "analyze_emotions": ("vidcap.emotions", "analyze"),
    # interpolation
    "interpolate_video": "vidcap.models.interpolate", "inbetween": "vidcap.models.interpolate",
    # search
    "index": "vidcap.library", "search": "vidcap.library", "evaluate_retrieval": "vidcap.library",
    "train_retrieval": "vidcap.train.retrieval",
    # speech and timed descriptions
    "transcribe": "vidcap.speech", "subtitles": "vidcap.subtitles", "describe": "vidcap.subtitles",
}

__all__ = sorted([*_EXPORTS, "caption"])


def caption(videos, *, model=None, beam_size: int | None = None):
    """Caption video files with a checkpoint (default: the bundled model) → list of CaptionResult."""
    from vidcap.train.checkpoint import Captioner

    return Captioner.load(model).caption(videos, beam_size=beam_size)



def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'vidcap.api' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
