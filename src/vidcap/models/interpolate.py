"""Frame interpolation: bidirectional optical flow, warping to time t, occlusion-aware blending.

Pure array algorithms (``estimate_flow``, ``interpolate_pair``, ``is_scene_cut``,
``inbetween``), the uint8 wrapper of RIFE's network (``rife_pair``; the network is
:mod:`vidcap.models.rife`) and the streaming ``interpolate_frames`` that holds only two
frames at a time; loading RIFE's weights, reading and writing video files is
:mod:`vidcap.tasks.interpolate`.

Frames are ``(H, W, 3) uint8 [0, 255]`` RGB throughout; ``t`` is the time of a
generated frame between ``a`` (t = 0) and ``b`` (t = 1).

The method, per pair of frames:

1. Dense optical flow both ways, ``a -> b`` and ``b -> a`` (OpenCV DIS by
   default, Farneback as an option), on grey frames at half resolution
   (``flow_scale``).
2. Each flow is forward-splatted to time t (every source pixel lands at
   ``x + t * flow(x)``), giving the flow from time t back to both frames. Where
   several source pixels land on one target pixel, a soft z-buffer prefers the
   ones whose flow is reliable: the splat weight falls with the photometric error
   and the forward-backward inconsistency of the flow (occluded pixels have
   flows that do not come back).
3. Both full-resolution frames are warped to time t with ``cv2.remap``
   (bicubic).
4. The two warped frames are blended per pixel: each side's weight is its
   temporal closeness times its visibility (how much reliable splat mass landed
   there), so regions that appear or vanish between the frames come from the
   frame that sees them.

A scene cut between ``a`` and ``b`` is detected first (flow cannot explain the
change); then nothing is morphed: ``a`` is held until ``b`` (or the frames are
cross-faded, ``cut_mode="blend"``).
"""
from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidcap.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = [
    "InterpolationConfig",
    "StreamStats",
    "across_cut",
    "blend_pair",
    "check_factor",
    "estimate_flow",
    "inbetween",
    "interpolate_frames",
    "interpolate_pair",
    "interpolate_times",
    "is_scene_cut",
    "rife_pair",
]

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FLOW_METHODS = ("dis", "farneback")
_WARPS = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
CUT_MODES = ("duplicate", "blend")
MODES = ("slowmo", "fps")
METHODS = ("rife", "dis", "blend")  # how in-between frames are made: RIFE's network, DIS optical flow, a cross-fade
# (a, b, times) -> (the frames at those times, whether a and b are different shots)
PairFn = Callable[[np.ndarray, np.ndarray, list], tuple[list, bool]]
MIN_FLOW_SIDE = 16  # frames smaller than this (either side) are cross-faded: DIS needs room for its patches


@dataclass(frozen=True)
class InterpolationConfig:
    """How in-between frames are made.

    flow: ``"dis"`` (OpenCV DIS optical flow) or ``"farneback"``.
    preset: DIS quality preset, ``"ultrafast" | "fast" | "medium"``.
    flow_scale: flow, occlusion reasoning and splatting run on frames scaled by
        this factor (0.5: half width and height, four times fewer pixels); the
        final warp always samples the full-resolution frames.
    cut_threshold: a pair is a scene cut when the flow-compensated difference
        (mean absolute grey error, 0-255) exceeds this *and* most pixels have
        inconsistent flow; ``None`` disables cut detection.
    cut_mode: what to emit across a cut: ``"duplicate"`` holds ``a`` until ``b``
        (so the cut stays exactly at ``b``'s time) or ``"blend"`` a cross-fade.
    patch_stride: DIS patch stride in pixels (smaller is denser and slower);
        ``None`` keeps the preset's.
    refinement_iterations: DIS variational refinement iterations; ``None`` keeps
        the preset's. Off by default: on the benchmark clips it cost time and
        did not raise PSNR.
    warp: interpolation used to sample the frames, ``"cubic"`` or ``"linear"``.
    """

    flow: str = "dis"
    preset: str = "medium"
    flow_scale: float = 0.5
    cut_threshold: float | None = 30.0
    cut_mode: str = "duplicate"
    patch_stride: int | None = None
    refinement_iterations: int | None = 0
    warp: str = "cubic"

    def __post_init__(self) -> None:
        if self.flow not in FLOW_METHODS:
            raise ConfigError(f"flow={self.flow!r} is not one of {FLOW_METHODS}")
        if self.preset not in _DIS_PRESETS:
            raise ConfigError(f"preset={self.preset!r} is not one of {tuple(_DIS_PRESETS)}")
        if not 0.05 <= self.flow_scale <= 1.0:
            raise ConfigError(f"flow_scale={self.flow_scale} is outside [0.05, 1]")
        if self.cut_mode not in CUT_MODES:
            raise ConfigError(f"cut_mode={self.cut_mode!r} is not one of {CUT_MODES}")
        if self.patch_stride is not None and not 1 <= self.patch_stride <= 8:
            raise ConfigError(f"patch_stride={self.patch_stride} is outside [1, 8]")
        if self.refinement_iterations is not None and self.refinement_iterations < 0:
            raise ConfigError(f"refinement_iterations={self.refinement_iterations} must be >= 0")
        if self.warp not in _WARPS:
            raise ConfigError(f"warp={self.warp!r} is not one of {tuple(_WARPS)}")


