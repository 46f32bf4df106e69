"""`vidcap caption`, `vidcap train caption`, `vidcap evaluate caption`, `vidcap score`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import (
    FMT,
    Bars,
    add_config,
    add_engine,
    add_nproc,
    add_quiet,
    arg,
    given,
    show,
    single_file,
)
from vidcap.config import CaptionTrainConfig

CAPTION_EXAMPLES = """examples:
  vidcap caption clip.mp4
  vidcap caption a.mp4 b.mp4 videos/ --beam-size 5 --json
  vidcap caption clip.mp4 --model runs/msvd
  vidcap caption clip.mp4 --model hf:microsoft/git-base-vatex   # GIT fine-tuned on VATEX (fetched once)
  vidcap caption clip.mp4 --model ./git-base-vatex              # a local copy of that hub folder
Without --model the bundled model is used: it was trained on vidcap's generated
video world (coloured shapes that move, bounce, grow, ...), so it describes only that
world's vocabulary; on other videos it says so (a warning on stderr, "in_domain": false
in the JSON). Train your own with `vidcap train caption`. Each caption is
printed as soon as its video is done; a video that cannot be read is reported and
the others are still captioned (exit status 1).
"""

TRAIN_EXAMPLES = """examples:
  # the generated world (vidcap synth ...): features are extracted on the fly
  vidcap train caption --corpus world/video_corpus.csv --videos world/videos --out-dir runs/world \\
      --num-frames 20 --epochs 60
  # MSVD with features extracted beforehand (vidcap extract YouTubeClips --out feats)
  vidcap train caption --corpus video_corpus.csv --features feats --out-dir runs/msvd
  # MSR-VTT: its JSON carries the train/validate/test split
  vidcap train caption --corpus train_val_videodatainfo.json --features feats --out-dir runs/msrvtt
  # continue an interrupted run exactly where it stopped (with the run's own options)
  vidcap train caption --corpus video_corpus.csv --features feats --out-dir runs/msvd --resume
The splits: --splits, else splits.json beside the corpus, else the corpus' own, else
random by video. The run folder holds config.json log.csv log.jsonl curves.png best.pt last.pt.
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate caption --model runs/world --corpus world/video_corpus.csv \\
      --videos world/videos --split test --beam-size 3
  vidcap evaluate caption --model runs/msvd/best.pt --corpus video_corpus.csv --features feats
Writes <out-dir>/predictions-<split>.json (per video: prediction and references)
and <out-dir>/metrics-<split>.json; prints the metric table. Features are extracted
only for the split's videos.
"""

SCORE_EXAMPLES = """examples:
  vidcap score --refs refs.json --preds preds.json
refs.json: {"video1": ["a man is cooking", ...], ...}; preds.json: {"video1": "a man cooks", ...}
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("caption", help="describe videos in a sentence (S2VT)", epilog=CAPTION_EXAMPLES,
                            formatter_class=FMT)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, folders or .txt lists of paths")
    arg(p, api.caption, "model", help="checkpoint file or training run folder, or a GIT model: hf:ORG/NAME or a "
                                      "local hub folder (default: the bundled model; see `vidcap models`)")
    arg(p, api.caption, "beam_size", type=int, help="1 = greedy; default: the model's (3 for the bundled one)")
    arg(p, api.caption, "length_penalty", type=float, help="beam ranking: log p / length**penalty; default: the model's")
    add_engine(p, api.caption)
    add_quiet(p)
    p.set_defaults(run=run_caption)

    p = train.add_parser("caption", help="train an S2VT captioner", epilog=TRAIN_EXAMPLES, formatter_class=FMT)
    add_data_args(p)
    p.add_argument("--out-dir", "--out", dest="out_dir", required=True, help="run folder")
    add_config(p, CaptionTrainConfig)
    p.add_argument("--resume", action="store_true", help="continue <out-dir>/last.pt with the run's options")
    arg(p, api.train_caption, "threads", type=int, help="torch threads (default: torch's; 1 suits small models)")
    add_nproc(p, api.train_caption)
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("caption", help="caption a split and score it (BLEU, METEOR, ROUGE-L, CIDEr)",
                            epilog=EVAL_EXAMPLES, formatter_class=FMT)
    add_eval_args(p)
    p.set_defaults(run=run_evaluate)

    p = commands.add_parser("score", help="COCO caption metrics of predictions against references",
                            epilog=SCORE_EXAMPLES, formatter_class=FMT)
    p.add_argument("--refs", required=True, help='JSON {"id": ["reference", ...]}')
    p.add_argument("--preds", required=True, help='JSON {"id": "caption"}')
    arg(p, api.score_captions, "tokenize", choices=["ptb", "simple"], help="ptb: the reference tokenizer (Java)")
    p.add_argument("--metrics", nargs="+", choices=list(api.CAPTION_METRICS), default=list(api.CAPTION_METRICS),
                   help="which metrics (METEOR needs Java)")
    p.add_argument("--per-video", action="store_true", help="also print each video's scores")
    add_quiet(p, json_flag=False)
    p.set_defaults(run=run_score)


