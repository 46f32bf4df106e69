"""The options of `vidcap serve` and the checks that make its security defaults hold.

Nothing heavy is imported here: the command line builds a :class:`Settings`, checks
it (a non-loopback host needs a token) and only then imports FastAPI and uvicorn.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vidcap.errors import ConfigError, DataError

GB = 1024 ** 3
MIN_TOKEN = 16  # characters; `python -c "import secrets; print(secrets.token_urlsafe(24))"` makes one
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text) -> int:
    """``"2G"``, ``"500M"``, ``"1.5GB"`` or a number of bytes -> bytes."""
    m = SIZE.match(str(text))
    if not m:
        raise ConfigError(f"size {text!r} is not a number of bytes or a size such as 500M or 2G")
    scale = 1024 ** "_kmgt".index(m.group(2).lower() or "_")
    return int(float(m.group(1)) * scale)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; a name that would need resolving is not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_workers() -> int:
    """One heavy job per two cores (the models use both cores of a pair)."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class Settings:
    """How the server runs; see ``vidcap serve --help`` and docs/serve.md."""

    host: str = "127.0.0.1"
    port: int = 8000
    data: Path = Path("vidcap-data")  # uploads, job outputs and the job database live here, nothing else
    library: Path | str | None = None  # a library of `vidcap index` (a folder or an s3:// URI), for /api/search
    token: str | None = None  # required as `Authorization: Bearer` on every /api/ endpoint but health
    max_upload: int = 2 * GB  # bytes of one uploaded file
    workers: int | None = None  # heavy jobs at once (None: one per two cores)
    queue: int = 32  # jobs waiting beyond those running; more are answered 429
    classifiers: dict[str, str] = field(default_factory=dict)  # name -> run folder of `vidcap train classify`
    cors_origins: list[str] = field(default_factory=list)  # CORS is off unless origins are given

    def check(self) -> Settings:
        """Refuse settings that would weaken the defaults; returns self with paths made absolute."""
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"--host {self.host} is reachable from other machines, so the server needs a token: pass "
                "--token T or set VIDCAP_TOKEN (clients then send `Authorization: Bearer T`)")
        if self.token is not None and len(self.token) < MIN_TOKEN:
            raise ConfigError(f"the token is {len(self.token)} characters long; use at least {MIN_TOKEN}, e.g. "
                              "`python -c \"import secrets; print(secrets.token_urlsafe(24))\"`")
        if not 0 <= int(self.port) < 65536:
            raise ConfigError(f"--port {self.port} is not a TCP port (0-65535)")
        if self.max_upload < 1:
            raise ConfigError(f"--max-upload must be positive, got {self.max_upload}")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.queue < 0:
            raise ConfigError(f"--queue must be 0 or more, got {self.queue}")
        if "*" in self.cors_origins:
            raise ConfigError("--cors-origin '*' would let every web site call this server; name the origins")
        for name, path in self.classifiers.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
                raise ConfigError(f"classifier name {name!r}: use letters, digits, '.', '_' and '-' (name=RUN)")
            if not Path(path).exists():
                raise ConfigError(f"classifier {name}: {path} does not exist (a run folder of `vidcap train classify`)")
        if self.library is not None:
            from vidcap.io.remote import is_uri
            from vidcap.tasks.library import Library

            try:
                Library(self.library)
            except DataError as exc:
                raise ConfigError(f"--library {exc}") from None
            self.library = str(self.library).rstrip("/") if is_uri(str(self.library)) else Path(self.library).resolve()
        self.data = Path(self.data).resolve()
        self.workers = self.workers or default_workers()
        return self


def parse_classifiers(values) -> dict[str, str]:
    """``--classify-model RUN`` or ``NAME=RUN`` (repeatable) -> ``{name: run}``; a bare run is named by its folder."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, path = str(value).partition("=")
        if not sep:
            name, path = Path(value).name or "classifier", value
        if name in out:
            raise ConfigError(f"classifier name {name!r} is given twice; name them NAME=RUN")
        out[name] = path
    return out
