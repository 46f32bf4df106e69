"""Checkpoint files, shared by every task: atomic saves, run folders, safe loading.

A checkpoint is a plain dict written with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading one never runs pickled code. Each task
tags its dicts with a ``format`` name and version (see ``vidcap.tasks.*``) and lists
the entries it needs.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from vidcap.errors import ModelError, VidcapError
from vidcap.io.files import atomic_path, check_readable


def save_checkpoint(ckpt: dict, path) -> Path:
    """Write ``ckpt`` atomically (temp file beside ``path``, then rename); returns ``path``."""
    import torch

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
    if not p.exists() and not p.is_symlink():
        raise ModelError(f"{what} {p} does not exist")
    try:
        check_readable(p, what)
    except Exception as exc:  # DecodeError: a FIFO, a device, a link loop
        raise ModelError(str(exc)) from None
    return p


def read_checkpoint_dict(path: Path, what: str = "checkpoint") -> dict:
    """``torch.load(path, weights_only=True)`` with one-sentence errors (never the advice to unpickle)."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "GLOBAL" in str(exc):  # a class or function: code would run
            raise ModelError(f"{path} contains objects that are not plain tensors and was not loaded "
                             "(it may be unsafe)") from None
        raise ModelError(f"{what} {path} is corrupt or not a torch file") from None
    except Exception as exc:  # torch raises many types (RuntimeError, EOFError, zip errors)
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"{what} {path} is corrupt or not a torch file ({type(exc).__name__}: {detail})") from None


def load_checkpoint(path: Path, *, format: str, version: int, required: tuple[str, ...], what: str) -> dict:
    """Load the checkpoint dict at ``path`` and check its format, version and entries."""
    ckpt = read_checkpoint_dict(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != format:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelError(f"{path} is not a vidcap {what} checkpoint (format {found!r}, expected {format!r})")
    if int(ckpt.get("format_version", 0)) > version:
        raise ModelError(f"checkpoint {path} has format version {ckpt['format_version']}; upgrade vidcap to read it")
    for key in required:
        if key not in ckpt:
            raise ModelError(f"checkpoint {path} lacks its {key!r} entry; it is corrupt")
    return ckpt


def state_hash(state: dict, *, digest_size: int = 8) -> str:
    """A short content hash of a state dict (names, shapes and values)."""
    h = hashlib.blake2b(digest_size=digest_size)
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.float().numpy().tobytes() if t.is_floating_point() else t.numpy().tobytes())
    return h.hexdigest()


def restore_model(make, ckpt: dict, path):
    """``make(model_args)`` (an ``nn.Module``) with the checkpoint's ``model`` weights, in eval mode;
    a :class:`ModelError` naming ``path`` when its configuration or weights do not fit."""
    try:
        model = make(ckpt["model_args"])
        model.load_state_dict(ckpt["model"])
    except (TypeError, VidcapError) as exc:
        raise ModelError(f"checkpoint {path} has an invalid model configuration: {exc}") from exc
    except RuntimeError as exc:
        raise ModelError(f"weights in {path} do not fit its configuration: {str(exc).splitlines()[0]}") from exc
    return model.eval()
