"""The tasks a job can run: their parameters (named and defaulted as in :mod:`vidcap.api`)
and one runner each, which calls the api function and writes its files into the job's folder.

A parameter that would name a file on the server (outputs, models) is not offered:
outputs go to the job's folder under fixed names, and a classifier is chosen by the
name it was given with ``vidcap serve --classify-model NAME=RUN``.
"""
from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vidcap import api
from vidcap.errors import ConfigError

VideoId = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="an id from POST /api/videos")]
FRAME_SIDE = 96  # short side of the caption's sampled-frame thumbnails, pixels


def default(fn, name: str):
    """The api function's default for ``name`` (the server offers the same defaults)."""
    return inspect.signature(fn).parameters[name].default


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] | None  # spoken language code (tiny.en: en)


class CaptionParams(Params):
    beam_size: int | None = Field(default(api.caption, "beam_size"), ge=1, le=10,
                                  description="1 = greedy; null: the model's (3 for the bundled one)")
    length_penalty: float | None = Field(default(api.caption, "length_penalty"), ge=0, le=5,
                                         description="beam ranking: log p / length**penalty; null: the model's")
    frames: bool = Field(False, description="also write the frames the model saw, side by side, as frames.jpg "
                                            "(the page shows them; not an api.caption parameter)")


class CueParams(Params):
    """How speech is cut into cues (the same defaults in api.subtitles and api.describe)."""

    max_chars: int = Field(default(api.subtitles, "max_chars"), ge=10, le=200, description="characters a line")
    max_lines: int = Field(default(api.subtitles, "max_lines"), ge=1, le=4, description="lines a cue")
    min_duration: float = Field(default(api.subtitles, "min_duration"), ge=0.1, le=30,
                                description="seconds a cue stays at least")
    max_duration: float = Field(default(api.subtitles, "max_duration"), ge=0.5, le=60,
                                description="seconds a cue stays at most")


class SubtitlesParams(CueParams):
    language: Language = default(api.subtitles, "language")
    beam_size: int = Field(default(api.subtitles, "beam_size"), ge=1, le=10, description="Whisper beam size")
    burn: bool = Field(False, description="also write a copy of the video with the subtitles drawn in")


class DescribeParams(CueParams):
    window: float = Field(default(api.describe, "window"), ge=0.5, le=600, description="seconds per visual caption")
    speech: bool = Field(default(api.describe, "speech"), description="merge in the speech (false: visual only)")
    language: Language = default(api.describe, "language")
    beam_size: int | None = Field(default(api.describe, "beam_size"), ge=1, le=10,
                                  description="caption beam size; null: the model's")


class EmotionsParams(Params):
    detector: Literal["haar", "mtcnn"] = Field(default(api.emotions, "detector"),
                                               description="haar (fast) or mtcnn (slower, finds more faces)")
    every: int = Field(default(api.emotions, "every"), ge=1, le=100, description="analyse every N-th frame")
    smoothing: float = Field(default(api.emotions, "smoothing"), ge=0, le=10,
                             description="time constant of the per-face moving average, seconds; 0 = off")
    max_frames: int | None = Field(default(api.emotions, "max_frames"), ge=1, description="stop after this many frames")


class ClassifyParams(Params):
    model: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                              description="a classifier the server was started with (--classify-model NAME=RUN); "
                                          "null: the first one")
    window: int | None = Field(default(api.classify, "window"), ge=2, le=512,
                               description="frames per window; null: the model's clip length")
    stride: int | None = Field(default(api.classify, "stride"), ge=1, le=512,
                               description="frames between windows; null: half a window")
    top_k: int = Field(default(api.classify, "top_k"), ge=1, le=50, description="labels per window and per video")


class InterpolateParams(Params):
    factor: Literal[2, 4, 8] = Field(default(api.interpolate, "factor"), description="frames per input frame")
    mode: Literal["slowmo", "fps"] = Field(default(api.interpolate, "mode"),
                                           description="slowmo: factor times longer; fps: factor times the frame rate")
    method: Literal["auto", "rife", "dis", "blend"] = Field(
        default(api.interpolate, "method"), description="auto: RIFE on a GPU, DIS optical flow on a CPU")


PARAMS: dict[str, type[Params]] = {
    "caption": CaptionParams, "subtitles": SubtitlesParams, "describe": DescribeParams,
    "emotions": EmotionsParams, "classify": ClassifyParams, "interpolate": InterpolateParams,
}


def _job_model(task: str, params: type[Params]) -> type[BaseModel]:
    fields = {"__annotations__": {"task": Literal[task], "video": VideoId, "params": params},
              "params": Field(default_factory=params), "model_config": ConfigDict(extra="forbid")}
    return type(f"{task.capitalize()}Job", (BaseModel,), fields)


JOB_MODELS = [_job_model(task, params) for task, params in PARAMS.items()]
JobRequest = Annotated[Union[tuple(JOB_MODELS)], Field(discriminator="task")]  # noqa: UP007 (built from a list)


