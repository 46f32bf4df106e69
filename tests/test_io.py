"""Video ingestion on generated clips with known frames and on the real sample clips."""
import logging
import os

import numpy as np
import pytest

from clips import coded_frames, moving_coded_frames, noise_frames, read_code, set_rotation, write_audio, write_clip
from vidcap.errors import ConfigError, DecodeError, VidcapError
from vidcap.io import (center_crop, even_indices, fps_indices, iter_frames, long_side_size, pad_square, probe,
                       sample_frames, short_side_size)


def seed_indices(n, num):
    return np.round(np.linspace(0, n - 1, num)).astype(int)


# ---------------------------------------------------------------- index maths


def test_even_indices_follow_the_seed():
    for n, num in [(250, 80), (81, 80), (80, 80), (1000, 7)]:
        idx, mask = even_indices(n, num)
        assert np.array_equal(idx, seed_indices(n, num)) and mask.all()


def test_short_videos_pad_or_repeat():
    idx, mask = even_indices(5, 8, short="pad")
    assert idx.tolist() == [0, 1, 2, 3, 4, -1, -1, -1] and mask.tolist() == [True] * 5 + [False] * 3
    idx, mask = even_indices(5, 8, short="repeat")
    assert idx.tolist() == seed_indices(5, 8).tolist() and mask.all()
    with pytest.raises(ConfigError):
        even_indices(5, 8, short="stretch")
    with pytest.raises(ConfigError):
        even_indices(5, 0)


def test_fps_indices_pick_the_frame_on_screen():
    times = np.array([0.0, 0.1, 0.5, 0.55, 1.2, 2.0])
    idx, _ = fps_indices(times, 2)  # samples at 0, 0.5, 1.0, 1.5, 2.0
    assert idx.tolist() == [0, 2, 3, 4, 5]


def test_crop_and_short_side():
    assert short_side_size(1280, 720, 256) == (455, 256)
    assert short_side_size(144, 176, 256) == (256, 313)
    frames = np.arange(2 * 10 * 12 * 3, dtype=np.uint8).reshape(2, 10, 12, 3)
    assert np.array_equal(center_crop(frames, 4), frames[:, 3:7, 4:8])
    with pytest.raises(ConfigError):
        center_crop(frames, 11)


def test_long_side_and_letterbox():
    assert long_side_size(1280, 720, 224) == (224, 126)
    assert long_side_size(120, 160, 224) == (168, 224)
    frames = np.full((2, 3, 4, 3), 7, dtype=np.uint8)
    out = pad_square(frames, 6)
    assert out.shape == (2, 6, 6, 3) and (out[:, 1:4, 1:5] == 7).all() and out.sum() == frames.sum()
    with pytest.raises(ConfigError, match="cannot pad 3x4 frames to 3x3"):
        pad_square(frames, 3)


# ---------------------------------------------------------------- exact frames


@pytest.mark.parametrize(
    "name, codec, pix_fmt, options",
    [("ffv1.mkv", "ffv1", "bgr0", None), ("x264rgb.mp4", "libx264rgb", "rgb24", {"qp": "0"}), ("png.mov", "png", "rgb24", None)],
)
def test_lossless_clip_gives_exact_frames(tmp_path, name, codec, pix_fmt, options):
    frames = noise_frames(97, seed=3)
    path = write_clip(tmp_path / name, frames, codec=codec, pix_fmt=pix_fmt, options=options, gop=8)
    clip = sample_frames(path, 20)
    expect = seed_indices(97, 20)
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (20, 48, 64, 3)
    assert np.array_equal(clip.indices, expect)
    assert np.array_equal(clip.frames, frames[expect])  # equal, not just the right shape
    assert np.allclose(clip.timestamps, expect / 25)


