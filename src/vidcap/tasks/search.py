"""Text-to-video search: index videos into a library, rank them for a text query, evaluate.

:func:`index` processes each video once -- frame features, a caption from the
captioning model, the speech transcript, a thumbnail strip -- and adds its row to
the library (:mod:`vidcap.tasks.library`). A video whose content hash is already in
the table is skipped, so re-running is cheap and an interrupted run resumes.
:func:`search` ranks the videos for a text query by the learned joint embedding
(:class:`RetrievalModel`), by the captions and transcripts (MiniLM vectors +
full-text BM25), or by a reciprocal-rank fusion of both. With ``moments=True`` a video's
candidate moments (:mod:`vidcap.tasks.moments`) are stored too: the learned mode then
scores a video by its best moment and answers with that moment's times.

Each video is also cut into shots (:mod:`vidcap.features.shots`), and each shot stored
with its ImageNet object tags (:mod:`vidcap.tasks.tags`) and, with ``ocr=True``, the text
read on its middle frame (:mod:`vidcap.tasks.ocr`) and, with a CLIP model (``clip=``),
the CLIP vector of its keyframes (:mod:`vidcap.tasks.hub_clip`). Every mode fuses three
more signals when the library holds them: ``tags`` (the query's MiniLM vector against the
shots' tag vectors; only confident matches, a score of at least :data:`TAG_MATCH`),
``text`` (BM25 over the on-screen text) and ``clip`` (the query through CLIP's text tower
against the shots' CLIP vectors; mode ``clip`` ranks by it alone). A video with a
confident tag match comes before those without one, and a hit matched by a shot carries
that shot's times (the moment).

The learned model is :mod:`vidcap.tasks.retrieval`'s, the storage :mod:`vidcap.tasks.library`'s.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DataError, ModelError, VidcapError
from vidcap.progress import Callback, report
from vidcap.results import Hit, IndexSummary, RetrievalEvaluation, SearchResult
from vidcap.tasks.library import FORMAT, FORMAT_VERSION, Library, _schema, _sql_str
from vidcap.tasks.retrieval import DEFAULT_MODEL, RetrievalModel

log = logging.getLogger(__name__)

MODES = ("learned", "caption", "hybrid", "clip")
THUMB_FRAMES = 4
THUMB_SIDE = 96  # short side of a thumbnail frame, pixels
RRF_K = 60.0
# A shot's tag score is the probability-weighted cosine of the query to its tag names
# (0-1); at or above this it counts as naming what the shot shows (docs/tags.md: on the
# real clips and photos the right video scores 0.38-0.63, the best wrong one 0.33;
# generated-world captions against generated videos reach 0.17 at most).
TAG_MATCH = 0.35
_BATCH = 16  # rows written to the table at a time

# ------------------------------------------------------------------ per-video pieces
def thumbnail_strip(path, *, frames: int = THUMB_FRAMES, side: int = THUMB_SIDE) -> tuple[bytes, list[float]]:
    """A JPEG of ``frames`` evenly spaced frames side by side, and their times (seconds)."""
    from vidcap.io import sample_frames
    from vidcap.io.images import encode_jpeg

    clip = sample_frames(path, frames, short="repeat", short_side=side)
    strip = np.concatenate(list(clip.frames), axis=1)  # (H, frames * W, 3) RGB
    return encode_jpeg(strip), [round(float(t), 4) for t in clip.timestamps]


def transcript_text(path) -> str:
    """The speech transcript of a video (``""`` when it has no audio, silence or no speech)."""
    from vidcap.errors import NoAudioError, SilentAudioError
    from vidcap.tasks.speech import transcribe

    try:
        return transcribe(path).text.strip()
    except (NoAudioError, SilentAudioError) as exc:
        log.info("%s: no transcript (%s)", path, exc)
        return ""


def _load_captioner(caption_model):
    """``"none"``: no captions; None: the bundled model if it is installed; else a path."""
    if caption_model == "none":
        return None
    from vidcap.tasks.caption import DEFAULT_MODEL, Captioner

    if caption_model is None:
        if not DEFAULT_MODEL.is_file():
            log.warning("the bundled caption model %s is not installed; videos are indexed without captions "
                        "(pass caption_model=... / --caption-model)", DEFAULT_MODEL)
            return None
        return Captioner.load(None)
    return Captioner.load(caption_model)


def _features(paths: list[Path], store_root: Path, backbone: str, num_frames: int, fit: str = "crop"):
    """``{resolved path: (feats (T, D), mask (T,), frame indices (T,))}`` from the feature store
    (extracting what is missing)."""
    from vidcap.features import extract_many

    summary = extract_many(paths, store_root, backbone=backbone, num_frames=num_frames, fit=fit, workers=0)
    out, failed = {}, {}
    for r in summary.records:
        if r["status"] != "ok":
            failed[r["source"]] = r.get("error") or "feature extraction failed"
            continue
        a = np.load(store_root / f"{r['name']}.npy")
        mask = np.asarray(r.get("mask") or [True] * len(a), dtype=bool)
        out[r["source"]] = (a.astype(np.float32, copy=False), mask, np.asarray(r.get("indices") or range(len(a))))
    return out, failed


# ------------------------------------------------------------------ index
def index(inputs, library, *, model=None, caption_model=None, transcripts: bool = True,
          tags: bool = True, ocr: bool = False, clip=None, moments: bool = False, backbone: str | None = None,
          num_frames: int | None = None, progress: Callback | None = None) -> IndexSummary:
    """Add videos to a library (created when missing). Each video is processed once.

    inputs: video files, folders or ``.txt`` lists. model: a retrieval checkpoint
    (or run folder) for the learned embeddings (default: the bundled one, if
    installed; ``model="none"``: none), and a library keeps the model it was built with (another one
    is refused). caption_model: a caption checkpoint, None for the bundled one, or
    ``"none"``. backbone / num_frames: the frame features when there is no learned
    model (default ``mobilenet_v2`` / 16). tags: store each shot's ImageNet object tags;
    ocr: read each shot's on-screen text (slow: seconds a shot; ``vidcap[ocr]``). clip: a
    CLIP model (``hf:openai/clip-vit-base-patch32`` or a local CLIP folder) whose vectors of
    each shot's keyframes are stored for text queries; a library keeps the CLIP model it was
    built with (default on a re-run: that one; a library built without one refuses it).
    moments: also store the learned vectors of each video's candidate moments
    (:mod:`vidcap.tasks.moments`), so a search answers with the moment a sentence describes
    (needs the learned model; about a second a video more).
    """
    from vidcap.features.text import MODEL_NAME, encode
    from vidcap.io import probe
    from vidcap.io.files import file_hash, find_videos

    started = time.perf_counter()
    videos = find_videos(inputs)
    if not videos:
        raise DataError(f"no videos found in {inputs!r}")
    lib = Library(library, create=True)

    # The models: the library's own on a re-run, refusing another.
    if model == "none":
        rmodel = None
        if lib.learned is not None:
            raise ModelError(f"library {lib.root} holds learned embeddings of model {lib.learned['model_id']}; "
                             "index into it with that model")
    elif model is None and lib.learned is not None:
        rmodel = lib.load_model(None)
    elif model is None:
        if not DEFAULT_MODEL.is_file():
            raise ConfigError("give a retrieval model (model=... / --model, trained with `vidcap train retrieval`) "
                              "or model='none' for a caption-only library")
        rmodel = RetrievalModel.load(DEFAULT_MODEL)
    else:
        rmodel = model if isinstance(model, RetrievalModel) else RetrievalModel.load(model)
        if lib.meta is not None:
            lib.check_model(rmodel)
    if lib.meta is not None and lib.meta.get("text_model") != MODEL_NAME:
        raise ModelError(f"library {lib.root} was built with text encoder {lib.meta.get('text_model')!r}, "
                         f"this vidcap uses {MODEL_NAME!r}; build a new library")
    if moments and rmodel is None:
        raise ConfigError("moments need the learned retrieval model (--model, not 'none')")
    if rmodel is not None:
        backbone, num_frames = rmodel.backbone, rmodel.num_frames
    else:
        meta_feats = (lib.meta or {}).get("features") or {}
        backbone = backbone or meta_feats.get("backbone") or "mobilenet_v2"
        num_frames = num_frames or meta_feats.get("num_frames") or 16

    captioner = _load_captioner(caption_model if caption_model is not None else (lib.meta or {}).get("caption_model_path"))
    encoder = _load_clip(lib, clip)
    if lib.meta is None:
        ours = rmodel.describe() if rmodel is not None else None
        stored = lib.claim_meta({
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "text_model": MODEL_NAME,
            "learned": ours,
            "features": {"backbone": backbone, "num_frames": int(num_frames)},
            "caption_model_path": captioner.path if captioner is not None else "none",
            "clip": encoder.describe() if encoder is not None else None,
        })
        if (stored.get("learned") or {}).get("model_id") != (ours or {}).get("model_id"):  # another run came first
            raise ModelError(f"library {lib.root} was just created by another run with retrieval model "
                             f"{(stored.get('learned') or {}).get('model_id')}; index into it with that model")
        if stored.get("clip") != (encoder.describe() if encoder is not None else None):
            raise ModelError(f"library {lib.root} was just created by another run with CLIP model "
                             f"{(stored.get('clip') or {}).get('model')}; index into it with that one")

    tagger = None
    if tags:
        from vidcap.tasks.tags import load_tagger

        tagger = load_tagger()
    if ocr:
        from vidcap.tasks.ocr import load_reader

        load_reader()  # a missing package is said before any work
    summary = IndexSummary(str(lib.root))
    have = lib.ids()
    todo: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for v in videos:
        if not v.is_file():
            summary.failed.append({"path": str(v), "error": f"{v}: no such file"})
            continue
        h = file_hash(v)[:32]
        if h in have or h in seen:
            summary.skipped.append(str(v))
        else:
            seen.add(h)
            todo.append((v, h))
    report(progress, "index", 0, len(todo))
    schema = _schema(rmodel.dim if rmodel is not None else None)
    try:
        for start in range(0, len(todo), _BATCH):
            chunk = todo[start:start + _BATCH]
            paths = [v for v, _ in chunk]
            feats, failed = _features(paths, lib.features_dir(backbone, num_frames), backbone, num_frames)
            cap_feats = feats
            if captioner is not None and captioner.backbone is not None and (
                    (captioner.backbone, captioner.num_frames, captioner.fit) != (backbone, num_frames, "crop")):
                cap_feats, failed2 = _features(
                    paths, lib.features_dir(captioner.backbone, captioner.num_frames, captioner.fit),
                    captioner.backbone, captioner.num_frames, captioner.fit)
                failed.update(failed2)
            rows, shots, spans = [], [], []
            for v, h in chunk:
                src = str(v.resolve())
                if src in failed or src not in feats:
                    summary.failed.append({"path": str(v), "error": failed.get(src, "no features")})
                    continue
                try:
                    row = _row(v, h, feats[src], cap_feats.get(src), rmodel, captioner, transcripts, probe)
                    if tagger is not None or ocr or encoder is not None:
                        shots += _shot_rows(v, h, tagger, ocr, encoder)
                    if moments:
                        spans += _moment_rows(v, h, rmodel)
                    rows.append(row)
                except VidcapError as exc:
                    summary.failed.append({"path": str(v), "error": str(exc)})
                    log.warning("%s", exc)
            if rows:
                texts = [r["caption"] for r in rows] + [r["transcript"] for r in rows]
                vecs = encode(texts)
                for i, r in enumerate(rows):
                    r["vec_caption"] = vecs[i].tolist() if r["caption"] else [0.0] * vecs.shape[1]
                    r["vec_transcript"] = vecs[len(rows) + i].tolist() if r["transcript"] else [0.0] * vecs.shape[1]
                added = {r["id"] for r in lib.add(rows, schema, shots, spans)}  # another run may have added some meanwhile
                summary.added += [r["path"] for r in rows if r["id"] in added]
                summary.skipped += [r["path"] for r in rows if r["id"] not in added]
            report(progress, "index", min(start + _BATCH, len(todo)), len(todo),
                   info={"failed": len(summary.failed)})
    finally:
        if summary.added:
            lib.refresh_text_index()
    for f in summary.failed:
        log.warning("not indexed: %s", f["error"])
    summary.total = len(lib)
    summary.seconds = time.perf_counter() - started
    return summary


def _row(video: Path, vid: str, feat, cap_feat, rmodel, captioner, transcripts: bool, probe) -> dict:
    info = probe(video)
    a, mask, _ = feat
    caption, cap_score = "", 0.0
    if captioner is not None and captioner.backbone is None:  # a hub captioner (GIT, BLIP) reads the video
        result = captioner.caption_one(video)
        caption, cap_score = result.caption, float(result.score)
    elif captioner is not None and cap_feat is not None:
        cap_in = captioner.with_motion(video, *cap_feat)  # (T, D [+ motion])
        (caption, cap_score), = captioner.caption_features(cap_in[None], cap_feat[1][None])
    # how far the video is from the models' training videos: the retrieval model's, else the captioner's
    judge, frames = (rmodel, feat) if rmodel is not None and rmodel.domain is not None else (captioner, cap_feat)
    distance = None
    if judge is not None and judge.domain is not None and frames is not None:
        distance = round(judge.domain.check(frames[0][np.asarray(frames[1], bool)]).distance, 4)
    transcript = transcript_text(video) if transcripts and info.has_audio else ""
    thumbs, times = thumbnail_strip(video)
    row = {
        "id": vid, "name": video.stem, "path": str(video.resolve()),
        "duration": float(info.duration or 0.0), "fps": float(info.avg_fps or 0.0),
        "width": int(info.width), "height": int(info.height), "has_audio": bool(info.has_audio),
        "caption": caption, "caption_score": float(cap_score), "domain_distance": distance,
        "transcript": transcript, "text": " ".join(s for s in (caption, transcript) if s),
        "thumbs": thumbs, "thumb_times": times, "indexed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if rmodel is not None:
        row["vec_learned"] = rmodel.embed_videos(a[None], mask[None])[0].tolist()
    return row


def _load_clip(lib: Library, clip):
    """The CLIP encoder to index with: ``clip``, else the library's own; None: the library has none."""
    built = lib.clip
    if clip is None:
        return lib.load_clip() if built is not None else None
    if lib.meta is None:
        from vidcap.tasks.hub import parse
        from vidcap.tasks.hub_clip import load_encoder

        return load_encoder(parse(clip))
    if built is None:
        raise ModelError(f"library {lib.root} was built without a CLIP model, so its shots hold no CLIP vectors; "
                         f"index the videos into a new library with --clip {clip}")
    return lib.load_clip(clip)


