"""Draw faces and their emotions: coloured boxes, the seed's probability bar panel."""
from __future__ import annotations

import numpy as np

# One colour per emotion (BGR as OpenCV draws; the seed's palette, plus disgust).
EMOTION_COLORS_BGR = {
    "angry": (0, 0, 255),
    "disgust": (0, 100, 0),
    "fear": (0, 128, 255),
    "scared": (0, 128, 255),
    "happy": (0, 255, 255),
    "sad": (255, 0, 0),
    "surprise": (178, 255, 102),
    "surprised": (178, 255, 102),
    "neutral": (160, 160, 160),
}
FONT = 3  # cv2.FONT_HERSHEY_COMPLEX, as the seed


def draw_faces(bgr: np.ndarray, faces, labels, *, held=()) -> np.ndarray:
    """Boxes coloured by each face's top emotion, with ``#id label`` above them (in place, BGR).

    ``faces`` have ``face_id``, ``box`` (x1, y1, x2, y2) and ``probs``. ``held`` faces
    (tracked, but missed by the detector a moment ago) get a thin box at their last
    position, so a missed frame does not blink in the video.
    """
    import cv2

    for f, thickness in [(f, 2) for f in faces] + [(f, 1) for f in held]:
        name = labels[int(np.argmax(f.probs))]
        color = EMOTION_COLORS_BGR.get(name, (255, 255, 255))
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        cv2.rectangle(bgr, (x1, y1), (x2, y2), color, thickness)
        cv2.putText(bgr, f"#{f.face_id} {name}", (x1, max(y1 - 6, 12)), FONT, 0.45, color, 1, cv2.LINE_AA)
    return bgr


def probability_panel(height: int, width: int, labels, probs: np.ndarray | None, title: str = "") -> np.ndarray:
    """The seed's bar chart (BGR): one coloured bar per emotion, ``name: xx.xx%`` on it."""
    import cv2

    panel = np.zeros((height, width, 3), np.uint8)
    top = 18 if title else 0
    if title:
        cv2.putText(panel, title, (6, 13), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    step = max(min(35, (height - top - 5) // max(len(labels), 1)), 8)
    scale = min(0.45, step / 40)
    for i, name in enumerate(labels):
        p = 0.0 if probs is None else float(probs[i])
        y0 = top + i * step + 3
        cv2.rectangle(panel, (5, y0), (5 + int(p * (width - 10)), y0 + step - 4),
                      EMOTION_COLORS_BGR.get(name, (200, 200, 200)), -1)
        cv2.putText(panel, f"{name}: {p * 100:.2f}%", (10, y0 + int(step * 0.62)), FONT, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def annotate_faces(frame: np.ndarray, faces, labels, *, held=()) -> np.ndarray:
    """RGB frame -> RGB frame with boxes, plus the bar panel of the most confident face beside it."""
    import cv2

    bgr = draw_faces(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), faces, labels, held=held)
    h, w = bgr.shape[:2]
    # the panel shows the most confident face (the seed shows the largest; with
    # several faces a large false detection would otherwise take the panel)
    main = max(faces or held, key=lambda f: (f.score, (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])), default=None)
    title = f"face #{main.face_id}" if main else "no face"
    panel = probability_panel(h, max(w, 240), labels, None if main is None else main.probs, title)
    return cv2.cvtColor(np.hstack([bgr, panel]), cv2.COLOR_BGR2RGB)
