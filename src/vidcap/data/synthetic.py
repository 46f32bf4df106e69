"""A procedural video world: captioned, labelled videos with per-frame ground truth.

No real video dataset can be downloaded on our machines, so vidcap generates one
that goes through the same code paths as MSVD and folder-style action datasets:

* ``videos/<VideoID>_<Start>_<End>.mp4`` -- real H.264 (PyAV), e.g. ``syn00042_0_3.mp4``
* ``video_corpus.csv`` -- MSVD's columns ``VideoID, Start, End, WorkerID, Source,
  AnnotationTime, Language, Description``, 10-20 English captions per video written
  in the styles of different (simulated) annotators, plus a few non-English rows and
  a few empty descriptions, as in the real file
* ``labels.csv`` -- video -> action class (a short identifier such as ``move_left``),
  its human phrase, split and the objects
* ``splits.json`` -- ``{"train", "val", "test", "test_compositional"}`` lists of video
  names; split by video; the colour-shape-action combinations of
  ``test_compositional`` never occur in the other splits
* ``classes/<split>/<label>/<video>.mp4`` -- class-folder layout (symbolic links)
* ``gt/<video>.json`` -- per-frame ground truth: object centre (pixels, the centre of
  the top-left pixel is (0, 0)), radius, angle, opacity, visible fraction, box
* ``hfr/<video>.mkv`` -- with ``high_fps_factor=k``: the same scene rendered at
  ``k * fps``, stored losslessly; its frames ``0, k, 2k, ...`` are the frames of the
  normal video before compression and the others are the true in-between frames
* ``world.json`` -- the parameters, classes and held-out combinations

Everything is a function of ``(seed, video index, parameters)``: the same seed gives
the same bytes, whatever the number of worker processes.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from vidcap.errors import ConfigError, DataError
from vidcap.io.files import atomic_path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CORPUS_COLUMNS = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]
LABEL_COLUMNS = ["video", "label", "phrase", "split", "level", "num_objects", "color", "shape", "size",
                 "partner_color", "partner_shape", "objects", "background"]
SPLITS = ("train", "val", "test", "test_compositional")

# ----------------------------------------------------------------------------------
# The world's vocabulary: colours, shapes, sizes, actions
# ----------------------------------------------------------------------------------
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (245, 215, 40),
    "orange": (250, 135, 20),
    "purple": (135, 50, 185),
    "pink": (250, 125, 195),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOR_WORDS: dict[str, list[str]] = {c: [c] for c in COLORS}
COLOR_WORDS["purple"] = ["purple", "violet"]

# Unit vertices (circumradius 1, y down) of each polygon; the circle is drawn as one.
_STAR = [(0.45 if i % 2 else 1.0) * np.array([math.cos(a), math.sin(a)])
         for i, a in enumerate(np.deg2rad(np.arange(10) * 36 - 90))]
SHAPE_VERTICES: dict[str, np.ndarray | None] = {
    "circle": None,
    "square": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad([45, 135, 225, 315])]),
    "triangle": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad([-90, 30, 150])]),
    "star": np.array(_STAR),
    "diamond": np.array([[0.0, -1.0], [0.62, 0.0], [0.0, 1.0], [-0.62, 0.0]]),
    "hexagon": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad(np.arange(6) * 60)]),
}
SHAPES = list(SHAPE_VERTICES)
SHAPE_WORDS: dict[str, list[str]] = {
    "circle": ["circle", "ball", "disc", "dot"],
    "square": ["square", "box", "block"],
    "triangle": ["triangle"],
    "star": ["star"],
    "diamond": ["diamond", "rhombus"],
    "hexagon": ["hexagon"],
}
SIZES = {"small": 0.07, "medium": 0.10, "large": 0.13}  # circumradius / min(W, H)
SIZE_WORDS = {"small": ["small", "little", "tiny"], "medium": [], "large": ["big", "large"]}


@dataclass(frozen=True)
class Action:
    """One action class: ``name`` is the label, ``phrase`` the human wording."""

    name: str
    phrase: str
    objects: int = 1


ACTIONS: dict[str, Action] = {a.name: a for a in [
    Action("move_left", "moves left"),
    Action("move_right", "moves right"),
    Action("move_up", "moves up"),
    Action("move_down", "moves down"),
    Action("move_diagonal", "moves diagonally"),
    Action("bounce", "bounces"),
    Action("rotate", "rotates"),
    Action("grow", "grows"),
    Action("shrink", "shrinks"),
    Action("fade_in", "fades in"),
    Action("fade_out", "fades out"),
    Action("stay_still", "stays still"),
    Action("approach", "approach each other", 2),
    Action("collide", "collide", 2),
    Action("pass", "pass each other", 2),
    Action("follow", "follows", 2),
]}
CLASSES = list(ACTIONS)
_NO_CIRCLE = {"rotate"}  # a rotating circle looks still

# Single-object verb phrases: (present tense, progressive or None).
VERBS: dict[str, list[tuple[str, str | None]]] = {
    "move_left": [("moves left", "moving left"), ("moves to the left", "moving to the left"),
                  ("goes left", "going left"), ("slides to the left", "sliding to the left"),
                  ("travels leftward", "traveling leftward"), ("moves leftward", "moving leftward"),
                  ("heads left", "heading left"), ("drifts to the left", "drifting to the left")],
    "move_up": [("moves up", "moving up"), ("goes up", "going up"), ("rises", "rising"),
                ("floats upward", "floating upward"), ("moves upward", "moving upward"),
                ("climbs up", "climbing up"), ("slides up", "sliding up")],
    "move_down": [("moves down", "moving down"), ("goes down", "going down"), ("falls", "falling"),
                  ("drops down", "dropping down"), ("sinks", "sinking"), ("moves downward", "moving downward"),
                  ("slides down", "sliding down")],
    "move_diagonal": [("moves diagonally", "moving diagonally"),
                      ("moves diagonally across the screen", "moving diagonally across the screen"),
                      ("slides diagonally", "sliding diagonally"), ("travels diagonally", "traveling diagonally"),
                      ("goes diagonally across the screen", "going diagonally across the screen")],
    "bounce": [("bounces", "bouncing"), ("bounces up and down", "bouncing up and down"), ("hops", "hopping"),
               ("jumps up and down", "jumping up and down"), ("bounces on the ground", "bouncing on the ground")],
    "rotate": [("rotates", "rotating"), ("spins", "spinning"), ("spins around", "spinning around"),
               ("turns around", "turning around"), ("rotates in place", "rotating in place"), ("twirls", "twirling")],
    "grow": [("grows", "growing"), ("gets bigger", "getting bigger"), ("becomes larger", "becoming larger"),
             ("expands", "expanding"), ("grows in size", "growing in size"), ("gets larger", "getting larger")],
    "shrink": [("shrinks", "shrinking"), ("gets smaller", "getting smaller"), ("becomes smaller", "becoming smaller"),
               ("shrinks in size", "shrinking in size"), ("contracts", "contracting")],
    "fade_in": [("fades in", "fading in"), ("appears", "appearing"), ("slowly appears", "slowly appearing"),
                ("becomes visible", "becoming visible"), ("fades into view", "fading into view"),
                ("comes into view", "coming into view")],
    "fade_out": [("fades out", "fading out"), ("disappears", "disappearing"), ("fades away", "fading away"),
                 ("vanishes", "vanishing"), ("slowly disappears", "slowly disappearing"),
                 ("fades from view", "fading from view")],
    "stay_still": [("stays still", "staying still"), ("does not move", None), ("sits still", "sitting still"),
                   ("is not moving", None), ("remains in place", "remaining in place"),
                   ("stands still", "standing still"), ("stays in one place", "staying in one place")],
}
VERBS["move_right"] = [(p.replace("left", "right"), (g or "").replace("left", "right") or None)
                       for p, g in VERBS["move_left"]]
_ROLL = {"move_left": ("rolls to the left", "rolling to the left"),
         "move_right": ("rolls to the right", "rolling to the right")}
# Two-object templates; {a} is the actor (the follower for "follow"), {b} the partner.
PAIR_TEMPLATES: dict[str, list[str]] = {
    "approach": ["{a} and {b} move toward each other", "{a} and {b} approach each other",
                 "{a} and {b} come closer together", "{a} and {b} are moving closer to each other",
                 "{a} and {b} get closer", "{a} approaches {b}"],
    "collide": ["{a} and {b} collide", "{a} crashes into {b}", "{a} and {b} bump into each other",
                "{a} hits {b}", "{a} collides with {b}", "{a} and {b} run into each other"],
    "pass": ["{a} and {b} pass each other", "{a} moves past {b}", "{a} passes {b}",
             "{a} and {b} cross paths", "{a} and {b} go past each other"],
    "follow": ["{a} follows {b}", "{a} is following {b}", "{a} chases {b}", "{a} is chasing {b}",
               "{b} is followed by {a}", "{a} moves behind {b}"],
}
ADVERBS = {"slow": ["slowly"], "fast": ["quickly", "fast"]}
_MOVING = {"move_left", "move_right", "move_up", "move_down", "move_diagonal"}

# A few non-English rows, as in the real MSVD file (gendered adjectives as (m, f)).
FOREIGN = {
    "Spanish": {
        "a": ("un", "una"), "and": "y",
        "colors": {"red": ("rojo", "roja"), "green": ("verde", "verde"), "blue": ("azul", "azul"),
                   "yellow": ("amarillo", "amarilla"), "orange": ("naranja", "naranja"),
                   "purple": ("morado", "morada"), "pink": ("rosa", "rosa"), "white": ("blanco", "blanca"),
                   "black": ("negro", "negra")},
        "shapes": {"circle": ("círculo", 0), "square": ("cuadrado", 0), "triangle": ("triángulo", 0),
                   "star": ("estrella", 1), "diamond": ("rombo", 0), "hexagon": ("hexágono", 0)},
        "verbs": {"move_left": "se mueve hacia la izquierda", "move_right": "se mueve hacia la derecha",
                  "move_up": "sube", "move_down": "baja", "move_diagonal": "se mueve en diagonal",
                  "bounce": "rebota", "rotate": "gira", "grow": "crece", "shrink": "se encoge",
                  "fade_in": "aparece poco a poco", "fade_out": "desaparece", "stay_still": "no se mueve",
                  "approach": "{a} y {b} se acercan", "collide": "{a} y {b} chocan",
                  "pass": "{a} y {b} se cruzan", "follow": "{a} sigue a {b}"},
    },
    "French": {
        "a": ("un", "une"), "and": "et",
        "colors": {"red": ("rouge", "rouge"), "green": ("vert", "verte"), "blue": ("bleu", "bleue"),
                   "yellow": ("jaune", "jaune"), "orange": ("orange", "orange"),
                   "purple": ("violet", "violette"), "pink": ("rose", "rose"), "white": ("blanc", "blanche"),
                   "black": ("noir", "noire")},
        "shapes": {"circle": ("cercle", 0), "square": ("carré", 0), "triangle": ("triangle", 0),
                   "star": ("étoile", 1), "diamond": ("losange", 0), "hexagon": ("hexagone", 0)},
        "verbs": {"move_left": "se déplace vers la gauche", "move_right": "se déplace vers la droite",
                  "move_up": "monte", "move_down": "descend", "move_diagonal": "se déplace en diagonale",
                  "bounce": "rebondit", "rotate": "tourne", "grow": "grandit", "shrink": "rétrécit",
                  "fade_in": "apparaît", "fade_out": "disparaît", "stay_still": "ne bouge pas",
                  "approach": "{a} et {b} se rapprochent", "collide": "{a} et {b} se heurtent",
                  "pass": "{a} et {b} se croisent", "follow": "{a} suit {b}"},
    },
}

# ----------------------------------------------------------------------------------
# Levels and backgrounds
# ----------------------------------------------------------------------------------
FLAT_BACKGROUNDS = {"grey": (128, 128, 128), "light": (200, 200, 195), "dark": (55, 55, 60),
                    "white": (250, 250, 250), "black": (12, 12, 12), "beige": (225, 210, 180)}
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
          "brick", "grass", "gravel", "camera"]


@dataclass(frozen=True)
class Level:
    backgrounds: tuple[tuple[str, float], ...]
    distractors: tuple[int, int]
    camera: bool
    occluder: float          # probability of an occluding pillar
    noise: float             # sensor noise sigma (0-255 scale)
    sizes: tuple[str, ...]
    photo_dim: float         # photo backgrounds are blended this much towards grey


LEVELS: dict[str, Level] = {
    "easy": Level((("flat", 0.7), ("gradient", 0.3)), (0, 0), False, 0.0, 0.0, ("medium", "large"), 0.0),
    "medium": Level((("flat", 0.2), ("gradient", 0.2), ("texture", 0.25), ("photo", 0.35)), (0, 1), False,
                    0.0, 3.0, ("small", "medium", "large"), 0.35),
    "hard": Level((("gradient", 0.15), ("texture", 0.25), ("photo", 0.6)), (1, 2), True,
                  0.4, 6.0, ("small", "medium", "large"), 0.15),
}


def video_name(index: int, seconds: float, start: int = 0) -> str:
    """MSVD-style name ``<VideoID>_<Start>_<End>``, e.g. ``syn00042_0_3``.

    Start and End are whole seconds as in MSVD (a 2.5 s clip is ``..._0_3``).
    """
    return f"syn{index:05d}_{start}_{start + math.ceil(seconds)}"


# ----------------------------------------------------------------------------------
# Planning one video: attributes, trajectories, captions (pure, no I/O)
# ----------------------------------------------------------------------------------
@dataclass
class _Obj:
    role: str                 # actor, partner, distractor, occluder
    shape: str
    color: str
    size: str
    rgb: tuple[int, int, int]
    x: np.ndarray             # (M,) world x of the centre, per dense frame
    y: np.ndarray
    r: np.ndarray             # circumradius in world pixels
    angle: np.ndarray         # degrees
    opacity: np.ndarray       # [0, 1]


@dataclass
class _Plan:
    index: int
    name: str
    split: str
    label: str
    speed: str
    background: dict
    objects: list[_Obj]
    camera: np.ndarray        # (M, 3): cx, cy, scale
    noise: float
    bg_world: np.ndarray = field(repr=False)  # (Hc, Wc, 3) float32 canvas
    pad: tuple[int, int] = (0, 0)              # world (0, 0) is canvas (px, py)
    noise_bank: np.ndarray | None = field(default=None, repr=False)


def _const(value: float, m: int) -> np.ndarray:
    return np.full(m, float(value))


def _lin(a: float, b: float, u: np.ndarray) -> np.ndarray:
    return a + (b - a) * u


def _other_colors(rng: np.random.Generator, exclude: Sequence[str], k: int) -> list[str]:
    names = [c for c in COLORS if c not in exclude]
    return [names[i] for i in rng.choice(len(names), size=k, replace=False)]


def _min_dist(rgb: Sequence[float], palette: Sequence[Sequence[float]]) -> float:
    return float(min(np.linalg.norm(np.subtract(rgb, p)) for p in palette))


def _pick_background(rng, level: Level, colors: list[tuple[int, int, int]], w: int, h: int,
                     pad: tuple[int, int]) -> tuple[dict, np.ndarray]:
    """Return (description, canvas (h + 2 py, w + 2 px, 3) float32)."""
    kinds, weights = zip(*level.backgrounds)
    kind = kinds[rng.choice(len(kinds), p=np.array(weights) / sum(weights))]
    px, py = pad
    hc, wc = h + 2 * py, w + 2 * px
    if kind == "flat":
        ok = [n for n, c in FLAT_BACKGROUNDS.items() if _min_dist(c, colors) > 110]
        name = ok[rng.integers(len(ok))] if ok else "grey"
        rgb = FLAT_BACKGROUNDS[name]
        return {"kind": "flat", "name": name, "rgb": list(rgb)}, np.full((hc, wc, 3), rgb, np.float32)
    if kind in ("gradient", "texture"):
        for _ in range(50):
            c1, c2 = rng.integers(20, 236, size=(2, 3))
            if kind == "texture":  # muted, so the objects stand out
                c1, c2 = (128 + (c - 128) * 0.6 for c in (c1, c2))
            samples = [c1 + (c2 - c1) * t for t in np.linspace(0, 1, 5)]
            if all(_min_dist(c, colors) > 100 for c in samples):
                break
        c1, c2 = c1.astype(np.float32), c2.astype(np.float32)
        if kind == "gradient":
            theta = rng.uniform(0, 2 * np.pi)
            yy, xx = np.mgrid[0:hc, 0:wc].astype(np.float32)
            t = (xx - wc / 2) * math.cos(theta) + (yy - hc / 2) * math.sin(theta)
            t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
            canvas = c1 + (c2 - c1) * t[..., None]
            return {"kind": "gradient", "name": "gradient", "rgb": [c1.tolist(), c2.tolist()]}, canvas
        import cv2

        coarse = rng.random((int(rng.integers(3, 8)), int(rng.integers(4, 10)), 1)).astype(np.float32)
        t = cv2.resize(coarse, (wc, hc), interpolation=cv2.INTER_CUBIC)[..., None]
        fine = cv2.resize(rng.random((hc // 2 + 1, wc // 2 + 1)).astype(np.float32), (wc, hc))[..., None]
        canvas = c1 + (c2 - c1) * np.clip(t, 0, 1) + 40 * (fine - 0.5)
        return {"kind": "texture", "name": "texture", "rgb": [c1.tolist(), c2.tolist()]}, np.clip(canvas, 0, 255)
    name = PHOTOS[rng.integers(len(PHOTOS))]
    photo = _photo(name)
    ph, pw = photo.shape[:2]
    scale = max(wc / pw, hc / ph) * rng.uniform(1.0, 1.6)
    import cv2

    big = cv2.resize(photo, (max(wc, round(pw * scale)), max(hc, round(ph * scale))), interpolation=cv2.INTER_AREA)
    oy = int(rng.integers(0, big.shape[0] - hc + 1))
    ox = int(rng.integers(0, big.shape[1] - wc + 1))
    canvas = big[oy:oy + hc, ox:ox + wc].astype(np.float32)
    if level.photo_dim:
        canvas = canvas * (1 - level.photo_dim) + 128 * level.photo_dim
    return {"kind": "photo", "name": name}, canvas


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """A photo bundled with scikit-image as (H, W, 3) uint8 RGB."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _trajectory(action: str, rng, u: np.ndarray, w: int, h: int, r: float, speed: str):
    """World trajectory of a single acting object: x, y, r, angle, opacity arrays."""
    m = len(u)
    frac = {"slow": 0.3, "normal": 0.45, "fast": 0.6}[speed]
    margin = r + 2
    angle = _const(rng.uniform(0, 360), m)
    radius = _const(r, m)
    opacity = _const(1.0, m)

    def span(length: float, d: float) -> tuple[float, float]:
        d = min(d, length - 2 * margin)
        start = rng.uniform(margin + d, length - margin)
        return start, start - d

    if action in ("move_left", "move_right"):
        a, b = span(w, frac * w)
        x = _lin(a, b, u) if action == "move_left" else _lin(w - a, w - b, u)
        y = _const(rng.uniform(margin, h - margin), m)
    elif action in ("move_up", "move_down"):
        a, b = span(h, frac * 1.3 * h)
        y = _lin(a, b, u) if action == "move_up" else _lin(h - a, h - b, u)
        x = _const(rng.uniform(margin, w - margin), m)
    elif action == "move_diagonal":
        dx, dy = span(w, frac * w), span(h, frac * 1.3 * h)
        sx, sy = rng.choice([-1, 1], size=2)
        x = _lin(*dx, u) if sx < 0 else _lin(w - dx[0], w - dx[1], u)
        y = _lin(*dy, u) if sy < 0 else _lin(h - dy[0], h - dy[1], u)
    elif action == "bounce":
        floor = h - margin - rng.uniform(0, 0.1 * h)
        height = rng.uniform(0.35, 0.55) * h
        bounces = rng.integers(2, 4)
        y = floor - height * np.abs(np.sin(np.pi * bounces * u))
        x0 = rng.uniform(margin + 0.1 * w, w - margin - 0.1 * w)
        x = _lin(x0, x0 + rng.uniform(-0.1, 0.1) * w, u)
    elif action in ("rotate", "grow", "shrink", "fade_in", "fade_out", "stay_still"):
        big = 1.4 * r if action in ("grow", "shrink") else r
        x = _const(rng.uniform(big + 2, w - big - 2), m)
        y = _const(rng.uniform(big + 2, h - big - 2), m)
        if action == "rotate":
            turns = rng.uniform(0.5, 1.25) * rng.choice([-1, 1])
            angle = angle + 360 * turns * u
        elif action == "grow":
            radius = r * _lin(0.45, 1.4, u)
        elif action == "shrink":
            radius = r * _lin(1.4, 0.45, u)
        elif action == "fade_in":
            u0, u1 = rng.uniform(0, 0.2), rng.uniform(0.6, 0.9)
            opacity = np.clip((u - u0) / (u1 - u0), 0, 1)
        elif action == "fade_out":
            u0, u1 = rng.uniform(0.1, 0.4), rng.uniform(0.8, 1.0)
            opacity = 1 - np.clip((u - u0) / (u1 - u0), 0, 1)
    else:  # pragma: no cover - guarded by the caller
        raise ConfigError(f"unknown single-object action {action!r}")
    return x, y, radius, angle, opacity


