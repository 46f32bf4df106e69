"""Files: the one atomic writer, content hashes, input lists, and checks on paths.

Every file vidcap writes goes through :func:`atomic_path` (or :class:`AtomicFile`):
it is written under a temporary name in the destination's folder and renamed into
place only after the write succeeded (``os.replace`` is atomic on POSIX), so a
half-written file never looks complete. The temporary file is created with mode
``0666`` minus the process umask, as ``open()`` would, so results get the usual
permissions without touching the umask.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import secrets
import stat
from pathlib import Path
from typing import Iterable, Iterator

from vidcap.errors import ConfigError, DataError, DecodeError

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif", ".m4v", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".3gp", ".ts"})
MAX_JSON_DEPTH = 64  # vidcap's own files nest a few levels; deeper input is hostile or broken


# --------------------------------------------------------------------------- writing
class AtomicFile:
    """A temporary file beside ``path`` that becomes ``path`` on :meth:`commit`.

    ``tmp`` keeps ``path``'s extension (or ``suffix``) so writers that choose a
    format by extension still work. :meth:`discard` (or an error inside
    :func:`atomic_path`) removes it and leaves ``path`` untouched.
    """

    def __init__(self, path, *, suffix: str | None = None):
        self.path = Path(path)
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the folder {folder} for {self.path}: {_why(exc)}") from exc
        ext = suffix if suffix is not None else self.path.suffix
        for _ in range(100):
            tmp = folder / f".{self.path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{ext}"
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise DataError(f"cannot write {self.path}: {_why(exc)}") from exc
            os.close(fd)
            self.tmp = tmp
            break
        else:  # pragma: no cover - 100 collisions of 32 random bits
            raise DataError(f"cannot create a temporary file beside {self.path}")

    def commit(self) -> Path:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise DataError(f"cannot write {self.path}: {_why(exc)}") from exc
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it becomes ``path`` when the block ends without error.

    A full disk or a read-only folder raises :class:`~vidcap.errors.DataError`
    naming the file, and nothing is left behind.
    """
    f = AtomicFile(path, suffix=suffix)
    try:
        yield f.tmp
    except OSError as exc:
        f.discard()
        raise DataError(f"cannot write {f.path}: {_why(exc)}") from exc
    except BaseException:
        f.discard()
        raise
    f.commit()


def describe_os_error(exc: OSError) -> str:
    """One sentence for an OSError: the file and what is wrong with it."""
    name = exc.filename if exc.filename is not None else "a file"
    return f"{name}: {_why(exc)}"


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the folder is read-only or not writable"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def file_lock(path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing) for the block: the one way
    several processes writing into one folder (a feature store, a library) take turns.
    POSIX ``flock``: released when the block ends or the process dies."""
    import fcntl

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    except OSError as exc:
        raise DataError(f"cannot lock {path}: {_why(exc)}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def write_text(path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return Path(path)


def plain(obj):
    """``obj`` with numpy scalars/arrays, paths and tuples made plain JSON values; NaN and
    infinities become None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "to_dict"):
        return plain(obj.to_dict())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return plain(obj.tolist())
    raise TypeError(f"{type(obj).__name__} is not JSON data")


def to_json(obj, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` (see :func:`plain`): what ``JSON.parse`` accepts."""
    return json.dumps(plain(obj), indent=indent, ensure_ascii=False, allow_nan=False)


def write_json(path, obj, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON, atomically."""
    return write_text(path, to_json(obj, indent=indent) + "\n")


def save_npy(path, array) -> Path:
    """``np.save`` atomically (the result loads with plain ``np.load``)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)
    return Path(path)


def check_output(output, *inputs) -> Path:
    """``output`` as a Path, or ConfigError when it is one of ``inputs`` (the same file,
    also through links): writing it would destroy the input."""
    out = Path(output)
    for src in inputs:
        if src is None:
            continue
        try:
            same = out.exists() and Path(src).exists() and os.path.samefile(out, src)
        except OSError:
            same = False
        if same or out.resolve() == Path(src).resolve():
            raise ConfigError(f"the output {out} is the input {src}; writing it would destroy the input, "
                              "choose another file name")
    return out


# --------------------------------------------------------------------------- reading
def check_readable(path, what: str = "file") -> Path:
    """``path`` if it is an existing regular file (links followed), else one clear error:
    missing, a folder, a FIFO, a device or socket, or a symlink loop."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DecodeError(f"{path}: is a broken symbolic link") from None
        raise DecodeError(f"{path}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DecodeError(f"{path}: is a symbolic link loop") from None
        raise DecodeError(f"{path}: cannot be read ({_why(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise DecodeError(f"{path}: is {kind}, not a regular file")
    return path


def _depth(text: str) -> int:
    """Deepest nesting of brackets outside strings (cheap; no parsing)."""
    depth = best = 0
    in_str = escape = False
    for ch in text:
        if in_str:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
            if best > MAX_JSON_DEPTH:
                return best
        elif ch in "]}":
            depth -= 1
    return best


def read_json(path, what: str = "JSON file"):
    """Parse a JSON file, or raise DataError naming it: missing, not a regular file,
    not UTF-8, not JSON, or nested deeper than any vidcap file (``MAX_JSON_DEPTH``)."""
    path = Path(path)
    try:
        check_readable(path, what)
        text = path.read_text(encoding="utf-8")
    except DecodeError as exc:
        raise DataError(f"{what} {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataError(f"{what} {path} cannot be read ({_why(exc)})") from None
    if _depth(text) > MAX_JSON_DEPTH:
        raise DataError(f"{what} {path} nests deeper than {MAX_JSON_DEPTH} levels; it is not a file vidcap reads")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{what} {path} is not valid JSON: {exc}") from None


def file_hash(path, *, algorithm: str = "blake2b", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes (blake2b-160 by default; ``"sha256"`` also works)."""
    h = hashlib.blake2b(digest_size=20) if algorithm == "blake2b" else hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def find_videos(inputs: Iterable) -> list[Path]:
    """Expand files, folders (searched recursively for video extensions) and ``.txt`` lists
    of paths (one per line, ``#`` comments) into video paths, each once.

    Missing and odd entries are kept (the caller records their errors); a folder that
    cannot be walked, a symlink loop or a list that is not UTF-8 raise one clear error.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                found += sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop inside the folder
                raise DataError(f"{path}: cannot be searched for videos ({exc})") from None
        elif path.suffix.lower() == ".txt" and path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as exc:
                raise DataError(f"video list {path} is not UTF-8 text ({exc.reason})") from None
            for line in lines:
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line)
                    found.append(entry if entry.is_absolute() else path.parent / entry)
        else:
            found.append(path)  # missing or odd files are recorded as failures later
    seen, unique = set(), []
    for p in found:
        try:
            key = str(p.resolve())
        except (OSError, RuntimeError):  # a symlink loop: keep it, it fails with a clear error later
            key = str(p.absolute())
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
