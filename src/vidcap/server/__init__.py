"""`vidcap serve`: one web page and an HTTP API over every task (FastAPI, run by uvicorn).

:func:`vidcap.server.app.create_app` builds the app; :func:`serve` runs it. Routes
call :mod:`vidcap.api` only; jobs run in a small thread pool of the server's process
(:mod:`vidcap.server.jobs`) so that models stay loaded between requests. Its
security defaults and API are described in docs/serve.md.
"""
from __future__ import annotations

import logging

from vidcap.server.settings import Settings

__all__ = ["Settings", "serve"]

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    """Run the server until it is stopped (Ctrl-C / SIGTERM); jobs it was running are marked failed next time."""
    from vidcap.errors import require

    uvicorn = require("uvicorn", "vidcap[serve]")
    require("fastapi", "vidcap[serve]")
    from vidcap.server.app import create_app

    app = create_app(settings)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info("vidcap serve: http://%s:%d/ (data %s%s)", host, settings.port, settings.data,
             f", library {settings.library}" if settings.library else "")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5, server_header=False)