def _pair_trajectories(action: str, rng, u: np.ndarray, w: int, h: int, ra: float, rb: float, speed: str):
    """(x, y) arrays of the actor and the partner for a two-object action."""
    m = len(u)
    side = rng.choice([-1, 1])  # -1: the actor starts on the left
    if action in ("approach", "collide", "pass"):
        yc = rng.uniform(max(ra, rb) + 4, h - max(ra, rb) - 4)
        xm = rng.uniform(0.4, 0.6) * w
        # the actor starts at the left edge when side < 0, else at the right edge
        start_a = ra + 3 if side < 0 else w - ra - 3
        start_b = w - rb - 3 if side < 0 else rb + 3
        if action == "approach":
            gap = ra + rb + rng.uniform(0.12, 0.2) * w
            end_a, end_b = xm + side * gap / 2, xm - side * gap / 2
            xa, xb = _lin(start_a, end_a, u), _lin(start_b, end_b, u)
            ya, yb = _const(yc, m), _const(yc + rng.uniform(-0.2, 0.2) * min(ra, rb), m)
        elif action == "collide":
            uc = rng.uniform(0.45, 0.6)
            touch = (ra + rb) * 0.98
            ca, cb = xm + side * touch / 2, xm - side * touch / 2
            back = rng.uniform(0.3, 0.6)
            before = u <= uc
            t1, t2 = u / uc, (u - uc) / (1 - uc)
            xa = np.where(before, start_a + (ca - start_a) * t1, ca + (start_a - ca) * back * t2)
            xb = np.where(before, start_b + (cb - start_b) * t1, cb + (start_b - cb) * back * t2)
            ya = yb = _const(yc, m)
        else:  # pass
            xa, xb = _lin(start_a, w - start_a, u), _lin(start_b, w - start_b, u)  # they cross mid-way
            dy = rng.uniform(0.5, 1.3) * (ra + rb) * rng.choice([-1, 1])
            lo, hi = max(ra, rb) + 3, h - max(ra, rb) - 3
            ya_val = float(np.clip(yc - dy / 2, lo, hi))
            ya, yb = _const(ya_val, m), _const(float(np.clip(ya_val + dy, lo, hi)), m)
        return (xa, ya), (xb, yb)
    if action == "follow":
        direction = rng.integers(4)  # left, right, up, down
        horizontal = direction < 2
        length, cross = (w, h) if horizontal else (h, w)
        gap = ra + rb + rng.uniform(0.05, 0.12) * length
        room = length - ra - rb - 6 - gap  # leader and follower stay inside the frame
        travel = min({"slow": 0.3, "normal": 0.4, "fast": 0.5}[speed] * length, room)
        slack = rng.uniform(0, room - travel)
        sign = -1 if direction in (0, 2) else 1
        # positions along the motion axis, measured from the side the pair moves away from
        back0 = ra + 3 + slack  # the follower's start, counted from the trailing edge
        foll = _lin(back0, back0 + travel, u)
        lead = foll + gap
        if sign < 0:
            foll, lead = length - foll, length - lead
        c = rng.uniform(max(ra, rb) + 3, cross - max(ra, rb) - 3)
        cross_b = _const(c, m)
        cross_a = _const(float(np.clip(c + rng.uniform(-0.3, 0.3) * ra, ra + 2, cross - ra - 2)), m)
        if horizontal:
            return (foll, cross_a), (lead, cross_b)
        return (cross_a, foll), (cross_b, lead)
    raise ConfigError(f"unknown two-object action {action!r}")  # pragma: no cover