def _moment_rows(video: Path, vid: str, rmodel) -> list[dict]:
    """The moments table's rows of one video: each candidate moment's times and learned vector."""
    from vidcap.tasks.moments import moment_vectors

    spans, vecs = moment_vectors(video, rmodel)
    return [{"id": f"{vid}:{i}", "video": vid, "start": s, "end": e, "vec_learned": vec.tolist()}
            for i, ((s, e), vec) in enumerate(zip(spans, vecs))]


def _shot_rows(video: Path, vid: str, tagger, ocr: bool, encoder=None) -> list[dict]:
    """The shot table's rows of one video: times, tags and their vector, on-screen text, CLIP vector."""
    from vidcap.features.shots import detect_shots
    from vidcap.features.text import DIM
    from vidcap.tasks import tags as tagging

    shots = detect_shots(video)
    wanted, frames, times = tagging.decode_keyframes(video, shots, tagging.KEYFRAMES)
    probs = tagging.shot_probs(wanted, frames, tagger) if tagger is not None else None
    if encoder is not None:
        from vidcap.tasks.hub_clip import shot_vectors

        clip_vecs = shot_vectors(wanted, frames, encoder)
    text: dict[float, list[str]] = {}
    if ocr:
        from vidcap.tasks.ocr import shot_text

        for line in shot_text(shots, frames, times):
            text.setdefault(line.start, []).append(line.text)
    rows = []
    for shot in shots.shots:
        labels, values = tagger.top(probs[shot.index], tagging.TOP_K) if tagger is not None else ([], [])
        vec = tagging.tag_vector(labels, values) if labels else np.zeros(DIM, dtype=np.float32)
        rows.append({"id": f"{vid}:{shot.index}", "video": vid, "shot": shot.index, "start": shot.start,
                     "end": shot.end, "tags": labels, "tag_probs": values, "vec_tags": vec.tolist(),
                     "ocr": bool(ocr), "text": " ".join(text.get(shot.start, []))}
                    | ({"vec_clip": clip_vecs[shot.index].tolist()} if encoder is not None else {}))
    return rows


