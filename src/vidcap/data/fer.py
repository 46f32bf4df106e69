"""FER2013-format CSVs: ``emotion,pixels,Usage`` rows of 48×48 grey faces, as the seed reads them.

``emotion`` is a FER2013 label 0..6, ``pixels`` 2,304 space-separated grey values,
``Usage`` the split (``Training``, ``PrivateTest`` → validation, ``PublicTest`` →
test). Disgust (1) is merged into angry (0) and the rest shift down by one (the
seed's 6 classes).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidcap.errors import DataError
from vidcap.io.files import check_readable
from vidcap.models.emotion import fer_to_seed_label

SPLITS = {"Training": "train", "PrivateTest": "val", "PublicTest": "test"}
SIDE = 48


@dataclass
class FERData:
    """``images (N, 48, 48) uint8`` and ``labels (N,) int64`` (seed classes) per split."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.labels.items()}


def load_fer_csv(path: str | os.PathLike, *, merge_disgust: bool = True) -> FERData:
    """Read a FER2013-format CSV; labels become the seed's 6 classes when ``merge_disgust``."""
    try:
        path = check_readable(path, "FER CSV")
    except Exception as exc:  # DecodeError: missing, a folder, a FIFO ...
        raise DataError(str(exc)) from None
    try:
        return _read(path, merge_disgust)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a valid CSV file: {exc}") from None


def _read(path: Path, merge_disgust: bool) -> FERData:
    images: dict[str, list] = {s: [] for s in SPLITS.values()}
    labels: dict[str, list] = {s: [] for s in SPLITS.values()}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path} lacks the column(s) {sorted(missing)}; a FER2013 CSV has emotion,pixels,Usage")
        for line_no, row in enumerate(reader, start=2):
            if None in row.values() or None in row:  # a short or long row (e.g. an unterminated quote)
                raise DataError(f"{path} line {line_no}: has not the 3 columns emotion,pixels,Usage")
            split = SPLITS.get(row["Usage"].strip())
            if split is None:
                raise DataError(f"{path} line {line_no}: Usage {row['Usage']!r} is not one of {sorted(SPLITS)}")
            try:
                label = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
            except ValueError as exc:
                raise DataError(f"{path} line {line_no}: emotion/pixels are not integers ({exc})") from exc
            if not 0 <= label <= 6:
                raise DataError(f"{path} line {line_no}: emotion {label} is outside 0..6")
            if pixels.size != SIDE * SIDE or pixels.min() < 0 or pixels.max() > 255:
                raise DataError(f"{path} line {line_no}: pixels must be {SIDE * SIDE} values in 0..255, "
                                f"got {pixels.size}")
            images[split].append(pixels.astype(np.uint8).reshape(SIDE, SIDE))
            labels[split].append(fer_to_seed_label(label) if merge_disgust else label)
    if not labels["train"]:
        raise DataError(f"{path} has no rows with Usage=Training")
    return FERData(
        images={k: np.stack(v) if v else np.zeros((0, SIDE, SIDE), np.uint8) for k, v in images.items()},
        labels={k: np.asarray(v, np.int64) for k, v in labels.items()},
    )


