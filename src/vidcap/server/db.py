"""The server's records: uploaded videos and jobs, in one SQLite file under ``--data``.

One connection, shared by the threads under a lock (each statement is short), in
WAL mode and committed after every change, so a killed server loses at most the
change it was making. :meth:`Database.recover` runs at start-up: jobs that were
queued or running when the last server stopped are marked failed with a reason.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from vidcap.io.files import to_json

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
    type TEXT NOT NULL, info TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, task TEXT NOT NULL, video TEXT NOT NULL, params TEXT NOT NULL,
    state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, error TEXT, result TEXT, files TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL, started TEXT, finished TEXT, seconds REAL);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
"""
JSON_COLUMNS = ("info", "params", "result", "files")
FINISHED = ("done", "failed", "cancelled")
INTERRUPTED = ("the server stopped before this job finished (it was {state}); its partial outputs were removed, "
               "submit it again")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Database:
    """Videos and jobs (see the module docstring). Rows come back as plain dicts."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _rows(self, sql: str, args=()) -> list[dict]:
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for k in JSON_COLUMNS:
                if k in d and d[k] is not None:
                    d[k] = json.loads(d[k])
            out.append(d)
        return out

    def _run(self, sql: str, args=()) -> int:
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def _insert(self, table: str, row: dict) -> None:
        values = {k: to_json(v, indent=None) if k in JSON_COLUMNS else v for k, v in row.items()}
        cols = ", ".join(values)
        self._run(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(values))})", tuple(values.values()))

    # -- videos
    def add_video(self, row: dict) -> None:
        self._insert("videos", {**row, "created": now()})

    def video(self, vid: str) -> dict | None:
        rows = self._rows("SELECT * FROM videos WHERE id = ?", (vid,))
        return rows[0] if rows else None

    def videos(self) -> list[dict]:
        return self._rows("SELECT * FROM videos ORDER BY created DESC, id")

    def remove_video(self, vid: str) -> bool:
        return self._run("DELETE FROM videos WHERE id = ?", (vid,)) > 0

    # -- jobs
    def add_job(self, row: dict) -> None:
        self._insert("jobs", {**row, "state": "queued", "progress": 0.0, "files": [], "created": now()})

    def job(self, jid: str) -> dict | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (jid,))
        return rows[0] if rows else None

    def jobs(self, *, video: str | None = None, limit: int = 100) -> list[dict]:
        if video is None:
            return self._rows("SELECT * FROM jobs ORDER BY created DESC, id LIMIT ?", (limit,))
        return self._rows("SELECT * FROM jobs WHERE video = ? ORDER BY created DESC, id LIMIT ?", (video, limit))

    def update_job(self, jid: str, **changes) -> None:
        values = {k: to_json(v, indent=None) if k in JSON_COLUMNS else v for k, v in changes.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        self._run(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), jid))

    def remove_job(self, jid: str) -> bool:
        return self._run("DELETE FROM jobs WHERE id = ?", (jid,)) > 0

    def active_jobs(self, video: str) -> list[dict]:
        return self._rows("SELECT * FROM jobs WHERE video = ? AND state IN ('queued', 'running')", (video,))

    def recover(self) -> list[str]:
        """Mark the jobs a stopped server left queued or running as failed; returns their ids."""
        rows = self._rows("SELECT id, state FROM jobs WHERE state IN ('queued', 'running')")
        for r in rows:
            self.update_job(r["id"], state="failed", error=INTERRUPTED.format(state=r["state"]), finished=now())
        return [r["id"] for r in rows]
