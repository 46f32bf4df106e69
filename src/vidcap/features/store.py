"""The feature store: one ``<name>.npy`` (T, D) per video plus a ``<name>.json`` record.

The ``.npy`` is the seed's layout and loads with plain ``np.load``. The record
holds what produced it (content hash, backbone, weights, sampling parameters),
the timestamps, and the status or error. A video is skipped on a re-run only
when its record says ``ok`` and both the file and the parameters are unchanged.
Writes are atomic and the record is written last, so a run killed at any point
leaves either a complete entry or none.
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
from vidcap.features.backbones import file_hash
from vidcap.io.files import save_npy, write_json

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

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def file_stat(path: Path) -> dict:
    """Size and modification time: a cheap "has this file changed?" check before hashing."""
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


class FeatureStore:
    """A folder of per-video features."""

    def __init__(self, root):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DataError(f"{self.root}: exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)

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
        ``<stem>-<8 hex of the absolute path>`` for all but the one already stored
        under the plain stem (or the first one listed), so names are stable
        across runs.
        """
        sources = [str(v.resolve()) for v in videos]
        claimed: dict[str, str] = {}
        for src in sources:  # a stem already stored keeps its owner
            stem = Path(src).stem
            record = self.read_record(stem)
            if record and record.get("source") == src:
                claimed[stem] = src
        names = []
        for src in sources:
            stem = Path(src).stem
            owner = claimed.setdefault(stem, src) if stem not in RESERVED else None
            if owner == src:
                names.append(stem)
            else:
                names.append(f"{stem}-{hashlib.sha1(src.encode()).hexdigest()[:8]}")
        return names

    # -- status
    def is_current(self, name: str, video: Path, params: Params) -> bool:
        """True when ``name`` holds finished features of this exact file and parameters."""
        record = self.read_record(name)
        if not record or record.get("status") != "ok" or record.get("params") != params.to_dict():
            return False
        if not self.npy_path(name).is_file():
            return False
        if record.get("source") != str(video.resolve()):
            return False
        if record.get("stat") == file_stat(video):
            return True
        # Touched or copied: compare contents.
        return record.get("hash") == file_hash(video)

    # -- writes
    def save(self, name: str, video: Path, params: Params, features, info=None) -> dict:
        """Write ``<name>.npy`` then its record (atomically, in that order)."""
        save_npy(self.npy_path(name), features.features.astype(np.float32, copy=False))
        record = {
            "name": name,
            "source": str(video.resolve()),
            "status": "ok",
            "error": None,
            "hash": file_hash(video),
            "stat": file_stat(video),
            "params": params.to_dict(),
            "shape": list(features.features.shape),
            "valid": int(features.mask.sum()),
            "timestamps": [round(float(t), 6) for t in features.timestamps],
            "indices": [int(i) for i in features.indices],
            "mask": [bool(m) for m in features.mask],
            "info": info.to_dict() if info is not None else None,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(self.record_path(name), record)
        return record

    def save_failure(self, name: str, video: Path, params: Params, error: str) -> dict:
        """Record a failed video (its old features, if any, are left in place but marked failed)."""
        record = {
            "name": name,
            "source": str(video.resolve()),
            "status": "failed",
            "error": error,
            "params": params.to_dict(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json(self.record_path(name), record)
        return record

    def write_manifest(self, records: list[dict]) -> Path:
        """The run's summary: one entry per video (without the per-frame lists)."""
        slim = [{k: v for k, v in r.items() if k not in ("timestamps", "indices", "mask")} for r in records]
        path = self.root / MANIFEST
        write_json(path, {"videos": slim, "ok": sum(r["status"] == "ok" for r in records),
                          "failed": sum(r["status"] == "failed" for r in records)})
        return path

    # -- reads
    def load(self, name: str) -> tuple[np.ndarray, dict]:
        """``(features (T, D) float32, record)`` of a finished video."""
        record = self.read_record(name)
        if not record or record.get("status") != "ok":
            raise DataError(f"{self.root}: no finished features for {name!r}")
        return np.load(self.npy_path(name)), record


def remove_stale_temps(root) -> None:
    """Delete temp files a killed run left behind (they never look complete)."""
    for tmp in Path(root).glob(".*.tmp*"):
        try:
            os.unlink(tmp)
        except OSError:
            pass