# ------------------------------------------------------------------ search
def _check_query(query) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"the search query is empty ({query!r}); give some words describing the video")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"the search query {query!r} is not valid text (it holds bytes that are not UTF-8)") from None
    return " ".join(query.split())


def _vector_hits(table, vec, column: str, limit: int) -> list[tuple[str, float]]:
    rows = (table.search(np.asarray(vec, dtype=np.float32), vector_column_name=column)
            .distance_type("dot").limit(limit).select(["id", "_distance"]).to_list())
    return [(r["id"], 1.0 - float(r["_distance"])) for r in rows]


def _fts_terms(query: str) -> str:
    """The query's words only: the full-text engine reads punctuation as query syntax."""
    return " ".join(re.findall(r"\w+", query))


def _fts_hits(table, query: str, limit: int) -> list[tuple[str, float]]:
    """BM25 hits of the query's words; the caller searches only a library that holds text
    (its full-text index is built whenever rows are added)."""
    terms = _fts_terms(query)
    if not terms:
        return []
    rows = table.search(terms, query_type="fts").limit(limit).select(["id", "_score"]).to_list()
    return [(r["id"], float(r["_score"])) for r in rows]


def _best_shots(rows: list[dict]) -> tuple[list[tuple[str, float]], dict[str, dict]]:
    """Shot hits (each with ``video`` and ``score``) -> videos ranked by their best shot, and that shot."""
    best: dict[str, dict] = {}
    for r in rows:
        if r["video"] not in best or r["score"] > best[r["video"]]["score"]:
            best[r["video"]] = r
    return sorted(((v, r["score"]) for v, r in best.items()), key=lambda kv: -kv[1]), best


