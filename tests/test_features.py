"""Backbones and one-video extraction on the real sample clips."""
import numpy as np
import pytest

from vidcap.errors import ConfigError, ModelError
from vidcap.features import BACKBONES, Backbone, extract, get_backbone, get_engine
from vidcap.features.backbones import build_model, register
from vidcap.features.extract import features_of, load_frames


def test_registry():
    assert {"mobilenet_v2", "mobilenet_v2_grid", "vgg16", "resnet50", "inception_v3"} <= set(BACKBONES)
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


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v2_grid"])
def test_onnx_and_torch_backends_agree(samples, name):
    onnx, torch_ = get_engine(name, "onnx"), get_engine(name, "torch")
    clip = load_frames(samples["carphone_pristine"], onnx, num_frames=6)
    assert clip.frames.shape == (6, 224, 224, 3)
    a, b = features_of(clip, onnx).features, features_of(clip, torch_).features
    assert a.shape == (6, get_backbone(name).dim)
    assert np.allclose(a, b, rtol=1e-3, atol=1e-3), np.abs(a - b).max()


def test_grid_backbone_is_mobilenet_pooled_over_a_2x2_grid():
    import torch

    grid, pooled = build_model(get_backbone("mobilenet_v2_grid")), build_model(get_backbone("mobilenet_v2"))
    assert get_backbone("mobilenet_v2_grid").dim == 4 * 1280
    assert torch.equal(grid.body[0][0][0].weight, pooled.body[0][0][0].weight)  # same weights, same loading
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8))
    with torch.inference_mode():
        out = grid(frames)
        conv = grid.body[0]((frames.permute(0, 3, 1, 2).float() - grid.mean) * grid.inv_std)  # (2, 1280, 7, 7)
    # cells in reading order (top-left, top-right, bottom-left, bottom-right), 1280 channels each
    expected = torch.nn.functional.adaptive_avg_pool2d(conv, 2).permute(0, 2, 3, 1).reshape(2, -1)
    assert out.shape == (2, 5120) and torch.allclose(out, expected, atol=1e-5)


def _objects_left_and_right():
    """The same object (6 colours x circle/square) drawn left and right of a grey frame."""
    import cv2

    frames = []
    for color in [(220, 35, 35), (40, 170, 60), (40, 80, 225), (245, 215, 40), (250, 250, 250), (20, 20, 20)]:
        for shape in ("circle", "square"):
            for x in (60, 164):
                im = np.full((224, 224, 3), 128, np.uint8)
                if shape == "circle":
                    cv2.circle(im, (x, 112), 30, color, -1)
                else:
                    cv2.rectangle(im, (x - 27, 85), (x + 27, 139), color, -1)
                frames.append(im)
    return np.stack(frames)


def test_grid_backbone_sees_where_an_object_is():
    """An object moving left or right: globally pooled features barely change with its
    position, the 2x2 grid's change about as much as with its colour or shape
    (measured: left-right cosine distance 0.013 pooled, 0.29 grid; between different
    objects on the same side 0.23 and 0.27)."""
    frames = _objects_left_and_right()  # (24, ...): object k on the left is 2k, on the right 2k + 1

    def distances(name):
        f = get_engine(name)(frames)
        f /= np.linalg.norm(f, axis=1, keepdims=True)
        d = 1 - f @ f.T
        n = len(f) // 2
        left_right = np.mean([d[2 * k, 2 * k + 1] for k in range(n)])
        other_object = np.mean([d[2 * a + s, 2 * b + s] for a in range(n) for b in range(n) if a != b for s in (0, 1)])
        return left_right, other_object

    lr_pooled, obj_pooled = distances("mobilenet_v2")
    lr_grid, obj_grid = distances("mobilenet_v2_grid")
    assert lr_pooled < 0.2 * obj_pooled  # the pooled backbone hardly sees the move
    assert lr_grid > 10 * lr_pooled, (lr_grid, lr_pooled)
    assert lr_grid > 0.5 * obj_grid, (lr_grid, obj_grid)


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

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch.hub.get_dir() == str(tmp_path / "hub")  # found as torch finds it, without importing torch
    backbone = get_backbone("resnet50")
    reference = resnet50()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), backbone.weights())
    assert backbone.weights_available()
    model = build_model(backbone)
    assert torch.equal(model.body.conv1.weight, reference.conv1.weight)
    with torch.inference_mode():
        out = model(torch.zeros(1, 224, 224, 3, dtype=torch.uint8))
    assert out.shape == (1, 2048)
    # A corrupt weight file is a clear error, not a traceback from torch.
    backbone.weights().write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="weight file .* is corrupt"):
        build_model(backbone)


def test_hub_file_names_are_torchvisions():
    import torchvision.models as tvm

    from vidcap.features.backbones import HUB_FILES

    for enum, name in HUB_FILES.items():
        assert getattr(tvm, enum).IMAGENET1K_V1.url.rsplit("/", 1)[-1] == name


def test_untrained_backbone_for_timing_has_the_right_width():
    import torch

    model = build_model(get_backbone("vgg16"), pretrained=False)
    with torch.inference_mode():
        assert model(torch.zeros(1, 224, 224, 3, dtype=torch.uint8)).shape == (1, 4096)
