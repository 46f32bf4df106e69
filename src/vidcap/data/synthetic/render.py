"""Drawing a planned video: backgrounds, anti-aliased objects, camera motion, sensor noise.

Frames are ``(H, W, 3) uint8`` RGB; each comes with the ground truth of every object
as drawn (centre, radius, angle, opacity, visible fraction, box).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vidcap.data.synthetic.vocabulary import FLAT_BACKGROUNDS, PHOTOS, SHAPE_VERTICES, Level

if TYPE_CHECKING:
    from vidcap.data.synthetic.plans import _Plan


# ----------------------------------------------------------------------------------
# Backgrounds (drawn once per video, when it is planned)
# ----------------------------------------------------------------------------------
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


def _fits_background(background: dict, colors: list[tuple[int, int, int]]) -> bool:
    """Whether objects of ``colors`` stand out on ``background`` by the rules
    :func:`_pick_background` chose it with (photos: always)."""
    if background["kind"] == "flat":
        return _min_dist(background["rgb"], colors) > 110
    if background["kind"] in ("gradient", "texture"):
        c1, c2 = (np.asarray(c, np.float64) for c in background["rgb"])
        return all(_min_dist(c1 + (c2 - c1) * t, colors) > 100 for t in np.linspace(0, 1, 5))
    return True


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """A photo bundled with scikit-image as (H, W, 3) uint8 RGB."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


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
        rng = np.random.default_rng([ctx["seed"], plan.index, *plan.key, 29])
        shape = (_NOISE_BANK, h + _NOISE_MARGIN, w + _NOISE_MARGIN, 3)
        plan.noise_bank = rng.standard_normal(shape, dtype=np.float32) * np.float32(plan.noise)
    i, step = divmod(j, ctx["factor"])
    pick = np.random.default_rng([ctx["seed"], plan.index, *plan.key, 31, i, step, ctx["factor"] if step else 0])
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