def add_data_args(p) -> None:
    p.add_argument("--corpus", required=True, help="MSVD video_corpus.csv or MSR-VTT JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", help="folder of videos named <VideoID>_<Start>_<End>.<ext> (features are extracted)")
    src.add_argument("--features", help="folder of <name>.npy (T, D) feature files")
    p.add_argument("--splits", default=None, help="splits.json {train: [...], val: [...], test: [...]} "
                                                  "(default: splits.json beside the corpus, else random by video)")


def add_eval_args(p) -> None:
    """Arguments of `vidcap evaluate caption` (also the task-less `vidcap evaluate`)."""
    arg(p, api.evaluate_caption, "model", help="checkpoint file or run folder (default: the bundled model)")
    add_data_args(p)
    arg(p, api.evaluate_caption, "split", help="which split to caption and score")
    arg(p, api.evaluate_caption, "beam_size", type=int, help="default: the model's")
    arg(p, api.evaluate_caption, "length_penalty", type=float, help="default: the model's")
    arg(p, api.evaluate_caption, "tokenize", choices=["ptb", "simple"], help="ptb: the reference tokenizer (Java)")
    p.add_argument("--metrics", nargs="+", choices=list(api.CAPTION_METRICS), default=list(api.CAPTION_METRICS),
                   help="which metrics (METEOR needs Java)")
    arg(p, api.evaluate_caption, "out_dir", "--out-dir", "--out",
        help="where predictions/metrics JSON go (default: the run folder, when --model is one)")
    add_quiet(p, json_flag=False)


def run_caption(args) -> int:
    one = single_file(args.videos)
    with Bars(args) as bars:
        if one:  # a single video: print just its sentence
            bars.items_on = False
        results = api.caption(args.videos, model=args.model, beam_size=args.beam_size,
                              length_penalty=args.length_penalty, errors="raise" if one else "record",
                              engine=args.engine, address=args.address, progress=bars)
    if one and not (args.json or args.quiet):
        print("\n".join([results[0].caption, *results[0].shot_lines()]))  # a warning went to stderr
        return 0
    return show(results, args, many=True, printed=True)


def run_train(args) -> int:
    with Bars(args) as bars:
        result = api.train_caption(args.corpus, args.out_dir, features=args.features, videos=args.videos,
                                   splits=args.splits, resume=args.resume, threads=args.threads, progress=bars,
                                   nproc=args.nproc, **given(args, CaptionTrainConfig))
    return show(result, args)


def run_evaluate(args) -> int:
    with Bars(args, items=False) as bars:
        result = api.evaluate_caption(args.model, args.corpus, features=args.features, videos=args.videos,
                                      splits=args.splits, split=args.split, beam_size=args.beam_size,
                                      length_penalty=args.length_penalty, tokenize=args.tokenize,
                                      metrics=tuple(args.metrics), out_dir=args.out_dir, progress=bars)
    if args.quiet:
        from vidcap.io.files import to_json

        print(to_json({"split": result.split, "beam_size": result.beam_size, **result.metrics}))
        return 0
    return show(result, args)


def run_score(args) -> int:
    from vidcap.io.files import to_json
    from vidcap.metrics.caption import load_refs_preds

    refs, preds = load_refs_preds(args.refs, args.preds)
    print(to_json(api.score_captions(refs, preds, metrics=tuple(args.metrics), tokenize=args.tokenize,
                                     per_video=args.per_video)))
    return 0
