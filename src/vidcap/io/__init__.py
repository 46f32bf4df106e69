"""Video in and out: probe, sample and stream frames (PyAV); resize and crop helpers."""
from vidcap.io.sampling import center_crop, even_indices, fps_indices, resize, short_side_size
from vidcap.io.video import Clip, VideoInfo, iter_frames, probe, sample_frames

__all__ = [
    "Clip",
    "VideoInfo",
    "center_crop",
    "even_indices",
    "fps_indices",
    "iter_frames",
    "probe",
    "resize",
    "sample_frames",
    "short_side_size",
]
