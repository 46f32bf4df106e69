"""Optical flow as a video feature: the motion stream of the two-stream classifier.

For each sampled frame, the dense flow to the next frame (OpenCV DIS or Farneback)
at a small square size, stacked as ``(T, 2, S, S) float32`` pixels (x, y).
"""
from __future__ import annotations

import numpy as np

from vidcap.errors import ConfigError, DataError

FLOW_METHODS = ("dis", "farneback")


def optical_flow(prev: np.ndarray, nxt: np.ndarray, *, method: str = "dis") -> np.ndarray:
    """Dense flow from ``prev`` to ``nxt`` (``(H, W, 3) uint8`` RGB) as ``(2, H, W) float32`` pixels (x, y)."""
    import cv2

    if method not in FLOW_METHODS:
        raise ConfigError(f"flow method must be one of {FLOW_METHODS}, got {method!r}")
    a = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(nxt, cv2.COLOR_RGB2GRAY)
    if method == "dis":
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    else:
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def pair_indices(indices: np.ndarray, mask: np.ndarray, n_frames: int) -> list[tuple[int, int] | None]:
    """For each sampled frame, the pair (frame, next frame) its flow is taken over.

    The last frame of a video pairs with the one before it; padded rows get None.
    """
    pairs = []
    for i, ok in zip(indices.tolist(), mask.tolist()):
        if not ok or n_frames < 2:
            pairs.append(None)
        elif i + 1 < n_frames:
            pairs.append((i, i + 1))
        else:
            pairs.append((i - 1, i))
    return pairs


def flows_from_frames(frames: dict[int, np.ndarray], pairs, *, method: str = "dis", shape=None) -> np.ndarray:
    """Stack the flow of each pair into ``(T, 2, H, W) float32``; None rows are zeros."""
    if shape is None:
        shape = next(iter(frames.values())).shape[:2]
    out = np.zeros((len(pairs), 2) + tuple(shape), dtype=np.float32)
    for row, pair in enumerate(pairs):
        if pair is not None:
            out[row] = optical_flow(frames[pair[0]], frames[pair[1]], method=method)
    return out


def decode_flow(path, *, num_frames: int, size: int, method: str = "dis", short: str = "pad"):
    """Optical flow at ``num_frames`` evenly spaced frames of a video.

    Returns ``(flows (T, 2, size, size) float32, indices, mask, timestamps)``.
    """
    from vidcap.io import center_crop, frames_at, probe, short_side_size
    from vidcap.io.sampling import even_indices

    info = probe(path)
    indices, mask = even_indices(info.num_frames, num_frames, short=short)
    pairs = pair_indices(indices, mask, info.num_frames)
    wanted = sorted({i for p in pairs if p for i in p})
    frames, times = frames_at(path, wanted, size=short_side_size(info.width, info.height, size))
    missing = set(wanted) - set(frames)
    if missing:
        raise DataError(f"{path}: frames {sorted(missing)[:3]} could not be decoded for optical flow")
    frames = {k: np.ascontiguousarray(center_crop(f, size)) for k, f in frames.items()}
    flows = flows_from_frames(frames, pairs, method=method, shape=(size, size))
    timestamps = np.array([times.get(int(i), 0.0) if m else 0.0 for i, m in zip(indices, mask)])
    return flows, indices, mask, timestamps