# --------------------------------------------------------------------------- checks


def _check_frame(frame: np.ndarray, name: str) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ConfigError(
            f"{name} must be an (H, W, 3) uint8 RGB frame, got shape {frame.shape} dtype {frame.dtype}"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ConfigError(f"{name} is {frame.shape[1]}x{frame.shape[0]} pixels: it holds no pixel")
    return np.ascontiguousarray(frame)


def check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = _check_frame(a, "first frame")
    b = _check_frame(b, "last frame")
    if a.shape != b.shape:
        raise ConfigError(
            f"frames differ in size: first is {a.shape[1]}x{a.shape[0]}, last is {b.shape[1]}x{b.shape[0]}; "
            "resize them to the same size first"
        )
    return a, b


def _check_times(ts: Iterable[float]) -> list[float]:
    out = []
    for t in ts:
        t = float(t)
        if not 0.0 <= t <= 1.0 or math.isnan(t):
            raise ConfigError(f"time t={t} is outside [0, 1]; in-between times are fractions from a to b")
        out.append(t)
    return out


# --------------------------------------------------------------------------- flow


def _flow_size(h: int, w: int, scale: float) -> tuple[int, int]:
    """Size ``(h, w)`` of the frames the flow is computed on (never below 16 pixels a side)."""
    if scale >= 1.0:
        return h, w
    return min(h, max(16, round(h * scale))), min(w, max(16, round(w * scale)))


def estimate_flow(
    a_gray: np.ndarray,
    b_gray: np.ndarray,
    *,
    flow: str = "dis",
    preset: str = "medium",
    patch_stride: int | None = None,
    refinement_iterations: int | None = None,
) -> np.ndarray:
    """Dense optical flow from ``a_gray`` to ``b_gray``.

    Inputs are ``(H, W) uint8`` grey frames. Returns ``(H, W, 2) float32`` with
    ``a(x) ~ b(x + flow(x))`` in pixels (x then y). ``patch_stride`` and
    ``refinement_iterations`` override the DIS preset's values.
    """
    if flow == "dis":
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[preset])
        if patch_stride is not None:
            dis.setPatchStride(int(patch_stride))
        if refinement_iterations is not None:
            dis.setVariationalRefinementIterations(int(refinement_iterations))
        return dis.calc(a_gray, b_gray, None)
    if flow == "farneback":
        return cv2.calcOpticalFlowFarneback(
            a_gray, b_gray, None, pyr_scale=0.5, levels=5, winsize=15, iterations=3,
            poly_n=5, poly_sigma=1.2, flags=cv2.OPTFLOW_FARNEBACK_GAUSSIAN,
        )
    raise ConfigError(f"flow={flow!r} is not one of {FLOW_METHODS}")


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = False
    gy.flags.writeable = False
    return gx, gy


