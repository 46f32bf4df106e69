"""Worker processes that are safe to start from a threaded program.

Torch, ONNX Runtime, CTranslate2 and tqdm all run threads; a plain ``fork`` of
such a process can deadlock in the child on a lock some other thread held. Every
process pool in vidcap therefore starts its workers from a clean forkserver
(spawn where there is none).
"""
from __future__ import annotations

import multiprocessing as mp
import sys

from vidcap.errors import ConfigError


def pool_context():
    """The multiprocessing context for vidcap's process pools.

    Raises ConfigError when called while a worker process is importing the user's
    main script (a script that starts workers without an
    ``if __name__ == "__main__":`` guard), instead of starting pools recursively.
    """
    if getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__":
        raise ConfigError("a vidcap process pool was started while a worker process imported your script; "
                          "put the script's top-level code under `if __name__ == \"__main__\":` or pass workers=0/1")
    return mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
