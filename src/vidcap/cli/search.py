"""`vidcap index`, `vidcap library ls|rm`, `vidcap search`, `vidcap train retrieval|coot`,
`vidcap evaluate retrieval|moments|coot`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_config, add_engine, add_nproc, add_quiet, arg, default_of, given, show
from vidcap.config import CootTrainConfig, RetrievalTrainConfig

INDEX_EXAMPLES = """examples:
  vidcap index videos/ --library lib --model runs/retrieval
  vidcap index new_clip.mp4 --library lib            # later: the library keeps its model
  vidcap index videos/ --library lib --model none    # captions and transcripts only
  vidcap index videos/ --library lib --clip hf:openai/clip-vit-base-patch32   # + CLIP shot vectors
  vidcap index /mnt/videos/ --library s3://bucket/lib --engine ray   # a library in object storage
Each video is processed once (content hash): re-running skips what is indexed, and
an interrupted run resumes. A caption comes from the bundled caption model (or
--caption-model), a transcript from the speech recogniser. Each video is cut into
shots; each shot keeps its ImageNet object tags (--no-tags: not) and, with --ocr, the
text on its middle frame, so a search can answer with the moment (start-end seconds).
--clip MODEL (a hub CLIP or a local copy of one, see `vidcap models`) also stores the
CLIP vector of each shot's keyframes: text queries then go through CLIP's text tower,
which knows real scenes ("a dog on a beach") where the bundled models know only the
generated world. A library in object storage (s3://, gs://; credentials and endpoint from
the AWS_* variables) keeps library.json and its tables there and the features in this
machine's cache; writers take turns on a lock object (docs/scale.md).
"""

LIBRARY_EXAMPLES = """examples:
  vidcap library ls --library lib
  vidcap library rm syn00042_0_3 --library lib       # by name, id (prefix) or path
  vidcap library check --library lib --repair        # one row per video, text index rebuilt
Several `vidcap index` runs may write into one library at once: writes take turns
under the library's lock file, and a video is added once however many runs add it.
"""

SEARCH_EXAMPLES = """examples:
  vidcap search "a red circle moves to the left" --library lib
  vidcap search "two squares collide" --library lib --k 5 --mode learned --json
  vidcap search "a star is spinning" --library lib --sheet results.png
  vidcap search "a dog running on a beach" --library clip-lib --mode clip
Modes: learned (the joint video-text embedding), caption (MiniLM vectors of the
generated captions and transcripts + BM25 full-text search), hybrid (reciprocal
rank fusion of all of them), clip (CLIP text vector against the shots' CLIP vectors,
a library indexed with --clip); learned is the default, the best of the first three
in every column of docs/search.md. Every mode also fuses the shots' object tags,
on-screen text and CLIP vectors where the library holds them: a video whose tags name
the query (e.g. "a cat" and a shot tagged tabby / tiger cat) comes first, with the
moment matched. --sheet writes a contact sheet of the top results' frames, annotated with
rank and score.
"""

TRAIN_EXAMPLES = """examples:
  vidcap synth world --num-videos 1000 --seed 11
  vidcap extract world/videos --out world/feats16 --num-frames 16
  vidcap train retrieval --corpus world/video_corpus.csv --features world/feats16 --out-dir runs/retrieval
  vidcap train retrieval --corpus world/video_corpus.csv --videos world/videos --out-dir runs/retrieval
The splits default to splits.json beside the corpus. best.pt is the epoch with the
best validation text->video recall.
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate retrieval --model runs/retrieval --corpus world/video_corpus.csv \\
      --videos world/videos --library eval-lib --split test test_compositional
Indexes the split's videos into --library (once), then uses every reference
caption as a query: Recall@1/5/10 and median rank, text->video and video->text,
for each mode.
"""


MOMENT_EXAMPLES = """examples:
  vidcap synth ev --num-videos 20 --events 2..5 --seconds 7 --seed 21   # multi-event videos + events.json
  vidcap evaluate moments --annotations ev/events.json --videos ev/videos
  vidcap evaluate moments --annotations yc2.json --videos yc2/ --model runs/retrieval --window 10 --json
