"""Draw onto video frames (OpenCV) and write annotated videos and GIFs.

Frames are ``(H, W, 3) uint8`` RGB. :func:`draw_label_panel` draws a titled panel of
``(text, value)`` lines with probability bars; :func:`draw_subtitle` draws subtitle
lines bottom-centred; :func:`annotate_video` streams a video through a per-frame
overlay function into a new video (atomic, via :mod:`vidcap.io.writers`) and
optionally a GIF; :func:`annotate_classification` is the overlay for a
:class:`~vidcap.results.ClassificationResult`. Faces and their emotions are drawn by
:mod:`vidcap.viz.faces`.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Sequence

import numpy as np

from vidcap.errors import ConfigError

log = logging.getLogger(__name__)

Line = tuple[str, float | None]


def draw_label_panel(frame: np.ndarray, lines: Sequence[Line], *, title: str | None = None, origin=(6, 6),
                     scale: float | None = None, color=(40, 200, 90), alpha: float = 0.6) -> np.ndarray:
    """Draw a panel of text lines (each with an optional 0..1 bar) onto a copy of ``frame``.

    ``frame``: ``(H, W, 3) uint8`` RGB. Text scales with the frame height unless
    ``scale`` is given. Returns the new frame.
    """
    import cv2

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ConfigError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    out = frame.copy()
    h, w = out.shape[:2]
    scale = scale or max(0.25, min(1.0, h / 480))
    thick = 1 if scale < 0.7 else 2
    font = cv2.FONT_HERSHEY_SIMPLEX
    rows = ([(title, None)] if title else []) + list(lines)
    line_h = int(22 * scale) + 4
    text_w = max((cv2.getTextSize(t, font, scale, thick)[0][0] for t, _ in rows), default=0)
    bar_w = int(60 * scale)
    x0, y0 = origin
    x1 = min(w - 1, x0 + text_w + bar_w + 16)
    y1 = min(h - 1, y0 + line_h * len(rows) + 6)
    overlay = out.copy()
    cv2.rectangle(overlay, (x0, y0), (x1, y1), (0, 0, 0), -1)
    cv2.addWeighted(overlay, alpha, out, 1 - alpha, 0, out)
    for r, (text, value) in enumerate(rows):
        base = y0 + 4 + line_h * (r + 1) - 6
        weight = thick + (1 if title and r == 0 and scale >= 0.5 else 0)
        cv2.putText(out, text, (x0 + 4, base), font, scale, (255, 255, 255), weight, cv2.LINE_AA)
        if value is not None:
            bx = x0 + text_w + 10
            filled = int(round(bar_w * float(np.clip(value, 0, 1))))
            cv2.rectangle(out, (bx, base - int(12 * scale)), (bx + bar_w, base), (90, 90, 90), 1)
            if filled:
                cv2.rectangle(out, (bx, base - int(12 * scale)), (bx + filled, base), color, -1)
    return out


def draw_subtitle(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw ``lines`` bottom-centred, white with a black outline (OpenCV Hershey font), on a copy."""
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
    out = np.ascontiguousarray(frame).copy()
    for ln in lines:
        tw = cv2.getTextSize(ln, font, scale, thick)[0][0]
        x = max(0, (w - tw) // 2)
        cv2.putText(out, ln, (x, y), font, scale, (0, 0, 0), thick + max(2, thick), cv2.LINE_AA)
        cv2.putText(out, ln, (x, y), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
        y += step
    return out


def _gif_frames(frames: Iterable[np.ndarray], every: int, max_width: int):
    import cv2

    for k, frame in enumerate(frames):
        if k % every:
            continue
        h, w = frame.shape[:2]
        if w > max_width:
            frame = cv2.resize(frame, (max_width, max(2, round(h * max_width / w)) // 2 * 2), interpolation=cv2.INTER_AREA)
        yield frame


def annotate_video(src, dst=None, overlay: Callable[[np.ndarray, int, float], np.ndarray] | None = None, *,
                   gif=None, gif_fps: float = 10.0, gif_width: int = 320, crf: float = 20) -> dict:
    """Stream ``src`` through ``overlay(frame, index, seconds) -> frame`` into ``dst`` and/or ``gif``.

    Both outputs are written atomically; neither may be ``src`` itself. The source's
    audio is kept in ``dst``. Returns ``{"video": path, "gif": path, "frames": n}``.
    """
    from vidcap.io import probe
    from vidcap.io.audio import mux_audio
    from vidcap.io.files import AtomicFile, check_output

    if dst is None and gif is None:
        raise ConfigError("annotate_video needs an output: dst and/or gif")
    for out in (dst, gif):
        if out is not None:
            check_output(out, src)
    info = probe(src)
    if dst is None or not info.has_audio:
        return _annotate(src, info, dst, overlay, gif, gif_fps, gif_width, crf)
    silent = AtomicFile(dst)  # the picture alone, beside dst; dst gets the picture with the source's sound
    try:
        result = _annotate(src, info, silent.tmp, overlay, gif, gif_fps, gif_width, crf)
        mux_audio(silent.tmp, src, dst)
    finally:
        silent.discard()
    return {**result, "video": str(dst)}


def _annotate(src, info, dst, overlay, gif, gif_fps, gif_width, crf) -> dict:
    from vidcap.io import iter_frames
    from vidcap.io.writers import VideoWriter

    fps = info.avg_fps or 25.0
    every = max(1, int(round(fps / gif_fps)))
    writers = []
    if dst is not None:
        writers.append((VideoWriter(dst, fps, crf=crf), 1, None))
    if gif is not None:
        writers.append((VideoWriter(gif, fps / every), every, gif_width))
    n = 0
    try:
        for k, (frame, t) in enumerate(iter_frames(src)):
            drawn = overlay(frame, k, t) if overlay is not None else frame
            for writer, step, width in writers:
                if k % step == 0:
                    writer.write(next(_gif_frames([drawn], 1, width)) if width else drawn)
            n += 1
    except BaseException:
        for writer, _, _ in writers:
            writer.abort()
        raise
    for writer, _, _ in writers:
        writer.close()
    return {"video": str(dst) if dst else None, "gif": str(gif) if gif else None, "frames": n}


def annotate_classification(src, result, dst=None, *, gif=None, top_k: int = 3) -> dict:
    """Draw the window covering each frame (top-k labels and probabilities) and the verdict."""

    def overlay(frame, k, t):
        w = result.window_at(t)
        lines = [(f"{lab} {p:.2f}", p) for lab, p in zip(w.labels[:top_k], w.probs[:top_k])] if w else []
        title = f"video: {result.label} {result.prob:.2f}"
        if w is not None:
            title += f"  [{w.start:.1f}-{w.end:.1f}s]"
        return draw_label_panel(frame, lines, title=title)

    return annotate_video(src, dst, overlay, gif=gif)
