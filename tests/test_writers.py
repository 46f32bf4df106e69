"""vidcap.io.writers: frames written with PyAV decode back (exactly, when lossless)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
import skimage.data

from vidcap.errors import ConfigError
from vidcap.io.writers import VideoWriter, write_video


def decode(path) -> tuple[np.ndarray, av.video.stream.VideoStream]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, stream


def noise(n=6, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def photo_clip(n=12, h=96, w=128):
    """A real photo panned across: smooth content a lossy codec keeps well."""
    img = skimage.data.astronaut()
    crops = [img[100 + 3 * i: 100 + 3 * i + h, 150 + 2 * i: 150 + 2 * i + w] for i in range(n)]
    return np.ascontiguousarray(np.stack(crops))


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".avi", ".mov", ".webm"])
def test_lossless_round_trip_is_exact(tmp_path, ext):
    frames = noise()
    path = write_video(tmp_path / f"clip{ext}", frames, fps=25, lossless=True)
    decoded, _ = decode(path)
    assert decoded.shape == frames.shape
    np.testing.assert_array_equal(decoded, frames)


def test_lossy_mp4_is_h264_close_to_the_frames(tmp_path):
    frames = photo_clip()
    path = write_video(tmp_path / "clip.mp4", frames, fps=25)
    decoded, stream = decode(path)
    assert stream.codec_context.name == "h264"
    assert decoded.shape == frames.shape
    err = np.abs(decoded.astype(int) - frames).mean()
    assert 0 < err < 4, err  # lossy but faithful at crf 18


def test_lower_crf_is_closer(tmp_path):
    frames = photo_clip()
    errs = []
    for crf in (10, 35):
        decoded, _ = decode(write_video(tmp_path / f"c{crf}.mp4", frames, fps=25, crf=crf))
        errs.append(np.abs(decoded.astype(int) - frames).mean())
    assert errs[0] < errs[1]


@pytest.mark.parametrize("ext,codec", [(".webm", "vp9"), (".gif", "gif"), (".avi", "h264"), (".mkv", "h264")])
def test_containers_by_extension(tmp_path, ext, codec):
    frames = photo_clip(n=6)
    path = write_video(tmp_path / f"clip{ext}", frames, fps=10)
    decoded, stream = decode(path)
    assert stream.codec_context.name == codec
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 25  # gif has a 256-colour palette


def test_gif_gets_one_palette_for_the_sequence(tmp_path):
    """palettegen over every frame: far closer to the frames than the fixed 3-3-2 palette."""
    from vidcap.metrics.image import psnr

    frames = photo_clip(n=8, h=95, w=127)  # odd sizes too
    ours, _ = decode(write_video(tmp_path / "seq.gif", frames, fps=10))
    fixed, _ = decode(write_video(tmp_path / "rgb8.gif", frames, fps=10, pix_fmt="rgb8"))
    assert ours.shape == fixed.shape == frames.shape
    p_ours = np.mean([psnr(a, b) for a, b in zip(ours, frames)])
    p_fixed = np.mean([psnr(a, b) for a, b in zip(fixed, frames)])
    assert p_ours > 33 and p_ours > p_fixed + 10, (p_ours, p_fixed)
    with av.open(str(tmp_path / "seq.gif")) as container:
        times = [float(f.time) for f in container.decode(video=0)]
    np.testing.assert_allclose(times, np.arange(8) / 10, atol=0.011)  # GIF delays are in 1/100 s


def test_frame_rate_and_timestamps(tmp_path):
    frames = noise(n=5)
    path = write_video(tmp_path / "ntsc.mkv", frames, fps=Fraction(30000, 1001), lossless=True)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(30000, 1001)
        times = [float(f.time) for f in container.decode(stream)]
    np.testing.assert_allclose(times, np.arange(5) * 1001 / 30000, atol=2e-3)


def test_streaming_writer_matches_write_video(tmp_path):
    frames = noise(n=4)
    with VideoWriter(tmp_path / "a.mkv", 12, lossless=True) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 4
    write_video(tmp_path / "b.mkv", iter(frames), 12, lossless=True)
    np.testing.assert_array_equal(decode(tmp_path / "a.mkv")[0], decode(tmp_path / "b.mkv")[0])


def test_same_frames_give_same_bytes(tmp_path):
    """A new process's first encoding included: with x264's AVX-512 functions that one
    could differ (see vidcap.io.writers; tests/test_synthetic.py has frames that did)."""
    frames = photo_clip(n=25)
    np.save(tmp_path / "frames.npy", frames)
    first = ("import sys, numpy; from vidcap.io.writers import write_video; "
             "write_video(sys.argv[1], numpy.load(sys.argv[2]), fps=25)")
    subprocess.run([sys.executable, "-c", first, str(tmp_path / "new.mp4"), str(tmp_path / "frames.npy")],
                   check=True, timeout=120)
    paths = [tmp_path / "new.mp4"] + [write_video(tmp_path / f"{i}.mp4", frames, fps=25) for i in range(2)]
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}) == 1


def test_error_midway_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous result")
    frames = list(noise(n=3)) + [np.zeros((10, 10, 3), np.uint8)]  # last frame has another size
    with pytest.raises(ConfigError, match="all frames must have one size"):
        write_video(target, frames, fps=25)
    assert target.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temp left


def test_exception_inside_context_removes_temp(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "x.mp4", 25) as writer:
        writer.write(noise(n=1)[0])
        raise RuntimeError("caller failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs,frames,match", [
    ({"path": "a.xyz"}, noise(1), "unknown extension"),
    ({"path": "a.gif", "lossless": True}, noise(1), "no lossless"),
    ({"path": "a.mp4"}, noise(1).astype(np.float32), "uint8"),
    ({"path": "a.mp4"}, noise(1)[..., 0], r"\(H, W, 3\)"),
    ({"path": "a.mp4"}, np.zeros((0, 8, 8, 3), np.uint8), "no frames"),
    ({"path": "a.mp4", "fps": 0}, noise(1), "fps"),
])
def test_bad_input_raises_config_error(tmp_path, kwargs, frames, match):
    kwargs = dict(kwargs)
    path = tmp_path / kwargs.pop("path")
    fps = kwargs.pop("fps", 25)
    with pytest.raises(ConfigError, match=match):
        write_video(path, frames, fps, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_odd_size_works_with_full_chroma(tmp_path):
    frames = noise(n=2, h=31, w=41)
    decoded, _ = decode(write_video(tmp_path / "odd.mp4", frames, 25, pix_fmt="yuv444p"))
    assert decoded.shape == frames.shape


def test_odd_sizes_are_padded_for_4_2_0(tmp_path):
    """Every writer takes every frame size: 4:2:0 needs even sides, so one edge row/column is added."""
    import av

    frames = noise(3, h=31, w=41)
    path = write_video(tmp_path / "odd.mp4", frames, 10)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 3 and decoded[0].shape == (32, 42, 3)
    lossless = write_video(tmp_path / "odd.mkv", frames, 10, lossless=True)  # RGB codecs keep the size
    with av.open(str(lossless)) as c:
        assert np.array_equal(next(c.decode(video=0)).to_ndarray(format="rgb24"), frames[0])