def _shot_signals(lib: Library, qvec, query: str, pool: int, qclip=None,
                  spans: dict | None = None) -> tuple[dict, dict[str, dict]]:
    """The ``tags`` (confident matches only), ``text`` (on-screen text, BM25) and ``clip``
    (``qclip``, the query's CLIP vector, against the shots') lists of videos, and the moment
    that matched each video best: a shot by its tags, else by its text, else the learned
    candidate moment of ``spans`` (:func:`_best_moments`), else a shot by CLIP."""
    moments: dict[str, dict] = {}
    shots = lib.shots()
    if shots is None or shots.count_rows() == 0:
        return {}, dict(spans or {})
    lists: dict[str, list[tuple[str, float]]] = {}
    cols = ["video", "start", "end"]
    rows = (shots.search(np.asarray(qvec, dtype=np.float32), vector_column_name="vec_tags").distance_type("dot")
            .limit(pool).select(cols + ["_distance"]).to_list())
    rows = [r | {"score": 1.0 - float(r["_distance"])} for r in rows]
    ranked, best = _best_shots([r for r in rows if r["score"] >= TAG_MATCH])
    if ranked:
        lists["tags"] = ranked
        moments.update(best)
    if any(r["text"] for r in lib.shot_rows(["text"], "ocr = true")):
        terms = _fts_terms(query)
        rows = shots.search(terms, query_type="fts").limit(pool).select(cols + ["_score"]).to_list() if terms else []
        ranked, best = _best_shots([r | {"score": float(r["_score"])} for r in rows])
        if ranked:
            lists["text"] = ranked
            for v, r in best.items():
                moments.setdefault(v, r)
    for v, r in (spans or {}).items():
        moments.setdefault(v, r)
    if qclip is not None:
        rows = (shots.search(np.asarray(qclip, dtype=np.float32), vector_column_name="vec_clip").distance_type("dot")
                .limit(pool).select(cols + ["_distance"]).to_list())
        lists["clip"], best = _best_shots([r | {"score": 1.0 - float(r["_distance"])} for r in rows])
        for v, r in best.items():
            moments.setdefault(v, r)
    return lists, moments


