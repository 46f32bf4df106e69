"""Plots as PNG files: training curves, confusion matrices, emotion timelines.

Everything is drawn on a ``matplotlib.figure.Figure`` (no pyplot): no global state,
no GUI backend, safe from threads. Files are written atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcap.io.files import atomic_path


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def plot_curves(history: list[dict], path, *, title: str = "") -> Path:
    """One panel of losses (every ``*loss`` column) and one of the other metrics, per epoch."""
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    keys = [k for k in history[0] if k not in ("epoch", "lr", "seconds")] if history else []
    for row in history[1:]:
        keys += [k for k in row if k not in keys and k not in ("epoch", "lr", "seconds")]
    losses = [k for k in keys if k.endswith("loss")]
    others = [k for k in keys if k not in losses and any(isinstance(r.get(k), (int, float)) for r in history)]
    fig = Figure(figsize=(9 if others else 5.5, 3.4), dpi=90)
    axes = fig.subplots(1, 2 if others else 1, squeeze=False)[0]
    for ax, group, label in ((axes[0], losses, "loss"), (axes[-1], others, "metric")):
        if not group or (label == "metric" and len(axes) == 1):
            continue
        for k in group:
            ys = [r.get(k) for r in history]
            ax.plot(epochs, [np.nan if y is None else y for y in ys], marker="." if len(epochs) < 15 else None,
                    label=k)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, classes: list[str], path, *, title: str = "") -> Path:
    """Row-normalised confusion matrix (true class down, predicted across) with the counts."""
    from matplotlib.figure import Figure

    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(classes)
    fig = Figure(figsize=(2.2 + 0.38 * n, 1.8 + 0.34 * n), dpi=80)
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_emotions(timeline, path, *, max_faces: int = 6) -> Path:
    """One panel per face (the most seen first): smoothed probability of each emotion over time."""
    from matplotlib.figure import Figure

    from vidcap.errors import ConfigError
    from vidcap.viz.faces import EMOTION_COLORS_BGR

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"plot file {str(path)!r} must end in .png")
    samples = timeline.samples
    ids = sorted(timeline.face_ids(), key=lambda f: -sum(s.face_id == f for s in samples))[:max_faces]
    ids.sort()
    fig = Figure(figsize=(10, 2.4 * max(len(ids), 1) + 0.6), dpi=100)
    if not ids:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no face found", ha="center", va="center", fontsize=16)
        ax.set_axis_off()
    else:
        axes = np.atleast_1d(fig.subplots(len(ids), 1, sharex=True, squeeze=False)[:, 0])
        for ax, fid in zip(axes, ids):
            rows = [s for s in samples if s.face_id == fid]
            t = [s.time for s in rows]
            probs = np.stack([s.probs for s in rows])
            for k, name in enumerate(timeline.labels):
                b, g, r = EMOTION_COLORS_BGR.get(name, (0, 0, 0))
                ax.plot(t, probs[:, k], color=(r / 255, g / 255, b / 255), label=name, lw=1.5,
                        marker="." if len(t) < 3 else None)
            ax.set_ylim(0, 1)
            ax.set_ylabel(f"face {fid}")
            ax.grid(alpha=0.3)
        axes[0].legend(ncol=len(timeline.labels), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.35))
        axes[-1].set_xlabel("time (s)")
    fig.suptitle(f"emotions over time — {Path(timeline.source).name}", y=0.995)
    fig.tight_layout()
    return _save(fig, path)
