"""`vidcap classify`, `vidcap train classify`, `vidcap evaluate classify`."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, Bars, add_config, add_nproc, add_quiet, arg, given, show, single_file
from vidcap.config import ClassifyConfig

CLASSIFY_EXAMPLES = """examples:
  vidcap classify clip.mp4 --model runs/lstm
  vidcap classify long.mp4 --model runs/lstm --window 16 --stride 8 --top-k 5 -o annotated.mp4 --gif out.gif
  vidcap classify videos/ --model runs/two-stream --json
  vidcap classify clip.mp4 --model torchvision:s3d     # Kinetics-400 top-5 actions (also r2plus1d_18, r3d_18,
                                                       # mvit_v2_s, swin3d_t, ...; kinetics400 = r2plus1d_18)
  vidcap classify clip.mp4 --model hf:openai/clip-vit-base-patch32 --labels "cooking,dancing,skiing"
  vidcap classify clip.mp4 --model ./s3d-d76dad2f.pth   # a torchvision weight file copied by hand
--window/--stride count frames sampled at the rate the model was trained at (hub models:
their own frames per second; the default window is their clip length). Hub weights are
fetched once where the internet is reachable; offline see `vidcap models`. With
several videos, -o/--gif name folders that get one annotated file per video.
"""

TRAIN_EXAMPLES = """examples:
  vidcap synth world --num-videos 480                       # a generated dataset of 16 actions
  vidcap train classify world --model lstm --out-dir runs/lstm
  vidcap train classify world --model pool --pool max --out-dir runs/pool
  vidcap train classify world --model two-stream --fusion concat --out-dir runs/two-stream
  vidcap train classify world --model r2plus1d --num-frames 8 --clip-size 32 --width 16 --epochs 24 --patience 24 --out-dir runs/r2plus1d
  vidcap train classify UCF101/ --videos-dir UCF101/videos --model lstm --out-dir runs/ucf   # classInd.txt + trainlist01.txt
  vidcap train classify world --out-dir runs/lstm --resume  # continue exactly where it stopped
DATASET: train|val|test/<Class>/*.mp4 folders, a generated world, or a folder with
classInd.txt and trainlist01.txt/testlist01.txt. Inputs are cached under DATASET/features.
The run folder holds config.json log.csv log.jsonl curves.png best.pt last.pt skipped.json.
"""

EVAL_EXAMPLES = """examples:
  vidcap evaluate classify world --model runs/lstm --split test --confusion confusion.png
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("classify", help="label videos' actions (sliding windows, top-k)",
                            epilog=CLASSIFY_EXAMPLES, formatter_class=FMT)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files, folders or .txt lists of paths")
    p.add_argument("--model", required=True, help="run folder or checkpoint from `vidcap train classify`, "
                   "torchvision:NAME (Kinetics-400), or a CLIP model (hf:ORG/NAME or a folder) with --labels")
    arg(p, api.classify, "labels", help='zero-shot labels for a CLIP model, comma-separated: "cooking,dancing"')
    arg(p, api.classify, "window", type=int, help="sampled frames per window (default: the model's clip length, "
                                                  "16 for trained models)")
    arg(p, api.classify, "stride", type=int, help="sampled frames between window starts (default: half the window)")
    arg(p, api.classify, "top_k", "--top-k", type=int, help="labels per window and per video")
    arg(p, api.classify, "output", "-o", "--output", help="write an annotated video here (a folder for several videos)")
    arg(p, api.classify, "gif", help="write an annotated GIF here (a folder for several videos)")
    add_quiet(p)
    p.set_defaults(run=run_classify)

    p = train.add_parser("classify", help="train a video classifier", epilog=TRAIN_EXAMPLES, formatter_class=FMT)
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--out-dir", dest="out_dir", default=None, help="run folder (default runs/classify-<model>)")
    arg(p, api.train_classify, "videos_dir", "--videos-dir", help="split lists: folder the listed paths are relative to")
    arg(p, api.train_classify, "cache_dir", "--cache-dir", help="where inputs are cached (default DATASET/features)")
    add_config(p, ClassifyConfig)
    p.add_argument("--resume", action="store_true", help="continue <out-dir>/last.pt with the run's options")
    add_nproc(p, api.train_classify)
    add_quiet(p)
    p.set_defaults(run=run_train)

    p = evaluate.add_parser("classify", help="accuracy, top-5 and confusion matrix of a classifier",
                            epilog=EVAL_EXAMPLES, formatter_class=FMT)
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--model", required=True, help="run folder or checkpoint")
    arg(p, api.evaluate_classify, "split", help="which split")
    arg(p, api.evaluate_classify, "videos_dir", "--videos-dir", help="split lists: folder the listed paths are relative to")
    arg(p, api.evaluate_classify, "cache_dir", "--cache-dir", help="where inputs are cached")
    arg(p, api.evaluate_classify, "confusion_png", "--confusion", "--confusion-png",
        help="write the confusion matrix PNG here")
    add_quiet(p)
    p.set_defaults(run=run_evaluate)


def run_classify(args) -> int:
    with Bars(args) as bars:
        results = api.classify(args.videos, args.model, window=args.window, stride=args.stride, top_k=args.top_k,
                               labels=args.labels, output=args.output, gif=args.gif,
                               errors="raise" if single_file(args.videos) else "record", progress=bars)
    return show(results, args, many=True, printed=True)


def run_train(args) -> int:
    options = given(args, ClassifyConfig)
    out_dir = args.out_dir or f"runs/classify-{options.get('model', ClassifyConfig().model)}"
    with Bars(args) as bars:
        result = api.train_classify(args.dataset, out_dir, videos_dir=args.videos_dir, cache_dir=args.cache_dir,
                                    resume=args.resume, progress=bars, nproc=args.nproc, **options)
    return show(result, args)


def run_evaluate(args) -> int:
    with Bars(args, items=False) as bars:
        result = api.evaluate_classify(args.model, args.dataset, split=args.split, videos_dir=args.videos_dir,
                                       cache_dir=args.cache_dir, confusion_png=args.confusion_png, progress=bars)
    return show(result, args)
