"""`vidcap serve`: the web page and the HTTP API (FastAPI and uvicorn are imported only when it runs)."""
from __future__ import annotations

import os

from vidcap.cli.common import FMT

SERVE_EXAMPLES = """examples:
  vidcap serve                                     # http://127.0.0.1:8000/ (the page), /docs (the API)
  vidcap serve --library lib --data ~/vidcap-data  # search box over a library of `vidcap index`
  vidcap serve --classify-model actions=runs/lstm  # the classify task, with a run of `vidcap train classify`
  VIDCAP_TOKEN=$(python -c "import secrets; print(secrets.token_urlsafe(24))") vidcap serve --host 0.0.0.0
Binds 127.0.0.1 by default. Another address needs a token (--token or VIDCAP_TOKEN);
every /api/ endpoint but /api/health then wants `Authorization: Bearer TOKEN`.
Uploads, job outputs and the job database live under --data; jobs run in this
process (one heavy job per two cores by default) so models stay loaded. After a
restart finished jobs are still listed; the ones that were running are failed.
"""


def register(commands, train, evaluate) -> None:
    from vidcap.server.settings import Settings, default_workers

    d = Settings()
    p = commands.add_parser("serve", help="a web page and an HTTP API over every task", epilog=SERVE_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("--host", default=d.host, help=f"address to bind (default {d.host}; another needs --token)")
    p.add_argument("--port", type=int, default=d.port, help=f"TCP port (default {d.port})")
    p.add_argument("--data", default=str(d.data), help=f"folder for uploads, job outputs and the job database "
                                                       f"(default {d.data})")
    p.add_argument("--library", default=None,
                   help="a library of `vidcap index` for the search box (a folder or an s3:// URI)")
    p.add_argument("--token", default=None, help="bearer token the API requires (default: $VIDCAP_TOKEN)")
    p.add_argument("--max-upload", default="2G", help="largest upload, e.g. 500M or 2G (default 2G)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"heavy jobs at once (default one per two cores: {default_workers()} here)")
    p.add_argument("--queue", type=int, default=d.queue, help=f"jobs that may wait; more get 429 (default {d.queue})")
    p.add_argument("--classify-model", action="append", metavar="[NAME=]RUN", default=[],
                   help="a classifier for the classify task (repeatable; jobs pick one by NAME)")
    p.add_argument("--cors-origin", action="append", metavar="ORIGIN", default=[],
                   help="allow this web origin to call the API (repeatable; default: CORS off)")
    p.set_defaults(run=run_serve)


def run_serve(args) -> int:
    from pathlib import Path

    from vidcap.server import serve
    from vidcap.server.settings import Settings, parse_classifiers, parse_size

    settings = Settings(host=args.host, port=args.port, data=Path(args.data),
                        library=args.library,
                        token=args.token or os.environ.get("VIDCAP_TOKEN") or None,
                        max_upload=parse_size(args.max_upload), workers=args.workers, queue=args.queue,
                        classifiers=parse_classifiers(args.classify_model), cors_origins=list(args.cors_origin))
    serve(settings)
    return 0
