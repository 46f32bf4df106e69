"""Still images in and out: ``(H, W, 3) uint8`` RGB arrays, read and written with OpenCV."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcap.errors import ConfigError, DecodeError
from vidcap.io.files import atomic_path, check_readable

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path) -> np.ndarray:
    """An image file as ``(H, W, 3) uint8`` RGB, or a DecodeError naming the file."""
    import cv2

    path = check_readable(path, "image file")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DecodeError(f"{path}: not a readable image ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)})")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path, rgb: np.ndarray) -> Path:
    """Write ``(H, W, 3) uint8`` RGB as an image (format by extension), atomically."""
    import cv2

    path = Path(path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise ConfigError(f"cannot write the image {path}: use one of {', '.join(IMAGE_EXTENSIONS)}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
            raise DecodeError(f"could not encode the image {path}")
    return path


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of ``(H, W, 3) uint8`` RGB."""
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DecodeError("could not encode a JPEG image")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """``(H, W, 3) uint8`` RGB from JPEG (or PNG) bytes; None when they are not an image."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
