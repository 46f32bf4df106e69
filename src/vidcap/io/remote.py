"""Object storage: ``s3://``, ``gs://``, ``file://`` (any scheme pyarrow or fsspec knows)
read and written through pyarrow filesystems.

An object store writes whole objects: a PUT is seen complete or not at all, so nothing
here needs a temporary file and a rename. It has no file locks either: :func:`lease` is
a lock object that the writers of one prefix (a library) take turns on.
Credentials and endpoints come from the usual places (``AWS_*`` variables such as
``AWS_ENDPOINT_URL`` for an S3-compatible server, ``~/.aws``,
``GOOGLE_APPLICATION_CREDENTIALS``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from vidcap.errors import DataError

log = logging.getLogger(__name__)

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

STALE_AFTER = 120.0  # seconds without a heartbeat after which a lock object is another writer's leftover
HEARTBEAT = 20.0


def is_uri(item) -> bool:
    """True for ``scheme://...`` strings (a local path is never one)."""
    return isinstance(item, str) and bool(_URI.match(item))


def join(uri: str, *names: str) -> str:
    """``uri/name/...`` (one slash between parts)."""
    return "/".join([uri.rstrip("/"), *(n.strip("/") for n in names)])


def filesystem(uri: str):
    """``(pyarrow filesystem, path inside it)`` for a URI; fsspec covers schemes pyarrow lacks."""
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except ValueError as first:  # pyarrow.ArrowInvalid: a scheme it does not know
        try:
            import fsspec
        except ImportError:
            raise DataError(f"{uri}: cannot open this URI ({first})") from None
        try:
            fs, path = fsspec.core.url_to_fs(uri)
        except (ImportError, ValueError) as exc:
            raise DataError(f"{uri}: cannot open this URI ({exc})") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path
    except OSError as exc:  # e.g. an S3 region that cannot be resolved
        raise DataError(f"{uri}: cannot open this URI ({_why(exc)})") from None


def read_text(uri: str) -> str | None:
    """The object's text (UTF-8), None when there is no such object."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    try:
        if fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(path) as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:  # deleted between the look and the read (a lock object being released)
        return None
    except OSError as exc:
        raise DataError(f"{uri}: cannot be read ({_why(exc)})") from None
    except UnicodeDecodeError:
        raise DataError(f"{uri}: is not UTF-8 text") from None


def write_text(uri: str, text: str) -> str:
    """Write the object (one PUT: readers see the old object or the whole new one)."""
    fs, path = filesystem(uri)
    try:
        with fs.open_output_stream(path) as f:
            f.write(text.encode("utf-8"))
    except OSError as exc:
        raise DataError(f"{uri}: cannot be written ({_why(exc)})") from None
    return uri


def delete(uri: str) -> None:
    """Delete the object (nothing when it is gone already)."""
    fs, path = filesystem(uri)
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(path)


def _why(exc: OSError) -> str:
    text = re.sub(r"\s*\(Request ID: [^)]*\)", "", " ".join(str(exc).split()))  # noise for the reader
    return text or type(exc).__name__


@contextlib.contextmanager
def lease(uri: str, *, stale_after: float = STALE_AFTER, poll: float = 0.2, settle: float = 0.5) -> Iterator[None]:
    """Hold the lock object ``uri`` for the block: the object-store counterpart of
    :func:`vidcap.io.files.file_lock`, for stores that cannot create an object only if it is
    absent (pyarrow's filesystems cannot).

    Fischer's timed mutual exclusion: wait while the lock object exists, write our token,
    wait ``settle`` seconds (longer than a write takes: at least 4x our own check and write),
    and hold the lock only if the token read back is still ours; of writers that found the
    lock free at once, the last one's write stands and the others wait again. A lock object
    whose heartbeat (rewritten every ``HEARTBEAT`` seconds) stopped ``stale_after`` seconds
    ago, a killed writer's, is taken over. The holder deletes it when the block ends.
    """
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    said = False
    while True:
        began = time.monotonic()
        try:
            info = fs.get_file_info(path)
        except OSError as exc:
            raise DataError(f"{uri}: cannot be read ({_why(exc)})") from None
        if info.type == pafs.FileType.File:
            age = time.time() - info.mtime.timestamp() if info.mtime else 0.0
            if age < stale_after:
                if not said:
                    log.info("waiting for %s (held by %s)", uri, (read_text(uri) or "?").strip())
                    said = True
                time.sleep(poll)
                continue
            log.warning("%s: taking over a lock left %.0f s ago by %s", uri, age, (read_text(uri) or "?").strip())
        write_text(uri, token)
        time.sleep(max(settle, 4 * (time.monotonic() - began)))
        if (read_text(uri) or "").strip() == token:
            break
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT):
            with contextlib.suppress(DataError):
                if (read_text(uri) or "").strip() == token:
                    write_text(uri, token)

    heart = threading.Thread(target=beat, name="vidcap-lease", daemon=True)
    heart.start()
    try:
        yield
    finally:
        stop.set()
        heart.join()
        with contextlib.suppress(DataError, OSError):
            if (read_text(uri) or "").strip() == token:
                delete(uri)
