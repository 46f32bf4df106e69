"""Uploads: a multipart body streamed to a file under ``--data`` as it arrives.

The body is parsed chunk by chunk (python-multipart's push parser) and the file
part is written in pieces of at most :data:`FLUSH` bytes, so memory does not grow
with the upload. A ``Content-Length`` above the limit is refused before a byte of
the body is read; a body without one is refused the moment it passes the limit.
The client's file name is kept only as a display name: the file on disk is named
by a random id. What the file is gets decided later by probing it, not by its name.
"""
from __future__ import annotations

import mimetypes
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

FLUSH = 1 << 20  # bytes buffered before a write
SLACK = 1 << 20  # multipart framing allowed beyond the file's own size
MAX_FIELD = 1 << 16  # bytes of a form field that is not the file (they are ignored)


class UploadError(Exception):
    """An upload refused: an HTTP status and one sentence."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    path: Path  # the received bytes, under a temporary name
    name: str  # the client's file name, cleaned, for display only
    size: int


def display_name(raw: str | None) -> str:
    """The last component of a client's file name, without control characters, at most 120 characters."""
    text = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return text[:120] or "video"


def safe_stem(name: str) -> str:
    """A file-name stem made of ``[A-Za-z0-9_-]`` only (the results then name the video as its owner did)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", os.path.splitext(name)[0]).strip("_")[:60]
    return stem or "video"


def human(n: int) -> str:
    for unit, scale in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def too_large(limit: int) -> UploadError:
    return UploadError(413, f"the upload is larger than this server's limit of {human(limit)} (--max-upload)")


def check_length(headers, limit: int) -> None:
    """Refuse at once a body whose declared length is over the limit (nothing has been read yet)."""
    length = headers.get("content-length")
    if length is None:
        return
    if not length.isdigit():
        raise UploadError(400, "the Content-Length header is not a number")
    if int(length) > limit + SLACK:
        raise too_large(limit)


class _Receiver:
    """python-multipart callbacks that write the part named ``file`` to ``path``."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        self.file = None
        self.name: str | None = None
        self.size = 0
        self.buffer = bytearray()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.in_file = False
        self.ignored = 0
        self.error: UploadError | None = None

    # header callbacks
    def on_part_begin(self):
        self.headers, self.in_file = {}, False

    def on_header_field(self, data, start, end):
        self.header_field += data[start:end]

    def on_header_value(self, data, start, end):
        self.header_value += data[start:end]

    def on_header_end(self):
        self.headers[self.header_field.decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self):
        from python_multipart.multipart import parse_options_header

        _, opts = parse_options_header(self.headers.get("content-disposition", b""))  # bytes: taken as latin-1
        field = opts.get(b"name", b"").decode("utf-8", "replace")
        if field == "file" and self.file is None and self.error is None:
            self.file = open(self.path, "xb")
            self.name = display_name(opts.get(b"filename", b"").decode("utf-8", "replace"))
            self.in_file = True

    def on_part_data(self, data, start, end):
        if self.in_file:
            self.size += end - start
            if self.size > self.limit:
                self.error = too_large(self.limit)
                self.in_file = False
                return
            self.buffer += data[start:end]
        else:
            self.ignored += end - start
            if self.ignored > MAX_FIELD:
                self.error = UploadError(413, "a form field other than 'file' is too large; send only the file")

    def on_part_end(self):
        self.in_file = False

    def flush(self) -> None:
        if self.file is not None and self.buffer:
            self.file.write(self.buffer)
            self.buffer.clear()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def receive(request, path: Path, limit: int) -> Upload:
    """Stream the multipart body of ``request`` into ``path`` (which must not exist); raises UploadError.

    On any error the partial file is removed.
    """
    from anyio import to_thread
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header
    from starlette.requests import ClientDisconnect

    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise UploadError(415, "send the video as multipart/form-data with a form field named 'file'")
    boundary = opts.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise UploadError(400, "the multipart/form-data Content-Type has no (valid) boundary")
    check_length(request.headers, limit)
    rx = _Receiver(path, limit)
    callbacks = {name: getattr(rx, name) for name in ("on_part_begin", "on_header_field", "on_header_value",
                                                       "on_header_end", "on_headers_finished", "on_part_data",
                                                       "on_part_end")}
    parser = MultipartParser(boundary, callbacks)
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + SLACK:
                raise too_large(limit)
            parser.write(chunk)
            if rx.error is not None:
                raise rx.error
            if len(rx.buffer) >= FLUSH:
                await to_thread.run_sync(rx.flush)
        parser.finalize()
        if rx.file is None:
            raise UploadError(422, "the form has no file: send the video in a form field named 'file'")
        await to_thread.run_sync(rx.flush)
    except MultipartParseError as exc:
        rx.close()
        path.unlink(missing_ok=True)
        raise UploadError(400, f"the multipart body is malformed ({exc})") from None
    except ClientDisconnect:
        rx.close()
        path.unlink(missing_ok=True)
        raise UploadError(400, "the client went away before the upload was complete") from None
    except BaseException:
        rx.close()
        path.unlink(missing_ok=True)
        raise
    rx.close()
    if rx.size == 0:
        path.unlink(missing_ok=True)
        raise UploadError(415, f"{rx.name}: the file is empty (0 bytes)")
    return Upload(path, rx.name or "video", rx.size)


# --------------------------------------------------------------------------- what a file is
SIGNATURES = (  # (offset, magic, extension, media type)
    (4, b"ftyp", ".mp4", "video/mp4"),
    (0, b"\x1a\x45\xdf\xa3", ".mkv", "video/x-matroska"),
    (0, b"GIF8", ".gif", "image/gif"),
    (0, b"OggS", ".ogv", "video/ogg"),
    (0, b"FLV", ".flv", "video/x-flv"),
    (0, b"\x00\x00\x01\xba", ".mpg", "video/mpeg"),
    (0, b"\x30\x26\xb2\x75", ".wmv", "video/x-ms-wmv"),
)


def sniff(path: Path) -> tuple[str, str]:
    """``(extension, media type)`` of a video file from its first bytes (after probing said it is a video)."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi", "video/x-msvideo"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:  # MPEG-TS: a sync byte every 188
        return ".ts", "video/mp2t"
    for offset, magic, ext, mime in SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            if ext == ".mkv" and b"webm" in head[:64]:
                return ".webm", "video/webm"
            if ext == ".mp4" and head[8:10] == b"qt":
                return ".mov", "video/quicktime"
            return ext, mime
    return ".bin", "application/octet-stream"


def media_type(name: str) -> str:
    """The Content-Type of a file the server wrote, by its extension."""
    ext = os.path.splitext(name)[1].lower()
    known = {".vtt": "text/vtt; charset=utf-8", ".srt": "application/x-subrip; charset=utf-8",
             ".csv": "text/csv; charset=utf-8", ".json": "application/json", ".png": "image/png",
             ".jpg": "image/jpeg", ".mp4": "video/mp4", ".gif": "image/gif", ".webm": "video/webm"}
    return known.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


ID = re.compile(r"^[0-9a-f]{32}$")
