"""Labelled video datasets: class folders and UCF101-style split lists.

Layouts understood by :func:`load_dataset`:

* class folders -- ``<root>/{train,val,test}/<Class>/*.mp4`` (any video extension);
  ``val`` and ``test`` are optional;
* a generated world (:mod:`vidcap.data.synthetic`) -- its ``classes/<split>/<label>/``;
* UCF101 split lists -- ``<root>/classInd.txt`` (``1 ApplyEyeMakeup``) with
  ``trainlist01.txt`` (``ApplyEyeMakeup/v_..._c01.avi 1``) and ``testlist01.txt``
  (``ApplyEyeMakeup/v_..._c01.avi``); video paths are relative to ``videos_dir``
  (default: the root).

Every video is probed (demux only, nothing decoded); unreadable ones are skipped,
logged and listed in :attr:`VideoDataset.skipped` -- never silently dropped.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from vidcap.errors import DataError, VidcapError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts", ".gif"}
SPLITS = ("train", "val", "test")


@dataclass
class VideoItem:
    path: Path
    label: int  # index into VideoDataset.classes


@dataclass
class VideoDataset:
    """Videos with class labels, by split.

    classes: sorted class names (the label index is the position here).
    splits: split name -> list of :class:`VideoItem` (readable videos only).
    skipped: ``{"path", "split", "error"}`` for each video that could not be read.
    """

    root: Path
    classes: list[str]
    splits: dict[str, list[VideoItem]]
    skipped: list[dict] = field(default_factory=list)
    layout: str = "folders"

    def items(self, split: str) -> list[VideoItem]:
        if split not in self.splits:
            raise DataError(f"dataset {self.root} has no {split!r} split; it has {sorted(self.splits)}")
        return self.splits[split]

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for split, items in self.splits.items():
            per = {c: 0 for c in self.classes}
            for it in items:
                per[self.classes[it.label]] += 1
            out[split] = per
        return out

    def to_dict(self) -> dict:
        return {
            "root": str(self.root),
            "layout": self.layout,
            "classes": self.classes,
            "splits": {s: len(v) for s, v in self.splits.items()},
            "skipped": self.skipped,
        }


def _videos_in(folder: Path) -> list[Path]:
    """Every entry with a video extension -- FIFOs, devices and broken links too: they are
    probed like the rest and listed as skipped with the reason, never dropped unseen."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and not p.is_dir())


