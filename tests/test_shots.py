"""Shots: PySceneDetect's detectors behind one function, on videos with known cuts (camera pans
over real photos joined end to end), on the real clips (cuts checked by eye), and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vidcap.cli import main
from vidcap.errors import ConfigError
from vidcap.results import Shot

pytest.importorskip("scenedetect")


def pan(photo: str, n: int, size=(160, 120)) -> np.ndarray:
    """``n`` frames of a camera panning right across a scikit-image photo: (n, H, W, 3) uint8."""
    import cv2
    import skimage.data

    img = getattr(skimage.data, photo)()
    h, w = img.shape[:2]
    cw, ch = int(w * 0.7), int(h * 0.7)
    return np.stack([cv2.resize(img[(h - ch) // 2:(h - ch) // 2 + ch, x:x + cw], size, interpolation=cv2.INTER_AREA)
                     for x in np.linspace(0, w - cw, n).astype(int)])


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    """Three shots (a cat, coffee, a rocket; 30, 20 and 25 frames at 25 fps): cuts at frames 30 and 50."""
    from vidcap.io import write_video

    frames = np.concatenate([pan("chelsea", 30), pan("coffee", 20), pan("rocket", 25)])
    return write_video(tmp_path_factory.mktemp("shots") / "three.mp4", frames, 25), frames


@pytest.mark.parametrize("detector", ["adaptive", "content"])
def test_cuts_are_found_at_the_right_frames(cut_video, detector):
    from vidcap.api import shots

    path, frames = cut_video
    res = shots(path, detector=detector)
    assert [(s.start_frame, s.end_frame) for s in res.shots] == [(0, 29), (30, 49), (50, 74)]
    assert [(s.start, s.end) for s in res.shots] == [(0.0, 1.2), (1.2, 2.0), (2.0, 3.0)]
    assert res.duration == pytest.approx(3.0) and res.detector == detector and res.fps == 25.0
    # the same detector on the frames in memory
    from vidcap.features.shots import detect_cuts

    assert detect_cuts(frames, 25, detector=detector) == [30, 50]


def test_real_clips(samples):
    """bikes cuts at frames 30, 76, 137, 187 and 242 (checked by eye); carphone is one shot."""
    from vidcap.features.shots import detect_shots

    bikes = detect_shots(samples["bikes"])
    assert [s.start_frame for s in bikes.shots] == [0, 30, 76, 137, 187, 242]
    assert bikes.shots[-1].end_frame == 249 and bikes.shots[-1].end == pytest.approx(10.0)
    one = detect_shots(samples["carphone_pristine"])
    assert len(one.shots) == 1 and one.shots[0].start == 0.0 and one.shots[0].end == pytest.approx(4.004, abs=0.01)


def test_min_shot_and_threshold(cut_video):
    from vidcap.features.shots import detect_cuts

    _, frames = cut_video
    assert detect_cuts(frames, 25, min_shot=1.0) == [30]  # 50 is only 0.8 s after 30
    assert detect_cuts(frames, 25, detector="content", threshold=255) == []
    assert detect_cuts(frames[:30], 25) == []  # one pan, no cut


def test_pair_test_and_keyframes(cut_video):
    from vidcap.features.shots import is_cut, keyframes

    _, frames = cut_video
    assert is_cut(frames[29], frames[30]) and not is_cut(frames[10], frames[11])
    with pytest.raises(ConfigError, match="one size"):
        is_cut(frames[0], frames[0, :10])
    shot = Shot(0, 0.0, 1.2, 30, 49)
    assert keyframes(shot, 1) == [40] and keyframes(shot, 3) == [33, 40, 46]
    assert keyframes(Shot(0, 0.0, 0.04, 7, 7), 3) == [7]
    with pytest.raises(ConfigError):
        keyframes(shot, 0)


def test_bad_arguments(cut_video):
    from vidcap.api import shots

    path, _ = cut_video
    with pytest.raises(ConfigError, match="detector"):
        shots(path, detector="histogram")
    with pytest.raises(ConfigError, match="min_shot"):
        shots(path, min_shot=-1)
    with pytest.raises(ConfigError, match="threshold"):
        shots(path, threshold=-3)


def test_cli_matches_the_api_and_writes_csv(cut_video, tmp_path, capsys):
    from vidcap.api import shots

    path, _ = cut_video
    csv_path = tmp_path / "shots.csv"
    assert main(["shots", str(path), "-o", str(csv_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads(shots(path).to_json())
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "index,start,end,start_frame,end_frame" and lines[2] == "1,1.2,2.0,30,49"
    assert main(["shots", str(path)]) == 0
    assert "3 shot(s)" in capsys.readouterr().out
    assert main(["shots", str(path), "-o", str(tmp_path / "shots.txt")]) == 2
    assert "use one of .csv, .json" in capsys.readouterr().err
    assert main(["shots", str(tmp_path / "missing.mp4")]) == 2