def _backwarp(
    img: np.ndarray, flow: np.ndarray, gx: np.ndarray, gy: np.ndarray, interp: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Sample ``img`` at ``x + flow(x)`` (edges replicated)."""
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], interp, borderMode=cv2.BORDER_REPLICATE)


def _norm(v: np.ndarray) -> np.ndarray:
    """Length of each 2-vector of an ``(h, w, 2)`` field."""
    return np.sqrt(v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1])


@dataclass
class _PairFlow:
    """Flows of one frame pair at flow resolution plus their reliability."""

    f_ab: np.ndarray  # (h, w, 2) a -> b
    f_ba: np.ndarray  # (h, w, 2) b -> a
    z_a: np.ndarray  # (h, w) splat weight of a's pixels, in (0, 1]
    z_b: np.ndarray  # (h, w) splat weight of b's pixels
    err: float  # mean flow-compensated grey error (0-255)
    inconsistent: float  # fraction of pixels whose flow does not come back


def _reliability(
    g_src: np.ndarray, g_dst: np.ndarray, f_fwd: np.ndarray, f_bwd: np.ndarray
) -> tuple[np.ndarray, float, float]:
    """Splat weight of each source pixel from its photometric error and forward-backward consistency."""
    h, w = g_src.shape
    gx, gy = _grid(h, w)
    mx = gx + f_fwd[..., 0]
    my = gy + f_fwd[..., 1]
    # photometric error after following the flow (0-255)
    err = cv2.absdiff(g_src, cv2.remap(g_dst, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    # forward-backward consistency: f_fwd(x) + f_bwd(x + f_fwd(x)) ~ 0 where x is visible in both frames
    back = cv2.remap(f_bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    cons = _norm(f_fwd + back)
    mag = _norm(f_fwd)
    # forward-backward inconsistency dominates: a grey error of 50 costs as much as
    # one tolerance of inconsistency (tuned on carphone and bikes; a stronger
    # photometric term lost 0.1 dB on both)
    z = np.exp(err.astype(np.float32) * np.float32(-0.02) - cons / (0.5 + 0.05 * mag)) + np.float32(1e-4)
    inconsistent = float(np.count_nonzero(cons > 1.0 + 0.1 * mag)) / cons.size
    return z, float(err.mean()), inconsistent


def _pair_flow(ga: np.ndarray, gb: np.ndarray, cfg: InterpolationConfig) -> _PairFlow:
    """The flows of a pair of grey frames; the last two pairs are remembered, so a cut check
    followed by the interpolation of the same pair computes the flow once."""
    return _pair_flow_of(ga.tobytes(), gb.tobytes(), ga.shape, cfg.flow, cfg.preset, cfg.patch_stride,
                         cfg.refinement_iterations)


@functools.lru_cache(maxsize=2)
def _pair_flow_of(a_bytes: bytes, b_bytes: bytes, shape: tuple[int, int], flow: str, preset: str,
                  patch_stride: int | None, refinement_iterations: int | None) -> _PairFlow:
    ga = np.frombuffer(a_bytes, np.uint8).reshape(shape)
    gb = np.frombuffer(b_bytes, np.uint8).reshape(shape)
    kw = {"flow": flow, "preset": preset, "patch_stride": patch_stride, "refinement_iterations": refinement_iterations}
    f_ab = estimate_flow(ga, gb, **kw)
    f_ba = estimate_flow(gb, ga, **kw)
    z_a, err_a, inc_a = _reliability(ga, gb, f_ab, f_ba)
    z_b, err_b, inc_b = _reliability(gb, ga, f_ba, f_ab)
    return _PairFlow(f_ab, f_ba, z_a, z_b, 0.5 * (err_a + err_b), 0.5 * (inc_a + inc_b))


def _splat(flow: np.ndarray, t: float, weight: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward-splat ``flow`` (source -> other frame) to time ``t`` along itself.

    Every source pixel x lands at ``x + t * flow(x)`` and spreads ``weight(x)``
    bilinearly over the four nearest pixels. Returns the weighted sum of
    ``sign * flow`` landing on each target pixel ``(h, w, 2)`` and the total
    weight ``(h, w)`` (both float64).
    """
    h, w = weight.shape
    gx, gy = _grid(h, w)
    fx = flow[..., 0]
    fy = flow[..., 1]
    tx = gx + np.float32(t) * fx
    ty = gy + np.float32(t) * fy
    x0f = np.floor(tx)
    y0f = np.floor(ty)
    # bincount is several times faster on int64 indices and float64 weights (no conversion)
    ax = (tx - x0f).ravel().astype(np.float64)
    ay = (ty - y0f).ravel().astype(np.float64)
    x0 = x0f.ravel().astype(np.int64)
    y0 = y0f.ravel().astype(np.int64)
    # accumulate on a canvas with a one-pixel border that catches the corners
    # landing just outside the frame; pixels landing further out carry no weight
    inside = (x0 >= -1) & (x0 < w) & (y0 >= -1) & (y0 < h)
    wsrc = weight.ravel().astype(np.float64) * inside
    wfx = wsrc * fx.ravel() * sign
    wfy = wsrc * fy.ravel() * sign
    wp = w + 2
    n_pad = (h + 2) * wp
    i00 = (np.minimum(np.maximum(y0, -1), h - 1) + 1) * wp + np.minimum(np.maximum(x0, -1), w - 1) + 1
    acc_w = np.zeros(n_pad, np.float64)
    acc_x = np.zeros(n_pad, np.float64)
    acc_y = np.zeros(n_pad, np.float64)
    bx = 1.0 - ax
    by = 1.0 - ay
    for offset, bw in ((0, bx * by), (1, ax * by), (wp, bx * ay), (wp + 1, ax * ay)):
        idx = i00 + offset if offset else i00
        acc_w += np.bincount(idx, bw * wsrc, minlength=n_pad)
        acc_x += np.bincount(idx, bw * wfx, minlength=n_pad)
        acc_y += np.bincount(idx, bw * wfy, minlength=n_pad)
    crop = (slice(1, h + 1), slice(1, w + 1))
    num = np.stack([acc_x.reshape(h + 2, wp)[crop], acc_y.reshape(h + 2, wp)[crop]], axis=-1)
    acc_w = acc_w.reshape(h + 2, wp)[crop]
    return num, acc_w


def _push_pull(num: np.ndarray, den: np.ndarray, full: float = 0.05) -> np.ndarray:
    """Weighted mean ``num / den`` with low-weight pixels filled from coarser scales.

    num: ``(h, w, 2)`` weighted sums, den: ``(h, w)`` weights. A pixel with
    weight ``>= full`` keeps its own value; below that it is mixed with the
    value of the next coarser level (push-pull hole filling).
    """
    h, w = den.shape
    val = num / np.maximum(den, 1e-12)[..., None]
    alpha = np.minimum(den / full, 1.0)
    if alpha.min() >= 1.0:
        return val.astype(np.float32)
    if min(h, w) <= 2:
        tot = den.sum()
        mean = num.reshape(-1, 2).sum(0) / tot if tot > 1e-12 else np.zeros(2)
        coarse = np.broadcast_to(mean, val.shape)
    else:
        size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
        c_num = cv2.resize(num, size, interpolation=cv2.INTER_AREA)
        c_den = cv2.resize(den, size, interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(_push_pull(c_num, c_den, full), (w, h), interpolation=cv2.INTER_LINEAR)
    return (val * alpha[..., None] + coarse * (1.0 - alpha[..., None])).astype(np.float32)


def _motion_at(pf: _PairFlow, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Motion ``m`` (in a -> b units) of the content at each pixel of time t, and visibilities.

    The flow from time t to a is ``-t * m`` and to b is ``(1 - t) * m``. The
    visibilities are the reliable splat mass that landed from a and from b.
    """
    num_a, w_a = _splat(pf.f_ab, t, pf.z_a, 1.0)  # a's pixels, moved by t * f_ab
    num_b, w_b = _splat(pf.f_ba, 1.0 - t, pf.z_b, -1.0)  # b's pixels, moved by (1 - t) * f_ba
    m = _push_pull(num_a + num_b, w_a + w_b)
    return m, w_a.astype(np.float32), w_b.astype(np.float32)


def _resize_flow(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / fw
    out[..., 1] *= h / fh
    return out


def _resize_map(m: np.ndarray, h: int, w: int) -> np.ndarray:
    if m.shape == (h, w):
        return m
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)


def across_cut(a: np.ndarray, b: np.ndarray, times: Sequence[float], cut_mode: str = "duplicate") -> list[np.ndarray]:
    """The frames at ``times`` across a scene cut, not morphed: ``a`` held until ``b`` arrives
    (``"duplicate"``: the cut stays at b's time, as a player shows it) or a cross-fade (``"blend"``)."""
    if cut_mode == "blend":
        return blend_pair(a, b, times)
    return [(b if t == 1.0 else a).copy() for t in times]


def rife_pair(model, a: np.ndarray, b: np.ndarray, ts: Sequence[float], *, batch: int = 4) -> list[np.ndarray]:
    """RIFE's frames between ``a`` and ``b`` at each time in ``ts``, on the model's device.

    model: a loaded :class:`vidcap.models.rife.IFNet`. a, b: ``(H, W, 3) uint8`` RGB of one
    size (any size: the network pads). Returns one ``(H, W, 3) uint8`` frame per t, ``batch``
    times per forward pass. No cut detection here (see ``interpolate_frames``).
    """
    import torch

    a, b = check_pair(a, b)
    times = _check_times(ts)
    device = next(model.parameters()).device

    def tensor(img: np.ndarray):
        return torch.from_numpy(img).to(device).permute(2, 0, 1)[None].float().div_(255.0)  # (1, 3, H, W)

    ta, tb = tensor(a), tensor(b)
    out = []
    for start in range(0, len(times), batch):
        chunk = torch.tensor(times[start: start + batch], device=device)  # (T,)
        frames = model.interpolate(ta, tb, chunk)  # (T, 3, H, W) in [0, 1]
        frames = frames.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        out.extend(np.ascontiguousarray(f) for f in frames)
    return [a.copy() if t == 0.0 else b.copy() if t == 1.0 else f for t, f in zip(times, out)]


def blend_pair(a: np.ndarray, b: np.ndarray, ts: Sequence[float]) -> list[np.ndarray]:
    """Plain cross-fade ``(1 - t) * a + t * b`` for each t (the baseline)."""
    a, b = check_pair(a, b)
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    return [_to_uint8((1.0 - t) * fa + t * fb) for t in _check_times(ts)]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def _small_gray(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if g.shape != size:
        g = cv2.resize(g, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return g


def is_scene_cut(a: np.ndarray, b: np.ndarray, config: InterpolationConfig | None = None) -> bool:
    """True when ``b`` is not a moved version of ``a`` (a shot boundary): optical flow cannot
    explain the change. Frames too small for optical flow are never a cut."""
    cfg = config or InterpolationConfig()
    a, b = check_pair(a, b)
    if cfg.cut_threshold is None or min(a.shape[:2]) < MIN_FLOW_SIDE:
        return False
    size = _flow_size(*a.shape[:2], cfg.flow_scale)
    pf = _pair_flow(_small_gray(a, size), _small_gray(b, size), cfg)
    return _cut_from_flow(pf, cfg)


def _cut_from_flow(pf: _PairFlow, cfg: InterpolationConfig) -> bool:
    if cfg.cut_threshold is None:
        return False
    return pf.err > cfg.cut_threshold and pf.inconsistent > 0.5


def interpolate_pair(
    a: np.ndarray,
    b: np.ndarray,
    ts: Sequence[float],
    *,
    config: InterpolationConfig | None = None,
) -> list[np.ndarray]:
    """Frames between ``a`` (t = 0) and ``b`` (t = 1) at each time in ``ts``.

    a, b: ``(H, W, 3) uint8`` RGB of the same size. ``ts``: floats in [0, 1].
    Returns one ``(H, W, 3) uint8`` frame per t, in the order given. Across a
    detected scene cut the frames are not morphed (see ``InterpolationConfig``).
    """
    cfg = config or InterpolationConfig()
    a, b = check_pair(a, b)
    return interpolate_times(a, b, _check_times(ts), cfg)[0]


def interpolate_times(
    a: np.ndarray, b: np.ndarray, times: list[float], cfg: InterpolationConfig
) -> tuple[list[np.ndarray], bool]:
    """``interpolate_pair`` on checked inputs (``(H, W, 3) uint8`` frames of one size, times in
    [0, 1]); also says whether the pair is a scene cut (then the frames are held, not morphed)."""
    if not times:
        return [], False
    h, w = a.shape[:2]
    if min(h, w) < MIN_FLOW_SIDE:  # too small for optical flow: a plain cross-fade
        return blend_pair(a, b, times), False
    size = _flow_size(h, w, cfg.flow_scale)
    pf = _pair_flow(_small_gray(a, size), _small_gray(b, size), cfg)
    if _cut_from_flow(pf, cfg):
        log.debug("scene cut between frames (flow error %.1f, inconsistent %.2f)", pf.err, pf.inconsistent)
        return across_cut(a, b, times, cfg.cut_mode), True
    gx, gy = _grid(h, w)
    out = []
    for t in times:
        if t == 0.0:
            out.append(a.copy())
            continue
        if t == 1.0:
            out.append(b.copy())
            continue
        m, v_a, v_b = _motion_at(pf, t)
        m = _resize_flow(m, h, w)
        # temporal closeness times visibility; a small floor keeps the plain
        # temporal blend where neither side is seen
        wa = (1.0 - t) * (np.minimum(v_a, 1.0) + np.float32(1e-3))
        wb = t * (np.minimum(v_b, 1.0) + np.float32(1e-3))
        alpha = _resize_map(wb / (wa + wb), h, w)
        # bicubic keeps the detail that bilinear sampling at sub-pixel offsets blurs away
        mx, my = m[..., 0], m[..., 1]
        interp = _WARPS[cfg.warp]
        warped_a = cv2.remap(a, gx - t * mx, gy - t * my, interp, borderMode=cv2.BORDER_REPLICATE)
        warped_b = cv2.remap(b, gx + (1.0 - t) * mx, gy + (1.0 - t) * my, interp, borderMode=cv2.BORDER_REPLICATE)
        frame = cv2.blendLinear(warped_a, warped_b, 1.0 - alpha, alpha)
        out.append(frame)
    return out, False


# --------------------------------------------------------------------------- sequences


def check_factor(factor) -> int:
    """The integer interpolation factor (>= 2) from ``factor``, or a ConfigError."""
    try:
        value = float(factor)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"factor={factor!r} is not a number; use an integer such as 2, 4 or 8") from exc
    if not value > 1:
        raise ConfigError(f"factor={factor!r} must be greater than 1 (2 doubles the frames)")
    if not value.is_integer():
        raise ConfigError(f"factor={factor!r} is not an integer; only whole factors such as 2, 4 or 8 are supported")
    return int(value)


def inbetween(
    first: np.ndarray, last: np.ndarray, num_frames: int, *, config: InterpolationConfig | None = None
) -> np.ndarray:
    """The ``num_frames`` frames evenly spaced between ``first`` and ``last`` (seed 001's tweening).

    first, last: ``(H, W, 3) uint8`` RGB of the same size. Returns
    ``(num_frames, H, W, 3) uint8``, frame i at time ``(i + 1) / (num_frames + 1)``;
    the two given frames are not included.
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise ConfigError(f"num_frames={num_frames!r} must be a positive integer")
    cfg = config or InterpolationConfig()
    first, last = check_pair(first, last)
    times = [(i + 1) / (num_frames + 1) for i in range(int(num_frames))]
    frames, cut = interpolate_times(first, last, times, cfg)
    if cut:
        log.warning("the first and last frames look like different shots; repeating them instead of morphing")
    return np.stack(frames)


@dataclass
class StreamStats:
    """Counts filled in by ``interpolate_frames`` as it runs."""

    input_frames: int = 0
    output_frames: int = 0
    scene_cuts: int = 0


def interpolate_frames(
    frames: Iterable[np.ndarray],
    factor: int,
    *,
    config: InterpolationConfig | None = None,
    between: PairFn | None = None,
    pad_end: bool = True,
    stats: StreamStats | None = None,
) -> Iterator[np.ndarray]:
    """Stream ``factor`` output frames per input frame, holding two input frames at a time.

    For each consecutive pair ``(a, b)`` yields ``a`` and the ``factor - 1`` frames at
    ``t = k / factor``, made by ``between(a, b, times) -> (frames, cut)`` (default: the
    optical-flow method with ``config``, which detects cuts itself; see
    :mod:`vidcap.tasks.interpolate` for RIFE). After the last input frame, ``pad_end`` repeats it
    ``factor - 1`` times so the output has exactly ``factor * n`` frames (a video at
    ``factor`` times the frame rate then lasts exactly as long); without it the
    output ends on the last input frame (``factor * (n - 1) + 1`` frames).
    Raises ConfigError for fewer than two frames or frames of different sizes.
    """
    factor = check_factor(factor)
    cfg = config or InterpolationConfig()
    between = between or functools.partial(interpolate_times, cfg=cfg)
    stats = stats if stats is not None else StreamStats()
    times = [k / factor for k in range(1, factor)]
    prev = None
    for frame in frames:
        frame = _check_frame(frame, f"frame {stats.input_frames}")
        stats.input_frames += 1
        if prev is not None:
            if frame.shape != prev.shape:
                raise ConfigError(
                    f"frame {stats.input_frames - 1} is {frame.shape[1]}x{frame.shape[0]} but the previous one is "
                    f"{prev.shape[1]}x{prev.shape[0]}; all frames must have one size"
                )
            middle, cut = between(prev, frame, times)
            stats.scene_cuts += cut
            yield prev
            stats.output_frames += 1
            for m in middle:
                yield m
                stats.output_frames += 1
        prev = frame
    if prev is None or stats.input_frames < 2:
        raise ConfigError(
            f"got {stats.input_frames} frame(s); interpolation needs at least two frames"
        )
    yield prev
    stats.output_frames += 1
    if pad_end:
        for _ in range(factor - 1):
            yield prev
            stats.output_frames += 1
