"""`vidcap models`: what each task can run, and whether its weights are here."""
from __future__ import annotations

from vidcap import api
from vidcap.cli.common import FMT, add_quiet, show

MODELS_EXAMPLES = """examples:
  vidcap models
  vidcap models --task classify --json
kind: bundled models ship inside a package (offline); hub models are fetched once where
the internet is reachable (never with HF_HUB_OFFLINE=1) into the torch hub cache
($TORCH_HOME/hub/checkpoints) or the Hugging Face cache ($HF_HOME/hub). Offline, copy
them from a machine with internet and pass the file or folder as --model PATH:
  vidcap classify clip.mp4 --model torchvision:s3d
  vidcap classify clip.mp4 --model hf:openai/clip-vit-base-patch32 --labels "cooking,dancing,skiing"
  vidcap caption clip.mp4 --model hf:microsoft/git-base-vatex --beam-size 3
  vidcap caption clip.mp4 --model ./git-base-vatex     # a copied hub folder
"""


def register(commands, train, evaluate) -> None:
    p = commands.add_parser("models", help="list each task's models (bundled or hub) and whether they are here",
                            epilog=MODELS_EXAMPLES, formatter_class=FMT)
    p.add_argument("--task", default=None, help="only this task's models (caption, classify, search, ...)")
    add_quiet(p)
    p.set_defaults(run=run_models)


def run_models(args) -> int:
    rows = [m for m in api.models() if args.task in (None, m.task)]
    return show(rows, args)
