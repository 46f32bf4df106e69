"""Subtitles from speech, burnt-in subtitles, and timed visual descriptions.

* :func:`make_cues` cuts timed words into cues by the usual conventions: at most
  ``max_chars`` (42) characters a line and ``max_lines`` (2) lines, between
  ``min_duration`` (1 s) and ``max_duration`` (7 s) on screen, a reading speed of
  at most ``max_cps`` characters a second when there is room, and breaks at
  sentence ends, pauses and (when a cue fills up) commas.
* :func:`subtitles` -- the whole path from a video file: transcribe, cut, write,
  optionally :func:`burn` the cues into a copy of the video (audio kept).
* :func:`describe` -- the captioning model on each shot that lasts longer than the
  window (default 5 s) and on consecutive windows elsewhere, repeats merged, merged
  with the speech into one timeline and one SRT where the visual descriptions are in
  square brackets.

The SRT/VTT formats are :mod:`vidcap.io.subtitles`; the results (cues, subtitles,
descriptions) are :mod:`vidcap.results` types.
"""
from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, NoAudioError, SilentAudioError
from vidcap.io import even_indices, iter_frames, probe
from vidcap.io.subtitles import check_subtitle_path, clean_lines
from vidcap.progress import Callback, report
from vidcap.results import Cue, Description, Event, Subtitles, Word
from vidcap.tasks.speech import transcribe

log = logging.getLogger(__name__)

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_END = (",", ";", ":", "，", "；", "：", "—")


# --------------------------------------------------------------------------- cues


def wrap(words: Sequence[str], *, max_chars: int = 42, max_lines: int = 2) -> list[str] | None:
    """Lay ``words`` out on at most ``max_lines`` lines of at most ``max_chars`` characters.

    Lines are balanced (the longest line as short as possible), preferring a break
    after punctuation. Returns None when the words do not fit; a single word longer
    than a line is the only thing allowed to overflow.
    """
    words = list(words)
    if not words:
        return []
    one = " ".join(words)
    if len(one) <= max_chars or len(words) == 1:
        return [one]
    if max_lines < 2:
        return None
    best, best_score = None, None
    for k in range(1, len(words)):
        top = " ".join(words[:k])
        if len(top) > max_chars and k > 1:
            break
        rest = wrap(words[k:], max_chars=max_chars, max_lines=max_lines - 1)
        if rest is None:
            continue
        score = max(len(top), *(len(r) for r in rest)) - (8 if words[k - 1].endswith(CLAUSE_END + SENTENCE_END) else 0)
        if best_score is None or score < best_score:
            best, best_score = [top] + rest, score
    return best


def _check(max_chars, max_lines, min_duration, max_duration):
    if max_chars < 1 or max_lines < 1:
        raise ConfigError(f"max_chars and max_lines must be at least 1, got {max_chars} and {max_lines}")
    if not 0 < min_duration <= max_duration:
        raise ConfigError(f"need 0 < min_duration <= max_duration, got {min_duration} and {max_duration}")


def make_cues(
    words: Iterable[Word],
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = 1.0,
    max_duration: float = 7.0,
    pause: float = 0.6,
    max_cps: float = 20.0,
    gap: float = 0.08,
) -> list[Cue]:
    """Cut timed words into subtitle cues.

    A new cue starts after a sentence end, at a pause of ``pause`` seconds or more,
    and when the next word would not fit in ``max_lines`` x ``max_chars`` or would
    make the cue longer than ``max_duration``; a cue that fills up is cut after its
    last comma when that keeps at least half of it. Cues then get at least
    ``min_duration`` (and ``len / max_cps``) seconds where the next cue, less
    ``gap``, leaves room.
    """
    _check(max_chars, max_lines, min_duration, max_duration)
    words = [w for w in words if w.text.strip()]
    groups: list[list[Word]] = []
    cur: list[Word] = []

    def fits(group: list[Word]) -> bool:
        return (wrap([w.text for w in group], max_chars=max_chars, max_lines=max_lines) is not None
                and group[-1].end - group[0].start <= max_duration)

    for w in words:
        if cur and (w.start - cur[-1].end >= pause or cur[-1].text.endswith(SENTENCE_END)):
            groups.append(cur)
            cur = []
        if cur and not fits(cur + [w]):
            # cut at the last clause end when it keeps at least half of the cue
            cut = max((i + 1 for i, x in enumerate(cur[:-1]) if x.text.endswith(CLAUSE_END)), default=0)
            if cut * 2 >= len(cur):
                groups.append(cur[:cut])
                cur = cur[cut:]
                if not fits(cur + [w]):
                    groups.append(cur)
                    cur = []
            else:
                groups.append(cur)
                cur = []
        cur.append(w)
    if cur:
        groups.append(cur)

    cues = [Cue(g[0].start, g[-1].end, wrap([w.text for w in g], max_chars=max_chars, max_lines=max_lines) or
                [" ".join(w.text for w in g)]) for g in groups]
    return _fit_durations(cues, min_duration=min_duration, max_duration=max_duration, max_cps=max_cps, gap=gap)


