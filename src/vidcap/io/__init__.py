"""Video in and out: probe, sample and stream frames, write videos (PyAV); resize and crop helpers."""
from vidcap.io.sampling import (FITS, center_crop, even_indices, fps_indices, long_side_size, pad_square, resize,
                                short_side_size)
from vidcap.io.files import find_videos
from vidcap.io.video import Clip, VideoInfo, frames_at, iter_frames, probe, sample_frames
from vidcap.io.writers import VideoWriter, write_video

__all__ = [
    "FITS",
    "Clip",
    "VideoInfo",
    "VideoWriter",
    "center_crop",
    "even_indices",
    "find_videos",
    "fps_indices",
    "frames_at",
    "iter_frames",
    "long_side_size",
    "pad_square",
    "probe",
    "resize",
    "sample_frames",
    "short_side_size",
    "write_video",
]
