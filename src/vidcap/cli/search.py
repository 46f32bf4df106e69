"""`vidcap index`, `vidcap library ls|rm`, `vidcap search`, `vidcap train retrieval`, `vidcap evaluate retrieval`."""
from __future__ import annotations

import argparse
import sys

from vidcap.cli import add_quiet, print_json

FMT = argparse.RawDescriptionHelpFormatter

INDEX_EXAMPLES = """examples:
  vidcap index videos/ --library lib --model runs/retrieval
  vidcap index new_clip.mp4 --library lib            # later: the library keeps its model
  vidcap index videos/ --library lib --model none    # captions and transcripts only
Each video is processed once (content hash): re-running skips what is indexed, and
an interrupted run resumes. A caption comes from the bundled caption model (or
--caption-model), a transcript from vidcap's speech module when it is installed.
"""

LIBRARY_EXAMPLES = """examples:
  vidcap library ls --library lib
  vidcap library rm syn00042_0_3 --library lib       # by name, id (prefix) or path
"""

SEARCH_EXAMPLES = """examples:
  vidcap search "a red circle moves to the left" --library lib
  vidcap search "two squares collide" --library lib --k 5 --mode learned --json
  vidcap search "a star is spinning" --library lib --sheet results.png
Modes: learned (the joint video-text embedding), caption (MiniLM vectors of the
generated captions and transcripts + BM25 full-text search), hybrid (reciprocal
rank fusion of all of them); learned is the default, the best of the three in
every column of the README's evaluation. A contact sheet of the top results' frames,
annotated with rank and score, is written to --sheet (default: search.png in the
current folder; --sheet none to skip).
"""

