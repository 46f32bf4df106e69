"""On-screen text: RapidOCR on each shot's middle frame of a generated video with drawn text,
its times, SRT output, the CLI, and the library's full-text search over it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vidcap.cli import main
from vidcap.errors import ConfigError

pytest.importorskip("rapidocr_onnxruntime")
pytest.importorskip("scenedetect")

# (background RGB, text colour, the text): one shot each, 25 frames at 25 fps
SHOTS = [((30, 40, 90), (255, 255, 255), "HELLO WORLD"), ((220, 210, 180), (20, 20, 20), "EXIT 42")]


def text_frames() -> np.ndarray:
    """Two 1-second shots, 320x180, the text large and still: (50, 180, 320, 3) uint8."""
    import cv2

    frames = []
    for bg, colour, text in SHOTS:
        for _ in range(25):
            img = np.full((180, 320, 3), bg, np.uint8)
            cv2.putText(img, text, (16, 105), cv2.FONT_HERSHEY_SIMPLEX, 1.4, colour, 4, cv2.LINE_AA)
            frames.append(img)
    return np.stack(frames)


@pytest.fixture(scope="module")
def text_video(tmp_path_factory):
    from vidcap.io import write_video

    return write_video(tmp_path_factory.mktemp("ocr") / "signs.mp4", text_frames(), 25)


@pytest.fixture(scope="module")
def read(text_video):
    from vidcap.api import ocr

    return ocr(text_video)


def words(lines) -> list[str]:
    return " ".join(x.text for x in lines).split()


def test_text_of_each_shot_with_its_times(read):
    assert read.shots == 2
    first = [x for x in read.lines if x.start == 0.0]
    second = [x for x in read.lines if x.start == 1.0]
    assert words(first) == ["HELLO", "WORLD"] and words(second) == ["EXIT", "42"]
    assert all(x.end == 1.0 and x.time == 0.48 for x in first)  # the middle frame, 12 of 0-24
    assert all(x.end == 2.0 and x.time == 1.48 for x in second)
    assert all(x.score > 0.9 for x in read.lines)
    for x in read.lines:  # the boxes lie where the text was drawn (baseline at y = 105)
        ys = [p[1] for p in x.box]
        assert 60 < min(ys) < 105 < max(ys) < 125
    assert read.text.split() == ["HELLO", "WORLD", "EXIT", "42"]


def test_srt_and_json(read, tmp_path):
    from vidcap.io.subtitles import read_subtitles

    cues = read_subtitles(read.save(tmp_path / "text.srt"))
    assert [(c.start, c.end) for c in cues] == [(0.0, 1.0), (1.0, 2.0)]
    assert cues[0].text.split() == ["HELLO", "WORLD"] and cues[1].text == "EXIT 42"
    d = json.loads(read.to_json())
    assert d["text"] == read.text and len(d["lines"]) == len(read.lines) and len(d["lines"][0]["box"]) == 4


def test_a_frame_without_text_reads_nothing():
    from vidcap.tasks.ocr import read_text

    assert read_text(np.full((90, 160, 3), 128, np.uint8)) == []
    with pytest.raises(ConfigError, match="uint8"):
        read_text(np.zeros((90, 160), np.float32))


@pytest.mark.slow
def test_cli_and_indexed_text_search(text_video, read, tmp_path, capsys):
    from vidcap.api import index, search
    from vidcap.io import write_video

    out = tmp_path / "signs.vtt"
    assert main(["ocr", str(text_video), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(read.to_json())
    assert out.read_text().startswith("WEBVTT")
    assert main(["ocr", str(text_video), "--min-score", "2"]) == 2
    assert "min_score" in capsys.readouterr().err

    # the library's full-text index holds the on-screen text: a search answers with the shot
    other = write_video(tmp_path / "plain.mp4", text_frames()[:, :40], 25)  # the same colours, no text
    s = index([text_video, other], tmp_path / "lib", model="none", caption_model="none", transcripts=False,
              tags=False, ocr=True)
    assert len(s.added) == 2
    for query, moment in (("exit", (1.0, 2.0)), ("hello world", (0.0, 1.0))):
        hits = search(query, tmp_path / "lib", k=2, mode="caption").hits
        assert hits[0].name == "signs" and (hits[0].start, hits[0].end) == moment and "text" in hits[0].scores
        assert all(h.name != "plain" for h in hits)  # nothing written on it: no match at all
