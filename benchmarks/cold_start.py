"""Cold start of `vidcap` commands: a new process per call, the code of a baseline commit
against the working tree, in one run.

    python benchmarks/cold_start.py                 # baseline: the commit before the redesign
    python benchmarks/cold_start.py --baseline HEAD~3 --repeats 7

The baseline is checked out with `git worktree` into a temporary folder and run with
the same interpreter and packages (PYTHONPATH puts its src/ first). Each command runs
``--repeats`` times in turn with the other version (so background load hits both
alike); the table shows the median wall time and the ratio. Needs no network.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "57893b9"  # the last commit before the one-house redesign


def run(argv: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vidcap", *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed with {src}:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default=BASELINE, help="git revision to compare with (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.baseline], check=True,
                       capture_output=True)
        try:
            from vidcap import api

            api.synth(tmp / "world", num_videos=2, seconds=2, workers=1)
            clip = str(sorted((tmp / "world" / "videos").glob("*.mp4"))[0])
            lib = str(tmp / "lib")
            api.index(tmp / "world" / "videos", lib, transcripts=False)
            commands = {
                "--help": ["--help"],
                "info": ["info", clip],
                "backbones": ["backbones"],
                "library ls": ["library", "ls", "--library", lib],
                "caption": ["caption", clip],
                "search": ["search", "a red circle", "--library", lib, "--sheet", "none"],
            }
            versions = {"baseline": old / "src", "now": ROOT / "src"}
            for argv in commands.values():  # warm the file cache and the ONNX export of both
                for src in versions.values():
                    run(argv, src)
            times = {name: {v: [] for v in versions} for name in commands}
            for _ in range(args.repeats):
                for name, argv in commands.items():
                    for v, src in versions.items():
                        times[name][v].append(run(argv, src))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)
    print(f"cold start, median of {args.repeats} runs (s); baseline {args.baseline}, CPUs {os.cpu_count()}")
    print("| command | baseline | now | baseline / now |")
    print("|---|---|---|---|")
    for name in commands:
        b, n = (statistics.median(times[name][v]) for v in ("baseline", "now"))
        print(f"| `vidcap {name}` | {b:.2f} | {n:.2f} | {b / n:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