def _plan(index: int, split: str, label: str, name: str, ctx: dict) -> _Plan:
    """Everything about video ``index`` except its pixels and captions."""
    seed, level = ctx["seed"], LEVELS[ctx["level"]]
    w, h = ctx["size"]
    rng = np.random.default_rng([seed, index, 11])
    action = ACTIONS[label]
    m = ctx["dense_frames"]
    # normalised time; (j / k) / (n - 1) makes frame i*k of the dense grid exactly
    # frame i of the normal one, so the normal video does not depend on the factor
    u = (np.arange(m) / ctx["factor"]) / max(ctx["num_frames"] - 1, 1)
    heldout = {tuple(t) for t in ctx["heldout"]}

    def pick_pair(exclude_colors: Sequence[str] = ()) -> tuple[str, str]:
        if split == "test_compositional" and not exclude_colors:
            options = [t for t in ctx["heldout"] if t[2] == label]
            c, s, _ = options[rng.integers(len(options))]
            return c, s
        while True:
            c = list(COLORS)[rng.integers(len(COLORS))]
            s = SHAPES[rng.integers(len(SHAPES))]
            if c in exclude_colors or (label in _NO_CIRCLE and s == "circle") or (c, s, label) in heldout:
                continue
            return c, s

    speed = ["slow", "normal", "fast"][rng.choice(3, p=[0.25, 0.5, 0.25])]
    unit = min(w, h)
    color_a, shape_a = pick_pair()
    size_a = level.sizes[rng.integers(len(level.sizes))]
    ra = SIZES[size_a] * unit
    objects: list[_Obj] = []
    if action.objects == 1:
        x, y, r, ang, op = _trajectory(label, rng, u, w, h, ra, speed)
        objects.append(_Obj("actor", shape_a, color_a, size_a, COLORS[color_a], x, y, r, ang, op))
    else:
        color_b, shape_b = pick_pair(exclude_colors=[color_a])
        size_b = level.sizes[rng.integers(len(level.sizes))]
        rb = SIZES[size_b] * unit
        (xa, ya), (xb, yb) = _pair_trajectories(label, rng, u, w, h, ra, rb, speed)
        for role, c, s, sz, rr, x, y in (("actor", color_a, shape_a, size_a, ra, xa, ya),
                                         ("partner", color_b, shape_b, size_b, rb, xb, yb)):
            objects.append(_Obj(role, s, c, sz, COLORS[c], x, y, _const(rr, m),
                                _const(rng.uniform(0, 360), m), _const(1.0, m)))

    # Distractors: still, in other colours and shapes, usually behind the actors.
    used_colors = [o.color for o in objects]
    n_distract = int(rng.integers(level.distractors[0], level.distractors[1] + 1))
    for c in _other_colors(rng, used_colors, n_distract):
        shapes = [s for s in SHAPES if s not in {o.shape for o in objects}]
        s = shapes[rng.integers(len(shapes))]
        rr = SIZES["small" if rng.random() < 0.6 else "medium"] * unit
        d = _Obj("distractor", s, c, "small" if rr < SIZES["medium"] * unit else "medium", COLORS[c],
                 _const(rng.uniform(rr + 2, w - rr - 2), m), _const(rng.uniform(rr + 2, h - rr - 2), m),
                 _const(rr, m), _const(rng.uniform(0, 360), m), _const(1.0, m))
        objects.insert(0 if rng.random() < 0.8 else len(objects), d)
    if rng.random() < level.occluder:
        pw = rng.uniform(0.06, 0.1) * w
        gray = int(rng.integers(60, 200))
        objects.append(_Obj("occluder", "pillar", "grey", "large", (gray, gray - 10, gray - 25),
                            _const(rng.uniform(0.25, 0.75) * w, m), _const(h / 2, m),
                            _const(pw / 2, m), _const(0.0, m), _const(1.0, m)))

    # Camera: centre (world px) and zoom per dense frame.
    if level.camera:
        pan = rng.uniform(-0.12, 0.12, size=2) * (w, h)
        zoom = rng.uniform(-0.1, 0.2)
        camera = np.stack([w / 2 + pan[0] * u, h / 2 + pan[1] * u, 1 + zoom * u], axis=1)
        pad = (int(0.3 * w) + 2, int(0.3 * h) + 2)
    else:
        camera = np.tile([w / 2, h / 2, 1.0], (m, 1))
        pad = (0, 0)
    colors = [o.rgb for o in objects if o.role in ("actor", "partner")]
    background, canvas = _pick_background(rng, level, colors, w, h, pad)
    return _Plan(index, name, split, label, speed, background, objects, camera,
                 level.noise, canvas, pad)


