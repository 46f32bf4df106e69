"""Inputs for cluster jobs: local files, folders and lists, and object-store URIs.

A URI (``s3://bucket/videos/``, ``gs://...``, ``file:///data/videos``, or any scheme
``fsspec`` knows) is read through a pyarrow filesystem: a folder is listed
recursively for video extensions, a file is copied to a temporary file on the
worker that decodes it (hashing its bytes on the way). A URI names its video in the
feature store's records (``source``); a changed object (other size or modification
time) is processed again. Credentials and endpoints come from the usual places
(``AWS_*`` variables, ``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path, PurePosixPath

from vidcap.errors import DataError
from vidcap.io.files import VIDEO_EXTENSIONS, file_hash, find_videos
from vidcap.io.remote import filesystem, is_uri, join


def _uri_of(uri: str, base: str, path: str) -> str:
    """The URI of ``path`` (a file found under ``base``, the path part of ``uri``)."""
    return join(uri, path[len(base.rstrip("/")):])


def find_inputs(inputs) -> list:
    """Local inputs exactly as :func:`vidcap.io.files.find_videos` gives them (Paths), and
    URIs expanded into the URIs of their video files (strings); each video once, in order."""
    import pyarrow.fs as pafs

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = list(inputs)
    if not any(is_uri(str(i)) for i in inputs):
        return find_videos(inputs)
    found: list = []
    for item in inputs:
        if not is_uri(str(item)):
            found += [p for p in find_videos([item]) if p not in found]
            continue
        uri = str(item)
        fs, path = filesystem(uri)
        try:
            info = fs.get_file_info(path)
            entries = fs.get_file_info(pafs.FileSelector(path, recursive=True)) \
                if info.type == pafs.FileType.Directory else []
        except OSError as exc:
            raise DataError(f"{uri}: cannot be listed ({exc})") from None
        if info.type != pafs.FileType.Directory:
            uris = [uri]  # a file, or a missing object that fails with its own error later
        else:
            uris = [_uri_of(uri, path, e.path) for e in sorted(entries, key=lambda e: e.path)
                    if e.type == pafs.FileType.File and PurePosixPath(e.path).suffix.lower() in VIDEO_EXTENSIONS]
        found += [u for u in uris if u not in found]
    return found


def remote_stat(uri: str) -> dict | None:
    """Size and modification time of an object (None when it does not exist)."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        return None
    return {"size": int(info.size), "mtime_ns": int(info.mtime_ns or 0)}


@contextlib.contextmanager
def local_copy(item, chunk: int = 1 << 20):
    """``(local path, content hash, stat)`` of an input: a local file as it is, a URI
    copied to a temporary file (deleted afterwards). Raises DataError for a missing object."""
    from vidcap.features.store import file_stat

    if not is_uri(item):
        path = Path(item)
        yield path, (lambda: file_hash(path)), (lambda: file_stat(path))
        return
    stat = remote_stat(item)
    if stat is None:
        raise DataError(f"{item}: no such object")
    fs, path = filesystem(item)
    digest = hashlib.blake2b(digest_size=20)  # the same hash as vidcap.io.files.file_hash
    fd, tmp = tempfile.mkstemp(prefix="vidcap-", suffix=PurePosixPath(path).suffix)
    try:
        try:
            with os.fdopen(fd, "wb") as out, fs.open_input_stream(path) as src:
                while block := src.read(chunk):
                    digest.update(block)
                    out.write(block)
        except OSError as exc:
            raise DataError(f"{item}: cannot be read ({exc})") from None
        yield Path(tmp), (lambda: digest.hexdigest()), (lambda: stat)
    finally:
        os.unlink(tmp)
