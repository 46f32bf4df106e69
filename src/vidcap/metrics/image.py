"""Image-quality metrics: PSNR and SSIM between frames of the same size.

Frames are ``(H, W, 3)`` or ``(H, W)`` arrays, uint8 in [0, 255] or float in
[0, 1]; both arguments must have the same shape and dtype kind.
"""
from __future__ import annotations

import numpy as np

from vidcap.errors import ConfigError

__all__ = ["psnr", "ssim", "mse"]


def _as_float(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise ConfigError(f"cannot compare images of shapes {a.shape} and {b.shape}; they must be equal")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ConfigError(f"expected an (H, W) or (H, W, C) image, got shape {a.shape}")
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        return a.astype(np.float64), b.astype(np.float64), 255.0
    if np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating):
        return a.astype(np.float64), b.astype(np.float64), 1.0
    raise ConfigError(
        f"images must both be uint8 [0, 255] or both float [0, 1], got {a.dtype} and {b.dtype}"
    )


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error in the images' own value range."""
    fa, fb, _ = _as_float(a, b)
    return float(np.mean((fa - fb) ** 2))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images).

    The peak is 255 for uint8 images and 1.0 for float images.
    """
    fa, fb, peak = _as_float(a, b)
    err = float(np.mean((fa - fb) ** 2))
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / err))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004), mean over the image and channels.

    Uses ``skimage.metrics.structural_similarity`` with the Gaussian-weighted
    window of the original paper (sigma 1.5, sample covariance off).
    """
    from skimage.metrics import structural_similarity

    fa, fb, peak = _as_float(a, b)
    channel_axis = -1 if fa.ndim == 3 else None
    return float(
        structural_similarity(
            fa,
            fb,
            data_range=peak,
            channel_axis=channel_axis,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
