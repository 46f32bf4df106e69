"""A library in object storage: ``--library s3://...`` on a local S3-compatible server
(moto's, started by the ``s3`` fixture) holds what a library folder holds, answers the same
searches, and says in one sentence what is wrong with a URI."""
import json
import logging
import threading
import time
import uuid

import pytest

from vidcap import api
from vidcap.errors import DataError

pytestmark = pytest.mark.slow

COMPARED = ["id", "name", "path", "duration", "caption", "caption_score", "domain_distance", "thumbs", "vec_learned",
            "vec_caption"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from vidcap.data import synthetic

    root = tmp_path_factory.mktemp("objects")
    synthetic.generate_world(root / "world", num_videos=6, seed=909, level="easy", workers=1)
    return root / "world" / "videos"


def _uri(s3, name: str) -> str:
    return f"s3://{s3.bucket}/{name}-{uuid.uuid4().hex[:8]}"


def test_a_library_in_object_storage_equals_a_library_folder(s3, videos, tmp_path, monkeypatch, capsys):
    from vidcap.tasks.caption import Captioner
    from vidcap.tasks.library import Library

    monkeypatch.setenv("VIDCAP_CACHE", str(tmp_path / "cache"))
    uri = _uri(s3, "lib")
    assert len(api.index([videos], tmp_path / "lib", tags=False, transcripts=False).added) == 6
    there = api.index([videos], uri, tags=False, transcripts=False)
    assert len(there.added) == 6 and not there.failed and there.total == 6 and there.library == uri
    key = lambda r: r["id"]  # noqa: E731
    assert sorted(Library(uri).rows(COMPARED), key=key) == sorted(Library(tmp_path / "lib").rows(COMPARED), key=key)

    # what is in the bucket: the description and LanceDB's tables; no lock left behind
    prefix = uri.removeprefix(f"s3://{s3.bucket}/")
    keys = s3.keys(prefix + "/")
    assert f"{prefix}/library.json" in keys and any(k.startswith(f"{prefix}/db/videos.lance/") for k in keys)
    # (pyarrow leaves an empty "prefix/" folder marker when it deletes the lock object)
    assert not [k for k in keys if not k.startswith((f"{prefix}/db/", f"{prefix}/library.json")) and k != f"{prefix}/"]
    # the features went to this machine's cache
    assert len(list(Library(uri).features_dir("mobilenet_v2", 16).glob("*.npy"))) == 6
    fit = Captioner.load(None).fit  # the captioner's features, of frames fitted otherwise, have their own store
    assert len(list(Library(uri).features_dir("mobilenet_v2", 16, fit).glob("*.npy"))) == 6

    for mode in ("learned", "caption", "hybrid"):
        a, b = api.search("a red circle moves left", tmp_path / "lib", mode=mode), api.search(
            "a red circle moves left", uri, mode=mode)
        assert [(h.name, round(h.score, 5)) for h in a.hits] == [(h.name, round(h.score, 5)) for h in b.hits], mode
        assert b.hits and b.library == uri

    # the web service searches it as it searches a folder
    from fastapi.testclient import TestClient

    from vidcap.server.app import create_app
    from vidcap.server.settings import Settings

    with TestClient(create_app(Settings(data=tmp_path / "data", library=uri + "/"))) as c:
        assert c.get("/api/health").json()["library"] == {"name": uri.rsplit("/", 1)[1], "videos": 6}
        served = c.get("/api/search", params={"q": "a red circle moves left", "k": 3}).json()["results"]
        assert [h["id"] for h in served] == [h.id for h in api.search("a red circle moves left", uri, k=3).hits]
        assert c.get(f"/api/library/{served[0]['id']}/video").status_code == 200

    again = api.index([videos], uri, tags=False, transcripts=False)
    assert not again.added and len(again.skipped) == 6
    from vidcap.cli import main

    assert main(["library", "ls", "--library", uri, "--json"]) == 0
    assert sorted(e["name"] for e in json.loads(capsys.readouterr().out)) == sorted(v.stem for v in videos.glob("*.mp4"))
    assert len(api.library_list(uri)) == 6
    first = api.library_list(uri)[0]
    assert api.library_remove([first.name], uri) == [first.id]
    check = api.library_check(uri)
    assert (check.rows, check.videos, check.duplicates, check.missing_files) == (5, 5, {}, [])


def test_object_storage_mistakes_are_one_sentence(s3, videos, tmp_path, monkeypatch, capsys):
    from vidcap.cli import main

    monkeypatch.setenv("VIDCAP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"^s3://no-such-bucket-\w+/lib/.lock: cannot be written \(.*bucket does not"):
        api.index([videos], f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/lib", caption_model="none", tags=False)
    empty = _uri(s3, "empty")
    with pytest.raises(DataError, match=rf"^{empty} is not a video library \(no library.json\); build one with"):
        api.library_list(empty)
    from vidcap.errors import ConfigError
    from vidcap.server.settings import Settings

    with pytest.raises(ConfigError, match=rf"^--library {empty} is not a video library"):
        Settings(data=tmp_path / "data", library=empty).check()
    assert main(["library", "ls", "--library", empty]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"vidcap: error: {empty} is not a video library") and len(err.splitlines()) == 1, err
    junk = _uri(s3, "junk")
    s3.client().put_object(Bucket=s3.bucket, Key=junk.removeprefix(f"s3://{s3.bucket}/") + "/library.json",
                           Body=b"\xff\xfe not text")
    with pytest.raises(DataError, match=rf"^{junk}/library.json: is not UTF-8 text$"):
        api.search("a circle", junk)
    other = _uri(s3, "other")
    s3.client().put_object(Bucket=s3.bucket, Key=other.removeprefix(f"s3://{s3.bucket}/") + "/library.json",
                           Body=b'{"format": "something else"}')
    with pytest.raises(DataError, match=rf"^{other}/library.json is not a vidcap library description$"):
        api.library_list(other)


def test_writers_take_turns_on_a_lock_object_and_a_dead_writers_lock_is_taken_over(s3, caplog):
    from vidcap.io import remote

    lock = _uri(s3, "locks") + "/.lock"
    inside, overlaps = [], []

    def writer():
        for _ in range(3):
            with remote.lease(lock):
                inside.append(1)
                if len(inside) > 1:
                    overlaps.append(len(inside))
                time.sleep(0.05)
                inside.pop()

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and not overlaps
    assert remote.read_text(lock) is None  # released: deleted

    remote.write_text(lock, "host:1:dead")  # a writer killed inside its block
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="vidcap.io.remote"), remote.lease(lock, stale_after=2.0):
        assert remote.read_text(lock) != "host:1:dead"
    assert time.monotonic() - started >= 1.0  # S3 keeps whole seconds of the modification time
    assert "taking over a lock left" in caplog.text and "host:1:dead" in caplog.text


def test_an_object_deleted_between_the_look_and_the_read_reads_as_absent(monkeypatch):
    """A lock object released by its holder just after a waiter saw it: no error, nothing there."""
    import pyarrow.fs as pafs

    from vidcap.io import remote

    class Vanishing:  # what the store answers in that instant: listed, then gone
        def get_file_info(self, path):
            return pafs.FileInfo(path, pafs.FileType.File, size=10)

        def open_input_stream(self, path):
            raise FileNotFoundError(f"Path does not exist '{path}'")

    monkeypatch.setattr(remote, "filesystem", lambda uri: (Vanishing(), "bucket/lib/.lock"))
    assert remote.read_text("s3://bucket/lib/.lock") is None
