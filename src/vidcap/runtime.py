"""Where models run: the device, and ONNX Runtime sessions of exported torch modules.

Small CNNs (the frame backbones, the emotion network) run fastest on a CPU through
ONNX Runtime; each is exported once to ``$VIDCAP_CACHE/onnx`` (default
``~/.cache/vidcap/onnx``) under a name that carries a hash of its weights and input
layout, so a changed model never reuses a stale export. On a GPU they run in torch.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable

from vidcap.errors import ModelError

log = logging.getLogger(__name__)

ONNX_OPSET = 17
_export_lock = threading.Lock()


def cache_dir() -> Path:
    """vidcap's cache folder: ``$VIDCAP_CACHE`` or ``~/.cache/vidcap``."""
    return Path(os.environ.get("VIDCAP_CACHE") or Path.home() / ".cache" / "vidcap")


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether torch can use a CUDA GPU; without an NVIDIA driver on this machine
    (``/proc/driver/nvidia``) the answer is no and torch is not imported to find out."""
    import sys

    if "torch" not in sys.modules and not Path("/proc/driver/nvidia/version").exists():
        return False
    import torch

    return torch.cuda.is_available()


def device(name: str | None = None):
    """A ``torch.device``: ``name`` if given, else CUDA when there is a GPU, else the CPU."""
    import torch

    return torch.device(name or ("cuda" if cuda_available() else "cpu"))


def export_onnx(name: str, build: Callable, example: Callable, *, input_name: str, output_name: str) -> Path:
    """``cache_dir()/onnx/<name>.onnx``, exported from ``build()`` (a torch module) the first time.

    ``name`` must change whenever the weights or the input layout change (put a hash in
    it). ``example()`` gives an input tensor with the right shape apart from the batch
    axis. Nothing imports torch when the file exists already.
    Written to a temporary file and renamed, so a killed export leaves nothing half done.
    """
    path = cache_dir() / "onnx" / f"{name}.onnx"
    if path.is_file():
        return path
    import torch

    from vidcap.io.files import atomic_path

    with _export_lock:
        if path.is_file():
            return path
        model = build().eval()
        log.info("exporting %s to ONNX (once): %s", name, path)
        with atomic_path(path) as tmp, torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer notes that some sizes become constants: right here
            torch.onnx.export(model, (example(),), str(tmp), input_names=[input_name], output_names=[output_name],
                              dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                              opset_version=ONNX_OPSET, dynamo=False)
    return path


# What the CPU can do in lower precision, by /proc/cpuinfo flag: shown by the benchmarks and
# read by :func:`vidcap.features.backbones.auto_precision`.
CPU_FEATURES = {
    "AMX": ("amx_bf16", "amx_int8"),
    "AVX-512 BF16": ("avx512_bf16",),
    "AVX-512 VNNI": ("avx512_vnni",),
    "AVX-VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
}


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` ("unknown CPU" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_features(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """``{"AMX": False, "AVX-512 BF16": True, ...}``: which of :data:`CPU_FEATURES` the CPU has."""
    flags = cpu_flags() if flags is None else flags
    return {name: all(f in flags for f in need) for name, need in CPU_FEATURES.items()}


def int8_reduce_range(flags: frozenset[str] | None = None) -> bool:
    """Whether int8 weights should use 7 bits here: on x86 CPUs without VNNI, ONNX Runtime's
    uint8 x int8 kernels can saturate their 16-bit intermediate sums (its quantization guide
    says to quantize with ``reduce_range`` there); VNNI (and non-x86 CPUs) need no such care."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    features = cpu_features(flags)
    return not (features["AVX-512 VNNI"] or features["AVX-VNNI"] or features["AMX"])


def quantize_onnx(source: Path, name: str, calibration: Callable, *, input_name: str,
                  op_types: tuple[str, ...] | None = None, keep_fp32: tuple[str, ...] = (),
                  percentile: float | None = None, reduce_range: bool = False) -> Path:
    """``cache_dir()/onnx/<name>.onnx``: ``source`` quantized to int8 the first time.

    Static quantization (ONNX Runtime's QDQ format: int8 weights per output channel,
    uint8 activations whose ranges come from running ``calibration()`` -- an iterable of
    input batches -- through the fp32 model), so convolutions and matrix products run
    as int8 kernels (VNNI where the CPU has it). ``op_types``: only these operators
    (default: every one ONNX Runtime can quantize; on VGG16, convolutions alone kept
    *less* of fp32's accuracy: cosine 0.998 instead of 0.999). ``keep_fp32``: operator types
    left in floating point (their nodes are not quantized). ``percentile``: activation
    ranges cut at this percentile of the calibration values instead of their min and max.
    ``reduce_range``: 7-bit weights (:func:`int8_reduce_range`). ``name`` must carry the
    source's weights hash and every choice above. Written to a temporary file and renamed.
    """
    path = cache_dir() / "onnx" / f"{name}.onnx"
    if path.is_file():
        return path
    import tempfile

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vidcap.io.files import atomic_path

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(calibration())

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    with _export_lock:
        if path.is_file():
            return path
        log.info("quantizing %s to int8 (once): %s", source.name, path)
        with tempfile.TemporaryDirectory() as tmpdir, atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepared = Path(tmpdir) / "prepared.onnx"
            quant_pre_process(str(source), str(prepared))  # shape inference + graph clean-up first
            graph = onnx.load(str(prepared), load_external_data=False).graph
            calibrate = {} if percentile is None else {"calibrate_method": CalibrationMethod.Percentile,
                                                       "extra_options": {"CalibPercentile": percentile}}
            quantize_static(str(prepared), str(tmp), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=list(op_types) if op_types else None,
                            nodes_to_exclude=[n.name for n in graph.node if n.op_type in keep_fp32],
                            reduce_range=reduce_range, **calibrate)
    return path


@lru_cache(maxsize=16)
def onnx_session(path: str, *, threads: int | None = None, spinning: bool = True):
    """A cached ONNX Runtime session of ``path`` on the CPU."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:  # idle threads would otherwise spin and starve torch between calls
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"ONNX Runtime cannot load {path} ({exc}); delete it to export it again") from exc


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc reuse freed memory instead of returning it to the OS after every frame.

    Each pair allocates and frees dozens of frame-sized arrays. By default glibc
    serves blocks over 128 KiB with fresh ``mmap`` pages and unmaps them on free,
    so every array costs page faults; on virtual machines (Firecracker, ours)
    that made the numpy part of a 720p pair 4-5x slower. Raising the mmap and
    trim thresholds keeps up to 256 MiB of freed heap for reuse (an FFmpeg
    filter does the same with its buffer pools). Process-wide, once, glibc only:
    a program opts in (the ``vidcap`` command and the web service do); library
    functions never call it.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    ok = mallopt(m_mmap_threshold, 64 << 20) == 1 and mallopt(m_trim_threshold, 256 << 20) == 1
    log.debug("glibc mallopt for frame-sized arrays: %s", "set" if ok else "refused")
    return ok