# ----------------------------------------------------------------------------------
# Rendering (vectorised per object patch; OpenCV anti-aliasing)
# ----------------------------------------------------------------------------------
def _object_mask(obj_shape: str, x: float, y: float, r: float, angle: float, height: int):
    """Anti-aliased coverage of one object on its own patch.

    Returns ``(mask (h, w) float32 [0, 1], x0, y0, bbox)``: the patch's top-left pixel
    in the frame and the object's tight box ``[x0, y0, x1, y1]`` in frame pixels.
    """
    import cv2

    if obj_shape == "pillar":  # a full-height bar of half-width r
        x0, y0 = math.floor(x - r) - 2, 0
        mask = np.zeros((height, int(math.ceil(2 * r)) + 5), np.uint8)
        pts = np.array([[x - r - x0, -1], [x + r - x0, -1], [x + r - x0, height], [x - r - x0, height]])
        cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        return mask.astype(np.float32) * (1 / 255), x0, y0, [x - r, 0.0, x + r, float(height)]
    x0, y0 = math.floor(x - r) - 2, math.floor(y - r) - 2
    size = int(math.ceil(2 * r)) + 5
    mask = np.zeros((size, size), np.uint8)
    verts = SHAPE_VERTICES[obj_shape]
    if verts is None:
        cv2.circle(mask, (round((x - x0) * 16), round((y - y0) * 16)), round(r * 16), 255, -1, cv2.LINE_AA, shift=4)
        bbox = [x - r, y - r, x + r, y + r]
    else:
        t = math.radians(angle)
        c, s = math.cos(t), math.sin(t)
        pts = verts @ np.array([[c, s], [-s, c]]) * r + (x, y)  # rotate, scale, place
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        bbox = [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
        cv2.fillPoly(mask, [np.round((pts - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) * (1 / 255), x0, y0, bbox


def _image_tracks(plan: _Plan, ctx: dict) -> list[list[tuple[float, ...]]]:
    """Per object, per dense frame: (x, y, radius, angle, opacity) in image pixels."""
    w, h = ctx["size"]
    cx, cy, s = plan.camera.T
    tracks = []
    for obj in plan.objects:
        x = s * (obj.x - cx) + w / 2
        y = np.full_like(x, h / 2) if obj.shape == "pillar" else s * (obj.y - cy) + h / 2
        tracks.append(list(zip(x.tolist(), y.tolist(), (s * obj.r).tolist(), (obj.angle % 360).tolist(),
                               obj.opacity.tolist())))
    return tracks


_NOISE_BANK, _NOISE_MARGIN = 8, 16


def _noise(plan: _Plan, j: int, ctx: dict) -> np.ndarray:
    """Sensor noise of dense frame ``j``: a shifted crop of a per-video bank of
    Gaussian fields (drawing a fresh field per frame costs more than the render).
    Keyed by (frame, in-between step), so the normal video's frames are the same
    with or without ``high_fps_factor``."""
    w, h = ctx["size"]
    if plan.noise_bank is None:
        rng = np.random.default_rng([ctx["seed"], plan.index, 29])
        shape = (_NOISE_BANK, h + _NOISE_MARGIN, w + _NOISE_MARGIN, 3)
        plan.noise_bank = rng.standard_normal(shape, dtype=np.float32) * np.float32(plan.noise)
    i, step = divmod(j, ctx["factor"])
    pick = np.random.default_rng([ctx["seed"], plan.index, 31, i, step, ctx["factor"] if step else 0])
    b, oy, ox = pick.integers([_NOISE_BANK, _NOISE_MARGIN, _NOISE_MARGIN])
    return plan.noise_bank[b, oy:oy + h, ox:ox + w]


def _render(plan: _Plan, tracks, j: int, ctx: dict) -> tuple[np.ndarray, list[dict]]:
    """Dense frame ``j``: ((H, W, 3) uint8 RGB, ground truth of each object)."""
    import cv2

    w, h = ctx["size"]
    if ctx["camera"]:
        cx, cy, s = plan.camera[j].tolist()
        px, py = plan.pad
        mat = np.array([[s, 0, s * (-px - cx) + w / 2], [0, s, s * (-py - cy) + h / 2]], np.float32)
        frame = cv2.warpAffine(plan.bg_world, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    else:
        frame = plan.bg_world.copy()
    drawn = []
    for k, obj in enumerate(plan.objects):
        x, y, r, angle, alpha = tracks[k][j]
        mask, x0, y0, bbox = _object_mask(obj.shape, x, y, r, angle, h)
        ph, pw = mask.shape
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
        inside = mask[ya - y0:yb - y0, xa - x0:xb - x0] if xb > xa and yb > ya else None
        if inside is not None and alpha > 0:
            sub = frame[ya:yb, xa:xb]
            sub += (np.asarray(obj.rgb, np.float32) - sub) * (inside[..., None] * alpha)
        drawn.append((k, inside, (ya, yb, xa, xb), float(mask.sum()), bbox))
    # Visible fraction: the object's coverage hidden neither by objects in front nor
    # by the frame border (fading does not count; see "opacity").
    transmit = np.ones((h, w), np.float32) if len(drawn) > 1 else None
    truth: list[dict] = [{}] * len(drawn)
    for k, inside, (ya, yb, xa, xb), total, bbox in reversed(drawn):
        x, y, r, angle, alpha = tracks[k][j]
        visible = 0.0
        if inside is not None:
            if transmit is None:
                visible = float(inside.sum()) / max(total, 1e-6)
            else:
                visible = float((inside * transmit[ya:yb, xa:xb]).sum()) / max(total, 1e-6)
                transmit[ya:yb, xa:xb] *= 1 - inside * alpha
        visible = min(visible, 1.0)
        truth[k] = {"id": k, "x": round(x, 3), "y": round(y, 3), "radius": round(r, 3), "angle": round(angle, 2),
                    "opacity": round(alpha, 4), "visible_fraction": round(visible, 4),
                    "visible": visible >= 0.05 and alpha >= 0.05, "bbox": [round(v, 2) for v in bbox]}
    if plan.noise > 0:
        frame += _noise(plan, j, ctx)
    np.clip(frame, 0, 255, out=frame)
    return np.rint(frame, out=frame).astype(np.uint8), truth


# ----------------------------------------------------------------------------------
# Captions in the styles of different annotators
# ----------------------------------------------------------------------------------
def _make_workers(seed: int, n: int = 60) -> list[dict]:
    """A pool of simulated annotators, each with a consistent writing style."""
    rng = np.random.default_rng([seed, 5])
    ids = rng.choice(90000, size=n, replace=False) + 10000
    workers = []
    for i in range(n):
        workers.append({
            "id": int(ids[i]),
            "the": float(rng.uniform(0.05, 0.6)),
            "bare": float(rng.uniform(0.0, 0.12)),      # drops the article
            "size": float(rng.uniform(0.15, 0.8)),
            "progressive": float(rng.uniform(0.1, 0.6)),
            "there": float(rng.uniform(0.0, 0.25)),
            "prefix": float(rng.uniform(0.0, 0.2)),     # "the video shows ..."
            "adverb": float(rng.uniform(0.1, 0.6)),
            "synonym": float(rng.uniform(0.2, 0.8)),
            "background": float(rng.uniform(0.0, 0.25)),
            "postcolor": float(rng.uniform(0.0, 0.1)),  # "a ball colored red"
            "capital": bool(rng.random() < 0.5),
            "period": bool(rng.random() < 0.4),
        })
    return workers


def _noun_phrase(rng, st: dict, color: str, shape: str, size: str, *, definite=None, with_size=True) -> str:
    words_c = COLOR_WORDS[color]
    cw = words_c[0] if rng.random() > st["synonym"] * 0.5 else words_c[rng.integers(len(words_c))]
    sw_all = SHAPE_WORDS[shape]
    sw = sw_all[0] if rng.random() > st["synonym"] else sw_all[rng.integers(len(sw_all))]
    adjs = []
    if with_size and SIZE_WORDS[size] and rng.random() < st["size"]:
        adjs.append(SIZE_WORDS[size][rng.integers(len(SIZE_WORDS[size]))])
    if rng.random() < st["postcolor"]:
        body = " ".join(adjs + [sw, "colored" if rng.random() < 0.7 else "that is", cw])
    else:
        body = " ".join(adjs + [cw, sw])
    if definite is None:
        definite = rng.random() < st["the"]
    if definite:
        return f"the {body}"
    if rng.random() < st["bare"]:
        return body
    return ("an " if body[0] in "aeiou" else "a ") + body


def _captions_for(plan: _Plan, workers: list[dict], rng, n: int) -> list[tuple[dict, str]]:
    """``n`` English captions of the video, each by a different annotator."""
    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    chosen = rng.choice(len(workers), size=min(n, len(workers)), replace=False)
    out = []
    for wi in chosen:
        st = workers[int(wi)]
        with_size = plan.label not in ("grow", "shrink")
        if partner is None:
            verbs = list(VERBS[plan.label])
            if actor.shape == "circle" and plan.label in _ROLL:
                verbs.append(_ROLL[plan.label])
            pres, prog = verbs[0] if rng.random() > st["synonym"] else verbs[rng.integers(len(verbs))]
            adverb = ""
            if plan.label in _MOVING and plan.speed in ADVERBS and rng.random() < st["adverb"]:
                adverb = ADVERBS[plan.speed][rng.integers(len(ADVERBS[plan.speed]))]

            def subject(definite=None) -> str:
                return _noun_phrase(rng, st, actor.color, actor.shape, actor.size, definite=definite,
                                    with_size=with_size)

            roll = rng.random()
            if prog and roll < st["there"]:
                text = f"there is {subject(False)} {prog}"
            elif prog and roll < st["there"] + st["prefix"]:
                lead = ["the video shows", "we see", "a video of", "this is"][rng.integers(4)]
                text = f"{lead} {subject(False)} {prog}"
            elif prog and rng.random() < st["progressive"]:
                text = f"{subject()} is {prog}"
            else:
                text = f"{subject()} {pres}"
            if adverb:
                text = f"{text} {adverb}"
            if plan.background["kind"] == "flat" and rng.random() < st["background"]:
                prep = "on" if rng.random() < 0.7 else "against"
                text = f"{text} {prep} a {plan.background['name']} background"
        else:
            templates = PAIR_TEMPLATES[plan.label]
            tpl = templates[0] if rng.random() > st["synonym"] else templates[rng.integers(len(templates))]
            a = _noun_phrase(rng, st, actor.color, actor.shape, actor.size)
            b = _noun_phrase(rng, st, partner.color, partner.shape, partner.size)
            text = tpl.format(a=a, b=b)
        if st["capital"]:
            text = text[0].upper() + text[1:]
        if st["period"]:
            text += "."
        out.append((st, text))
    return out


def _foreign_caption(plan: _Plan, rng) -> tuple[str, str]:
    lang = list(FOREIGN)[rng.integers(len(FOREIGN))]
    tr = FOREIGN[lang]

    def np_(o: _Obj) -> str:
        noun, fem = tr["shapes"][o.shape]
        return f"{tr['a'][fem]} {noun} {tr['colors'][o.color][fem]}"

    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    verb = tr["verbs"][plan.label]
    if partner is None:
        return lang, f"{np_(actor)} {verb}"
    return lang, verb.format(a=np_(actor), b=np_(partner))


def _corpus_rows(plan: _Plan, ctx: dict) -> list[list]:
    """The video's rows of ``video_corpus.csv`` (MSVD columns)."""
    rng = np.random.default_rng([ctx["seed"], plan.index, 17])
    workers = ctx["workers"]
    vid, start, end = plan.name.rsplit("_", 2)
    n = int(rng.integers(10, 21))
    rows = []
    for st, text in _captions_for(plan, workers, rng, n):
        source = "clean" if rng.random() < 0.85 else "unverified"
        rows.append([vid, start, end, st["id"], source, int(rng.integers(8, 90)), "English", text])
    if plan.index % 10 == 1:  # a few non-English rows
        for _ in range(int(rng.integers(1, 4))):
            lang, text = _foreign_caption(plan, rng)
            st = workers[int(rng.integers(len(workers)))]
            rows.append([vid, start, end, st["id"], "unverified", int(rng.integers(8, 90)), lang, text])
    if plan.index % 25 == 2:  # and a few empty descriptions
        st = workers[int(rng.integers(len(workers)))]
        rows.append([vid, start, end, st["id"], "unverified", int(rng.integers(8, 90)), "English", ""])
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


# ----------------------------------------------------------------------------------
# One video end to end (runs in a worker process)
# ----------------------------------------------------------------------------------
def _atomic_write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def _make_video(task: tuple[int, str, str, str], ctx: dict) -> dict:
    """Render, encode and describe one video; returns its record for the tables."""
    from vidcap.io.writers import VideoWriter

    index, split, label, name = task
    out = Path(ctx["out_dir"])
    plan = _plan(index, split, label, name, ctx)
    k = ctx["factor"]
    name = plan.name
    frames_gt, hfr_gt = [], []
    tracks = _image_tracks(plan, ctx)
    video = VideoWriter(out / "videos" / f"{name}.mp4", ctx["fps"], crf=ctx["crf"], threads=1,
                        options={"preset": ctx["preset"]})
    hfr = (VideoWriter(out / "hfr" / f"{name}.mkv", ctx["fps"] * k, lossless=True, threads=1)
           if k > 1 else None)
    try:
        for j in range(ctx["dense_frames"]):
            frame, truth = _render(plan, tracks, j, ctx)
            if hfr is not None:
                hfr.write(frame)
                hfr_gt.append({"index": j, "t": round(j / (ctx["fps"] * k), 6), "objects": truth})
            if j % k == 0:
                video.write(frame)
                frames_gt.append({"index": j // k, "t": round(j / k / ctx["fps"], 6), "objects": truth})
        video.close()
        if hfr is not None:
            hfr.close()
    except BaseException:
        video.abort()
        if hfr is not None:
            hfr.abort()
        raise
    w, h = ctx["size"]
    objects = [{"id": i, "role": o.role, "shape": o.shape, "color": o.color, "size": o.size, "rgb": list(o.rgb)}
               for i, o in enumerate(plan.objects)]
    gt = {"video": name, "label": plan.label, "phrase": ACTIONS[plan.label].phrase, "split": split,
          "level": ctx["level"], "fps": ctx["fps"], "num_frames": len(frames_gt), "width": w, "height": h,
          "speed": plan.speed, "background": plan.background, "camera_moves": bool(ctx["camera"]),
          "objects": objects, "frames": frames_gt}
    if hfr is not None:
        gt["hfr"] = {"factor": k, "fps": ctx["fps"] * k, "video": f"hfr/{name}.mkv",
                     "num_frames": len(hfr_gt), "frames": hfr_gt}
    _atomic_write_text(out / "gt" / f"{name}.json", json.dumps(gt, separators=(",", ":")))
    actor = next(o for o in plan.objects if o.role == "actor")
    partner = next((o for o in plan.objects if o.role == "partner"), None)
    acting = [o for o in plan.objects if o.role in ("actor", "partner")]
    return {
        "name": name, "split": split, "label": plan.label,
        "corpus": _corpus_rows(plan, ctx),
        "labels": [name, plan.label, ACTIONS[plan.label].phrase, split, ctx["level"], len(acting),
                   actor.color, actor.shape, actor.size, partner.color if partner else "",
                   partner.shape if partner else "",
                   ";".join(f"{o.size} {o.color} {o.shape}" for o in acting), plan.background["name"]],
    }


# ----------------------------------------------------------------------------------
# The world
# ----------------------------------------------------------------------------------
@dataclass
class WorldSummary:
    """What :func:`generate_world` wrote."""

    out_dir: str
    num_videos: int
    seed: int
    level: str
    size: tuple[int, int]
    fps: float
    seconds: float
    num_frames: int
    high_fps_factor: int | None
    classes: list[str]
    splits: dict[str, int]
    num_captions: int
    seconds_elapsed: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _assign_splits(n: int, rng) -> list[str]:
    """Per-index split: 70 / 10 / 10 / 10 %, every split non-empty when n >= 4."""
    counts = {s: int(round(f * n)) for s, f in (("val", 0.1), ("test", 0.1), ("test_compositional", 0.1))}
    if n >= 4:
        counts = {s: max(c, 1) for s, c in counts.items()}
    counts["train"] = n - sum(counts.values())
    splits = [s for s in SPLITS for _ in range(counts[s])]
    return [splits[i] for i in rng.permutation(n)]


def _heldout(seed: int, per_action: int = 2) -> list[tuple[str, str, str]]:
    """Colour-shape-action triples kept out of every split but ``test_compositional``."""
    rng = np.random.default_rng([seed, 3])
    out = []
    for action in CLASSES:
        pairs = [(c, s) for c in COLORS for s in SHAPES if not (action in _NO_CIRCLE and s == "circle")]
        for i in rng.choice(len(pairs), size=per_action, replace=False):
            out.append((pairs[i][0], pairs[i][1], action))
    return out


def _class_labels(n: int, seed: int) -> list[str]:
    """Balanced labels: every block of len(CLASSES) videos holds each class once."""
    labels = []
    for block in range(math.ceil(n / len(CLASSES))):
        perm = np.random.default_rng([seed, 7, block]).permutation(len(CLASSES))
        labels.extend(CLASSES[i] for i in perm)
    return labels[:n]


def _plain(x) -> int | float:
    """A plain int or float (for the JSON files) from any real number."""
    return int(x) if float(x).is_integer() else float(x)


def _check_args(num_videos, seed, level, size, fps, seconds, high_fps_factor, workers) -> tuple[int, int]:
    if not isinstance(num_videos, (int, np.integer)) or num_videos < 1:
        raise ConfigError(f"num_videos must be a positive integer, got {num_videos!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"size must be (width, height), got {size!r}") from exc
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise ConfigError(f"size must be even and at least 32x32 (H.264 4:2:0), got {w}x{h}")
    if not fps or fps <= 0 or not seconds or seconds <= 0:
        raise ConfigError(f"fps and seconds must be positive, got fps={fps!r} seconds={seconds!r}")
    if round(fps * seconds) < 2:
        raise ConfigError(f"a video needs at least 2 frames; fps={fps!r} x seconds={seconds!r} is too few")
    if high_fps_factor is not None and (not isinstance(high_fps_factor, (int, np.integer)) or high_fps_factor < 2):
        raise ConfigError(f"high_fps_factor must be an integer >= 2 or None, got {high_fps_factor!r}")
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ConfigError(f"workers must be a positive integer or None, got {workers!r}")
    return w, h


def iter_world(out_dir, *, num_videos: int, seed: int = 0, level: str = "easy",
               size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float = 3,
               high_fps_factor: int | None = None, workers: int | None = None,
               crf: float = 18) -> Iterator[dict]:
    """Generate the world, yielding one record per finished video (for progress bars).

    The arguments are checked at once; the videos are made as the iterator is
    consumed, and the tables (``video_corpus.csv``, ``labels.csv``, ``splits.json``,
    ``classes/``, ``world.json``) are written after the last video.
    :func:`generate_world` is the plain function; this one lets a caller show progress.
    """
    w, h = _check_args(num_videos, seed, level, size, fps, seconds, high_fps_factor, workers)
    seed, num_videos = int(seed), int(num_videos)
    high_fps_factor = int(high_fps_factor) if high_fps_factor is not None else None
    fps, seconds = _plain(fps), _plain(seconds)
    out = Path(out_dir)
    for sub in ("videos", "gt") + (("hfr",) if high_fps_factor else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    n_frames = int(round(fps * seconds))
    factor = int(high_fps_factor or 1)
    split_of = _assign_splits(num_videos, np.random.default_rng([seed, 2]))
    names = [video_name(i, seconds) for i in range(num_videos)]
    ctx = {
        "out_dir": str(out), "seed": seed, "level": level, "size": (w, h), "fps": fps, "crf": crf,
        "preset": "veryfast", "factor": factor, "num_frames": n_frames, "dense_frames": (n_frames - 1) * factor + 1,
        "camera": LEVELS[level].camera,
        "heldout": _heldout(seed), "workers": _make_workers(seed),
    }
    labels = _class_labels(num_videos, seed)
    tasks = [(i, split_of[i], labels[i], names[i]) for i in range(num_videos)]
    n_workers = min(workers or os.cpu_count() or 1, num_videos)
    params = {"num_videos": num_videos, "n_frames": n_frames, "high_fps_factor": high_fps_factor, "seconds": seconds}
    return _run(out, tasks, ctx, n_workers, params)


def _run(out: Path, tasks: list[tuple], ctx: dict, n_workers: int, params: dict) -> Iterator[dict]:
    records: list[dict] = []
    if n_workers == 1:
        for task in tasks:
            rec = _make_video(task, ctx)
            records.append(rec)
            yield rec
    else:
        from concurrent.futures import ProcessPoolExecutor
        from functools import partial

        from vidcap.parallel import pool_context

        with ProcessPoolExecutor(n_workers, mp_context=pool_context(), initializer=_init_worker) as pool:
            for rec in pool.map(partial(_make_video, ctx=ctx), tasks, chunksize=4):
                records.append(rec)
                yield rec
    _write_tables(out, records, ctx, **params)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def _csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _write_tables(out: Path, records: list[dict], ctx: dict, **params) -> None:
    corpus = [row for rec in records for row in rec["corpus"]]
    _atomic_write_text(out / "video_corpus.csv", _csv_text(CORPUS_COLUMNS, corpus))
    _atomic_write_text(out / "labels.csv", _csv_text(LABEL_COLUMNS, [rec["labels"] for rec in records]))
    splits = {s: [rec["name"] for rec in records if rec["split"] == s] for s in SPLITS}
    _atomic_write_text(out / "splits.json", json.dumps(splits, indent=1) + "\n")
    _link_classes(out, records)
    world = {
        "generator": "vidcap.data.synthetic", "format_version": FORMAT_VERSION, "seed": ctx["seed"],
        "level": ctx["level"], "num_videos": params["num_videos"], "size": list(ctx["size"]), "fps": ctx["fps"],
        "seconds": params["seconds"], "num_frames": params["n_frames"], "high_fps_factor": params["high_fps_factor"],
        "classes": [{"label": a.name, "phrase": a.phrase, "objects": a.objects} for a in ACTIONS.values()],
        "colors": COLORS, "shapes": SHAPES, "sizes": list(SIZES),
        "heldout_combos": [list(t) for t in ctx["heldout"]],
        "splits": {s: len(v) for s, v in splits.items()},
        "layout": {"videos": "videos/<name>.mp4", "corpus": "video_corpus.csv", "labels": "labels.csv",
                   "splits": "splits.json", "classes": "classes/<split>/<label>/<name>.mp4",
                   "ground_truth": "gt/<name>.json", "high_fps": "hfr/<name>.mkv"},
    }
    _atomic_write_text(out / "world.json", json.dumps(world, indent=1) + "\n")


def _link_classes(out: Path, records: list[dict]) -> None:
    """``classes/<split>/<label>/<name>.mp4`` as relative links to ``videos/``."""
    root = out / "classes"
    if root.exists():  # rebuild: drop our old links and empty folders, nothing else
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_symlink() or (path.is_file() and path.suffix == ".mp4"):
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rec in records:
        folder = root / rec["split"] / rec["label"]
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / f"{rec['name']}.mp4"
        target = out / "videos" / f"{rec['name']}.mp4"
        try:
            link.symlink_to(os.path.relpath(target, folder))
        except OSError:  # filesystems without symlinks: hard link, else copy
            try:
                os.link(target, link)
            except OSError:
                shutil.copy2(target, link)


def generate_world(out_dir, *, num_videos: int, seed: int = 0, level: str = "easy",
                   size: tuple[int, int] = (160, 120), fps: float = 25, seconds: float = 3,
                   high_fps_factor: int | None = None, workers: int | None = None,
                   crf: float = 18, progress: bool = False) -> WorldSummary:
    """Generate ``num_videos`` captioned, labelled videos into ``out_dir``.

    Args:
        out_dir: output folder (created); existing files of the same names are replaced.
        num_videos: how many videos.
        seed: the world's seed; the same seed and arguments give the same bytes.
        level: ``easy`` (flat backgrounds, no clutter), ``medium`` (photos, textures,
            a distractor, light noise) or ``hard`` (camera pan/zoom, distractors,
            occluding pillars, sensor noise).
        size: (width, height) in pixels, both even.
        fps, seconds: frame rate and length; every video has ``round(fps * seconds)`` frames.
        high_fps_factor: also write ``hfr/<name>.mkv`` at ``factor * fps`` (lossless).
        workers: processes (default: one per CPU); the output does not depend on it.
        crf: H.264 quality of ``videos/*.mp4``.
        progress: show a tqdm progress bar.

    Returns:
        a :class:`WorldSummary`.
    """
    started = time.perf_counter()
    iterator = iter_world(out_dir, num_videos=num_videos, seed=seed, level=level, size=size, fps=fps,
                          seconds=seconds, high_fps_factor=high_fps_factor, workers=workers, crf=crf)
    n_captions = 0
    splits: Counter = Counter()
    bar = None
    try:
        for rec in iterator:
            n_captions += sum(1 for r in rec["corpus"] if r[6] == "English" and r[7])
            splits[rec["split"]] += 1
            if progress and bar is None:  # created after the worker processes have started
                from tqdm import tqdm

                bar = tqdm(total=num_videos, unit="video", desc=f"synth {level}")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    w, h = (int(v) for v in size)
    summary = WorldSummary(str(out_dir), int(num_videos), int(seed), level, (w, h), _plain(fps), _plain(seconds),
                           int(round(fps * seconds)), None if high_fps_factor is None else int(high_fps_factor),
                           CLASSES,
                           {s: splits.get(s, 0) for s in SPLITS}, n_captions,
                           round(time.perf_counter() - started, 3))
    log.info("generated %d %s videos in %s (%.1f s)", num_videos, level, out_dir, summary.seconds_elapsed)
    return summary


# ----------------------------------------------------------------------------------
# Reading a world back: statistics and a contact sheet
# ----------------------------------------------------------------------------------
def _clean(text: str) -> list[str]:
    """Tokens of a caption after the seed's cleaning (the project's MSVD loader's rule)."""
    from vidcap.data.captions import clean_caption

    return clean_caption(text).split()


def _read_corpus(out_dir) -> list[dict]:
    path = Path(out_dir) / "video_corpus.csv"
    if not path.exists():
        raise DataError(f"no video_corpus.csv in {str(out_dir)!r}; generate a world there first")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CORPUS_COLUMNS:
            raise DataError(f"{str(path)!r} has columns {reader.fieldnames}, expected {CORPUS_COLUMNS}")
        return list(reader)


def caption_stats(out_dir) -> dict:
    """MSVD-style statistics of a world's ``video_corpus.csv``.

    Counts rows by language and empty descriptions, English captions per video, words
    per caption (after the seed's cleaning) and the vocabulary.
    """
    rows = _read_corpus(out_dir)
    english = [r for r in rows if r["Language"] == "English" and r["Description"].strip()]
    per_video = Counter(f"{r['VideoID']}_{r['Start']}_{r['End']}" for r in english)
    lengths = np.array([len(_clean(r["Description"])) for r in english]) if english else np.zeros(0)
    words = Counter(w for r in english for w in _clean(r["Description"]))
    counts = np.array(list(per_video.values())) if per_video else np.zeros(0)

    def desc(a: np.ndarray) -> dict:
        if not len(a):
            return {"mean": 0.0, "median": 0.0, "min": 0, "max": 0}
        return {"mean": round(float(a.mean()), 2), "median": float(np.median(a)), "min": int(a.min()),
                "max": int(a.max())}

    return {
        "rows": len(rows),
        "videos": len({f"{r['VideoID']}_{r['Start']}_{r['End']}" for r in rows}),
        "english_captions": len(english),
        "non_english_rows": sum(1 for r in rows if r["Language"] != "English"),
        "languages": dict(Counter(r["Language"] for r in rows)),
        "empty_descriptions": sum(1 for r in rows if not r["Description"].strip()),
        "captions_per_video": desc(counts),
        "words_per_caption": desc(lengths),
        "share_4_to_12_words": round(float(((lengths >= 4) & (lengths <= 12)).mean()), 4) if len(lengths) else 0.0,
        "unique_captions": len({" ".join(_clean(r["Description"])) for r in english}),
        "vocabulary": len(words),
        "annotators": len({r["WorkerID"] for r in rows}),
        "top_words": words.most_common(15),
    }


def contact_sheet(out_dir, path, *, num_videos: int = 8, frames_per_video: int = 4,
                  labels: Sequence[str] | None = None, dpi: int = 90) -> Path:
    """Save a PNG grid of decoded frames, one row per video, with its label and captions.

    ``out_dir`` is a world folder or a list of them (rows then alternate between the
    worlds, e.g. an easy and a hard one). Rows show different classes (``labels``
    picks them; default: the first videos of distinct classes). Frames are decoded
    from the written mp4 files.
    """
    import av
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds = [Path(d) for d in out_dir] if isinstance(out_dir, (list, tuple)) else [Path(out_dir)]
    tables = []
    for world in worlds:
        if not (world / "labels.csv").is_file():
            raise DataError(f"no labels.csv in {str(world)!r}; generate a world there first")
        with open(world / "labels.csv", encoding="utf-8", newline="") as f:
            tables.append(list(csv.DictReader(f)))
    order = list(dict.fromkeys(r["label"] for t in tables for r in t))
    wanted = list(labels) if labels else order[:num_videos]
    rows = []  # (world, labels row)
    for k, lab in enumerate(wanted):
        first = k % len(worlds)  # alternate between the worlds, falling back to the others
        for i in [first] + [i for i in range(len(worlds)) if i != first]:
            match = next((r for r in tables[i] if r["label"] == lab), None)
            if match is not None:
                rows.append((worlds[i], match))
                break
    if not rows:
        raise DataError(f"none of the labels {wanted} occur in {[str(w) for w in worlds]}")
    corpora = {w: _read_corpus(w) for w in worlds}
    fig, axes = plt.subplots(len(rows), frames_per_video + 1, figsize=(2.2 * frames_per_video + 4.2, 1.75 * len(rows)),
                             gridspec_kw={"width_ratios": [1] * frames_per_video + [2.4]}, squeeze=False)
    for ax_row, (world, row) in zip(axes, rows):
        name = row["video"]
        try:
            with av.open(str(world / "videos" / f"{name}.mp4")) as container:
                frames = [fr.to_ndarray(format="rgb24") for fr in container.decode(video=0)]
        except (av.FFmpegError, OSError) as exc:
            raise DataError(f"cannot decode {name}.mp4 in {str(world)!r}: {exc}") from exc
        picks = np.round(np.linspace(0, len(frames) - 1, frames_per_video)).astype(int)
        for ax, i in zip(ax_row, picks):
            ax.imshow(frames[i])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"frame {i}", fontsize=7)
        caps = [r["Description"] for r in corpora[world] if r["Language"] == "English" and r["Description"]
                and f"{r['VideoID']}_{r['Start']}_{r['End']}" == name]
        text = f"{name} ({row['level']})\nlabel: {row['label']}\n" + "\n".join(f"“{c}”" for c in caps[:3])
        ax_row[-1].axis("off")
        ax_row[-1].text(0, 0.5, text, fontsize=7.5, va="center", ha="left", wrap=True)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return target