TRAIN_EXAMPLES = """examples:
  vidcap synth world --num-videos 1000 --seed 11
  vidcap extract world/videos --out world/feats16 --num-frames 16
  vidcap train retrieval --corpus world/video_corpus.csv --features world/feats16 --out-dir runs/retrieval
  vidcap train retrieval --corpus world/video_corpus.csv --videos world/videos --out-dir runs/retrieval
The splits default to splits.json beside the corpus. Writes best.pt (by validation
text->video recall), last.pt and log.csv into --out-dir.
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate retrieval --model runs/retrieval --corpus world/video_corpus.csv \\
      --videos world/videos --library eval-lib --split test test_compositional
Indexes the split's videos into --library (once), then uses every reference
caption as a query: Recall@1/5/10 and median rank, text->video and video->text,
for each mode.
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("index", help="add videos to a searchable library", epilog=INDEX_EXAMPLES, formatter_class=FMT)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders or .txt lists of paths")
    p.add_argument("--library", required=True, help="library folder (created when missing)")
    p.add_argument("--model", default=None,
                   help="retrieval checkpoint or run folder (default: the bundled one when installed; 'none': no learned embeddings)")
    p.add_argument("--caption-model", default=None, help="caption checkpoint (default: the bundled one; 'none': no captions)")
    p.add_argument("--no-transcripts", dest="transcripts", action="store_false", help="do not transcribe speech")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_quiet(p)
    p.set_defaults(run=run_index)

    lib = commands.add_parser("library", help="list or remove a library's videos", epilog=LIBRARY_EXAMPLES,
                              formatter_class=FMT).add_subparsers(dest="action", metavar="ACTION")
    lib.required = True
    p = lib.add_parser("ls", help="list the indexed videos", epilog=LIBRARY_EXAMPLES, formatter_class=FMT)
    p.add_argument("--library", required=True)
    p.add_argument("--json", action="store_true")
    add_quiet(p)
    p.set_defaults(run=run_ls)
    p = lib.add_parser("rm", help="remove videos", epilog=LIBRARY_EXAMPLES, formatter_class=FMT)
    p.add_argument("keys", nargs="+", metavar="VIDEO", help="name, id (or a prefix of 6+ characters) or path")
    p.add_argument("--library", required=True)
    add_quiet(p)
    p.set_defaults(run=run_rm)

    p = commands.add_parser("search", help="find videos by a text query", epilog=SEARCH_EXAMPLES, formatter_class=FMT)
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--library", required=True)
    p.add_argument("--k", type=int, default=10, help="how many results")
    p.add_argument("--mode", choices=["learned", "caption", "hybrid"], default="learned",
                   help="learned (default: the most accurate on the generated world), caption or hybrid")
    p.add_argument("--model", default=None, help="retrieval model (default: the one that built the library)")
    p.add_argument("--sheet", default="search.png", help="contact sheet PNG ('none' to skip)")
    p.add_argument("--json", action="store_true")
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
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128, help="videos per step")
    p.add_argument("--captions-per-video", type=int, default=4, help="positive captions per video in a step (MIL-NCE)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--backbone", default="mobilenet_v2", help="when extracting from --videos")
    p.add_argument("--num-frames", type=int, default=16, help="when extracting from --videos")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--clip-frames", type=int, default=16, help="frames per clip; longer videos get a clip->video level")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out-dir>/last.pt")
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("retrieval", help="Recall@K and median rank of text<->video search",
                            epilog=EVAL_EXAMPLES, formatter_class=FMT)
    p.add_argument("--corpus", required=True)
    p.add_argument("--library", required=True, help="library holding (or to receive) the split's videos")
    p.add_argument("--videos", default=None, help="folder with the split's videos (indexed into --library)")
    p.add_argument("--model", default=None, help="retrieval model (default: the library's)")
    p.add_argument("--caption-model", default=None, help="caption model used when indexing (default: the bundled one)")
    p.add_argument("--splits", default=None)
    p.add_argument("--split", nargs="+", default=["test"])
    p.add_argument("--modes", nargs="+", choices=["learned", "caption", "hybrid"], default=["learned", "caption", "hybrid"])
    p.add_argument("--json", action="store_true")
    add_quiet(p)
    p.set_defaults(run=run_evaluate)


def run_index(args) -> int:
    from vidcap.library import index

    s = index(args.inputs, args.library, model=args.model, caption_model=args.caption_model,
              transcripts=args.transcripts, progress=not args.quiet)
    if args.json or args.quiet:
        print_json(s.to_dict())
    else:
        print(f"{args.library}: added {len(s.added)}, already indexed {len(s.skipped)}, failed {len(s.failed)}; "
              f"{s.total} videos in the library ({s.seconds:.1f} s)")
        for f in s.failed:
            print(f"  failed: {f['error']}", file=sys.stderr)
    return 1 if s.failed and not s.added and not s.skipped else 0


def run_ls(args) -> int:
    from vidcap.library import list_videos

    rows = list_videos(args.library)
    if args.json or args.quiet:
        print_json(rows)
        return 0
    for r in rows:
        extra = r["caption"] or ""
        if r["transcript"]:
            extra += f'  [speech: {r["transcript"][:60]}]'
        print(f'{r["id"][:12]}  {r["name"]:<28} {r["duration"]:6.1f}s  {extra}')
    print(f"{len(rows)} video(s)")
    return 0


def run_rm(args) -> int:
    from vidcap.library import remove

    gone = remove(args.keys, args.library)
    if args.quiet:
        print_json(gone)
    else:
        print(f"removed {len(gone)} video(s)")
    return 0


def run_search(args) -> int:
    from vidcap.library import search

    res = search(args.query, args.library, k=args.k, mode=args.mode, model=args.model)
    sheet = None
    if args.sheet and args.sheet != "none" and res.hits:
        sheet = res.contact_sheet(args.sheet)
    if args.json or args.quiet:
        d = res.to_dict()
        d["contact_sheet"] = str(sheet) if sheet else None
        print_json(d)
        return 0
    for h in res.hits:
        print(f"{h.rank:3d}. {h.score:.4f}  {h.name:<28} {h.caption}")
    if sheet:
        print(f"contact sheet: {sheet}")
    return 0


def run_train(args) -> int:
    from vidcap.train.retrieval import train_retrieval

    res = train_retrieval(args.corpus, args.out_dir, features=args.features, videos=args.videos, splits=args.splits,
                          resume=args.resume, progress=not args.quiet, epochs=args.epochs, batch_size=args.batch_size,
                          captions_per_video=args.captions_per_video, lr=args.lr, weight_decay=args.weight_decay,
                          backbone=args.backbone, num_frames=args.num_frames, hidden=args.hidden,
                          embed_dim=args.embed_dim, layers=args.layers, clip_frames=args.clip_frames,
                          dropout=args.dropout, seed=args.seed)
    print_json(res.to_dict())
    return 0


def format_table(results: list[dict]) -> str:
    lines = ["| split | mode | T→V R@1 | R@5 | R@10 | MdR | V→T R@1 | R@5 | R@10 | MdR |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for mode, m in res["modes"].items():
            t, v = m["t2v"], m["v2t"]
            lines.append(f"| {res['split']} | {mode} | {t['R@1']:.1f} | {t['R@5']:.1f} | {t['R@10']:.1f} | {t['MdR']:g} "
                         f"| {v['R@1']:.1f} | {v['R@5']:.1f} | {v['R@10']:.1f} | {v['MdR']:g} |")
    return "\n".join(lines)


def run_evaluate(args) -> int:
    from vidcap.library import evaluate_retrieval

    results = [evaluate_retrieval(args.corpus, args.library, splits=args.splits, split=s, videos=args.videos,
                                  model=args.model, caption_model=args.caption_model, modes=args.modes,
                                  progress=not args.quiet)
               for s in args.split]
    if args.json or args.quiet:
        print_json(results)
    else:
        print(format_table(results))
    return 0
