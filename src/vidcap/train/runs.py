"""Checkpoint files, shared by every training loop: atomic saves, run folders, safe loading.

A checkpoint is a plain dict written with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading one never runs pickled code. Each task
tags its dicts with a ``format`` name and version and lists the entries it needs.
"""
from __future__ import annotations

from pathlib import Path

import torch

from vidcap.errors import ModelError
from vidcap.io.files import atomic_path


def save_checkpoint(ckpt: dict, path) -> Path:
    """Write ``ckpt`` atomically (temp file beside ``path``, then rename); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def resolve_run(path, *, default: Path | None = None, what: str = "model checkpoint") -> Path:
    """A checkpoint file, or a training run folder (its best.pt, else last.pt).

    ``path=None`` means ``default`` (a bundled model), when the task has one.
    """
    if path is None:
        if default is None:
            raise ModelError(f"no {what} was given; pass --model")
        if not default.is_file():
            raise ModelError(f"the bundled {what} {default} is missing; reinstall vidcap or pass --model")
        return default
    p = Path(path)
    if p.is_dir():
        for name in ("best.pt", "last.pt"):
            if (p / name).is_file():
                return p / name
        raise ModelError(f"run folder {p} holds neither best.pt nor last.pt")
    if not p.is_file():
        raise ModelError(f"{what} {p} does not exist")
    return p


def load_checkpoint(path: Path, *, format: str, version: int, required: tuple[str, ...], what: str) -> dict:
    """Load the checkpoint dict at ``path`` and check its format, version and entries."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError, zip errors)
        raise ModelError(f"checkpoint {path} is corrupt or not a vidcap checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != format:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"{path} is not a vidcap {what} checkpoint (format {found!r}, expected {format!r})")
    if int(ckpt.get("format_version", 0)) > version:
        raise ModelError(f"checkpoint {path} has format version {ckpt['format_version']}; upgrade vidcap to read it")
    for key in required:
        if key not in ckpt:
            raise ModelError(f"checkpoint {path} lacks its {key!r} entry; it is corrupt")
    return ckpt