def test_streaming_gives_every_frame_exactly(tmp_path):
    frames = noise_frames(30, seed=5)
    path = write_clip(tmp_path / "a.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    got = list(iter_frames(path))
    assert len(got) == 30
    assert all(np.array_equal(f, frames[i]) and abs(t - i / 25) < 1e-6 for i, (f, t) in enumerate(got))


def test_seeking_far_ahead_gives_the_same_frames_as_decoding_all(tmp_path):
    frames = coded_frames(900)  # long, keyframe every 30: sampling must seek
    path = write_clip(tmp_path / "long.mp4", frames, gop=30)
    clip = sample_frames(path, 12)
    assert [read_code(f) for f in clip.frames] == seed_indices(900, 12).tolist()


def _keyframes(path) -> list[int]:
    """Frame numbers of the keyframes, from the container's packets."""
    import av

    with av.open(str(path)) as container:
        pts = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    order = sorted(pts)
    return [i for i, (_, key) in enumerate(order) if key]


def test_fast_seeking_takes_keyframes_near_sparse_samples(tmp_path, monkeypatch):
    """Long GOP, few samples: each sample becomes the nearest keyframe, the frame is the one
    its index and timestamp name (bit-exact against a full decode), within half a GOP of
    the exact sample, in order, and far fewer pictures are decoded."""
    frames = coded_frames(900)
    path = write_clip(tmp_path / "long.mp4", frames, gop=60)
    keys = _keyframes(path)
    every = [frame for frame, _ in iter_frames(path)]
    count = _count_decoded(monkeypatch)
    exact = sample_frames(path, 12)
    exact_cost, count["frames"] = count["frames"], 0
    fast = sample_frames(path, 12, seek="fast")
    assert set(fast.indices.tolist()) <= set(keys) and np.all(np.diff(fast.indices) > 0)
    assert np.abs(fast.indices - exact.indices).max() <= 30  # half the GOP
    assert [read_code(f) for f in fast.frames] == fast.indices.tolist()
    assert all(np.array_equal(f, every[i]) for f, i in zip(fast.frames, fast.indices))
    assert np.allclose(fast.timestamps, fast.indices / 25)  # the right time for the frame returned
    assert count["frames"] * 3 < exact_cost


def test_fast_seeking_moves_a_sample_only_to_a_keyframe_within_half_its_gaps(tmp_path):
    """Dense samples of a short clip: a sample moves only to a keyframe less than half the gap
    to its nearer neighbour away; every other sample is the exact frame, bit for bit."""
    path = write_clip(tmp_path / "short.mp4", coded_frames(120), gop=60)
    keys = np.array(_keyframes(path))
    for num in (9, 40):
        exact, fast = sample_frames(path, num), sample_frames(path, num, seek="fast")
        gaps = np.diff(exact.indices)
        room = np.minimum(np.r_[gaps[0], gaps], np.r_[gaps, gaps[-1]]) / 2
        near = np.abs(exact.indices[:, None] - keys[None]).min(1) < room
        assert np.array_equal(fast.indices[~near], exact.indices[~near]) and (~near).any()
        assert np.array_equal(fast.frames[~near], exact.frames[~near])
        assert np.isin(fast.indices[near], keys).all() and np.all(np.diff(fast.indices) > 0)
        assert [read_code(f) for f in fast.frames] == fast.indices.tolist()
    with pytest.raises(ConfigError, match="seek must be one of"):
        sample_frames(path, 4, seek="nearest")


def _count_decoded(monkeypatch) -> dict:
    """Count the frames that come out of the decoder during sample_frames."""
    from vidcap.io import video

    counter = {"frames": 0}
    original = video._Packets.frames

    def frames(self):
        for frame in original(self):
            counter["frames"] += 1
            yield frame

    monkeypatch.setattr(video._Packets, "frames", frames)
    return counter


@pytest.mark.parametrize(
    "name, codec, options", [("h264.mp4", "libx264", None), ("hevc.mkv", "libx265", {"x265-params": "log-level=error"})]
)
def test_dropping_unneeded_pictures_never_loses_or_swaps_a_frame(tmp_path, monkeypatch, caplog, name, codec, options):
    """B-frames (encoder defaults): between sampled frames, pictures that nothing refers
    to are dropped undecoded; the sampled frames must still be exactly the frames a
    full decode gives, each the one its index names, found on the first pass."""
    from vidcap.io import video

    path = write_clip(tmp_path / name, moving_coded_frames(400), codec=codec, options=options)
    every = [frame for frame, _ in iter_frames(path)]
    count = _count_decoded(monkeypatch)
    for num in (7, 24, 61, 133):
        with caplog.at_level(logging.DEBUG, logger="vidcap.io.video"):
            clip = sample_frames(path, num)
        expect = seed_indices(400, num)
        assert [read_code(f) for f in clip.frames] == expect.tolist()
        assert all(np.array_equal(f, every[i]) for f, i in zip(clip.frames, expect))  # bit-exact
        assert "went by unseen" not in caplog.text  # not rescued by decoding it again
    dropping, count["frames"] = count["frames"], 0
    monkeypatch.setattr(video, "_can_drop_nonref", lambda stream: False)
    for num in (7, 24, 61, 133):
        sample_frames(path, num)
    assert dropping < 0.8 * count["frames"]  # pictures really were dropped


@pytest.mark.parametrize("lose", [100, 199])  # a middle frame; the last one (the stream then ends short)
def test_a_frame_lost_while_dropping_is_decoded_again(tmp_path, monkeypatch, caplog, lose):
    """Should a wanted frame go by unseen while pictures are dropped, it is decoded again
    with nothing dropped: never replaced by the next frame, never missing."""
    from vidcap.io import video

    path = write_clip(tmp_path / "b.mp4", moving_coded_frames(200))
    original = video._Packets.frames
    lost = []

    def lossy(self):
        for frame in original(self):
            if self.dropped and not lost and read_code(frame.to_ndarray(format="rgb24")) == lose:
                lost.append(lose)
                continue
            yield frame

    monkeypatch.setattr(video._Packets, "frames", lossy)
    with caplog.at_level(logging.DEBUG, logger="vidcap.io.video"):
        clip = sample_frames(path, 7)
    assert lost and "decoding it again" in caplog.text
    assert [read_code(f) for f in clip.frames] == seed_indices(200, 7).tolist()


# ---------------------------------------------------------------- formats


FORMATS = [
    ("h264.mp4", "libx264", "yuv420p"),
    ("hevc.mp4", "libx265", "yuv420p"),
    ("vp9.webm", "libvpx-vp9", "yuv420p"),
    ("mpeg4.avi", "mpeg4", "yuv420p"),
    ("mjpeg.avi", "mjpeg", "yuvj420p"),
    ("h264.mov", "libx264", "yuv420p"),
    ("anim.gif", "gif", "rgb8"),
    ("hevc10.mkv", "libx265", "yuv420p10le"),
    ("h264-10bit.mkv", "libx264", "yuv420p10le"),
    ("grey.mkv", "ffv1", "gray"),
]


@pytest.mark.parametrize("name, codec, pix_fmt", FORMATS)
def test_containers_codecs_and_pixel_formats(tmp_path, name, codec, pix_fmt):
    options = {"x265-params": "log-level=error"} if codec == "libx265" else None
    path = write_clip(tmp_path / name, coded_frames(60), codec=codec, pix_fmt=pix_fmt, gop=12, options=options)
    info = probe(path)
    assert (info.num_frames, info.width, info.height) == (60, 80, 64)
    assert info.pix_fmt and info.codec and not info.has_audio
    assert abs(info.avg_fps - 25) < 0.01 and abs(info.duration - 2.4) < 0.05
    clip = sample_frames(path, 9)
    assert [read_code(f) for f in clip.frames] == seed_indices(60, 9).tolist()


def test_odd_size(tmp_path):
    frames = noise_frames(10, height=37, width=53)
    path = write_clip(tmp_path / "odd.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    assert (probe(path).width, probe(path).height) == (53, 37)
    assert np.array_equal(sample_frames(path, 10).frames, frames)


def test_one_frame_video(tmp_path):
    frames = noise_frames(1)
    path = write_clip(tmp_path / "one.mkv", frames, codec="ffv1", pix_fmt="bgr0")
    assert probe(path).num_frames == 1
    clip = sample_frames(path, 4)  # pad
    assert clip.mask.tolist() == [True, False, False, False]
    assert np.array_equal(clip.frames[0], frames[0]) and not clip.frames[1:].any()
    clip = sample_frames(path, 4, short="repeat")
    assert clip.mask.all() and all(np.array_equal(f, frames[0]) for f in clip.frames)


def test_variable_frame_rate_timestamps(tmp_path):
    times = np.array([0, 0.04, 0.08, 0.5, 0.52, 1.3, 1.31, 1.32, 2.0, 2.5])
    frames = coded_frames(len(times))
    path = write_clip(tmp_path / "vfr.mkv", frames, codec="ffv1", pix_fmt="bgr0", times=times)
    info = probe(path)
    assert info.num_frames == 10
    clip = sample_frames(path, 10)
    assert np.allclose(clip.timestamps, times, atol=1e-3)
    clip = sample_frames(path, fps=2)  # at 0, .5, 1, 1.5, 2, 2.5 s
    assert [read_code(f) for f in clip.frames] == [0, 3, 4, 7, 8, 9]
    assert np.allclose(clip.timestamps, times[[0, 3, 4, 7, 8, 9]], atol=1e-3)


@pytest.mark.parametrize("degrees, k", [(90, 1), (270, 3), (180, 2)])
def test_rotation_metadata_is_applied(tmp_path, degrees, k):
    frames = noise_frames(6, height=32, width=48)
    src = write_clip(tmp_path / "r.mp4", frames, codec="libx264rgb", pix_fmt="rgb24", options={"qp": "0"})
    path = set_rotation(src, tmp_path / "rot.mp4", degrees)
    info = probe(path)
    assert info.rotation == degrees
    assert (info.width, info.height) == ((32, 48) if degrees != 180 else (48, 32))
    clip = sample_frames(path, 6)
    assert np.array_equal(clip.frames, np.rot90(frames, k, axes=(1, 2)))
    small = sample_frames(path, 2, size=(16, 24) if degrees != 180 else (24, 16))
    assert small.frames.shape[1:3] == ((24, 16) if degrees != 180 else (16, 24))


def test_reduced_size_decoding(tmp_path, samples):
    clip = sample_frames(samples["bigbuckbunny"], 8, short_side=256)
    assert clip.frames.shape == (8, 256, 455, 3)
    full = sample_frames(samples["bigbuckbunny"], 8)
    assert full.frames.shape == (8, 720, 1280, 3)
    import cv2

    resized = np.stack([cv2.resize(f, (455, 256), interpolation=cv2.INTER_AREA) for f in full.frames])
    assert np.abs(resized.astype(int) - clip.frames).mean() < 3  # same picture, smaller


# ---------------------------------------------------------------- real clips


def test_real_sample_videos(samples):
    expect = {
        "bigbuckbunny": (1280, 720, 132, 25.0, True),
        "bikes": (640, 272, 250, 25.0, False),
        "carphone_pristine": (176, 144, 120, 29.97, False),
    }
    for stem, (w, h, n, fps, audio) in expect.items():
        info = probe(samples[stem])
        assert (info.width, info.height, info.num_frames, info.has_audio) == (w, h, n, audio)
        assert abs(info.avg_fps - fps) < 0.01 and info.codec == "h264" and info.rotation == 0
        assert abs(info.duration - n / fps) < 0.05
        clip = sample_frames(samples[stem], 80)
        assert clip.frames.shape == (80, h, w, 3) and np.array_equal(clip.indices, seed_indices(n, 80))
        assert clip.frames.std() > 10  # real picture content


# ---------------------------------------------------------------- bad input


def _bad_inputs(tmp_path):
    good = write_clip(tmp_path / "good.mp4", coded_frames(100), gop=10)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 100)
    data = good.read_bytes()
    (tmp_path / "moov-lost.mp4").write_bytes(data[: len(data) // 2])  # index at the end: gone
    unsupported = write_clip(tmp_path / "f.mkv", coded_frames(10), codec="ffv1", pix_fmt="bgr0")
    (tmp_path / "unsupported.mkv").write_bytes(unsupported.read_bytes().replace(b"FFV1", b"ZZZ9"))
    write_audio(tmp_path / "speech.m4a")
    os.mkfifo(tmp_path / "fifo.mp4")
    (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
    (tmp_path / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    return {
        "fifo": (tmp_path / "fifo.mp4", "is a FIFO, not a regular file"),
        "symlink loop": (tmp_path / "loop.mp4", "symbolic link loop"),
        "broken link": (tmp_path / "dangling.mp4", "broken symbolic link"),
        "missing": (tmp_path / "nothere.mp4", "no such file"),
        "directory": (tmp_path, "is a directory"),
        "empty": (tmp_path / "empty.mp4", "empty"),
        "not a video": (tmp_path / "notes.mp4", "cannot be read as a video"),
        "truncated index": (tmp_path / "moov-lost.mp4", "truncated"),
        "unsupported codec": (tmp_path / "unsupported.mkv", "not supported"),
        "audio only": (tmp_path / "speech.m4a", "audio only"),
    }


def test_bad_inputs_raise_one_clear_decode_error(tmp_path):
    for label, (path, words) in _bad_inputs(tmp_path).items():
        for call in (probe, lambda p: sample_frames(p, 8), lambda p: list(iter_frames(p))):
            with pytest.raises(DecodeError) as err:
                call(path)
            message = str(err.value)
            assert str(path) in message and words in message, (label, message)
            assert isinstance(err.value, VidcapError) and "\n" not in message


@pytest.mark.parametrize("name, kwargs", [("t.mkv", {}), ("t.mp4", {"container_options": {"movflags": "faststart"}}),
                                          ("t.avi", {"codec": "mpeg4"})])
def test_truncated_file_gives_its_frames_and_a_warning(tmp_path, caplog, name, kwargs):
    full = write_clip(tmp_path / ("full-" + name), coded_frames(200), gop=10, **kwargs)
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="vidcap.io.video"):
        clip = sample_frames(cut, 10)
    assert "truncated" in caplog.text or "decode" in caplog.text
    codes = [read_code(f) for f in clip.frames]
    assert clip.mask.all() and codes == sorted(codes) and codes[0] == 0 and 60 < codes[-1] < 200


def test_corrupt_middle_does_not_hang_or_crash(tmp_path):
    good = write_clip(tmp_path / "good.mp4", coded_frames(200), gop=10, container_options={"movflags": "faststart"})
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(0)
    middle = len(data) // 2
    data[middle : middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    try:
        clip = sample_frames(bad, 16)
    except DecodeError as exc:
        assert str(bad) in str(exc)
    else:
        assert clip.frames.shape[0] == 16 and read_code(clip.frames[0]) == 0


def test_file_size_unchanged_by_reading(tmp_path):
    path = write_clip(tmp_path / "a.mp4", coded_frames(20))
    before = os.stat(path).st_mtime_ns
    sample_frames(path, 5)
    assert os.stat(path).st_mtime_ns == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]