def _scan_split(split_dir: Path) -> dict[str, list[Path]]:
    """Class name -> videos in ``split_dir/<Class>/``; an empty class folder is an error."""
    classes = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{split_dir}: holds no class folders; expected {split_dir}/<Class>/*.mp4")
    found = {}
    for folder in classes:
        videos = _videos_in(folder)
        if not videos:
            raise DataError(
                f"class folder {folder} holds no videos (extensions {', '.join(sorted(VIDEO_EXTENSIONS))}); "
                "add videos or remove the folder"
            )
        found[folder.name] = videos
    return found


def _check_classes(classes: list[str], where: Path) -> None:
    if len(classes) < 2:
        raise DataError(
            f"{where}: found a single class ({', '.join(classes) or 'none'}); "
            "classification needs at least two class folders"
        )


def _probe_all(splits: dict[str, list[tuple[Path, str]]], classes: list[str], check: bool) -> tuple[dict, list]:
    from vidcap.io import probe

    index = {c: i for i, c in enumerate(classes)}
    out, skipped = {}, []
    for split, entries in splits.items():
        items = []
        for path, cls in entries:
            if check:
                try:
                    info = probe(path)
                    if info.num_frames < 1:
                        raise DataError(f"{path}: holds no frames")
                except VidcapError as exc:
                    log.warning("skipping unreadable video %s: %s", path, exc)
                    skipped.append({"path": str(path), "split": split, "class": cls, "error": str(exc)})
                    continue
            items.append(VideoItem(Path(path), index[cls]))
        out[split] = items
    return out, skipped


def load_class_folders(root, *, check: bool = True) -> VideoDataset:
    """Read ``root/{train,val,test}/<Class>/*`` (or a generated world's ``classes/``)."""
    root = Path(root)
    base = root / "classes" if (root / "classes" / "train").is_dir() else root
    if not (base / "train").is_dir():
        raise DataError(f"{root}: no train/ folder; expected {root}/train/<Class>/*.mp4 (and optionally val/, test/)")
    names = SPLITS + (("test_compositional",) if base != root else ())  # the world's held-out combinations
    scanned = {s: _scan_split(base / s) for s in names if (base / s).is_dir()}
    # A generated world may lack a class in a small val/test split; the class list is train's.
    classes = sorted(scanned["train"])
    _check_classes(classes, base / "train")
    entries = {}
    for split, per_class in scanned.items():
        unknown = sorted(set(per_class) - set(classes))
        if unknown:
            raise DataError(f"{base / split}: classes {unknown} do not occur in {base / 'train'}")
        entries[split] = [(p, c) for c in sorted(per_class) for p in per_class[c]]
    splits, skipped = _probe_all(entries, classes, check)
    _after_probe(splits, classes, base)
    return VideoDataset(root, classes, splits, skipped, "world" if base != root else "folders")


def _read_lines(path: Path) -> list[str]:
    try:
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def load_split_lists(root, *, split: int = 1, videos_dir=None, check: bool = True) -> VideoDataset:
    """Read UCF101-style ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt``."""
    root = Path(root)
    videos_dir = Path(videos_dir) if videos_dir is not None else root
    ind = root / "classInd.txt"
    if not ind.is_file():
        raise DataError(f"{root}: no classInd.txt (lines '1 ApplyEyeMakeup')")
    classes_by_id = {}
    for line in _read_lines(ind):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{ind}: bad line {line!r}; expected '<index> <ClassName>'")
        classes_by_id[int(parts[0])] = parts[1]
    classes = sorted(classes_by_id.values())
    _check_classes(classes, ind)
    entries: dict[str, list] = {}
    for name in ("train", "val", "test"):
        lst = root / f"{name}list{split:02d}.txt"
        if not lst.is_file():
            if name == "train":
                raise DataError(f"{root}: no {lst.name}")
            continue
        rows = []
        for line in _read_lines(lst):
            parts = line.split()
            rel = parts[0]
            if len(parts) > 1:
                cid = int(parts[1])
                if cid not in classes_by_id:
                    raise DataError(f"{lst}: class index {cid} in {line!r} is not in {ind.name}")
                cls = classes_by_id[cid]
            else:
                cls = Path(rel).parent.name
                if cls not in classes:
                    raise DataError(f"{lst}: cannot tell the class of {rel!r}: folder {cls!r} is not in {ind.name}")
            rows.append((videos_dir / rel, cls))
        if not rows:
            raise DataError(f"{lst}: lists no videos")
        entries[name] = rows
    splits, skipped = _probe_all(entries, classes, check)
    _after_probe(splits, classes, root)
    return VideoDataset(root, classes, splits, skipped, "split-lists")


def _after_probe(splits: dict, classes: list[str], where: Path) -> None:
    """After dropping unreadable videos, every class still needs a training video."""
    have = {it.label for it in splits.get("train", [])}
    missing = [c for i, c in enumerate(classes) if i not in have]
    if missing:
        raise DataError(f"{where}: no readable training video for classes {missing}")


def load_dataset(root, *, split: int = 1, videos_dir=None, check: bool = True) -> VideoDataset:
    """Class folders, a generated world, or UCF101 split lists -- whichever ``root`` holds."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    if (root / "classInd.txt").is_file():
        return load_split_lists(root, split=split, videos_dir=videos_dir, check=check)
    return load_class_folders(root, check=check)
