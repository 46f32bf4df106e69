"""Planning a world: labels, splits, held-out combinations, and each video's plan.

Pure functions of the seed and the video index (no pixels, no I/O): what each video
shows, where every object is on every frame, and which split it belongs to.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vidcap.data.synthetic.render import _pick_background
from vidcap.data.synthetic.vocabulary import _NO_CIRCLE, ACTIONS, CLASSES, COLORS, LEVELS, SHAPES, SIZES
from vidcap.errors import ConfigError

SPLITS = ("train", "val", "test", "test_compositional")


# ----------------------------------------------------------------------------------
# The world: names, labels, splits, held-out combinations
# ----------------------------------------------------------------------------------
def video_name(index: int, seconds: float, start: int = 0) -> str:
    """MSVD-style name ``<VideoID>_<Start>_<End>``, e.g. ``syn00042_0_3``.

    Start and End are whole seconds as in MSVD (a 2.5 s clip is ``..._0_3``).
    """
    return f"syn{index:05d}_{start}_{start + math.ceil(seconds)}"


def _class_labels(n: int, seed: int) -> list[str]:
    """Balanced labels: every block of len(CLASSES) videos holds each class once."""
    labels = []
    for block in range(math.ceil(n / len(CLASSES))):
        perm = np.random.default_rng([seed, 7, block]).permutation(len(CLASSES))
        labels.extend(CLASSES[i] for i in perm)
    return labels[:n]


def _assign_splits(labels: Sequence[str], seed: int) -> list[str]:
    """Per-video split: 70 / 10 / 10 / 10 % at random, then every class outside train
    given a train video (see :func:`_repair_splits`)."""
    return _repair_splits(_random_splits(len(labels), np.random.default_rng([seed, 2])), labels)


def _random_splits(n: int, rng: np.random.Generator) -> list[str]:
    """Per-index split: 70 / 10 / 10 / 10 %, every split non-empty when n >= 4."""
    counts = {s: int(round(f * n)) for s, f in (("val", 0.1), ("test", 0.1), ("test_compositional", 0.1))}
    if n >= 4:
        counts = {s: max(c, 1) for s, c in counts.items()}
    counts["train"] = n - sum(counts.values())
    splits = [s for s in SPLITS for _ in range(counts[s])]
    return [splits[i] for i in rng.permutation(n)]


def _repair_splits(splits: Sequence[str], labels: Sequence[str]) -> list[str]:
    """``splits`` changed only where a video's class has no train video.

    Going through the videos in order, a video outside train whose class has no train
    video swaps splits with the last train video of the class with the most train
    videos (the first such class in ``CLASSES`` order), if that class has at least 2;
    otherwise it joins train. Split sizes stay the same unless no class can spare a
    video: a world of at most 16 videos (one per class) has every video in train.
    """
    splits = list(splits)
    in_train = Counter(label for split, label in zip(splits, labels) if split == "train")
    for i, (split, label) in enumerate(zip(splits, labels)):
        if split == "train" or in_train[label]:
            continue
        donor = max(CLASSES, key=lambda c: in_train[c])
        if in_train[donor] >= 2:
            j = max(k for k, (s, lab) in enumerate(zip(splits, labels)) if s == "train" and lab == donor)
            splits[j] = split
            in_train[donor] -= 1
        splits[i] = "train"
        in_train[label] += 1
    return splits


def _heldout(seed: int, per_action: int = 2) -> list[tuple[str, str, str]]:
    """Colour-shape-action triples kept out of every split but ``test_compositional``."""
    rng = np.random.default_rng([seed, 3])
    out = []
    for action in CLASSES:
        pairs = [(c, s) for c in COLORS for s in SHAPES if not (action in _NO_CIRCLE and s == "circle")]
        for i in rng.choice(len(pairs), size=per_action, replace=False):
            out.append((pairs[i][0], pairs[i][1], action))
    return out


# ----------------------------------------------------------------------------------
# One video's plan: attributes and trajectories
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
    key: tuple[int, ...] = ()                  # () for a one-event video; (43, event + 1, attempt) otherwise


def _const(value: float, m: int) -> np.ndarray:
    return np.full(m, float(value))


def _lin(a: float, b: float, u: np.ndarray) -> np.ndarray:
    return a + (b - a) * u


def _other_colors(rng: np.random.Generator, exclude: Sequence[str], k: int) -> list[str]:
    names = [c for c in COLORS if c not in exclude]
    return [names[i] for i in rng.choice(len(names), size=k, replace=False)]


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
        high = length - margin
        start = rng.uniform(min(margin + d, high), high)  # when d fills the room, rounding can lift low above high
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


def _plan(index: int, split: str, label: str, name: str, ctx: dict, key: tuple[int, ...] = ()) -> _Plan:
    """Everything about video ``index`` except its pixels and captions.

    ``key`` tells the events of a multi-event video apart (their random streams are
    ``(seed, index, *key, ...)``); the default ``()`` is a one-event video.
    """
    seed, level = ctx["seed"], LEVELS[ctx["level"]]
    w, h = ctx["size"]
    rng = np.random.default_rng([seed, index, *key, 11])
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
                 level.noise, canvas, pad, key=tuple(key))


# ----------------------------------------------------------------------------------
# Multi-event videos: which actions, and what happens at each boundary
# ----------------------------------------------------------------------------------
BOUNDARIES = ("continue", "cut")  # same scene (background) goes on / a shot cut to a new background


def _event_schedule(index: int, first_label: str, seed: int, lo: int, hi: int) -> tuple[list[str], list[str]]:
    """``(labels, boundaries)`` of multi-event video ``index``: ``K`` action labels,
    ``K`` uniform in ``lo..hi``, the first being ``first_label`` (the world's balanced
    label) and each later one differing from the one before; and the ``K - 1``
    planned boundaries, each ``"continue"`` or ``"cut"`` with probability 1/2."""
    rng = np.random.default_rng([seed, index, 41])
    k = int(rng.integers(lo, hi + 1))
    labels = [first_label]
    for _ in range(k - 1):
        options = [c for c in CLASSES if c != labels[-1]]
        labels.append(options[rng.integers(len(options))])
    boundaries = [BOUNDARIES[rng.integers(2)] for _ in range(k - 1)]
    return labels, boundaries