def _fit_durations(cues: list[Cue], *, min_duration, max_duration, max_cps, gap) -> list[Cue]:
    for i, c in enumerate(cues):
        want = min(max(min_duration, len(c.text) / max_cps), max_duration)
        limit = cues[i + 1].start - gap if i + 1 < len(cues) else float("inf")
        if c.end - c.start < want:
            c.end = max(c.end, min(c.start + want, limit))
        if i + 1 < len(cues) and c.end > cues[i + 1].start > c.start:  # words that overlap in time
            c.end = cues[i + 1].start
        c.start, c.end = round(c.start, 3), round(c.end, 3)
    return cues


# --------------------------------------------------------------------------- burn


def burn(video, cues: Sequence[Cue], out, *, crf: float = 18, progress: Callback | None = None) -> Path:
    """Render ``cues`` into a copy of ``video`` written to ``out`` (audio copied over).

    Frames are decoded, drawn on (:func:`vidcap.viz.annotate.draw_subtitle`) and
    re-encoded (H.264); the audio track is copied without re-encoding when the
    output container takes its codec, otherwise re-encoded (AAC; Opus for WebM;
    none for GIF). Written atomically; ``out`` may not be ``video``.
    """
    from vidcap.io.audio import mux_audio
    from vidcap.io.files import AtomicFile, check_output
    from vidcap.io.writers import VideoWriter
    from vidcap.viz.annotate import draw_subtitle

    out = check_output(out, video)
    info = probe(video)
    fps = info.real_fps if info.real_fps and abs(info.real_fps - info.avg_fps) < 0.01 * info.avg_fps else info.avg_fps
    ordered = sorted(cues, key=lambda c: c.start)
    keep_audio = info.has_audio and out.suffix.lower() != ".gif"
    silent = AtomicFile(out) if keep_audio else None  # the picture alone, before the sound is added
    try:
        with VideoWriter(silent.tmp if silent else out, fps, crf=crf, threads=0,
                         options={"preset": "veryfast"}) as writer:
            for i, (frame, t) in enumerate(iter_frames(video)):
                active = [c for c in ordered if c.start <= t < c.end][-2:]  # e.g. a description + speech
                if active:
                    active.sort(key=lambda c: c.kind != "visual")  # descriptions above speech
                    frame = draw_subtitle(frame, [ln for c in active for ln in clean_lines(c)])
                writer.write(frame)
                if i % 25 == 0:
                    report(progress, "burn", t, info.duration, unit="s")
        if keep_audio:
            mux_audio(silent.tmp, video, out)
    finally:
        if silent is not None:
            silent.discard()
    return out


_burn = burn  # `subtitles()` takes an argument of the same name


# --------------------------------------------------------------------------- subtitles


def subtitles(
    video,
    output=None,
    *,
    burn: str | Path | None = None,
    model=None,
    language: str | None = "en",
    beam_size: int = 5,
    max_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = 1.0,
    max_duration: float = 7.0,
    progress: Callback | None = None,
) -> Subtitles:
    """Transcribe ``video`` and cut the words into cues; write ``output`` (.srt/.vtt) and
    a subtitled copy ``burn`` when given (neither may be the video itself).

    Raises :class:`~vidcap.errors.NoAudioError` / :class:`~vidcap.errors.SilentAudioError`
    (both :class:`~vidcap.errors.DataError`) when there is nothing to transcribe.
    """
    from vidcap.io.files import check_output

    _check(max_chars, max_lines, min_duration, max_duration)
    if output is not None:
        check_output(check_subtitle_path(output), video)
    if burn is not None:
        from vidcap.io.writers import CONTAINERS

        if Path(burn).suffix.lower() not in CONTAINERS:
            raise ConfigError(f"cannot write the subtitled video {burn}: unknown extension; use one of "
                              f"{', '.join(sorted(CONTAINERS))}")
        check_output(burn, video)
    transcript = transcribe(video, model=model, language=language, beam_size=beam_size, progress=progress)
    cues = make_cues(transcript.words, max_chars=max_chars, max_lines=max_lines,
                     min_duration=min_duration, max_duration=max_duration)
    result = Subtitles(str(video), transcript, cues)
    if output is not None:
        result.outputs["subtitles"] = str(result.save(output))
    if burn is not None:
        result.outputs["video"] = str(_burn(video, cues, burn, progress=progress))
    return result


