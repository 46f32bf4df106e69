"""Keep each detected object's identity across frames (IoU + centroid matching).

A detection in the new frame continues a track when its box overlaps the
track's last box (IoU) or its centre moved less than a fraction of the box's
size — the second rule keeps small, fast-moving faces whose boxes no longer
overlap. Pairs are assigned optimally (Hungarian algorithm) on a cost that
prefers high IoU and short moves. As in SORT, a new track is *tentative* until
it has been matched ``min_hits`` times (misses in between are forgiven up to
``max_age`` updates, as for a confirmed track): a detector that fires for a few
frames on a patterned wall never makes a track. Only a confirmed track gets an
id, so ids count 1, 2, 3, ... without gaps; tentative tracks have id 0. A track
not seen for ``max_age`` updates is dropped. Ids are never reused.

Boxes are ``(N, 4)`` float arrays of ``x1, y1, x2, y2`` pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidcap.errors import ConfigError


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection-over-union of ``(N, 4)`` and ``(M, 4)`` boxes → ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Centre distance of each box pair divided by the geometric mean of their sizes → ``(N, M)``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    size_a = np.sqrt(np.prod(np.clip(a[:, 2:] - a[:, :2], 1, None), axis=1))
    size_b = np.sqrt(np.prod(np.clip(b[:, 2:] - b[:, :2], 1, None), axis=1))
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    return dist / np.sqrt(size_a[:, None] * size_b[None, :])


@dataclass
class Track:
    id: int  # 0 while tentative; 1, 2, ... in the order tracks were confirmed
    box: np.ndarray  # (4,) float, last matched box
    hits: int = 1  # updates in which it was matched
    misses: int = 0  # consecutive updates without a match
    streak: int = 1  # consecutive updates with a match
    confirmed: bool = False  # matched in min_hits updates
    state: dict = field(default_factory=dict)  # per-track data owned by the caller


class IoUTracker:
    """Assign a stable id to each box, update after update.

    Args:
        min_iou: a pair overlapping at least this much may match.
        max_distance: or a pair whose centres are closer than this many box sizes.
        max_age: updates a track survives unmatched before it is dropped.
        min_hits: matches that confirm a new track (1: at once).
    """

    def __init__(self, *, min_iou: float = 0.2, max_distance: float = 0.6, max_age: int = 10, min_hits: int = 1):
        if not 0 <= min_iou <= 1:
            raise ConfigError(f"min_iou must lie in [0, 1], got {min_iou}")
        if max_age < 0:
            raise ConfigError(f"max_age must be >= 0, got {max_age}")
        if min_hits < 1:
            raise ConfigError(f"min_hits must be >= 1, got {min_hits}")
        self.min_iou, self.max_distance, self.max_age = min_iou, max_distance, max_age
        self.min_hits = min_hits
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, boxes: np.ndarray) -> list[Track]:
        """Match this update's ``(N, 4)`` boxes; returns one track per box, in order."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        assigned: list[Track | None] = [None] * len(boxes)
        if self.tracks and len(boxes):
            old = np.stack([t.box for t in self.tracks])
            iou = iou_matrix(old, boxes)
            dist = centre_distance(old, boxes)
            allowed = (iou >= self.min_iou) | (dist <= self.max_distance)
            cost = (1.0 - iou) + dist + np.where(allowed, 0.0, 1e6)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if allowed[r, c]:
                    assigned[c] = self.tracks[r]
        matched = {id(t) for t in assigned if t is not None}
        for track in self.tracks:
            if id(track) not in matched:
                track.misses += 1
                track.streak = 0
        for i, track in enumerate(assigned):
            if track is None:
                track = Track(0, boxes[i].copy())
                self.tracks.append(track)
                assigned[i] = track
            else:
                track.box = boxes[i].copy()
                track.hits += 1
                track.streak += 1
                track.misses = 0
            if not track.confirmed and track.hits >= self.min_hits:
                track.confirmed, track.id = True, self._next_id
                self._next_id += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_age]
        return assigned  # type: ignore[return-value]
