"""A video library on disk: an embedded LanceDB table of videos, captions, embeddings, thumbnails.

Layout of a library folder::

    library.json              which models built it (learned model id, text encoder, caption model)
    db/videos.lance           the LanceDB table, one row per video (id = content hash)
    db/shots.lance            one row per shot: its times, object tags (+ their sentence vector), on-screen text,
                              and with a CLIP model its keyframes' CLIP vector
    db/moments.lance          (``index --moments``) one row per candidate moment: its times, its learned vector
    features/<backbone>-<N>f/ the feature store (<name>.npy + <name>.json)

A library may also live in object storage (``--library s3://bucket/videos-lib``): library.json
and db/ go there (LanceDB writes its tables to ``s3://`` itself), the feature store to this
machine's cache (``$VIDCAP_CACHE/libraries/<12 hex of the URI>/features``), and writers take
turns on a lock object (:func:`vidcap.io.remote.lease`) instead of a lock file.

Filling and searching it is :mod:`vidcap.tasks.search`; the learned model :mod:`vidcap.tasks.retrieval`.

Several processes may index into one library at once: every write (the description,
new rows, removals, the full-text index) happens under the library's lock file
(``.lock``), and rows are added only for ids the table does not hold yet, so a video
is in a library once however many runs add it. :meth:`Library.check` finds (and with
``repair`` removes) duplicate rows left by older versions.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from pathlib import Path

from vidcap.errors import ConfigError, DataError, ModelError, require
from vidcap.io import remote
from vidcap.io.files import file_lock, to_json, write_text
from vidcap.io.remote import is_uri, join
from vidcap.results import LibraryCheck, LibraryEntry

log = logging.getLogger(__name__)

FORMAT = "vidcap.library"
FORMAT_VERSION = 1
TABLE = "videos"
SHOTS = "shots"
MOMENTS = "moments"
LANCE = "lancedb>=0.40"


# ------------------------------------------------------------------ the library
class Library:
    """An opened library folder (see the module docstring)."""

    def __init__(self, root, *, create: bool = False):
        self.remote = is_uri(str(root))
        self.root = str(root).rstrip("/") if self.remote else Path(root)  # a URI stays a string
        self.meta_path = self._at("library.json")
        if not self.remote and self.root.exists() and not self.root.is_dir():
            raise DataError(f"library {self.root} exists and is not a folder")
        text = self._read(self.meta_path)
        if text is None:
            if not create:
                raise DataError(f"{self.root} is not a video library (no library.json); build one with "
                                f"`vidcap index VIDEOS --library {self.root}`")
            self.meta = None
        else:
            try:
                self.meta = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise DataError(f"{self.meta_path} is not JSON: {exc}") from exc
            if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
                raise DataError(f"{self.meta_path} is not a vidcap library description")
        self._db = None

    # -- storage: a folder, or a prefix in object storage (library.json and db/ there, the features here)
    def _at(self, name: str):
        return join(self.root, name) if self.remote else self.root / name

    def _read(self, where) -> str | None:
        if self.remote:
            return remote.read_text(where)
        try:
            return where.read_text(encoding="utf-8") if where.is_file() else None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{where} is unreadable: {exc}") from exc

    def _write(self, where, text: str) -> None:
        """Write a whole file (atomically) or object (one PUT)."""
        if self.remote:
            remote.write_text(where, text)
        else:
            write_text(where, text)

    def features_dir(self, backbone: str, num_frames: int, fit: str = "crop") -> Path:
        """The feature store of the library's videos (frames fitted by ``fit``, the name's
        ``-pad`` suffix): ``features/`` in a library folder; for a library in object storage,
        a folder of this machine's cache (features are recomputable)."""
        name = f"{backbone}-{num_frames}f" + ("" if fit == "crop" else f"-{fit}")
        if not self.remote:
            return self.root / "features" / name
        from vidcap.runtime import cache_dir

        digest = hashlib.sha1(self.root.encode()).hexdigest()[:12]
        return cache_dir() / "libraries" / digest / "features" / name

    @property
    def db(self):
        if self._db is None:
            try:
                self._db = _lancedb().connect(str(self._at("db")))
            except (OSError, ValueError, RuntimeError) as exc:
                raise DataError(f"cannot open the library's tables at {self._at('db')}: {exc}") from None
        return self._db

    def table(self, *, must_exist: bool = True):
        if TABLE in _table_names(self.db):
            return self.db.open_table(TABLE)
        if must_exist:
            raise DataError(f"library {self.root} is empty; add videos with `vidcap index VIDEOS --library {self.root}`")
        return None

    def shots(self):
        """The table of shots (None in a library indexed without tags or on-screen text)."""
        return self.db.open_table(SHOTS) if SHOTS in _table_names(self.db) else None

    def moments(self):
        """The table of candidate moments (None in a library indexed without ``moments``)."""
        return self.db.open_table(MOMENTS) if MOMENTS in _table_names(self.db) else None

    def shot_rows(self, columns: list[str], where: str | None = None) -> list[dict]:
        t = self.shots()
        if t is None or t.count_rows() == 0:
            return []
        cols = [c for c in columns if c in set(t.schema.names)]
        q = t.search()
        if where:
            q = q.where(where)
        return q.select(cols).limit(t.count_rows()).to_arrow().select(cols).to_pylist()

    def __len__(self) -> int:
        t = self.table(must_exist=False)
        return 0 if t is None else t.count_rows()

    def rows(self, columns: list[str] | None = None) -> list[dict]:
        t = self.table(must_exist=False)
        if t is None:
            return []
        if columns is None:
            return t.to_arrow().to_pylist()
        names = set(t.schema.names)
        cols = [c for c in columns if c in names]
        n = t.count_rows()
        if n == 0:
            return []
        return t.search().select(cols).limit(n).to_arrow().select(cols).to_pylist()  # reads only these columns

    def ids(self) -> set[str]:
        return {r["id"] for r in self.rows(["id"])}

    # -- what built it
    @property
    def learned(self) -> dict | None:
        return (self.meta or {}).get("learned")

    @property
    def clip(self) -> dict | None:
        """The CLIP model whose shot vectors the library holds (``{"model", "dim"}``), or None."""
        return (self.meta or {}).get("clip")

    def load_clip(self, clip=None):
        """The CLIP encoder for queries: ``clip`` (a reference, checked against the library) or the
        one recorded in library.json."""
        from vidcap.tasks.hub import parse
        from vidcap.tasks.hub_clip import load_encoder

        built = self.clip
        if built is None:
            raise ConfigError(f"library {self.root} was built without a CLIP model; re-index the videos into a "
                              "new library with --clip MODEL")
        encoder = load_encoder(parse(clip if clip is not None else built["model"]))
        if encoder.dim != built["dim"]:
            raise ModelError(f"library {self.root} holds {built['dim']}-d CLIP vectors of {built['model']}; "
                             f"{encoder.ref} gives {encoder.dim}-d ones: pass the model that built it")
        return encoder

    def check_model(self, model) -> None:
        """Refuse a learned model other than the one the library was built with."""
        built = self.learned
        if model is None:
            return
        if built is None:
            raise ModelError(f"library {self.root} was built without a learned retrieval model, so it holds no "
                             f"learned embeddings; re-index it into a new library with --model {model.path}")
        if built["model_id"] != model.model_id:
            raise ModelError(f"library {self.root} was built with retrieval model {built['model_id']} "
                             f"({built.get('path')}), not {model.model_id} ({model.path}); search it with that "
                             "model or index the videos into a new library with this one")

    def load_model(self, model=None):
        """The learned model: ``model`` (a path or a loaded model, checked against the
        library) or the one recorded in library.json."""
        from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

        if model is None:
            built = self.learned
            if built is None:
                raise ConfigError(f"library {self.root} was built without a learned model; use --mode caption "
                                  "or re-index with --model")
            model = built.get("path")
            if not model or not Path(model).is_file():
                bundled = RetrievalModel.load(DEFAULT_MODEL) if DEFAULT_MODEL.is_file() else None
                if bundled is None or bundled.model_id != built["model_id"]:
                    raise ModelError(f"the retrieval model {model} that built library {self.root} is gone; "
                                     "pass it with --model")
                model = bundled
        if not isinstance(model, RetrievalModel):
            model = RetrievalModel.load(model)
        self.check_model(model)
        return model

    def lock(self):
        """The library's lock: every write happens under it."""
        return remote.lease(self._at(".lock")) if self.remote else file_lock(self.root / ".lock")

    def claim_meta(self, meta: dict) -> dict:
        """Write ``library.json`` unless another run wrote it first; returns the stored one."""
        with self.lock():
            text = self._read(self.meta_path)
            if text is not None:
                self.meta = json.loads(text)
            else:
                self._write(self.meta_path, to_json(meta, indent=2) + "\n")
                self.meta = meta
        return self.meta

    # -- edits
    def add(self, rows: list[dict], schema, shots: list[dict] | None = None,
            moments: list[dict] | None = None) -> list[dict]:
        """Add the rows whose id the table does not hold yet, and the ``shots`` and ``moments``
        rows of those videos (their ``video`` column); returns the video rows added."""
        import pyarrow as pa

        with self.lock():
            table = self.table(must_exist=False)
            if table is not None and rows:
                held = {r["id"] for r in table.search().where(
                    "id IN (" + ", ".join(_sql_str(r["id"]) for r in rows) + ")").select(["id"])
                    .limit(len(rows)).to_list()}
                rows = [r for r in rows if r["id"] not in held]
            new = {r["id"] for r in rows}
            # before the videos: a run killed in between leaves parts a re-run does not repeat
            self._add_parts(SHOTS, shots, new, lambda: _shot_schema((self.clip or {}).get("dim")))
            self._add_parts(MOMENTS, moments, new, lambda: _moment_schema(len(moments[0]["vec_learned"])))
            if rows:  # a library made before a column existed keeps its schema (the new column is left out)
                data = pa.Table.from_pylist(rows, schema=schema if table is None else table.schema)
                _retry(lambda: self.db.create_table(TABLE, data=data, schema=schema) if table is None
                       else table.add(data))
        return rows

    def _add_parts(self, name: str, parts: list[dict] | None, new: set[str], schema) -> None:
        """Rows of a per-video table (shots, moments) for the videos of ``new`` it does not hold yet
        (``schema()``: the table's schema when it is created)."""
        import pyarrow as pa

        if not parts or not new:
            return
        table = self.db.open_table(name) if name in _table_names(self.db) else None
        if table is not None:
            new = new - {r["video"] for r in table.search().where("video IN (" + ", ".join(
                _sql_str(i) for i in new) + ")").select(["video"]).limit(table.count_rows() or 1).to_list()}
        schema = schema() if table is None else table.schema
        data = pa.Table.from_pylist([r for r in parts if r["video"] in new], schema=schema)
        if data.num_rows:
            _retry(lambda: self.db.create_table(name, data=data, schema=schema) if table is None else table.add(data))

    def refresh_text_index(self) -> None:
        """Rebuild the full-text (BM25) indexes: the videos' caption and transcript text, the
        shots' on-screen text."""
        with self.lock():
            for t in (self.table(must_exist=False), self.shots()):
                if t is not None and t.count_rows():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        _retry(lambda t=t: t.create_fts_index("text", replace=True))

    def remove(self, keys) -> list[str]:
        """Delete videos by id (or a unique id prefix), name or path; returns the ids removed."""
        with self.lock():
            t = self.table()
            rows = self.rows(["id", "name", "path"])
            gone = []
            for key in keys:
                key = str(key)
                match = [r for r in rows if r["id"] == key or r["name"] == key or r["path"] == key
                         or (len(key) >= 6 and r["id"].startswith(key)) or r["path"] == str(Path(key).resolve())]
                if not match:
                    raise DataError(f"no video {key!r} in library {self.root}; `vidcap library ls` lists them")
                gone += [r["id"] for r in match]
            gone = sorted(set(gone))
            _retry(lambda: t.delete("id IN (" + ", ".join(_sql_str(i) for i in gone) + ")"))
            for part in (self.shots(), self.moments()):
                if part is not None:
                    _retry(lambda part=part: part.delete("video IN (" + ", ".join(_sql_str(i) for i in gone) + ")"))
        self.refresh_text_index()
        return gone

    def check(self, *, repair: bool = False) -> LibraryCheck:
        """Duplicate ids (one video in several rows) and rows whose video file is gone;
        ``repair`` keeps one row per id (the first indexed) and rebuilds the text index."""
        with self.lock():
            rows = self.rows(["id", "path", "indexed_at"])
            seen: dict[str, int] = {}
            for r in rows:
                seen[r["id"]] = seen.get(r["id"], 0) + 1
            duplicates = {i: n for i, n in seen.items() if n > 1}
            missing = sorted({r["path"] for r in rows if not Path(r["path"]).exists()})
            removed = 0
            if repair and duplicates:
                t = self.table()
                keep = {}
                for r in t.to_arrow().to_pylist():  # whole rows of the duplicated ids, the first kept
                    if r["id"] in duplicates and r["id"] not in keep:
                        keep[r["id"]] = r
                _retry(lambda: t.delete("id IN (" + ", ".join(_sql_str(i) for i in duplicates) + ")"))
                import pyarrow as pa

                _retry(lambda: t.add(pa.Table.from_pylist(list(keep.values()), schema=t.schema)))
                removed = sum(duplicates.values()) - len(duplicates)
        if repair:
            self.refresh_text_index()
        return LibraryCheck(str(self.root), len(rows), len(seen), duplicates, missing, removed, repair)