# --------------------------------------------------------------------------- describe


def segment_starts(shots, window: float) -> list[float]:
    """Where the described pieces start (seconds): each shot that lasts at least ``window``
    is one piece; a run of shorter shots is cut into ``window``-second pieces from its start.
    ``shots``: :class:`vidcap.results.Shot` s in order, covering the video."""
    starts: list[float] = []
    i = 0
    while i < len(shots):
        if shots[i].end - shots[i].start >= window:
            starts.append(shots[i].start)
            i += 1
            continue
        j = i
        while j < len(shots) and shots[j].end - shots[j].start < window:
            j += 1
        t, end = shots[i].start, shots[j - 1].end
        while t < end - 1e-9:
            starts.append(round(t, 3))
            t += window
        i = j
    return starts or [0.0]


def visual_captions(
    video,
    *,
    window: float = 5.0,
    shots: bool = True,
    captioner=None,
    model=None,
    beam_size: int | None = None,
    batch_windows: int = 32,
    boundaries=None,
    progress: Callback | None = None,
) -> list[Event]:
    """Caption ``video`` piece by piece; merge equal neighbours.

    The pieces: each shot that lasts at least ``window`` seconds, and consecutive
    ``window``-second pieces of the runs of shorter shots (:func:`segment_starts`;
    with ``shots=False``, ``window``-second pieces throughout). Frames are streamed;
    each piece's frames (at the backbone's input size) are sampled as the captioning
    model was trained (``num_frames`` evenly spaced, the seed's formula), run through
    its backbone and decoded. ``captioner`` is a :class:`vidcap.tasks.caption.Captioner`
    (default: ``Captioner.load(model)``, the bundled model when ``model`` is None).
    Piece features are captioned in batches of ``batch_windows``. ``boundaries``: a learned
    boundary model (:class:`vidcap.tasks.boundaries.BoundaryModel` or its run folder): one piece
    per predicted event, in place of shots and windows.
    """
    from vidcap.features import get_engine
    from vidcap.tasks.caption import Captioner

    if not window > 0:
        raise ConfigError(f"window must be a positive number of seconds, got {window}")
    cap = captioner if captioner is not None else Captioner.load(model)
    if cap.backbone is None:
        raise ConfigError(f"{cap.path} is a hub captioner that reads whole videos; vidcap describe captions "
                          "pieces from frame features with vidcap's own S2VT models: caption the video with "
                          f"`vidcap caption VIDEO --model {cap.path}` instead")
    engine = get_engine(cap.backbone)
    info = probe(video)
    starts = None
    if boundaries is not None:
        from vidcap.tasks.boundaries import BoundaryModel

        bmodel = boundaries if isinstance(boundaries, BoundaryModel) else BoundaryModel.load(boundaries)
        starts = [0.0, *(t for t in bmodel.boundaries(video) if t > 0)]
    elif shots:
        from vidcap.features.shots import detect_shots

        starts = segment_starts(detect_shots(video, progress=progress).shots, window)
    size = engine.decode_size(info.width, info.height, cap.fit)
    frame_step = 1.0 / info.avg_fps if info.avg_fps else 0.0
    events: list[Event] = []
    pending: list[tuple[float, float, np.ndarray, np.ndarray]] = []  # (start, end, feats (N, D), mask (N,))

    def caption_pending() -> None:
        if not pending:
            return
        feats = np.stack([p[2] for p in pending])  # (B, N, D)
        masks = np.stack([p[3] for p in pending])  # (B, N)
        for (start, end, _, _), (text, score) in zip(pending, cap.caption_features(feats, masks, beam_size=beam_size)):
            if events and events[-1].text == text and abs(events[-1].end - start) < 1e-6 + frame_step:
                events[-1].end = end
                events[-1].score = max(events[-1].score, round(score, 4))
            else:
                events.append(Event(start, end, "visual", text, round(score, 4)))
            log.debug("%.1f-%.1f s: %s", start, end, text)
        pending.clear()

    def flush(k: int, frames: list[np.ndarray], times: list[float], first_index: int) -> None:
        if not frames:
            return
        idx, mask = even_indices(len(frames), cap.num_frames, short=cap.short)
        feats = np.zeros((cap.num_frames, engine.backbone.dim), dtype=np.float32)
        feats[mask] = engine(np.stack([frames[i] for i in idx[mask]]))
        # (N, D [+ motion]) for a flow model; a window's motion is its own (equal windows, equal captions)
        feats = cap.with_motion(video, feats, first_index + idx, mask, within=(first_index, first_index + len(frames)))
        first, last = (k * window, (k + 1) * window) if starts is None else (
            starts[k], starts[k + 1] if k + 1 < len(starts) else float("inf"))
        start, end = round(float(first), 3), round(float(min(times[-1] + frame_step, last)), 3)
        pending.append((start, end, feats, mask))
        if len(pending) >= batch_windows:
            caption_pending()

    current, frames, times, first = 0, [], [], 0
    for n, (frame, t) in enumerate(iter_frames(video, size=size)):
        k = int(t // window) if starts is None else max(0, bisect.bisect_right(starts, t + 1e-6) - 1)
        if k != current:
            flush(current, frames, times, first)
            report(progress, "describe", t, info.duration, unit="s")
            current, frames, times, first = k, [], [], n
        frames.append(engine.preprocess(frame[None], cap.fit)[0])
        times.append(t)
    flush(current, frames, times, first)
    caption_pending()
    return events


def describe(
    video,
    *,
    window: float = 5.0,
    shots: bool = True,
    model=None,
    captioner=None,
    speech: bool = True,
    speech_model=None,
    language: str | None = "en",
    beam_size: int | None = None,
    max_chars: int = 42,
    max_lines: int = 2,
    min_duration: float = 1.0,
    max_duration: float = 7.0,
    output=None,
    boundaries=None,
    progress: Callback | None = None,
) -> Description:
    """Timed visual captions of ``video`` merged with its speech.

    The video is described piece by piece: one caption per shot where shots last at
    least ``window`` seconds, per ``window`` elsewhere (``shots=False``: per window
    throughout; ``boundaries``: a learned boundary model, one piece per predicted event; see
    :func:`visual_captions`). The timeline holds one ``visual`` event
    per run of equal piece captions and one
    ``speech`` event per spoken segment. The cues (for SRT/VTT) are the speech
    subtitles plus each visual description in square brackets, shown from the start
    of its run for at most ``max_duration`` seconds. Without an audio track, with
    silent audio or with ``speech=False`` the output is visual only and
    ``speech_status`` / ``speech_message`` say why. ``output``: ``.srt``/``.vtt`` (the
    cues) or ``.json`` (the timeline) to write.
    """
    from vidcap.io.files import check_output

    _check(max_chars, max_lines, min_duration, max_duration)
    if output is not None:
        if Path(output).suffix.lower() not in (".srt", ".vtt", ".json"):
            raise ConfigError(f"cannot write the description to {output}: use .srt, .vtt or .json")
        check_output(output, video)
    visual = visual_captions(video, window=window, shots=shots, captioner=captioner, model=model,
                             beam_size=beam_size, boundaries=boundaries, progress=progress)
    transcript, status, message = None, "off", "speech recognition was turned off"
    if speech:
        try:
            transcript = transcribe(video, model=speech_model, language=language, progress=progress)
            status, message = ("ok", "") if transcript.segments else ("no_speech", f"no speech was found in {video}")
        except NoAudioError as exc:
            status, message = "no_audio", str(exc)
        except SilentAudioError as exc:
            status, message = "silent", str(exc)
        if message:
            log.warning("%s; the description is visual only", message)
    spoken = [Event(s.start, s.end, "speech", s.text) for s in transcript.segments] if transcript else []
    cues = make_cues(transcript.words, max_chars=max_chars, max_lines=max_lines, min_duration=min_duration,
                     max_duration=max_duration) if transcript else []
    for e in visual:
        cues += _visual_cues(e, max_chars=max_chars, max_lines=max_lines, max_duration=max_duration)
    cues.sort(key=lambda c: (c.start, c.end))
    result = Description(str(video), window, visual, spoken, status, message, transcript, cues)
    if output is not None:
        result.save(output)
    return result


def _visual_cues(e: Event, *, max_chars: int, max_lines: int, max_duration: float) -> list[Cue]:
    """``[description]`` cues for one visual event: longer texts go on consecutive cues."""
    words = f"[{e.text}]".split()
    pages: list[list[str]] = []
    cur: list[str] = []
    for w in words:
        if cur and wrap(cur + [w], max_chars=max_chars, max_lines=max_lines) is None:
            pages.append(cur)
            cur = []
        cur.append(w)
    pages.append(cur)
    shown = min(e.end - e.start, max_duration * len(pages))
    each = shown / len(pages)
    return [Cue(round(e.start + i * each, 3), round(e.start + (i + 1) * each, 3),
                wrap(p, max_chars=max_chars, max_lines=max_lines) or [" ".join(p)], "visual")
            for i, p in enumerate(pages)]
