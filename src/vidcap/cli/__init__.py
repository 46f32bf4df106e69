"""The `vidcap` command line: parse arguments, call :mod:`vidcap.api`, print the results.

Each task has its own module here with a ``register(commands, train, evaluate)``
function that adds its sub-commands. Flags carry the Python API's argument names
and defaults; output follows the rules in :mod:`vidcap.cli.common`. Building the
parser imports no torch, so ``--help`` and the light commands start at once.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vidcap.errors import VidcapError

# Modules that add commands; each one owns its own part of the command line.
MODULES = ["video", "synth", "caption", "classify", "emotions", "interpolate", "subtitles", "search", "tags",
           "serve", "models"]

EPILOG = """examples:
  vidcap caption video.mp4                       # a sentence per video, bundled model
  vidcap synth world --num-videos 1000           # a generated, captioned video world
  vidcap train caption --corpus world/video_corpus.csv --videos world/videos --out-dir runs/world
  vidcap evaluate --model runs/world --corpus world/video_corpus.csv --videos world/videos --split test
  vidcap info video.mp4
  vidcap extract videos/ --out features/ --num-frames 80
  vidcap classify videos/ --model runs/actions --json
  vidcap classify clip.mp4 --model torchvision:s3d   # Kinetics-400 actions; see `vidcap models`
  vidcap emotions face.mp4 -o annotated.mp4 --timeline faces.csv
  vidcap interpolate video.mp4 --factor 4 -o slowmo.mp4
  vidcap index videos/ --library lib && vidcap search "a red circle moves left" --library lib
  vidcap tag clip.mp4                            # ImageNet objects per shot; also: vidcap shots, vidcap ocr
  vidcap subtitles talk.mp4 -o talk.srt

every command has --help with more examples. --json prints strict JSON (a list for
commands that take several inputs); exit status: 0 ok, 1 some inputs failed, 2 error.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidcap",
        description="Deep-learning video understanding: captions, features, and more.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    train = commands.add_parser("train", help="train a model").add_subparsers(dest="task", metavar="TASK")
    train.required = True
    evaluate = commands.add_parser("evaluate", help="evaluate a model").add_subparsers(dest="task", metavar="TASK")
    evaluate.required = True
    for name in MODULES:
        importlib.import_module(f"vidcap.cli.{name}").register(commands, train, evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 1 and argv[0] == "evaluate" and argv[1].startswith("-") and argv[1] not in ("-h", "--help"):
        argv.insert(1, "caption")  # `vidcap evaluate --model RUN ...` evaluates a captioner, the main task
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if getattr(args, "quiet", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args) or 0
    except VidcapError as exc:
        print(f"vidcap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidcap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vidcap ... | head`: the reader left
        return 0
    except OSError as exc:  # a file system refused: read-only, full, gone
        from vidcap.io.files import describe_os_error

        print(f"vidcap: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect: one sentence, the traceback with -v
        if args.verbose:
            raise
        print(f"vidcap: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(run with -v for the details, and please report it)", file=sys.stderr)
        return 2
