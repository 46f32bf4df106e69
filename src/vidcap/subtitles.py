"""Subtitles from speech, burnt-in subtitles, and timed visual descriptions.

* :func:`make_cues` cuts timed words into cues by the usual conventions: at most
  ``max_chars`` (42) characters a line and ``max_lines`` (2) lines, between
  ``min_duration`` (1 s) and ``max_duration`` (7 s) on screen, a reading speed of
  at most ``max_cps`` characters a second when there is room, and breaks at
  sentence ends, pauses and (when a cue fills up) commas.
* :func:`to_srt` / :func:`to_vtt` / :func:`write_subtitles` (atomic).
* :func:`subtitles` -- the whole path from a video file: transcribe, cut, write,
  optionally :func:`burn` the cues into a copy of the video (audio kept).
* :func:`describe` -- the captioning model on consecutive windows (default 5 s),
  repeats merged, merged with the speech into one timeline and one SRT where the
  visual descriptions are in square brackets.
"""
from __future__ import annotations

import heapq
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from vidcap.errors import ConfigError, DecodeError
from vidcap.io import even_indices, iter_frames, probe
from vidcap.io.files import atomic_path
from vidcap.speech import NoAudioError, SilentAudioError, Transcript, Word, transcribe

log = logging.getLogger(__name__)

SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")
CLAUSE_END = (",", ";", ":", "，", "；", "：", "—")
FORMATS = (".srt", ".vtt")


# --------------------------------------------------------------------------- cues


@dataclass
class Cue:
    start: float  # seconds
    end: float
    lines: list[str]
    kind: str = "speech"  # or "visual"

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "kind": self.kind, "lines": list(self.lines)}


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


# --------------------------------------------------------------------------- formats


def format_time(seconds: float, *, sep: str = ",") -> str:
    """``3723.5`` -> ``"01:02:03,500"`` (SRT; ``sep="."`` for WebVTT)."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean_lines(cue: Cue) -> list[str]:
    # a blank line would end the cue early; "-->" would be read as a timing line
    return [ln.replace("-->", "->").strip() for ln in cue.lines if ln.strip()] or ["..."]


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered blocks ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` then the lines."""
    blocks = []
    for i, c in enumerate(sorted(cues, key=lambda c: (c.start, c.end)), 1):
        blocks.append(f"{i}\n{format_time(c.start)} --> {format_time(c.end)}\n" + "\n".join(_clean_lines(c)) + "\n")
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text (``WEBVTT`` header, ``HH:MM:SS.mmm`` times)."""
    blocks = ["WEBVTT\n"]
    for c in sorted(cues, key=lambda c: (c.start, c.end)):
        lines = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in _clean_lines(c)]
        blocks.append(f"{format_time(c.start, sep='.')} --> {format_time(c.end, sep='.')}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def write_subtitles(cues: Sequence[Cue], path) -> Path:
    """Write ``.srt`` or ``.vtt`` (by extension), UTF-8, atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise ConfigError(f"cannot write subtitles to {path}: unknown extension {ext!r}; use .srt or .vtt")
    text = to_srt(cues) if ext == ".srt" else to_vtt(cues)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})[,.](\d{3}) --> (\d{2,}):(\d{2}):(\d{2})[,.](\d{3})")