def _retry(write, attempts: int = 5):
    """Run a table write, again after a short wait when another writer committed first."""
    for k in range(attempts):
        try:
            return write()
        except Exception as exc:  # lance raises OSError/RuntimeError/ValueError for commit conflicts
            if "conflict" not in str(exc).lower() or k == attempts - 1:
                raise
            log.info("library write conflicted with another writer; trying again")
            time.sleep(0.2 * (k + 1))


def _lancedb():
    """The lancedb module; its Rust core reads LANCE_LOG once, on import: import it with
    warnings off (they would go to stderr) and leave the environment as it was."""
    import os
    import sys

    if "lancedb" in sys.modules:
        return sys.modules["lancedb"]
    old = os.environ.get("LANCE_LOG")
    os.environ.setdefault("LANCE_LOG", "error")
    try:
        return require("lancedb", LANCE)
    finally:
        if old is None:
            os.environ.pop("LANCE_LOG", None)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _table_names(db) -> list[str]:
    if hasattr(db, "list_tables"):
        res = db.list_tables()
        names = getattr(res, "tables", res)
        return list(names)
    return list(db.table_names())


def _schema(learned_dim: int | None):
    import pyarrow as pa

    from vidcap.features.text import DIM

    fields = [
        pa.field("id", pa.string()),
        pa.field("name", pa.string()),
        pa.field("path", pa.string()),
        pa.field("duration", pa.float64()),
        pa.field("fps", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("has_audio", pa.bool_()),
        pa.field("caption", pa.string()),
        pa.field("caption_score", pa.float64()),
        pa.field("domain_distance", pa.float64()),  # vidcap.features.domain, 1 = the edge; null: unknown
        pa.field("transcript", pa.string()),
        pa.field("text", pa.string()),
        pa.field("vec_caption", pa.list_(pa.float32(), DIM)),
        pa.field("vec_transcript", pa.list_(pa.float32(), DIM)),
        pa.field("thumbs", pa.binary()),
        pa.field("thumb_times", pa.list_(pa.float64())),
        pa.field("indexed_at", pa.string()),
    ]
    if learned_dim:
        fields.insert(12, pa.field("vec_learned", pa.list_(pa.float32(), int(learned_dim))))
    return pa.schema(fields)


def _shot_schema(clip_dim: int | None = None):
    """One row per shot: ``id`` = video id + ``:`` + shot number; ``tags``/``tag_probs`` its
    object tags; ``vec_tags`` their probability-weighted MiniLM vector (not unit length:
    see :func:`vidcap.tasks.tags.tag_vector`); ``text`` what was read on screen ("" if
    nothing, or not read: ``ocr`` False); ``vec_clip`` (a library with a CLIP model only)
    the unit mean of its keyframes' CLIP image vectors."""
    import pyarrow as pa

    from vidcap.features.text import DIM

    clip = [pa.field("vec_clip", pa.list_(pa.float32(), int(clip_dim)))] if clip_dim else []
    return pa.schema([
        pa.field("id", pa.string()),
        pa.field("video", pa.string()),
        pa.field("shot", pa.int32()),
        pa.field("start", pa.float64()),
        pa.field("end", pa.float64()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("tag_probs", pa.list_(pa.float32())),
        pa.field("vec_tags", pa.list_(pa.float32(), DIM)),
        pa.field("ocr", pa.bool_()),
        pa.field("text", pa.string()),
        *clip,
    ])


def _moment_schema(dim: int):
    """One row per candidate moment (:mod:`vidcap.tasks.moments`): ``id`` = video id + ``:`` + its
    number, its times, and ``vec_learned``, the retrieval model's unit vector of its frames."""
    import pyarrow as pa

    return pa.schema([
        pa.field("id", pa.string()),
        pa.field("video", pa.string()),
        pa.field("start", pa.float64()),
        pa.field("end", pa.float64()),
        pa.field("vec_learned", pa.list_(pa.float32(), int(dim))),
    ])


# ------------------------------------------------------------------ listing
def list_videos(library) -> list[LibraryEntry]:
    """One entry per video (no vectors, no thumbnails), by name."""
    lib = Library(library)
    cols = ["id", "name", "path", "duration", "width", "height", "has_audio", "caption", "transcript", "indexed_at"]
    return [LibraryEntry(**{c: r.get(c) for c in cols}) for r in sorted(lib.rows(cols), key=lambda r: r["name"])]


def check(library, *, repair: bool = False) -> LibraryCheck:
    """See :meth:`Library.check`."""
    return Library(library).check(repair=repair)


def remove(keys, library) -> list[str]:
    """Remove videos (by id, id prefix, name or path) from a library; returns the ids removed."""
    if isinstance(keys, str):
        keys = [keys]
    if not keys:
        raise ConfigError("name at least one video to remove")
    return Library(library).remove(keys)
