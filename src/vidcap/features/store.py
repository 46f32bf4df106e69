"""The feature store: one ``<name>.npy`` (T, D) per video plus a ``<name>.json`` record.

The ``.npy`` is the seed's layout and loads with plain ``np.load``. The record
holds what produced it (content hash, backbone, weights, sampling parameters),
the timestamps, the array's shape and checksum, and the status or error. A video
is skipped on a re-run only when its record says ``ok``, the file and the
parameters are unchanged and the ``.npy`` on disk is the one the record describes
(shape and checksum), so a run killed between writing the array and its record
never leaves an entry that looks complete. Writes are atomic; the slow content
hash of the video is computed before anything is written.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcap.errors import DataError
from vidcap.io.files import file_hash, file_lock, save_npy, write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RESERVED = {Path(MANIFEST).stem}


@dataclass(frozen=True)
class Params:
    """Everything that changes a video's features."""

    backbone: str
    weights: str  # hash of the weight file ("random" for untrained)
    num_frames: int | None
    fps: float | None
    short: str
    precision: str = "fp32"  # the one that ran ("auto" decided): fp32, bf16 or int8
    seek: str = "exact"  # "fast": keyframes in place of some samples (vidcap.io.sample_frames)
    fit: str = "crop"  # "pad": the whole frame, letterboxed (vidcap.features.extract.decode_fitted)

    def to_dict(self) -> dict:
        """The record's ``params``; the first defaults (fp32, exact seeking, centre crop) are
        left out, so stores written before those options existed stay current."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key, first in (("precision", "fp32"), ("seek", "exact"), ("fit", "crop")):
            if d[key] == first:
                del d[key]
        return d


def file_stat(path: Path) -> dict:
    """Size and modification time: a cheap "has this file changed?" check before hashing."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class FeatureStore:
    """A folder of per-video features; several processes may write into one store at once.

    Names are decided under a lock file (``.lock``): a run claims each new name with a
    ``claimed`` record before it computes anything, so a run started at the same time
    with another video of the same file name takes ``<stem>-<hash>`` instead of
    overwriting it. The manifest is rebuilt from every record of the store, under the
    same lock, so it lists what all runs stored.
    """

    def __init__(self, root):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DataError(f"{self.root}: exists and is not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the feature store {self.root}: {exc.strerror or exc}") from None

    def lock(self):
        """The store's lock (see the class docstring)."""
        return file_lock(self.root / ".lock")

    # -- names
    def record_path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def npy_path(self, name: str) -> Path:
        return self.root / f"{name}.npy"

    def read_record(self, name: str) -> dict | None:
        try:
            return json.loads(self.record_path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("%s: unreadable record; the video will be processed again", self.record_path(name))
            return None

    def assign_names(self, videos: list[Path]) -> list[str]:
        """A store name per video: its stem, unless another video already owns that stem.

        Two videos with the same file name in different folders get
        ``<stem>-<8 hex of the absolute path>`` for all but the one already stored (or
        claimed) under the plain stem, or the first one listed, so names are stable
        across runs. New names are claimed at once, under the store's lock.
        """
        sources = [_source(v) for v in videos]
        with self.lock():
            owners: dict[str, str | None] = {}
            for src in sources:
                stem = Path(src).stem
                if stem not in owners:
                    record = self.read_record(stem)
                    owners[stem] = record.get("source") if record else None
            names = []
            for src in sources:
                stem = Path(src).stem
                if stem in RESERVED:
                    owner = None
                elif owners[stem] is None:
                    owner = owners[stem] = src
                    write_json(self.record_path(stem), {"name": stem, "source": src, "status": "claimed"})
                else:
                    owner = owners[stem]
                names.append(stem if owner == src else f"{stem}-{hashlib.sha1(src.encode()).hexdigest()[:8]}")
            return names

    # -- status
    def is_current(self, name: str, video: Path, params: Params, *, stat: dict | None = None) -> bool:
        """True when ``name`` holds finished features of this exact file and parameters.

        ``stat``: for an object-store input (a URI), its size and modification time,
        compared instead of the file's (a changed object is processed again)."""
        record = self.read_record(name)
        if not record or record.get("status") != "ok" or record.get("params") != params.to_dict():
            return False
        if record.get("source") != _source(video):
            return False
        if record.get("array") != array_checksum(self.npy_path(name)):
            return False  # the .npy is missing, or not the one the record was written for
        if stat is not None:
            return record.get("stat") == stat
        if record.get("stat") == file_stat(video):
            return True
        # Touched or copied: compare contents.
        return record.get("hash") == file_hash(video)

    # -- writes
    def save(self, name: str, video: Path, params: Params, array: np.ndarray, *, timestamps, indices, mask,
             info=None, extra: dict | None = None, digest: str | None = None, stat: dict | None = None) -> dict:
        """Write ``<name>.npy`` (any dtype) then its record (atomically, in that order).

        ``digest``, ``stat``: the video's content hash and stat when the worker that
        decoded it computed them (a cluster job; an object-store input)."""
        if digest is None:
            digest, stat = file_hash(video), file_stat(video)  # before anything is published
        save_npy(self.npy_path(name), array)
        record = {
            "name": name, "source": _source(video), "status": "ok", "error": None,
            "hash": digest, "stat": stat, "params": params.to_dict(),
            "shape": list(array.shape), "array": array_checksum(self.npy_path(name)),
            "valid": int(np.sum(mask)),
            "timestamps": [round(float(t), 6) for t in timestamps],
            "indices": [int(i) for i in indices],
            "mask": [bool(m) for m in mask],
            "info": info.to_dict() if info is not None else None,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **(extra or {}),
        }
        write_json(self.record_path(name), record)
        return record

    def save_features(self, name: str, video: Path, params: Params, features, info=None, **hashes) -> dict:
        """Store a :class:`~vidcap.results.Features` (float32); ``hashes``: see :meth:`save`."""
        return self.save(name, video, params, features.features.astype(np.float32, copy=False),
                         timestamps=features.timestamps, indices=features.indices, mask=features.mask, info=info,
                         **hashes)

    def save_failure(self, name: str, video: Path, params: Params, error: str) -> dict:
        """Record a failed video (its old features, if any, are left in place but marked failed)."""
        record = {
            "name": name,
            "source": _source(video),
            "status": "failed",
            "error": error,
            "params": params.to_dict(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(self.record_path(name), record)
        return record

    def write_manifest(self) -> Path:
        """The store's summary: one entry per stored or failed video (without the per-frame
        lists), from every record, whichever run wrote it."""
        with self.lock():
            records = [r for r in (self.read_record(p.stem) for p in sorted(self.root.glob("*.json"))
                                   if p.stem not in RESERVED) if r and r.get("status") in ("ok", "failed")]
            slim = [{k: v for k, v in r.items() if k not in ("timestamps", "indices", "mask")} for r in records]
            return write_json(self.root / MANIFEST, {"videos": slim, "ok": sum(r["status"] == "ok" for r in records),
                                                     "failed": sum(r["status"] == "failed" for r in records)})

    # -- reads
    def load(self, name: str) -> tuple[np.ndarray, dict]:
        """``(array, record)`` of a finished video; an array that is not the record's is refused."""
        record = self.read_record(name)
        if not record or record.get("status") != "ok":
            raise DataError(f"{self.root}: no finished features for {name!r}")
        array = np.load(self.npy_path(name), allow_pickle=False)
        if list(array.shape) != record.get("shape"):
            raise DataError(f"{self.npy_path(name)} has shape {array.shape} but its record says {record.get('shape')}; "
                            "extract it again")
        return array, record


def _source(video: Path) -> str:
    """The absolute path that names a video in its records (the link itself when it loops);
    an object-store URI (a ``scheme://`` string) names itself."""
    if isinstance(video, str) and "://" in video:
        return video
    try:
        return str(Path(video).resolve())
    except (OSError, RuntimeError):
        return str(Path(video).absolute())


def array_checksum(path: Path) -> str | None:
    """A short hash of a ``.npy`` file's bytes (None when it does not exist)."""
    try:
        return file_hash(path)[:16]
    except OSError:
        return None


def remove_stale_temps(root) -> None:
    """Delete temp files a killed run left behind (they never look complete)."""
    for tmp in Path(root).glob(".*.tmp*"):
        try:
            os.unlink(tmp)
        except OSError:
            pass
