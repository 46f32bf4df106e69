"""A caption checkpoint run by ONNX Runtime: captioning without importing torch.

The first time a checkpoint is used, its S2VT is exported (this needs torch) into
``$VIDCAP_CACHE/onnx/s2vt-<16 hex of the checkpoint file's hash>/``:
``encoder.onnx`` (frames -> decoding state), ``step.onnx`` (one word step) and
``meta.json`` (everything else the checkpoint holds: configuration, vocabulary,
backbone, sampling, decoding defaults, motion stream, in-domain statistics), written
last, so a folder without it is unfinished and is exported again. Later loads -- a
new process included -- read only that folder: decoding is numpy
(:mod:`vidcap.models.decoding`) around the two sessions.
"""
from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np

from vidcap.data.vocab import BOS, EOS, PAD
from vidcap.errors import ModelError

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
_lock = threading.Lock()


def export_folder(path: Path) -> Path:
    """Where the export of the checkpoint file ``path`` lives (keyed by its content)."""
    from vidcap.io.files import file_hash
    from vidcap.runtime import cache_dir

    return cache_dir() / "onnx" / f"s2vt-{file_hash(path)[:16]}-v{EXPORT_VERSION}"


def _plain(value):
    """Checkpoint entries as JSON: tensors become (nested) lists."""
    if hasattr(value, "tolist"):
        return value.float().tolist() if getattr(value, "is_floating_point", lambda: False)() else value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def export(ckpt: dict, folder: Path) -> None:
    """Write the two graphs and ``meta.json`` of ``ckpt`` into ``folder`` (needs torch)."""
    import warnings

    import torch

    from vidcap.io.files import atomic_path, write_json
    from vidcap.models.s2vt import ExportEncoder, ExportStep, state_names
    from vidcap.runtime import ONNX_OPSET
    from vidcap.tasks.caption import build_model

    model, _ = build_model(ckpt)
    cfg = model.config
    states, memory = state_names(cfg)
    T = 4
    feats = torch.zeros(1, T, cfg.feature_dim)
    with torch.no_grad():
        example = ExportEncoder(model)(feats)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constant sizes are right here
        with atomic_path(folder / "encoder.onnx") as tmp:
            torch.onnx.export(ExportEncoder(model), (feats,), str(tmp), input_names=["feats"],
                              output_names=states + memory, opset_version=ONNX_OPSET, dynamo=False,
                              dynamic_axes={"feats": {0: "batch", 1: "frames"},
                                            **{s: {1: "batch"} for s in states},
                                            **{m: {0: "batch", 1: "frames"} for m in memory}})
        words = torch.full((1,), BOS, dtype=torch.long)
        with atomic_path(folder / "step.onnx") as tmp:
            torch.onnx.export(ExportStep(model), (words, *example), str(tmp), opset_version=ONNX_OPSET, dynamo=False,
                              input_names=["words"] + states + memory, output_names=["logp"] + [f"new_{s}" for s in states],
                              dynamic_axes={"words": {0: "batch"}, "logp": {0: "batch"},
                                            **{s: {1: "batch"} for s in states},
                                            **{f"new_{s}": {1: "batch"} for s in states},
                                            **{m: {0: "batch", 1: "frames"} for m in memory}})
    meta = {k: _plain(v) for k, v in ckpt.items() if k not in ("model", "train_state")}
    write_json(folder / "meta.json", {"export_version": EXPORT_VERSION, "states": states, "memory": memory, **meta})


def load(path: Path) -> tuple[OnnxS2VT, dict]:
    """The exported model of the checkpoint file ``path`` and its metadata (the checkpoint
    without weights); exports it first when there is no finished export."""
    folder = export_folder(path)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        with _lock:
            if not meta_path.is_file():
                from vidcap.tasks.caption import read_checkpoint

                log.info("exporting %s to ONNX (once): %s", path, folder)
                export(read_checkpoint(path), folder)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{meta_path} is unreadable ({exc}); delete {folder} to export the model again") from exc
    return OnnxS2VT(folder, meta), meta


class OnnxS2VT:
    """S2VT's :meth:`~vidcap.models.s2vt.S2VT.generate` on ONNX Runtime, in numpy."""

    def __init__(self, folder: Path, meta: dict):
        from vidcap.runtime import onnx_session

        self.folder = folder
        self.max_words = int(meta["model_args"]["max_words"])
        self.states, self.memory = list(meta["states"]), list(meta["memory"])
        self._encoder = onnx_session(str(folder / "encoder.onnx"), threads=1)
        self._step = onnx_session(str(folder / "step.onnx"), threads=1)

    def _encode(self, feats: np.ndarray) -> dict:
        out = self._encoder.run(None, {"feats": np.ascontiguousarray(feats, dtype=np.float32)})
        return dict(zip(self.states + self.memory, out))

    def _run_step(self, words: np.ndarray, state: dict):
        out = self._step.run(None, {"words": words.astype(np.int64), **state})
        new = dict(state)
        new.update(zip(self.states, out[1:]))
        return out[0], new

    def _reorder(self, state: dict, index: np.ndarray) -> dict:
        return {k: np.take(v, index, axis=1 if k in self.states else 0) for k, v in state.items()}

    def generate(self, feats: np.ndarray, mask: np.ndarray | None = None, *, beam_size: int = 1,
                 length_penalty: float = 0.0) -> tuple[list[list[int]], np.ndarray]:
        """Word ids and log-probabilities for ``feats (B, T, D)`` float32 with ``mask (B, T)`` bool.

        Padded frames are dropped before encoding (the torch model packs them away,
        which is the same); videos with the same number of valid frames decode together.
        """
        from vidcap.models import decoding

        feats = np.asarray(feats, dtype=np.float32)
        B, T = feats.shape[:2]
        mask = np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        counts = mask.sum(1)
        if (counts == 0).any():
            raise ModelError("a video has no valid frame (its mask is all False)")
        seqs: list = [None] * B
        scores = np.zeros(B, dtype=np.float32)
        for n in np.unique(counts):
            rows = np.flatnonzero(counts == n)
            x = np.stack([feats[r][mask[r]] for r in rows])  # (b, n, D): valid frames in time order
            state = self._encode(x)
            args = {"max_words": self.max_words, "bos": BOS, "eos": EOS, "pad": PAD}
            if beam_size == 1:
                ids, sc = decoding.greedy(self._run_step, state, len(rows), **args)
            else:
                ids, sc = decoding.beam(self._run_step, self._reorder, state, len(rows), beam_size=beam_size,
                                        length_penalty=length_penalty, **args)
            for r, i, s in zip(rows, ids, sc):
                seqs[r], scores[r] = i, s
        return seqs, scores
