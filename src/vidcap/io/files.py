"""Atomic file writes: a half-written file never looks complete.

Each writer writes to a temporary file in the destination's folder and renames
it into place only after the write succeeded (``os.replace`` is atomic on POSIX).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary file keeps ``path``'s extension (or ``suffix``) so writers that
    choose a format by extension still work. On error it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp" + (suffix or path.suffix), dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the result a normal file's mode
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path, what: str = "JSON file"):
    """Parse a JSON file, or raise DataError naming it: missing, not UTF-8 or not JSON."""
    from vidcap.errors import DataError

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{what} {path} is a folder, not a file") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{what} {path} is not valid JSON: {exc}") from exc


def write_json(path, obj, **kwargs) -> None:
    """Write ``obj`` as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=kwargs.pop("indent", 2), ensure_ascii=False, **kwargs) + "\n")


def save_npy(path, array: np.ndarray) -> None:
    """``np.save`` atomically (the result loads with plain ``np.load``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
