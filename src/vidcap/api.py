"""vidcap's public functions: ``from vidcap import api`` then ``api.caption("clip.mp4")``.

The command line and the web service call only these. Each function returns a
:mod:`vidcap.results` object (or a list of them) and takes ``progress=`` (a callback
that receives :class:`vidcap.progress.Progress` events) where the work is long.
Importing this module is cheap (no torch, no transformers): every function imports
the task module it needs when it is called. The defaults here are the task
functions' own (a test keeps them equal) and ``--help`` shows them.

Scripts that call :func:`extract_many` or :func:`synth` with worker processes need
the usual ``if __name__ == "__main__":`` guard around their top-level code (worker
processes import the script again); without it vidcap raises one sentence that
says so before any work starts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from vidcap import results

__all__ = [
    "backbones", "caption", "classify", "describe", "emotions", "evaluate_caption", "evaluate_classify",
    "evaluate_describe", "evaluate_moments", "evaluate_retrieval", "extract", "extract_many", "inbetween", "index", "interpolate", "iter_frames",
    "library_check", "library_list", "library_remove", "load_captioner", "load_classifier", "models", "ocr", "probe",
    "sample_frames", "score_captions", "search", "shots", "subtitles", "synth", "tag", "train_caption",
    "train_classify", "train_emotions", "train_retrieval", "transcribe", "write_video",
]

RETRIEVAL_MODES = ("learned", "caption", "hybrid", "clip")
CAPTION_METRICS = ("bleu", "meteor", "rouge", "cider")


# --------------------------------------------------------------------------- video in and out
def probe(path) -> results.VideoInfo:
    """Duration, frame rate, exact frame count, size, rotation, codec and audio of a video."""
    from vidcap.io.video import probe as run

    return run(path)


def sample_frames(path, num_frames: int | None = 80, *, fps: float | None = None, short: str = "pad",
                  size=None, short_side: int | None = None, seek: str = "exact"):
    """``num_frames`` evenly spaced frames (or ``fps`` per second) as a :class:`vidcap.io.Clip`.

    ``seek="fast"``: keyframes in place of nearby samples (approximate, faster on long videos)."""
    from vidcap.io.video import sample_frames as run

    return run(path, num_frames, fps=fps, short=short, size=size, short_side=short_side, seek=seek)


def iter_frames(path, *, size=None):
    """Stream every frame as ``(frame (H, W, 3) uint8 RGB, seconds)``."""
    from vidcap.io.video import iter_frames as run

    return run(path, size=size)


def write_video(path, frames, fps, *, codec=None, crf: float = 18, lossless: bool = False, pix_fmt=None,
                threads: int = 1, options=None):
    """Write ``(H, W, 3) uint8`` RGB frames to a video file, atomically."""
    from vidcap.io.writers import write_video as run

    return run(path, frames, fps, codec=codec, crf=crf, lossless=lossless, pix_fmt=pix_fmt, threads=threads,
               options=options)


# --------------------------------------------------------------------------- features
def extract(path, *, backbone: str = "mobilenet_v2", num_frames: int | None = 80, fps: float | None = None,
            short: str = "pad", backend: str = "auto", precision: str = "fp32",
            seek: str = "exact", fit: str = "crop") -> results.Features:
    """CNN features ``(T, D)`` and timestamps of one video's sampled frames (nothing is stored).

    ``precision``: ``fp32``, ``bf16``, ``int8`` or ``auto`` (docs/features.md#precision);
    ``seek``: ``exact`` or ``fast`` (docs/features.md#seeking); ``fit``: ``crop`` (the
    centre square) or ``pad`` (the whole frame, letterboxed; docs/features.md#fit)."""
    from vidcap.features.extract import extract as run

    return run(path, backbone=backbone, num_frames=num_frames, fps=fps, short=short, backend=backend,
               precision=precision, seek=seek, fit=fit)


def extract_many(inputs, out_dir, *, backbone: str = "mobilenet_v2", num_frames: int | None = 80,
                 fps: float | None = None, short: str = "pad", workers: int | None = None, backend: str = "auto",
                 precision: str = "fp32", seek: str = "exact", fit: str = "crop", engine: str = "local",
                 address: str | None = None, progress=None) -> results.ExtractSummary:
    """Features of many videos (files, folders, ``.txt`` lists) into a resumable feature store.

    ``precision``: ``fp32``, ``bf16``, ``int8`` or ``auto``; ``seek``: ``exact`` or ``fast``
    (docs/features.md#seeking); ``fit``: ``crop`` or ``pad`` (docs/features.md#fit); all
    three are part of the cache key.
    ``engine="ray"``: decode and run the backbone on a Ray cluster (``address``, default
    ``RAY_ADDRESS`` or a local one; ``workers``: backbone actors; inputs may be object-store
    URIs); the store is the same (see docs/scale.md)."""
    from vidcap.features.pipeline import extract_many as run
    from vidcap.scale.ray import RayRunner, uses_ray

    runner = RayRunner(address, workers) if uses_ray(engine) else None
    return run(inputs, out_dir, backbone=backbone, num_frames=num_frames, fps=fps, short=short, workers=workers,
               backend=backend, precision=precision, seek=seek, fit=fit, runner=runner, progress=progress)


def models() -> list[results.ModelInfo]:
    """Every model each task can run: bundled (offline) or hub (fetched once), whether its weights are here,
    and the ``--model`` value that selects it (imports neither torch nor transformers)."""
    from vidcap.results import ModelInfo
    from vidcap.tasks.hub import catalog

    return [ModelInfo(**row) for row in catalog()]


def backbones() -> list[results.BackboneInfo]:
    """The registered frame backbones and whether their weights are on this machine."""
    from vidcap.features.backbones import BACKBONES
    from vidcap.results import BackboneInfo

    return [BackboneInfo(b.name, b.dim, b.crop, b.weights_available(), b.meta.get("source", ""))
            for b in BACKBONES.values()]


# --------------------------------------------------------------------------- the generated world
def synth(out_dir, *, num_videos: int, seed: int = 0, level: str = "easy", size: tuple[int, int] = (160, 120),
          fps: float = 25, seconds: float | None = None, high_fps_factor: int | None = None,
          workers: int | None = None, crf: float = 18, events: tuple[int, int] | None = None,
          progress=None) -> results.WorldSummary:
    """A generated, captioned, labelled video world in MSVD layout (see ``vidcap synth --help``).

    ``seconds``: each video's length (None: 3 s), or each event's with ``events=(MIN, MAX)``
    (None: 5 s); ``events``: multi-event videos with ``events.json`` (ActivityNet Captions)
    and ``youcook2.json``."""
    from vidcap.data.synthetic import generate_world

    return generate_world(out_dir, num_videos=num_videos, seed=seed, level=level, size=size, fps=fps, seconds=seconds,
                          high_fps_factor=high_fps_factor, workers=workers, crf=crf, events=events, progress=progress)


# --------------------------------------------------------------------------- captioning
def load_captioner(model=None):
    """A :class:`vidcap.tasks.caption.Captioner` loaded once (None: the bundled model)."""
    from vidcap.tasks.caption import Captioner

    return Captioner.load(model)


def caption(videos, *, model=None, beam_size: int | None = None, length_penalty: float | None = None,
            errors: str = "raise", engine: str = "local", address: str | None = None,
            progress=None) -> list[results.CaptionResult]:
    """A sentence per video (files, folders, ``.txt`` lists); ``model`` None: the bundled model.
    ``engine="ray"``: on a Ray cluster at ``address`` (inputs may be object-store URIs)."""
    from vidcap.scale.ray import uses_ray

    if uses_ray(engine):
        from vidcap.scale.ray import caption as on_ray

        return on_ray(videos, model=model, beam_size=beam_size, length_penalty=length_penalty, errors=errors,
                      address=address, progress=progress)
    from vidcap.tasks.caption import Captioner

    captioner = model if hasattr(model, "caption_one") else Captioner.load(model)  # also a hub GitCaptioner
    return captioner.caption(videos, beam_size=beam_size, length_penalty=length_penalty, errors=errors,
                             progress=progress)


def score_captions(refs, preds, *, metrics=CAPTION_METRICS, tokenize: str = "ptb", per_video: bool = False) -> dict:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of ``preds`` ({id: caption}) against ``refs`` ({id: [captions]})."""
    from vidcap.metrics.caption import score_captions as run

    return run(refs, preds, metrics=metrics, tokenize=tokenize, per_video=per_video)


def train_caption(corpus, out_dir, *, features=None, videos=None, splits=None, resume: bool = False,
                  threads: int | None = None, progress=None, stop_after: int | None = None, nproc: int = 1,
                  **options) -> results.TrainResult:
    """Train an S2VT captioner; ``options``: :class:`vidcap.config.CaptionTrainConfig` fields;
    ``nproc``: processes (DistributedDataParallel; ``batch_size`` is the global batch)."""
    from vidcap.train.caption import train_caption as run

    return run(corpus, out_dir, features=features, videos=videos, splits=splits, resume=resume, threads=threads,
               progress=progress, stop_after=stop_after, nproc=nproc, **options)


def evaluate_caption(model, corpus, *, features=None, videos=None, splits=None, split: str = "test",
                     beam_size: int | None = None, length_penalty: float | None = None, metrics=CAPTION_METRICS,
                     tokenize: str = "ptb", out_dir=None, cache_dir=None, progress=None) -> results.CaptionEvaluation:
    """Caption one split of a corpus with a model and score it (COCO caption metrics); from ``videos``,
    features are extracted (into ``cache_dir``) only for that split's videos."""
    from vidcap.train.caption import evaluate_caption as run

    return run(model, corpus, features=features, videos=videos, splits=splits, split=split, beam_size=beam_size,
               length_penalty=length_penalty, metrics=metrics, tokenize=tokenize, out_dir=out_dir,
               cache_dir=cache_dir, progress=progress)


# --------------------------------------------------------------------------- classification
def load_classifier(model, *, labels=None):
    """A :class:`vidcap.tasks.classify.VideoClassifier` loaded once: a run folder or checkpoint,
    ``torchvision:NAME`` (``kinetics400``), or a CLIP model (``hf:...``, a folder) with ``labels``."""
    from vidcap.tasks.classify import VideoClassifier

    return VideoClassifier.load(model, labels=labels)


def classify(videos, model, *, window: int | None = None, stride: int | None = None, top_k: int = 5, labels=None,
             output=None, gif=None, errors: str = "raise", progress=None) -> list:
    """Top-k actions per sliding window and per video, optionally an annotated video / GIF; ``model``: a run
    folder, ``torchvision:s3d`` (Kinetics-400), or a CLIP model with ``labels`` ("a,b,c") for zero-shot labels."""
    from vidcap.tasks.classify import classify as run

    return run(videos, model, window=window, stride=stride, top_k=top_k, labels=labels, output=output, gif=gif,
               errors=errors, progress=progress)


def train_classify(dataset, out_dir, *, videos_dir=None, cache_dir=None, resume: bool = False, progress=None,
                   stop_after: int | None = None, workers: int = 0, nproc: int = 1,
                   **options) -> results.TrainResult:
    """Train a video classifier; ``options``: :class:`vidcap.config.ClassifyConfig` fields; ``nproc``: as for
    :func:`train_caption`."""
    from vidcap.data.folders import load_dataset
    from vidcap.train.classify import train_classify as run

    data = load_dataset(dataset, videos_dir=videos_dir) if isinstance(dataset, (str, bytes)) or hasattr(
        dataset, "__fspath__") else dataset
    return run(data, out_dir, cache_dir=cache_dir, resume=resume, progress=progress, stop_after=stop_after,
               workers=workers, nproc=nproc, **options)


def evaluate_classify(model, dataset, *, split: str = "test", videos_dir=None, cache_dir=None, confusion_png=None,
                      progress=None) -> results.ClassifierEvaluation:
    """Accuracy, top-5 accuracy and the confusion matrix of a classifier on one split."""
    from vidcap.data.folders import load_dataset
    from vidcap.train.classify import evaluate_classify as run

    data = load_dataset(dataset, videos_dir=videos_dir) if isinstance(dataset, (str, bytes)) or hasattr(
        dataset, "__fspath__") else dataset
    return run(model, data, split=split, cache_dir=cache_dir, confusion_png=confusion_png, progress=progress)


# --------------------------------------------------------------------------- emotions
def emotions(source, *, output=None, timeline=None, plot=None, detector: str = "haar", model: str = "fer",
             backend: str = "onnx", every: int = 1, smoothing: float = 0.5, margin: float = 0.1,
             forget_after: float = 1.0, min_hits: int | None = None, max_frames: int | None = None, on_frame=None,
             progress=None) -> results.EmotionTimeline:
    """Track every face's emotions through a video (or a webcam index such as 0)."""
    from vidcap.tasks.emotions import analyze

    return analyze(source, output=output, timeline=timeline, plot=plot, detector=detector, model=model,
                   backend=backend, every=every, smoothing=smoothing, margin=margin, forget_after=forget_after,
                   min_hits=min_hits, max_frames=max_frames, on_frame=on_frame, progress=progress)


def train_emotions(csv_path, out_dir="runs/emotions", *, device: str | None = None, resume: bool = False,
                   progress=None, stop_after: int | None = None, **options) -> results.TrainResult:
    """Train the seed's 6-class emotion network; ``options``: :class:`vidcap.config.EmotionTrainConfig` fields."""
    from vidcap.train.emotions import train_emotions as run

    return run(csv_path, out_dir, device=device, resume=resume, progress=progress, stop_after=stop_after, **options)


# --------------------------------------------------------------------------- interpolation
def _interpolation_config(flow, preset, flow_scale, cut_mode, warp):
    from vidcap.models.interpolate import InterpolationConfig

    return InterpolationConfig(flow=flow, preset=preset, flow_scale=flow_scale, cut_mode=cut_mode, warp=warp)


def interpolate(video, out, *, factor: int = 2, mode: str = "slowmo", method: str = "auto", flow: str = "dis",
                preset: str = "medium", flow_scale: float = 0.5, cut_mode: str = "duplicate", warp: str = "cubic",
                crf: float = 18, lossless: bool = False, progress=None) -> results.InterpolationResult:
    """Slow motion (``mode="slowmo"``) or ``factor`` times the frame rate (``"fps"``, audio kept).

    ``method``: ``"rife"``, ``"dis"``, ``"blend"`` or ``"auto"`` (RIFE on a GPU when its weights are installed, else DIS);
    ``lossless``: store the exact RGB frames (libx264rgb / FFV1) instead of 4:2:0 H.264."""
    from vidcap.tasks.interpolate import interpolate_video

    return interpolate_video(video, out, factor, mode, method=method,
                             config=_interpolation_config(flow, preset, flow_scale, cut_mode, warp), crf=crf,
                             lossless=lossless, progress=progress)


def inbetween(first, last, out, *, num_frames: int = 14, fps: float = 8, method: str = "auto", flow: str = "dis",
              preset: str = "medium", flow_scale: float = 0.5, cut_mode: str = "duplicate",
              warp: str = "cubic") -> results.InbetweenResult:
    """The frames between two images, written with them as a GIF, a video or a folder of PNGs
    (``method`` as in :func:`interpolate`)."""
    from vidcap.tasks.interpolate import inbetween_files

    return inbetween_files(first, last, out, num_frames=num_frames, fps=fps, method=method,
                           config=_interpolation_config(flow, preset, flow_scale, cut_mode, warp))


# --------------------------------------------------------------------------- search
def index(inputs, library, *, model=None, caption_model=None, transcripts: bool = True, tags: bool = True,
          ocr: bool = False, clip=None, moments: bool = False, engine: str = "local", address: str | None = None,
          progress=None) -> results.IndexSummary:
    """Add videos to a searchable library (created when missing); each video is processed once.
    ``tags``: each shot's ImageNet object tags; ``ocr``: each shot's on-screen text (``vidcap[ocr]``);
    ``clip``: a CLIP model (``hf:openai/clip-vit-base-patch32``, a local folder) for each shot's CLIP vector;
    ``moments``: the learned vectors of each video's candidate moments (a search answers with the moment).
    ``library``: a folder, or an object-store URI (``s3://bucket/lib``: docs/scale.md).
    ``engine="ray"``: on a Ray cluster at ``address`` (the library on a folder every node reaches, or a URI)."""
    from vidcap.scale.ray import uses_ray
    from vidcap.tasks.search import index as run

    if uses_ray(engine):
        from vidcap.scale.ray import index as run_ray

        return run_ray(inputs, library, model=model, caption_model=caption_model, transcripts=transcripts,
                       tags=tags, ocr=ocr, clip=clip, moments=moments, address=address, progress=progress)
    return run(inputs, library, model=model, caption_model=caption_model, transcripts=transcripts, tags=tags, ocr=ocr,
               clip=clip, moments=moments, progress=progress)


def search(query: str, library, *, k: int = 10, mode: str = "learned", model=None, clip=None,
           sheet=None) -> results.SearchResult:
    """The library's videos ranked for a text query; ``clip``: the CLIP model when the library's has
    moved; ``sheet``: a PNG of the top results' frames."""
    from vidcap.tasks.search import search as run

    return run(query, library, k=k, mode=mode, model=model, clip=clip, sheet=sheet)


def library_list(library) -> list[results.LibraryEntry]:
    """The videos of a library."""
    from vidcap.tasks.library import list_videos

    return list_videos(library)


def library_check(library, *, repair: bool = False) -> results.LibraryCheck:
    """Duplicate rows and vanished files of a library; ``repair`` keeps one row per video."""
    from vidcap.tasks.library import check

    return check(library, repair=repair)


def library_remove(keys, library) -> list[str]:
    """Remove videos (by id, id prefix, name or path); returns the ids removed."""
    from vidcap.tasks.library import remove

    return remove(keys, library)


def train_retrieval(corpus, out_dir, *, features=None, videos=None, splits=None, resume: bool = False, progress=None,
                    stop_after: int | None = None, nproc: int = 1, **options) -> results.TrainResult:
    """Train the joint video-text embedding; ``options``: :class:`vidcap.config.RetrievalTrainConfig` fields;
    ``nproc``: as for :func:`train_caption`."""
    from vidcap.train.retrieval import train_retrieval as run

    return run(corpus, out_dir, features=features, videos=videos, splits=splits, resume=resume, progress=progress,
               stop_after=stop_after, nproc=nproc, **options)


def evaluate_retrieval(corpus, library, *, splits=None, split: str = "test", videos=None, model=None,
                       caption_model=None, clip=None, modes=None, progress=None) -> results.RetrievalEvaluation:
    """Recall@1/5/10 and median rank of every search mode (default: each one the library can
    answer), text->video and video->text."""
    from vidcap.tasks.search import evaluate_retrieval as run

    return run(corpus, library, splits=splits, split=split, videos=videos, model=model, caption_model=caption_model,
               clip=clip, modes=modes, progress=progress)


# --------------------------------------------------------------------------- speech and descriptions
def transcribe(video, *, model=None, language: str | None = "en", beam_size: int = 5,
               progress=None) -> results.Transcript:
    """Speech of the audio track with word timestamps (Whisper, offline)."""
    from vidcap.tasks.speech import transcribe as run

    return run(video, model=model, language=language, beam_size=beam_size, progress=progress)


def subtitles(video, output=None, *, burn=None, model=None, language: str | None = "en", beam_size: int = 5,
              max_chars: int = 42, max_lines: int = 2, min_duration: float = 1.0, max_duration: float = 7.0,
              engine: str = "local", address: str | None = None, progress=None) -> results.Subtitles:
    """Speech subtitles: write ``output`` (.srt/.vtt) and a subtitled copy ``burn``. ``engine="ray"``:
    every video of ``video`` (files, folders, lists) on a Ray cluster, each into ``output/<name>.srt``;
    returns a list then."""
    from vidcap.scale.ray import uses_ray
    from vidcap.tasks.subtitles import subtitles as run

    if uses_ray(engine):
        from vidcap.errors import ConfigError
        from vidcap.scale.ray import per_video

        if burn is not None:
            raise ConfigError("--burn writes one video; use it with --engine local")
        options = {"model": model, "language": language, "beam_size": beam_size, "max_chars": max_chars,
                   "max_lines": max_lines, "min_duration": min_duration, "max_duration": max_duration}
        return per_video("subtitles", video, output, options, suffix=".srt", address=address, progress=progress)
    return run(video, output, burn=burn, model=model, language=language, beam_size=beam_size, max_chars=max_chars,
               max_lines=max_lines, min_duration=min_duration, max_duration=max_duration, progress=progress)


def describe(video, *, window: float = 5.0, shots: bool = True, model=None, speech: bool = True, speech_model=None,
             language: str | None = "en", beam_size: int | None = None, max_chars: int = 42, max_lines: int = 2,
             min_duration: float = 1.0, max_duration: float = 7.0, output=None, boundaries=None,
             engine: str = "local", address: str | None = None, progress=None) -> results.Description:
    """Timed visual captions (one per shot longer than ``window``, else per window; ``shots=False``:
    per window; ``boundaries``: a learned boundary model's run, one per predicted event) merged with
    the speech; ``model``: as for :func:`caption`.
    ``engine="ray"``: every video of ``video`` on a Ray cluster, each into ``output/<name>.json``; returns a list then."""
    from vidcap.scale.ray import uses_ray
    from vidcap.tasks.caption import Captioner
    from vidcap.tasks.subtitles import describe as run

    if uses_ray(engine):
        from vidcap.scale.ray import per_video

        options = {"window": window, "shots": shots, "model": model, "speech": speech, "speech_model": speech_model,
                   "language": language, "beam_size": beam_size, "max_chars": max_chars, "max_lines": max_lines,
                   "min_duration": min_duration, "max_duration": max_duration, "boundaries": boundaries}
        return per_video("describe", video, output, options, suffix=".json", address=address, progress=progress)

    loaded = model if isinstance(model, Captioner) else None
    return run(video, window=window, shots=shots, model=None if loaded else model, captioner=loaded, speech=speech,
               speech_model=speech_model, language=language,
               beam_size=beam_size, max_chars=max_chars, max_lines=max_lines, min_duration=min_duration,
               max_duration=max_duration, output=output, boundaries=boundaries, progress=progress)


def train_boundaries(annotations, videos, out_dir, *, features=None, resume: bool = False, progress=None,
                     stop_after: int | None = None, **options) -> results.TrainResult:
    """Train the event-boundary head (learned pieces for :func:`describe`) on annotated multi-event
    videos; ``features``: the feature store (default ``out_dir/features``); ``options``:
    :class:`vidcap.config.BoundaryTrainConfig` fields."""
    from vidcap.train.boundaries import train_boundaries as run

    return run(annotations, videos, out_dir, features=features, resume=resume, progress=progress,
               stop_after=stop_after, **options)


def evaluate_describe(annotations, videos, *, window: float = 5.0, proposals=None, model=None,
                      beam_size: int | None = None, limit: int | None = None, boundaries=None,
                      progress=None) -> results.DenseCaptionEvaluation:
    """:func:`describe`'s timed captions scored as dense captioning (ActivityNet Captions protocol:
    METEOR at tIoU 0.3/0.5/0.7/0.9, proposal recall) against an ActivityNet Captions or YouCook2 file,
    for shot-based and fixed-window pieces, and learned ones with a ``boundaries`` model (default:
    all of these)."""
    from vidcap.tasks.dense import evaluate_describe as run

    return run(annotations, videos, window=window, proposals=proposals, model=model, beam_size=beam_size,
               boundaries=boundaries,
               limit=limit, progress=progress)


def evaluate_moments(annotations, videos, *, model=None, window: float = 5.0, limit: int | None = None,
                     library=None, progress=None) -> results.MomentEvaluation:
    """Moment retrieval with the learned embedding: each annotated event's sentence ranks its video's
    candidate moments (windows of ``window`` and ``2 * window`` s); R@1/R@5 at tIoU 0.5 / 0.7;
    ``library``: also searched across all the videos (indexed into it with moments)."""
    from vidcap.tasks.moments import evaluate_moments as run

    return run(annotations, videos, model=model, window=window, limit=limit, library=library, progress=progress)


def train_coot(annotations, videos, out_dir, *, features=None, resume: bool = False, progress=None,
               stop_after: int | None = None, **options) -> results.TrainResult:
    """Train COOT (clip/sentence and video/paragraph alignment, cycle consistency) on annotated
    multi-event videos; ``features``: the feature store (default ``out_dir/features``);
    ``options``: :class:`vidcap.config.CootTrainConfig` fields."""
    from vidcap.train.coot import train_coot as run

    return run(annotations, videos, out_dir, features=features, resume=resume, progress=progress,
               stop_after=stop_after, **options)


def evaluate_coot(annotations, videos, *, model, subset: str | None = None, limit: int | None = None, cache=None,
                  progress=None) -> results.CootEvaluation:
    """COOT retrieval at both levels: paragraph<->video and sentence<->clip R@1/5/10 and median rank."""
    from vidcap.tasks.coot import evaluate_coot as run

    return run(annotations, videos, model=model, subset=subset, limit=limit, cache=cache, progress=progress)


# --------------------------------------------------------------------------- shots, object tags, on-screen text
def shots(video, *, detector: str = "adaptive", threshold: float | None = None, min_shot: float = 0.5,
          progress=None) -> results.ShotList:
    """The shots of a video (PySceneDetect's ``adaptive`` or ``content`` detector): frames and seconds."""
    from vidcap.features.shots import detect_shots

    return detect_shots(video, detector=detector, threshold=threshold, min_shot=min_shot, progress=progress)


def tag(videos, *, top_k: int = 5, keyframes: int = 3, detector: str = "adaptive", errors: str = "raise",
        progress=None) -> list:
    """ImageNet object tags of each video, per shot and overall (EfficientNet-Lite0, offline)."""
    from vidcap.tasks.tags import tag as run

    return run(videos, top_k=top_k, keyframes=keyframes, detector=detector, errors=errors, progress=progress)


def ocr(video, *, min_score: float = 0.5, detector: str = "adaptive", progress=None) -> results.OcrResult:
    """The on-screen text of each shot of a video, read on its middle frame (``vidcap[ocr]``)."""
    from vidcap.tasks.ocr import ocr as run

    return run(video, min_score=min_score, detector=detector, progress=progress)