def _best_moments(lib: Library, qlearned, limit: int) -> dict[str, dict]:
    """The videos of the ``limit`` candidate moments (``index(moments=True)``) closest to the query's
    learned vector, each with its best moment."""
    table = lib.moments()
    if table is None or table.count_rows() == 0:
        return {}
    rows = (table.search(np.asarray(qlearned, dtype=np.float32), vector_column_name="vec_learned")
            .distance_type("dot").limit(limit).select(["video", "start", "end", "_distance"]).to_list())
    return _best_shots([r | {"score": 1.0 - float(r["_distance"])} for r in rows])[1]


def _fuse(lists: dict[str, list[tuple[str, float]]], k: float = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ranked ``(id, score)`` lists."""
    fused: dict[str, float] = {}
    for hits in lists.values():
        for rank, (vid, _) in enumerate(hits, start=1):
            fused[vid] = fused.get(vid, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


def search(query: str, library, *, k: int = 10, mode: str = "learned", model=None, clip=None,
           sheet=None) -> SearchResult:
    """Rank the library's videos for a text query.

    mode ``learned``: cosine in the joint embedding (in a library indexed with ``moments``: of
    each video's best candidate moment, whose times the hit carries); ``caption``: MiniLM cosine to
    the generated captions and transcripts fused with BM25 full-text search;
    ``hybrid``: reciprocal-rank fusion of all of them; ``clip``: the query's CLIP text
    vector against the shots' CLIP vectors (a library indexed with ``clip=``). Every mode
    also fuses the shots' object tags, on-screen text and CLIP vectors where the library
    holds them (see the module docstring): a confident tag match ranks first. ``model``:
    the retrieval model (default: the one that built the library; another one is refused).
    ``clip``: the CLIP model, when the one that built the library is elsewhere now.
    ``sheet``: a PNG to write with the top results' frames (nothing is written without it).
    """
    started = time.perf_counter()
    query = _check_query(query)
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if int(k) < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    lib = Library(library)
    table = lib.table()
    n = table.count_rows()
    if n == 0:
        raise DataError(f"library {lib.root} is empty; add videos with `vidcap index VIDEOS --library {lib.root}`")
    from vidcap.features.text import encode

    qtext = encode([query])[0]
    pool = min(n, max(4 * int(k), 50))
    lists: dict[str, list[tuple[str, float]]] = {}
    qclip, spans = None, {}
    if lib.clip is not None or mode == "clip" or clip is not None:
        qclip = lib.load_clip(clip).texts([query])[0]
    if mode in ("learned", "hybrid"):
        if mode == "hybrid" and lib.learned is None and model is None:
            raise ConfigError(f"library {lib.root} was built without a learned model; use --mode caption")
        rmodel = lib.load_model(model)
        qlearned = rmodel.embed_text_vectors(qtext[None])[0]
        lists["learned"] = _vector_hits(table, qlearned, "vec_learned", pool)
        spans = _best_moments(lib, qlearned, 32 * max(pool, 20 * int(k)))  # ~16 moments a video
        if spans:  # a video ranks by its best moment (a sentence names one event of a long video)
            lists["moment"] = sorted(((v, r["score"]) for v, r in spans.items()), key=lambda kv: -kv[1])
    elif model is not None:
        lib.load_model(model)  # still refuse a model the library was not built with
    if mode in ("caption", "hybrid"):
        rows = lib.rows(["caption", "transcript"])
        has_cap = any(r["caption"] for r in rows)
        has_tr = any(r["transcript"] for r in rows)
        if not (has_cap or has_tr):
            if mode == "caption" and not any(r["text"] for r in lib.shot_rows(["text"], "ocr = true")):
                raise DataError(f"library {lib.root} holds no captions, transcripts or on-screen text to search; "
                                "index it with a caption model (--caption-model) or --ocr, or use --mode learned")
        else:
            if has_cap:
                lists["caption"] = _vector_hits(table, qtext, "vec_caption", pool)
            if has_tr:
                lists["transcript"] = [h for h in _vector_hits(table, qtext, "vec_transcript", pool) if h[1] != 0.0]
            lists["bm25"] = _fts_hits(table, query, pool)
    shot_lists, moments = _shot_signals(lib, qtext, query, max(pool, 20 * int(k)), qclip, spans)
    lists.update(shot_lists)
    if mode == "learned" and "moment" in lists and not shot_lists:
        ranked = lists["moment"]  # a library with moments: a video scores its best moment
    elif mode in ("learned", "clip") and list(lists) == [mode]:
        ranked = lists[mode]
    else:
        ranked = _fuse(lists)
    confident = {vid for vid, _ in lists.get("tags", [])}
    ranked.sort(key=lambda kv: kv[0] not in confident)  # stable: by score within each group
    top = ranked[: int(k)]
    ids = [vid for vid, _ in top]
    info = {r["id"]: r for r in table.search().where("id IN (" + ", ".join(_sql_str(i) for i in ids) + ")")
            .select(["id", "name", "path", "caption", "transcript", "thumbs"]
                    + ["domain_distance"] * ("domain_distance" in table.schema.names))
            .limit(len(ids)).to_list()} if ids else {}
    comp = {name: dict(hits) for name, hits in lists.items()}
    hits = []
    for rank, (vid, score) in enumerate(top, start=1):
        r = info[vid]
        shot = moments.get(vid)
        hits.append(Hit(rank, vid, r["name"], r["path"], float(score), r["caption"] or "", r["transcript"] or "",
                        {name: c[vid] for name, c in comp.items() if vid in c}, r["thumbs"] or b"",
                        shot["start"] if shot else None, shot["end"] if shot else None,
                        r.get("domain_distance")))
    result = SearchResult(query, mode, str(lib.root), hits, time.perf_counter() - started)
    if sheet is not None and hits:
        result.contact_sheet(sheet)
    return result


# ------------------------------------------------------------------ evaluation
def score_matrices(library, names: list[str], queries: list[str], *, model=None, clip=None) -> dict[str, np.ndarray]:
    """Score matrices ``(len(queries), len(names))`` of every signal the library holds.

    ``learned``: cosine in the joint space; ``caption``: MiniLM cosine to the
    generated caption (or the transcript, whichever is closer); ``bm25``: full-text
    score, ``-inf`` where a video does not match; ``tags``: the best shot's tag score where
    it is a confident match (:data:`TAG_MATCH`), else ``-inf`` (only in a library with
    shot tags); ``clip``: the best shot's CLIP cosine (only in a library indexed with a
    CLIP model). Only the named videos are ranked.
    """
    from vidcap.features.text import encode

    lib = Library(library)
    table = lib.table()
    cols = ["id", "name", "caption", "transcript", "vec_caption", "vec_transcript"]
    if lib.learned is not None:
        cols.append("vec_learned")
    by_name = {r["name"]: r for r in lib.rows(cols)}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(f"library {lib.root} lacks {len(missing)} of the videos to evaluate, e.g. {missing[0]!r}")
    rows = [by_name[n] for n in names]
    q = encode(queries)  # (Q, 384)
    out: dict[str, np.ndarray] = {}
    if lib.learned is not None:
        rmodel = lib.load_model(model)
        vl = np.asarray([r["vec_learned"] for r in rows], dtype=np.float32)
        out["learned"] = rmodel.embed_text_vectors(q) @ vl.T
    if any(r["caption"] or r["transcript"] for r in rows):
        vc = np.asarray([r["vec_caption"] for r in rows], dtype=np.float32)
        sc = q @ vc.T
        vt = np.asarray([r["vec_transcript"] for r in rows], dtype=np.float32)
        has_t = np.asarray([bool(r["transcript"]) for r in rows])
        if has_t.any():
            st = q @ vt.T
            sc = np.where(has_t[None], np.maximum(sc, st), sc)
        has_c = np.asarray([bool(r["caption"]) for r in rows])
        sc = np.where(has_c[None] | has_t[None], sc, -1.0)
        out["caption"] = sc
        col = {r["id"]: j for j, r in enumerate(rows)}
        bm = np.full((len(queries), len(rows)), -np.inf)
        n_all = table.count_rows()
        for i, text in enumerate(queries):
            for vid, s in _fts_hits(table, text, n_all):
                if vid in col:
                    bm[i, col[vid]] = s
        out["bm25"] = bm
    shots = lib.shots()
    if shots is not None and shots.count_rows():
        tags = _best_shot_scores(lib, rows, "vec_tags", q)
        out["tags"] = np.where(tags >= TAG_MATCH, tags, -np.inf)
    if lib.clip is not None:
        out["clip"] = _best_shot_scores(lib, rows, "vec_clip", lib.load_clip(clip).texts(queries))
    return out


def _best_shot_scores(lib: Library, rows: list[dict], column: str, queries: np.ndarray) -> np.ndarray:
    """``(Q, len(rows))``: each query vector's best dot product with the ``column`` vectors of a
    video's shots (``-inf`` for a video without shots)."""
    col = {r["id"]: j for j, r in enumerate(rows)}
    best = np.full((len(queries), len(rows)), -np.inf)
    for r in lib.shot_rows(["video", column]):
        if r["video"] in col:
            j = col[r["video"]]
            best[:, j] = np.maximum(best[:, j], queries @ np.asarray(r[column], dtype=np.float32))
    return best


MODE_SIGNALS = {"learned": ("learned",), "caption": ("caption", "bm25"), "hybrid": ("learned", "caption", "bm25"),
                "clip": ("clip",)}


def evaluate_retrieval(corpus, library, *, splits=None, split="test", videos=None, model=None, caption_model=None,
                       clip=None, modes=None, progress: Callback | None = None) -> RetrievalEvaluation:
    """Recall@1/5/10 and median rank, text->video and video->text, of each search mode.

    Every English reference caption of the split's videos is a query; the split's
    videos are the gallery. ``videos``: a folder holding them -- they are indexed
    into ``library`` first (once; re-runs reuse it; ``clip``: with a CLIP model). Modes
    fuse their signals by reciprocal rank exactly as :func:`search` does, the shots' tags
    and CLIP vectors included (a confident tag match first); the on-screen text is left
    out. ``modes``: default every mode the library can answer.
    """
    from vidcap.data.captions import _find_video, load_corpus, load_splits
    from vidcap.metrics.retrieval import reciprocal_rank_fusion, retrieval_metrics

    corp = load_corpus(corpus)
    if splits is None and (Path(corpus).parent / "splits.json").is_file():
        splits = Path(corpus).parent / "splits.json"
    if splits is None:
        raise ConfigError("give the splits file (splits=... / --splits) that names the evaluation videos")
    split_map = load_splits(splits) if not isinstance(splits, dict) else splits
    if split not in split_map:
        raise DataError(f"split {split!r} is not in {splits}; it has {sorted(split_map)}")
    names = [n for n in split_map[split] if n in corp.captions]
    if len(names) < 2:
        raise DataError(f"split {split!r} has {len(names)} captioned video(s); retrieval needs at least 2")
    if videos is not None:
        paths = [_find_video(Path(videos), n) for n in names]
        missing = [n for n, p in zip(names, paths) if p is None]
        if missing:
            raise DataError(f"{videos} lacks {len(missing)} video(s) of split {split!r}, e.g. {missing[0]!r}")
        summary = index(paths, library, model=model, caption_model=caption_model, clip=clip, progress=progress)
        if summary.failed:
            raise DataError(f"{len(summary.failed)} video(s) of split {split!r} could not be indexed: "
                            f"{summary.failed[0]['error']}")
    queries, owner = [], []
    for j, n in enumerate(names):
        for c in corp.captions[n]:
            queries.append(c)
            owner.append(j)
    owner = np.asarray(owner)
    mats = score_matrices(library, names, queries, model=model if model != "none" else None, clip=clip)
    result = RetrievalEvaluation(split, len(names), len(queries), {})
    if modes is None:
        modes = [m for m in MODES if all(s in mats for s in MODE_SIGNALS[m])]
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
        signals = [mats[s] for s in MODE_SIGNALS[mode] if s in mats]
        if len(signals) != len(MODE_SIGNALS[mode]):
            log.warning("mode %s skipped: the library lacks %s", mode,
                        [s for s in MODE_SIGNALS[mode] if s not in mats])
            continue
        if mode != "clip" and "clip" in mats:
            signals.append(mats["clip"])
        confident = np.isfinite(mats["tags"]) if "tags" in mats else None
        if confident is not None and confident.any():
            signals.append(mats["tags"])
        if len(signals) == 1:
            result.modes[mode] = retrieval_metrics(signals[0], owner)
        else:
            boost = confident.astype(float) if confident is not None else 0.0  # RRF sums stay below 1
            t2v = retrieval_metrics(reciprocal_rank_fusion(signals, axis=1, k=RRF_K) + boost, owner)["t2v"]
            v2t = retrieval_metrics(reciprocal_rank_fusion(signals, axis=0, k=RRF_K) + boost, owner)["v2t"]
            result.modes[mode] = {"t2v": t2v, "v2t": v2t}
    return result