def read_subtitles(path) -> list[Cue]:
    """Read the cues of an ``.srt`` or ``.vtt`` file written by vidcap (or any plain one)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DecodeError(f"cannot read subtitles {path}: {exc.strerror}") from exc
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for k, line in enumerate(lines):
            m = _TIME.match(line.strip())
            if m:
                g = [int(x) for x in m.groups()]
                start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
                end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
                cues.append(Cue(start, end, [ln for ln in lines[k + 1 :] if ln.strip()]))
                break
    return cues


# --------------------------------------------------------------------------- burn


def _draw(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """Draw ``lines`` bottom-centred, white with a black outline (OpenCV Hershey font)."""
    import cv2

    h, w = frame.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, h / 720 * 1.4)
    thick = max(1, int(round(scale * 2)))
    # shrink until the longest line fits in 94% of the width
    while scale > 0.3:
        widest = max(cv2.getTextSize(ln, font, scale, thick)[0][0] for ln in lines)
        if widest <= 0.94 * w:
            break
        scale *= 0.9
        thick = max(1, int(round(scale * 2)))
    line_h = cv2.getTextSize("Ag", font, scale, thick)[0][1]
    step = int(line_h * 1.6)
    y = h - int(0.06 * h) - step * (len(lines) - 1)
    out = np.ascontiguousarray(frame)
    for ln in lines:
        tw = cv2.getTextSize(ln, font, scale, thick)[0][0]
        x = max(0, (w - tw) // 2)
        cv2.putText(out, ln, (x, y), font, scale, (0, 0, 0), thick + max(2, thick), cv2.LINE_AA)
        cv2.putText(out, ln, (x, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
        y += step
    return out


def burn(video, cues: Sequence[Cue], out, *, crf: float = 18, on_progress: Callable[[float], None] | None = None) -> Path:
    """Render ``cues`` into a copy of ``video`` written to ``out`` (audio copied over).

    Frames are decoded, drawn on with OpenCV and re-encoded (H.264); the audio track
    is copied without re-encoding when the output container takes its codec,
    otherwise re-encoded (AAC; Opus for WebM; none for GIF). Written atomically.
    """
    from vidcap.io.writers import VideoWriter

    out = Path(out)
    info = probe(video)
    fps = info.real_fps if info.real_fps and abs(info.real_fps - info.avg_fps) < 0.01 * info.avg_fps else info.avg_fps
    pix_fmt = None if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
    ordered = sorted(cues, key=lambda c: c.start)
    with atomic_path(out) as tmp_out:
        video_only = tmp_out.with_name(tmp_out.stem + ".video" + out.suffix)
        try:
            with VideoWriter(video_only, fps, crf=crf, pix_fmt=pix_fmt, threads=0, options={"preset": "veryfast"}) as writer:
                for i, (frame, t) in enumerate(iter_frames(video)):
                    active = [c for c in ordered if c.start <= t < c.end][-2:]  # e.g. a description + speech
                    if active:
                        active.sort(key=lambda c: c.kind != "visual")  # descriptions above speech
                        frame = _draw(frame, [ln for c in active for ln in _clean_lines(c)])
                    writer.write(frame)
                    if on_progress is not None and i % 25 == 0:
                        on_progress(t)
            if info.has_audio and out.suffix.lower() != ".gif":
                _mux_audio(video_only, video, tmp_out)
            else:
                video_only.replace(tmp_out)
        finally:
            video_only.unlink(missing_ok=True)
    return out


_burn = burn  # `subtitles()` takes an argument of the same name


def _mux_audio(video_only: Path, source, dst: Path) -> None:
    """``dst`` = the video stream of ``video_only`` + the first audio stream of ``source``."""
    import av

    with av.open(str(video_only)) as vin, av.open(str(source)) as ain:
        vs, as_ = vin.streams.video[0], ain.streams.audio[0]
        try:
            _remux(vin, vs, ain, as_, dst, copy_audio=True)
        except (av.error.FFmpegError, ValueError) as exc:
            log.info("copying the %s audio into %s failed (%s); re-encoding it", as_.codec_context.name, dst, exc)
            vin.seek(0)
            ain.seek(0)
            _remux(vin, vs, ain, as_, dst, copy_audio=False)


def _remux(vin, vs, ain, as_, dst: Path, *, copy_audio: bool) -> None:
    import av

    v_src = ain.streams.video[0] if ain.streams.video else None
    zero = float(v_src.start_time * v_src.time_base) if v_src is not None and v_src.start_time is not None else 0.0
    with av.open(str(dst), "w", format=_format_of(dst)) as out:
        ov = out.add_stream_from_template(vs)
        if copy_audio:
            oa = out.add_stream_from_template(as_)
        else:
            codec = "libopus" if out.format.name == "webm" else "aac"
            oa = out.add_stream(codec, rate=48000 if codec == "libopus" else as_.codec_context.sample_rate or 44100)
            oa.layout = as_.codec_context.layout.name if as_.codec_context.layout else "stereo"

        def when(p) -> float:
            t = p.dts if p.dts is not None else p.pts
            return float(t * p.time_base) if t is not None else 0.0

        def video_packets():
            for p in vin.demux(vs):
                if p.size:  # not the demuxer's empty flush packet
                    yield when(p), 0, p, ov

        def audio_packets():
            if copy_audio:
                offset = None
                for p in ain.demux(as_):
                    if not p.size:
                        continue
                    offset = int(round(zero / p.time_base)) if offset is None else offset
                    p.pts = p.pts - offset if p.pts is not None else None
                    p.dts = p.dts - offset if p.dts is not None else None
                    yield when(p), 1, p, oa
            else:
                for frame in ain.decode(as_):
                    frame.pts = None
                    for p in oa.encode(frame):
                        yield when(p), 1, p, oa
                for p in oa.encode():
                    yield when(p), 1, p, oa

        counter = iter(range(1 << 62))
        merged = heapq.merge(((t, k, next(counter), p, s) for t, k, p, s in video_packets()),
                             ((t, k, next(counter), p, s) for t, k, p, s in audio_packets()))
        for _, _, _, packet, stream in merged:
            packet.stream = stream
            out.mux(packet)
    log.debug("muxed the audio of the source into %s", dst)


def _format_of(path: Path) -> str | None:
    from vidcap.io.writers import CONTAINERS

    entry = CONTAINERS.get(path.suffix.lower())
    return entry[0] if entry else None


# --------------------------------------------------------------------------- subtitles


@dataclass
class Subtitles:
    """Speech subtitles of one video: the transcript and the cues cut from it."""

    path: str
    transcript: Transcript
    cues: list[Cue]

    def to_srt(self) -> str:
        return to_srt(self.cues)

    def to_vtt(self) -> str:
        return to_vtt(self.cues)

    def save(self, path) -> Path:
        return write_subtitles(self.cues, path)

    def to_dict(self) -> dict:
        return {"path": self.path, "cues": [c.to_dict() for c in self.cues], "transcript": self.transcript.to_dict()}


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
    on_progress: Callable[[float], None] | None = None,
) -> Subtitles:
    """Transcribe ``video`` and cut the words into cues; write ``output`` (.srt/.vtt) and
    a subtitled copy ``burn`` when given.

    Raises :class:`~vidcap.speech.NoAudioError` / :class:`~vidcap.speech.SilentAudioError`
    (both :class:`~vidcap.errors.DataError`) when there is nothing to transcribe.
    """
    _check(max_chars, max_lines, min_duration, max_duration)
    if output is not None and Path(output).suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot write subtitles to {output}: unknown extension; use .srt or .vtt")
    if burn is not None:
        from vidcap.io.writers import CONTAINERS

        if Path(burn).suffix.lower() not in CONTAINERS:
            raise ConfigError(f"cannot write the subtitled video {burn}: unknown extension; use one of "
                              f"{', '.join(sorted(CONTAINERS))}")
    transcript = transcribe(video, model=model, language=language, beam_size=beam_size, on_progress=on_progress)
    cues = make_cues(transcript.words, max_chars=max_chars, max_lines=max_lines,
                     min_duration=min_duration, max_duration=max_duration)
    result = Subtitles(str(video), transcript, cues)
    if output is not None:
        result.save(output)
    if burn is not None:
        _burn(video, cues, burn)
    return result


# --------------------------------------------------------------------------- describe


@dataclass
class Event:
    """One entry of a timeline: something said or something seen."""

    start: float
    end: float
    kind: str  # "speech" or "visual"
    text: str
    score: float | None = None  # visual: log-probability of the caption

    def to_dict(self) -> dict:
        d = {"start": self.start, "end": self.end, "kind": self.kind, "text": self.text}
        if self.score is not None:
            d["score"] = self.score
        return d


@dataclass
class Description:
    """Timed visual captions and speech of one video."""

    path: str
    window: float
    visual: list[Event]
    speech: list[Event]
    speech_status: str  # "ok", "no_audio", "silent", "no_speech" or "off"
    speech_message: str = ""
    transcript: Transcript | None = None
    cues: list[Cue] = field(default_factory=list)

    @property
    def timeline(self) -> list[Event]:
        return sorted(self.visual + self.speech, key=lambda e: (e.start, e.kind != "visual"))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "window": self.window,
            "speech_status": self.speech_status,
            "speech_message": self.speech_message,
            "timeline": [e.to_dict() for e in self.timeline],
        }

    def to_srt(self) -> str:
        return to_srt(self.cues)

    def to_vtt(self) -> str:
        return to_vtt(self.cues)

    def save(self, path) -> Path:
        """``.srt`` / ``.vtt`` (cues) or ``.json`` (the timeline), atomically."""
        path = Path(path)
        if path.suffix.lower() == ".json":
            from vidcap.io.files import write_json

            write_json(path, self.to_dict())
            return path
        return write_subtitles(self.cues, path)


def _load_captioner(model):
    from vidcap.train.checkpoint import Captioner

    return Captioner.load(model)


def visual_captions(
    video,
    *,
    window: float = 5.0,
    captioner=None,
    model=None,
    beam_size: int | None = None,
    batch_windows: int = 32,
    on_progress: Callable[[float], None] | None = None,
) -> list[Event]:
    """Caption consecutive ``window``-second pieces of ``video``; merge equal neighbours.

    Frames are streamed; each window's frames (at the backbone's input size) are
    sampled as the captioning model was trained (``num_frames`` evenly spaced, the
    seed's formula), run through its backbone and decoded. ``captioner`` is a
    :class:`vidcap.train.checkpoint.Captioner` (default: ``Captioner.load(model)``,
    the bundled model when ``model`` is None). Window features are captioned in
    batches of ``batch_windows``.
    """
    from vidcap.features import get_engine
    from vidcap.io import short_side_size

    if not window > 0:
        raise ConfigError(f"window must be a positive number of seconds, got {window}")
    cap = captioner if captioner is not None else _load_captioner(model)
    engine = get_engine(cap.backbone)
    info = probe(video)
    size = short_side_size(info.width, info.height, engine.backbone.resize)
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

    def flush(k: int, frames: list[np.ndarray], times: list[float]) -> None:
        if not frames:
            return
        idx, mask = even_indices(len(frames), cap.num_frames, short=cap.short)
        feats = np.zeros((cap.num_frames, engine.backbone.dim), dtype=np.float32)
        feats[mask] = engine(np.stack([frames[i] for i in idx[mask]]))
        start, end = round(float(k * window), 3), round(float(min(times[-1] + frame_step, (k + 1) * window)), 3)
        pending.append((start, end, feats, mask))
        if len(pending) >= batch_windows:
            caption_pending()

    current, frames, times = 0, [], []
    for frame, t in iter_frames(video, size=size):
        k = int(t // window)
        if k != current:
            flush(current, frames, times)
            if on_progress is not None:
                on_progress(t)
            current, frames, times = k, [], []
        frames.append(engine.preprocess(frame[None])[0])
        times.append(t)
    flush(current, frames, times)
    caption_pending()
    return events


def describe(
    video,
    *,
    window: float = 5.0,
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
    on_progress: Callable[[str, float], None] | None = None,
) -> Description:
    """Timed visual captions of ``video`` merged with its speech.

    The timeline holds one ``visual`` event per run of equal window captions and one
    ``speech`` event per spoken segment. The cues (for SRT/VTT) are the speech
    subtitles plus each visual description in square brackets, shown from the start
    of its run for at most ``max_duration`` seconds. Without an audio track, with
    silent audio or with ``speech=False`` the output is visual only and
    ``speech_status`` / ``speech_message`` say why.
    """
    _check(max_chars, max_lines, min_duration, max_duration)
    step = (lambda stage: (lambda t: on_progress(stage, t))) if on_progress else (lambda stage: None)
    visual = visual_captions(video, window=window, captioner=captioner, model=model, beam_size=beam_size,
                             on_progress=step("visual"))
    transcript, status, message = None, "off", "speech recognition was turned off"
    if speech:
        try:
            transcript = transcribe(video, model=speech_model, language=language, on_progress=step("speech"))
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
    return Description(str(video), window, visual, spoken, status, message, transcript, cues)


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