Every event's sentence is a query in its own video: the candidate moments (sliding
windows of --window and twice that, half a window apart) are ranked by the learned
joint embedding (the retrieval model's video side on each moment's frames); R@1 and
R@5 at tIoU 0.5 and 0.7, the top moment's mean tIoU, and the chance of a random
candidate. --library L also indexes the videos into L (once) and searches every
sentence across all of them: how often the top hit is the right video with the right
moment.
"""

COOT_EXAMPLES = """examples:
  vidcap synth ev-train --num-videos 300 --events 2..6 --seed 31    # multi-event videos + youcook2.json
  vidcap train coot --annotations ev-train/youcook2.json --videos ev-train/videos --out-dir runs/coot
  vidcap train coot ... --no-context --cycle-weight 0                # the ablation's variants
  vidcap synth ev-test --num-videos 60 --events 2..6 --seed 32      # a world it never saw
  vidcap evaluate coot --annotations ev-test/events.json --videos ev-test/videos --model runs/coot
COOT (Ging et al. 2020): frames -> clip and words -> sentence transformers with attention
pooling, a contextual transformer that lets each clip attend to the whole video, the same
on the text side; trained to align clips with sentences and videos with paragraphs, plus a
cross-modal cycle-consistency loss. Clips are the annotated events. Features: MobileNetV2
at 4 frames a second, extracted into <out-dir>/features. Validation: the YouCook2 file's
validation subset (training on training), else --val-fraction of the videos.
"""



def register(commands, train, evaluate) -> None:
    p = commands.add_parser("index", help="add videos to a searchable library", epilog=INDEX_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders or .txt lists of paths")
    p.add_argument("--library", required=True, help="library folder or object-store URI (created when missing)")
    arg(p, api.index, "model", help="retrieval checkpoint or run folder (default: the bundled one; "
                                    "'none': no learned embeddings)")
    arg(p, api.index, "caption_model", "--caption-model",
        help="caption checkpoint (default: the bundled one; 'none': no captions)")
    p.add_argument("--no-transcripts", dest="transcripts", action="store_false", help="do not transcribe speech")
    p.add_argument("--no-tags", dest="tags", action="store_false",
                   help="do not store the shots' ImageNet object tags (see `vidcap tag`)")
    p.add_argument("--ocr", action="store_true", help='also read each shot\'s on-screen text (seconds a shot; '
                                                     'needs "vidcap[ocr]", see `vidcap ocr`)')
    p.add_argument("--moments", action="store_true",
                   help="also store the learned vectors of each video's candidate moments (windows of 5 and 10 s), "
                        "so a search answers with the moment a sentence describes (multi-event videos)")
    arg(p, api.index, "clip", help="a CLIP model (hf:ORG/NAME or a local CLIP folder): store each shot's CLIP "
                                   "vector for text queries (default: the library's, if it has one)")
    add_engine(p, api.index)
    add_quiet(p)
    p.set_defaults(run=run_index)

    lib = commands.add_parser("library", help="list or remove a library's videos", epilog=LIBRARY_EXAMPLES,
                              formatter_class=FMT).add_subparsers(dest="action", metavar="ACTION")
    lib.required = True
    p = lib.add_parser("ls", help="list the indexed videos", epilog=LIBRARY_EXAMPLES, formatter_class=FMT)
    p.add_argument("--library", required=True)
    add_quiet(p)
    p.set_defaults(run=run_ls)
    p = lib.add_parser("rm", help="remove videos", epilog=LIBRARY_EXAMPLES, formatter_class=FMT)
    p.add_argument("keys", nargs="+", metavar="VIDEO", help="name, id (or a prefix of 6+ characters) or path")
    p.add_argument("--library", required=True)
    add_quiet(p)
    p.set_defaults(run=run_rm)
    p = lib.add_parser("check", help="find duplicate rows and vanished files", epilog=LIBRARY_EXAMPLES,
                       formatter_class=FMT)
    p.add_argument("--library", required=True)
    p.add_argument("--repair", action="store_true", help="keep one row per video and rebuild the text index")
    add_quiet(p)
    p.set_defaults(run=run_check)

    p = commands.add_parser("search", help="find videos by a text query", epilog=SEARCH_EXAMPLES, formatter_class=FMT)
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--library", required=True)
    arg(p, api.search, "k", type=int, help="how many results")
    arg(p, api.search, "mode", choices=list(api.RETRIEVAL_MODES),
        help="learned (the most accurate on the generated world), caption or hybrid")
    arg(p, api.search, "model", help="retrieval model (default: the one that built the library)")
    arg(p, api.search, "clip", help="CLIP model (default: the one that built the library; give it when that "
                                    "folder has moved)")
    arg(p, api.search, "sheet", help="write a contact sheet PNG of the results here")
    add_quiet(p)
    p.set_defaults(run=run_search)

    p = train.add_parser("retrieval", help="train the joint video-text embedding", epilog=TRAIN_EXAMPLES,
                         formatter_class=FMT)
    p.add_argument("--corpus", required=True, help="MSVD video_corpus.csv or MSR-VTT JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", help="folder of videos (features are extracted into <out-dir>/features)")
    src.add_argument("--features", help="folder of <name>.npy (T, D) frame features")
    p.add_argument("--splits", default=None, help="splits.json (default: beside the corpus, else random by video)")
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True)
    add_config(p, RetrievalTrainConfig)
    p.add_argument("--resume", action="store_true", help="continue <out-dir>/last.pt with the run's options")
    add_nproc(p, api.train_retrieval)
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("retrieval", help="Recall@K and median rank of text<->video search",
                            epilog=EVAL_EXAMPLES, formatter_class=FMT)
    p.add_argument("--corpus", required=True)
    p.add_argument("--library", required=True, help="library holding (or to receive) the split's videos")
    arg(p, api.evaluate_retrieval, "videos", help="folder with the split's videos (indexed into --library)")
    arg(p, api.evaluate_retrieval, "model", help="retrieval model (default: the library's)")
    arg(p, api.evaluate_retrieval, "caption_model", "--caption-model",
        help="caption model used when indexing (default: the bundled one)")
    arg(p, api.evaluate_retrieval, "splits", help="splits.json (default: beside the corpus)")
    p.add_argument("--split", nargs="+", default=[default_of(api.evaluate_retrieval, "split")],
                   help="one or more splits (default test)")
    arg(p, api.evaluate_retrieval, "clip", help="CLIP model to index the split's videos with (a new library)")
    p.add_argument("--modes", nargs="+", choices=list(api.RETRIEVAL_MODES), default=None,
                   help="default: every mode the library can answer")
    add_quiet(p)
    p.set_defaults(run=run_evaluate)

    p = evaluate.add_parser("moments", help="moment retrieval: which part of a video a sentence describes",
                            epilog=MOMENT_EXAMPLES, formatter_class=FMT)
    p.add_argument("--annotations", required=True, help="ActivityNet Captions or YouCook2 JSON of the events")
    p.add_argument("--videos", required=True, help="folder holding the annotated videos, by their ids")
    arg(p, api.evaluate_moments, "model", help="retrieval checkpoint or run folder (default: the bundled one)")
    arg(p, api.evaluate_moments, "window", type=float, help="the shorter candidate length, seconds")
    arg(p, api.evaluate_moments, "limit", type=int, help="score only the first N annotated videos")
    arg(p, api.evaluate_moments, "library", help="also index the videos into this library (with --moments) and "
                                                 "search every sentence across all of them")
    add_quiet(p)
    p.set_defaults(run=run_moments)

    p = train.add_parser("coot", help="train COOT on annotated multi-event videos (paragraph and clip retrieval)",
                         epilog=COOT_EXAMPLES, formatter_class=FMT)
    p.add_argument("--annotations", required=True, help="ActivityNet Captions or YouCook2 JSON of the events")
    p.add_argument("--videos", required=True, help="folder holding the annotated videos, by their ids")
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True)
    arg(p, api.train_coot, "features", help="feature store to read and fill (default <out-dir>/features; runs "
                                            "may share one)")
    add_config(p, CootTrainConfig)
    p.add_argument("--resume", action="store_true", help="continue <out-dir>/last.pt with the run's options")
    add_quiet(p)
    p.set_defaults(run=run_train_coot)

    p = evaluate.add_parser("coot", help="COOT retrieval: paragraph<->video and sentence<->clip",
                            epilog=COOT_EXAMPLES, formatter_class=FMT)
    p.add_argument("--annotations", required=True, help="ActivityNet Captions or YouCook2 JSON of the events")
    p.add_argument("--videos", required=True, help="folder holding the annotated videos, by their ids")
    p.add_argument("--model", required=True, help="COOT checkpoint or run folder")
    arg(p, api.evaluate_coot, "subset", help="only this YouCook2 subset (training, validation, testing)")
    arg(p, api.evaluate_coot, "limit", type=int, help="score only the first N annotated videos")
    arg(p, api.evaluate_coot, "cache", help="feature store of the videos (default <videos>/features-4fps)")
    add_quiet(p)
    p.set_defaults(run=run_evaluate_coot)


def run_moments(args) -> int:
    with Bars(args) as bars:
        result = api.evaluate_moments(args.annotations, args.videos, model=args.model, window=args.window,
                                      limit=args.limit, library=args.library, progress=bars)
    return show(result, args)


def run_train_coot(args) -> int:
    with Bars(args) as bars:
        result = api.train_coot(args.annotations, args.videos, args.out_dir, features=args.features,
                                resume=args.resume, progress=bars,
                                **given(args, CootTrainConfig))
    return show(result, args)


def run_evaluate_coot(args) -> int:
    with Bars(args) as bars:
        result = api.evaluate_coot(args.annotations, args.videos, model=args.model, subset=args.subset,
                                   limit=args.limit, cache=args.cache, progress=bars)
    return show(result, args)


def run_index(args) -> int:
    with Bars(args, items=False) as bars:
        summary = api.index(args.inputs, args.library, model=args.model, caption_model=args.caption_model,
                            transcripts=args.transcripts, tags=args.tags, ocr=args.ocr, clip=args.clip,
                            moments=args.moments,
                            engine=args.engine,
                            address=args.address, progress=bars)
    return show(summary, args)


def run_ls(args) -> int:
    rows = api.library_list(args.library)
    status = show(rows, args, many=True)
    if not (args.json or args.quiet):
        print(f"{len(rows)} video(s)")
    return status


def run_rm(args) -> int:
    from vidcap.io.files import to_json

    gone = api.library_remove(args.keys, args.library)
    print(to_json(gone) if args.quiet or args.json else f"removed {len(gone)} video(s)")
    return 0


def run_check(args) -> int:
    result = api.library_check(args.library, repair=args.repair)
    show(result, args)
    return 1 if result.duplicates and not args.repair else 0


def run_search(args) -> int:
    sheet = None if args.sheet in (None, "none") else args.sheet
    result = api.search(args.query, args.library, k=args.k, mode=args.mode, model=args.model, clip=args.clip,
                        sheet=sheet)
    status = show(result, args)
    if sheet and result.hits and not (args.json or args.quiet):
        print(f"contact sheet: {sheet}")
    return status


def run_train(args) -> int:
    with Bars(args) as bars:
        result = api.train_retrieval(args.corpus, args.out_dir, features=args.features, videos=args.videos,
                                     splits=args.splits, resume=args.resume, progress=bars, nproc=args.nproc,
                                     **given(args, RetrievalTrainConfig))
    return show(result, args)


def run_evaluate(args) -> int:
    with Bars(args, items=False) as bars:
        results = [api.evaluate_retrieval(args.corpus, args.library, splits=args.splits, split=s, videos=args.videos,
                                          model=args.model, caption_model=args.caption_model, clip=args.clip,
                                          modes=args.modes,
                                          progress=bars)
                   for s in args.split]
    return show(results, args, many=True)
