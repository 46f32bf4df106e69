"""Subtitle files: SubRip (``.srt``) and WebVTT (``.vtt``), written atomically and read back.

A :class:`Cue` is one subtitle: ``start``/``end`` (seconds), ``lines`` (strings) and a
``kind`` (``"speech"`` or ``"visual"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vidcap.errors import ConfigError, DecodeError
from vidcap.io.files import check_readable, write_text

FORMATS = (".srt", ".vtt")


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


def format_time(seconds: float, *, sep: str = ",") -> str:
    """``3723.5`` -> ``"01:02:03,500"`` (SRT; ``sep="."`` for WebVTT)."""
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def clean_lines(cue) -> list[str]:
    """A cue's lines as they can be written: no blank line (it would end the cue early),
    no ``-->`` (it would be read as a timing line)."""
    return [ln.replace("-->", "->").strip() for ln in cue.lines if ln.strip()] or ["..."]


def to_srt(cues: Sequence) -> str:
    """SubRip text: numbered blocks ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` then the lines."""
    blocks = []
    for i, c in enumerate(sorted(cues, key=lambda c: (c.start, c.end)), 1):
        blocks.append(f"{i}\n{format_time(c.start)} --> {format_time(c.end)}\n" + "\n".join(clean_lines(c)) + "\n")
    return "\n".join(blocks)


def to_vtt(cues: Sequence) -> str:
    """WebVTT text (``WEBVTT`` header, ``HH:MM:SS.mmm`` times)."""
    blocks = ["WEBVTT\n"]
    for c in sorted(cues, key=lambda c: (c.start, c.end)):
        lines = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for ln in clean_lines(c)]
        blocks.append(f"{format_time(c.start, sep='.')} --> {format_time(c.end, sep='.')}\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def check_subtitle_path(path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot write subtitles to {path}: unknown extension {path.suffix!r}; use .srt or .vtt")
    return path


def write_subtitles(cues: Sequence, path) -> Path:
    """Write ``.srt`` or ``.vtt`` (by extension), UTF-8, atomically."""
    path = check_subtitle_path(path)
    return write_text(path, to_srt(cues) if path.suffix.lower() == ".srt" else to_vtt(cues))


_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})[,.](\d{3}) --> (\d{2,}):(\d{2}):(\d{2})[,.](\d{3})")


def read_subtitles(path) -> list:
    """The cues of an ``.srt`` or ``.vtt`` file."""
    path = check_readable(path, "subtitle file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DecodeError(f"cannot read subtitles {path}: {exc}") from None
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
