"""Contact sheets: pictures made of video frames and text (OpenCV text, no matplotlib).

* :func:`world_sheet` -- the generated world: a few frames of each video beside its
  label and captions (:func:`vidcap.data.synthetic.contact_sheet` reads a world and
  calls it);
* :func:`search_sheet` -- search results: each hit's thumbnail strip with its rank,
  score and caption.

Sheets are written with :func:`vidcap.io.images.write_image` (atomic PNG).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vidcap.errors import ConfigError, DataError

BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
GAP = 6            # pixels between cells and around the sheet
LABEL_HEIGHT = 16  # the band under each frame that holds its label
LINE_HEIGHT = 15   # one line of text
FONT_SCALE = 0.4


def world_sheet(frames: Sequence[Sequence[np.ndarray]], captions: Sequence[Sequence[str]], *,
                titles: Sequence[Sequence[str]] | None = None,
                frame_labels: Sequence[Sequence[str]] | None = None, text_width: int = 420) -> np.ndarray:
    """One row per video: its frames, then its title lines and captions (wrapped).

    Args:
        frames: per row, the frames to show, each ``(h, w, 3) uint8`` RGB; rows may
            hold different sizes (e.g. two worlds): every cell is as large as the
            largest frame, smaller frames are scaled up to fit (aspect kept) and centred.
        captions: per row, the captions, drawn in quotes below the title lines.
        titles: per row, lines drawn first (e.g. the video name and its label).
        frame_labels: per row, a label under each frame (e.g. ``"frame 12"``).
        text_width: width of the text column in pixels.

    Returns:
        the sheet, ``(H, W, 3) uint8`` RGB. Frames shown at their own size are copied
        pixel for pixel.
    """
    if not frames or any(len(row) == 0 for row in frames):
        raise ConfigError("a contact sheet needs at least one row, and a frame in every row")
    for what, given in (("captions", captions), ("titles", titles), ("frame_labels", frame_labels)):
        if given is not None and len(given) != len(frames):
            raise ConfigError(f"{len(frames)} rows of frames need {len(frames)} rows of {what}, got {len(given)}")
    cell_h = max(f.shape[0] for row in frames for f in row)
    cell_w = max(f.shape[1] for row in frames for f in row)
    columns = max(len(row) for row in frames)
    texts = [[*(titles[r] if titles else ())] + [f'"{c}"' for c in captions[r]] for r in range(len(frames))]
    texts = [[piece for line in lines for piece in _wrap(line, text_width)] for lines in texts]
    row_h = max(cell_h + LABEL_HEIGHT, max(len(t) for t in texts) * LINE_HEIGHT)
    width = GAP + columns * (cell_w + GAP) + text_width + GAP
    height = GAP + len(frames) * (row_h + GAP)
    sheet = np.full((height, width, 3), BACKGROUND, np.uint8)
    for r, row in enumerate(frames):
        top = GAP + r * (row_h + GAP)
        for k, frame in enumerate(row):
            left = GAP + k * (cell_w + GAP)
            _paste(sheet, _fit(frame, cell_w, cell_h), left, top, cell_w, cell_h)
            if frame_labels is not None:
                _text(sheet, frame_labels[r][k], left, top + cell_h + LABEL_HEIGHT - 4)
        left = GAP + columns * (cell_w + GAP)
        for i, line in enumerate(texts[r]):
            _text(sheet, line, left, top + (i + 1) * LINE_HEIGHT - 4)
    return sheet


def search_sheet(result, path) -> Path:
    """A PNG of a :class:`~vidcap.results.SearchResult`: one row per hit, its thumbnail strip
    (rank and score on it) above its caption, under a header with the query."""
    import cv2

    from vidcap.io.images import decode_jpeg, write_image

    if not result.hits:
        raise DataError(f"no results for {result.query!r} to draw")
    rows = []
    for h in result.hits:
        img = decode_jpeg(h.thumbs)
        if img is None:
            img = np.zeros((96, 96 * 4, 3), np.uint8)
        img = cv2.resize(img, (int(img.shape[1] * 120 / img.shape[0]), 120))
        label = f"#{h.rank}  score {h.score:.3f}"
        cv2.rectangle(img, (0, 0), (8 + 9 * len(label), 22), (0, 0, 0), -1)
        cv2.putText(img, label, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 0, 0), 1, cv2.LINE_AA)
        band = np.full((26, img.shape[1], 3), 30, np.uint8)
        cv2.putText(band, _ascii((h.caption or h.transcript or h.name)[:80]), (6, 18), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45, (235, 235, 235), 1, cv2.LINE_AA)
        rows.append(np.concatenate([img, band], axis=0))
    width = max(r.shape[1] for r in rows)
    header = np.full((30, width, 3), 255, np.uint8)
    cv2.putText(header, _ascii(f'"{result.query}"  ({result.mode})'[:90]), (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                (0, 0, 0), 1, cv2.LINE_AA)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return write_image(path, np.concatenate([header] + rows, axis=0))


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """``frame`` scaled to fit ``width x height`` with its aspect kept (unchanged when it is that size)."""
    import cv2

    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    if scale == 1:
        return frame
    return cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _paste(sheet: np.ndarray, image: np.ndarray, left: int, top: int, width: int, height: int) -> None:
    """Put ``image`` in the middle of the ``width x height`` cell at (left, top)."""
    h, w = image.shape[:2]
    y, x = top + (height - h) // 2, left + (width - w) // 2
    sheet[y:y + h, x:x + w] = image


def _text(sheet: np.ndarray, text: str, left: int, baseline: int) -> None:
    import cv2

    cv2.putText(sheet, _ascii(text), (left, baseline), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, INK, 1, cv2.LINE_AA)


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only; other characters become '?'."""
    return text.encode("ascii", "replace").decode("ascii")


def _wrap(text: str, width: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a longer word keeps its own line)."""
    import cv2

    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        fits = cv2.getTextSize(_ascii(candidate), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)[0][0] <= width
        if lines and fits:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]