# --------------------------------------------------------------------------- loaded models
class Models:
    """Models loaded once per process and shared by every job (the caption model, the classifiers)."""

    def __init__(self, classifiers: dict[str, str] | None = None):
        self.classifiers = dict(classifiers or {})
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def _get(self, key: str, load: Callable):
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load()
            return self._loaded[key]

    def captioner(self):
        return self._get("caption", api.load_captioner)

    def classifier_name(self, name: str | None) -> str:
        """The configured classifier ``name`` (None: the first), or ConfigError saying what is configured."""
        if not self.classifiers:
            raise ConfigError("no classifier is configured on this server: start it with `vidcap serve "
                              "--classify-model RUN` (a run folder of `vidcap train classify`)")
        if name is None:
            return next(iter(self.classifiers))
        if name not in self.classifiers:
            raise ConfigError(f"no classifier {name!r} on this server; it has {', '.join(self.classifiers)}")
        return name

    def classifier(self, name: str | None):
        name = self.classifier_name(name)
        return self._get(f"classify:{name}", lambda: api.load_classifier(self.classifiers[name]))

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._loaded)


# --------------------------------------------------------------------------- runners
@dataclass
class Context:
    """What a runner gets: the video file, the job's folder for its outputs, the progress callback."""

    video: Path
    out: Path
    params: Params
    progress: Callable
    models: Models

    def check(self) -> None:
        """Give a cancellation its chance between two steps of a task."""
        self.progress(None)


def run_caption(ctx: Context) -> dict:
    captioner = ctx.models.captioner()
    p = ctx.params
    (result,) = api.caption(ctx.video, model=captioner, beam_size=p.beam_size, length_penalty=p.length_penalty,
                            progress=ctx.progress)
    out = result.to_dict()
    if p.frames:
        ctx.check()
        clip = api.sample_frames(ctx.video, captioner.num_frames, short=captioner.short, short_side=FRAME_SIDE)
        kept = [(f, float(t), int(i)) for f, t, i, m in zip(clip.frames, clip.timestamps, clip.indices, clip.mask) if m]
        _write_strip(ctx.out / "frames.jpg", [f for f, _, _ in kept])
        out["frames"] = {"file": "frames.jpg", "times": [round(t, 4) for _, t, _ in kept],
                         "indices": [i for _, _, i in kept]}
    return out


def _write_strip(path: Path, frames) -> None:
    """Frames side by side in one JPEG (the page cuts it into tiles with CSS)."""
    import numpy as np
    from PIL import Image

    from vidcap.io.files import atomic_path

    h = min(f.shape[0] for f in frames)
    strip = np.concatenate([f[:h] for f in frames], axis=1)
    with atomic_path(path) as tmp:
        Image.fromarray(strip).save(tmp, format="JPEG", quality=85)


def run_subtitles(ctx: Context) -> dict:
    p = ctx.params
    result = api.subtitles(ctx.video, ctx.out / "subtitles.vtt", burn=ctx.out / "subtitled.mp4" if p.burn else None,
                           language=p.language, beam_size=p.beam_size, max_chars=p.max_chars, max_lines=p.max_lines,
                           min_duration=p.min_duration, max_duration=p.max_duration, progress=ctx.progress)
    result.save(ctx.out / "subtitles.srt")
    return result.to_dict()


def run_describe(ctx: Context) -> dict:
    p = ctx.params
    result = api.describe(ctx.video, window=p.window, model=ctx.models.captioner(), speech=p.speech, language=p.language, beam_size=p.beam_size,
                          max_chars=p.max_chars, max_lines=p.max_lines, min_duration=p.min_duration,
                          max_duration=p.max_duration, output=ctx.out / "description.vtt", progress=ctx.progress)
    result.save(ctx.out / "description.srt")
    return result.to_dict()


def run_emotions(ctx: Context) -> dict:
    p = ctx.params
    result = api.emotions(ctx.video, output=ctx.out / "annotated.mp4", timeline=ctx.out / "emotions.csv",
                          plot=ctx.out / "emotions.png", detector=p.detector, every=p.every, smoothing=p.smoothing,
                          max_frames=p.max_frames, progress=ctx.progress)
    return result.to_dict()


def run_classify(ctx: Context) -> dict:
    p = ctx.params
    clf = ctx.models.classifier(p.model)
    (result,) = api.classify(ctx.video, clf, window=p.window, stride=p.stride, top_k=p.top_k,
                             output=ctx.out / "annotated.mp4", progress=ctx.progress)
    out = result.to_dict()
    out["model"] = ctx.models.classifier_name(p.model)  # its name here, not its path
    return out


def run_interpolate(ctx: Context) -> dict:
    p = ctx.params
    return api.interpolate(ctx.video, ctx.out / "interpolated.mp4", factor=p.factor, mode=p.mode, method=p.method,
                           progress=ctx.progress).to_dict()


RUNNERS: dict[str, Callable[[Context], dict]] = {
    "caption": run_caption, "subtitles": run_subtitles, "describe": run_describe,
    "emotions": run_emotions, "classify": run_classify, "interpolate": run_interpolate,
}


def stages(task: str, params: Params) -> tuple[str, ...]:
    """The progress stages a job goes through, in order (the ``task`` names of its progress events)."""
    if task == "subtitles":
        return ("transcribe", "burn") if params.burn else ("transcribe",)
    if task == "describe":
        return ("describe", "transcribe") if params.speech else ("describe",)
    return (task,)
