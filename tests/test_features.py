"""Backbones and one-video extraction on the real sample clips."""
import numpy as np
import pytest

from vidcap.errors import ConfigError, ModelError
from vidcap.features import BACKBONES, Backbone, extract, get_backbone, get_engine
from vidcap.features.backbones import build_model, register
from vidcap.features.extract import features_of, load_frames


def test_registry():
    assert {"mobilenet_v2", "vgg16", "resnet50", "inception_v3"} <= set(BACKBONES)
    assert get_backbone("vgg16").dim == 4096 and get_backbone("mobilenet_v2").dim == 1280
    with pytest.raises(ConfigError, match="unknown backbone 'alexnet'"):
        get_backbone("alexnet")
    with pytest.raises(ValueError, match="already registered"):
        register(Backbone("vgg16", 1, 1, 1, None, lambda: None, ""))


PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "cat", "hubble_deep_field", "immunohistochemistry", "retina",
          "colorwheel", "logo", "camera", "coins", "moon", "page", "horse", "clock", "text", "brick", "grass", "gravel"]


def _photo_views():
    """Each skimage photo, and three augmented crops of it (crop, flip, brightness)."""
    import cv2
    import skimage.data

    rng = np.random.default_rng(0)

    def view(im, augment):
        if augment:
            h, w = im.shape[:2]
            s = rng.uniform(0.5, 0.8)
            ch, cw = int(h * s), int(w * s)
            y, x = rng.integers(0, h - ch), rng.integers(0, w - cw)
            im = im[y : y + ch, x : x + cw][:, :: rng.choice([1, -1])]
            im = np.clip(im * rng.uniform(0.7, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        return cv2.resize(np.ascontiguousarray(im), (224, 224), interpolation=cv2.INTER_AREA)

    photos = []
    for name in PHOTOS:
        im = getattr(skimage.data, name)()
        im = np.stack([im] * 3, -1) if im.ndim == 2 else im[..., :3]
        photos.append(im.astype(np.uint8) if im.max() > 1 else (im * 255).astype(np.uint8))
    sources = np.stack([view(p, False) for p in photos])
    crops = np.stack([view(p, True) for p in photos for _ in range(3)])
    return sources, crops, np.repeat(np.arange(len(photos)), 3)


def _match_accuracy(run) -> float:
    sources, crops, labels = _photo_views()
    a, b = run(sources), run(crops)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return float(((b @ a.T).argmax(1) == labels).mean())


def test_default_backbone_is_offline_and_trained(samples):
    assert get_backbone("mobilenet_v2").weights_available()
    for stem in ("bikes", "bigbuckbunny", "carphone_pristine"):
        f = extract(samples[stem], num_frames=8).features
        assert f.shape == (8, 1280) and f.dtype == np.float32 and np.isfinite(f).all() and f.std() > 0.1
    # Trained ImageNet features match augmented crops to their source photo
    # (measured 0.95; the same network with random weights: 0.52).
    assert _match_accuracy(get_engine()) >= 0.85


def test_onnx_and_torch_backends_agree(samples):
    onnx, torch_ = get_engine("mobilenet_v2", "onnx"), get_engine("mobilenet_v2", "torch")
    clip = load_frames(samples["carphone_pristine"], onnx, num_frames=6)
    assert clip.frames.shape == (6, 224, 224, 3)
    a, b = features_of(clip, onnx).features, features_of(clip, torch_).features
    assert np.allclose(a, b, rtol=1e-3, atol=1e-3), np.abs(a - b).max()


def test_extract_returns_timestamps_and_touches_nothing(samples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = extract(samples["bikes"], num_frames=5)
    assert np.allclose(result.timestamps, np.round(np.linspace(0, 249, 5)) / 25)
    assert result.mask.all() and result.backbone == "mobilenet_v2"
    assert list(tmp_path.iterdir()) == []


def test_short_video_padding_leaves_zero_rows(tmp_path):
    from clips import noise_frames, write_clip

    path = write_clip(tmp_path / "short.mkv", noise_frames(3, 64, 64), codec="ffv1", pix_fmt="bgr0")
    result = extract(path, num_frames=5)
    assert result.mask.tolist() == [True, True, True, False, False]
    assert result.features[:3].any(axis=1).all() and not result.features[3:].any()


def test_missing_hub_weights_say_how_to_get_them(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(ModelError, match="not on this machine.*torch hub cache"):
        build_model(get_backbone("vgg16"))


def test_hub_weights_load_from_the_local_cache(tmp_path, monkeypatch):
    """The real loading path for hub weights, fed a local file (no download)."""
    import torch
    from torchvision.models import resnet50

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    backbone = get_backbone("resnet50")
    reference = resnet50()
    (tmp_path / "checkpoints").mkdir()
    torch.save(reference.state_dict(), backbone.weights())
    assert backbone.weights_available()
    model = build_model(backbone)
    assert torch.equal(model.body.conv1.weight, reference.conv1.weight)
    with torch.inference_mode():
        out = model(torch.zeros(1, 224, 224, 3, dtype=torch.uint8))
    assert out.shape == (1, 2048)
    # A corrupt weight file is a clear error, not a traceback from torch.
    backbone.weights().write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read the weight file"):
        build_model(backbone)


def test_untrained_backbone_for_timing_has_the_right_width():
    import torch

    model = build_model(get_backbone("vgg16"), pretrained=False)
    with torch.inference_mode():
        assert model(torch.zeros(1, 224, 224, 3, dtype=torch.uint8)).shape == (1, 4096)
