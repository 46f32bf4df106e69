"""Worker processes that are safe to start from a threaded program and from a user's script.

Torch, ONNX Runtime, CTranslate2 and tqdm all run threads; a plain ``fork`` of
such a process can deadlock in the child on a lock some other thread held. Every
process pool in vidcap therefore starts its workers from a clean forkserver
(spawn where there is none).

Such workers import the main script of the program again (as ``__mp_main__``), so
a script whose top-level code starts vidcap's workers without an
``if __name__ == "__main__":`` guard would start them again in every worker.
:func:`pool_context` finds that case before any work starts -- it reads the script
and checks that the line calling vidcap sits under the guard -- and raises one
sentence instead. Programs run with ``python -m``, the ``vidcap`` command, notebooks
and ``python -c`` are not re-imported and need no guard.
"""
from __future__ import annotations

import ast
import multiprocessing as mp
import os
import sys
import threading
import time
from functools import lru_cache

from vidcap.errors import ConfigError

GUARD_HELP = ("put the script's top-level code under `if __name__ == \"__main__\":` "
              "(worker processes import the script again), or pass workers=0")


def pool_context():
    """The multiprocessing context for vidcap's process pools (after :func:`check_main_guard`)."""
    if getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
        raise ConfigError(f"a vidcap process pool was started while a worker process imported your script; {GUARD_HELP}")
    check_main_guard()
    return mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")


def process_pool(workers: int, initializer=None):
    """A ``ProcessPoolExecutor`` of ``workers`` processes from a forkserver whose workers
    exit by themselves when this process dies (``kill -9`` included): nothing is left
    running behind a killed job."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=pool_context(), initializer=_start_worker,
                               initargs=(os.getpid(), initializer))


def _start_worker(parent: int, initializer) -> None:
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="vidcap-parent-watch").start()
    if initializer is not None:
        initializer()


def _watch(parent: int, every: float = 0.5) -> None:
    """In a worker: end this process once the process that started the pool is gone."""
    while True:
        time.sleep(every)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # the pid was reused by another user's process: the parent is gone
            os._exit(1)


def check_main_guard() -> None:
    """Raise ConfigError when the main script calls into vidcap from unguarded top-level code."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec = getattr(main, "__spec__", None)
    if not path or (spec is not None and getattr(spec, "name", None)):  # python -m / console scripts: not re-imported
        return
    frame = sys._getframe(1)
    line = None
    while frame is not None:  # the outermost frame running the main script's module code
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            line = frame.f_lineno
        frame = frame.f_back
    if line is not None and not _guarded(path, line):
        raise ConfigError(f"{path} line {line} starts vidcap's worker processes from top-level code; {GUARD_HELP}")


@lru_cache(maxsize=8)
def _guard_ranges(path: str) -> tuple[tuple[int, int], ...]:
    """Line ranges of the ``if __name__ == "__main__":`` blocks of a script."""
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ((0, 1 << 30),)  # cannot tell: do not stand in the way
    ranges = []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
    return tuple(ranges)


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    names = [test.left, test.comparators[0]]
    return (any(isinstance(n, ast.Name) and n.id == "__name__" for n in names)
            and any(isinstance(n, ast.Constant) and n.value == "__main__" for n in names))


def _guarded(path: str, line: int) -> bool:
    return any(a <= line <= b for a, b in _guard_ranges(path))
