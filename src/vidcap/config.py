"""Training options of every task, with their defaults and help, in one place.

The trainers (``vidcap.train``) take these dataclasses, the checkpoints store them,
and the command line builds its flags from them (``vidcap.cli.options``), so a
default is written once and ``--help`` shows it. This module imports nothing heavy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from vidcap.errors import ConfigError


def option(default, help: str, **meta):
    """A config field with its ``--help`` text (``choices=...`` etc. go to argparse too)."""
    return field(default=default, metadata={"help": help, **meta})


class Config:
    """Shared behaviour: plain dicts in and out, unknown keys refused by name.

    ``EARLIER_DEFAULTS``: options whose default changed, with the value a run stored
    before they existed took (a resumed run keeps it).
    """

    EARLIER_DEFAULTS: ClassVar[dict] = {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, *, strict: bool = False):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if strict and unknown:
            raise ConfigError(f"unknown {cls.__name__} option(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if k in known})

    def _positive(self, *names: str) -> None:
        for k in names:
            v = getattr(self, k)
            if v is None or int(v) < 1:
                raise ConfigError(f"{k}={v} must be a positive integer")


FLOW_METHODS = ("dis", "farneback")  # vidcap.features.flow.FLOW_METHODS (this module imports nothing heavy)
FLOW_DEFAULTS = {"flow_method": "dis", "flow_size": 96, "flow_grid": 4, "flow_gap": 2}


@dataclass
class CaptionTrainConfig(Config):
    """S2VT training; the defaults are the seed's (Adam 1e-4, batch 32, 100 epochs, h 512, 20 words)
    except the model's input and decoder: LSTM1 reads the features themselves and the decoder
    attends over the frames (docs/captioning.md, "Per-epoch quality": more CIDEr per epoch
    than the seed's fig 5.3 and than the peer, at 4.4x the peer's speed); the seed's model
    is ``variant="s2vt", project=True``."""

    EARLIER_DEFAULTS: ClassVar[dict] = {"project": True, "fit": "crop"}

    epochs: int = option(100, "passes over the training videos (seed: 100)")
    batch_size: int = option(32, "videos per step (seed: 32)")
    lr: float = option(1e-4, "Adam learning rate (seed: 1e-4)")
    hidden: int = option(512, "LSTM size and word-embedding size (seed: 512)")
    max_words: int = option(20, "word steps including <eos> (seed: 20)")
    variant: str = option("attention", "s2vt: the seed's fig 5.3 (seed: s2vt); encdec: fig 5.4 (LSTM1's final state "
                          "starts LSTM2); attention: encdec whose decoder attends over the frames at every word",
                          choices=("s2vt", "encdec", "attention"))
    cell: str = option("lstm", "recurrent cell", choices=("lstm", "gru"))
    project: bool = option(False, "map each frame to the LSTM size with a linear layer first (the seed's encode_W; "
                           "seed: on); off: LSTM1 reads the features themselves")
    normalize: bool = option(False, "standardise every feature dimension with the training features' mean and std")
    normalize_motion: bool = option(False, "standardise only the motion stream's numbers (--flow), the backbone's "
                                    "features as they are (what they say of colour stays as the backbone put it)")
    dropout: float = option(0.0, "dropout on the frames, embeddings and outputs")
    min_count: int = option(1, "keep words seen at least this often in the training captions")
    captions_per_video: int = option(1, "reference captions of each training video per epoch, drawn at random "
                                     "without repeats (seed: 1)")
    grad_clip: float = option(5.0, "clip the gradient norm to this (0: off)")
    patience: int = option(0, "stop after this many epochs without a better validation CIDEr (0: never)")
    val_beam_size: int = option(1, "beam size of the per-epoch validation CIDEr")
    seed: int = option(0, "random seed (initialisation, batches, captions drawn)")
    precision: str = option("fp32", "training steps in fp32, or in bf16 autocast (torch.autocast; fast where the "
                            "CPU has AVX-512 BF16 / AMX, or on a GPU; benchmarks/train_caption.py measures it)",
                            choices=("fp32", "bf16"))
    beam_size: int = option(3, "default beam size stored in the checkpoint")
    length_penalty: float = option(0.0, "default beam ranking stored in the checkpoint: log p / length**penalty")
    backbone: str = option("mobilenet_v2", "feature backbone when extracting from --videos (see `vidcap backbones`)")
    num_frames: int = option(80, "frames sampled per video when extracting from --videos (seed: 80)")
    fit: str = option("pad", "how a frame becomes the backbone's square input when extracting from --videos (and "
                      "what a --features folder without records was made with): pad letterboxes the whole frame; "
                      "crop keeps its centre square (ImageNet's transform; a 4:3 frame loses a sixth of its width "
                      "each side, a 16:9 one a quarter)", choices=("pad", "crop"))
    flow: bool = option(False, "add the motion stream: optical flow from each sampled frame to one a few frames "
                        "later, pooled on a grid, joined to the frame's features")
    flow_method: str | None = option(None, "optical flow of the motion stream (default dis)", choices=FLOW_METHODS)
    flow_size: int | None = option(None, "short side (pixels) of the frames the flow is computed on (default 96)")
    flow_grid: int | None = option(None, "the flow is pooled on a grid of this many cells per side (default 4)")
    flow_gap: int | None = option(None, "frames between the two frames of each flow (default 2)")

    def __post_init__(self):
        self._positive("epochs", "batch_size", "hidden", "max_words", "val_beam_size", "beam_size", "num_frames",
                       "captions_per_video")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be positive")
        if self.patience < 0 or self.min_count < 1:
            raise ConfigError(f"patience={self.patience} must be >= 0 and min_count={self.min_count} >= 1")
        for name, default in FLOW_DEFAULTS.items():
            if not self.flow and getattr(self, name) is not None:
                raise ConfigError(f"{name}={getattr(self, name)!r} needs the motion stream: add flow=True "
                                  f"(--flow) or drop {name}")
            if self.flow and getattr(self, name) is None:
                setattr(self, name, default)
        if self.normalize_motion and not self.flow:
            raise ConfigError("normalize_motion=True needs the motion stream: add flow=True (--flow) or drop it")
        if self.normalize_motion and self.normalize:
            raise ConfigError("normalize=True standardises every feature dimension, normalize_motion=True only the "
                              "motion stream's: choose one")
        if self.flow:
            self._positive("flow_size", "flow_grid", "flow_gap")
            if self.flow_method not in FLOW_METHODS:
                raise ConfigError(f"flow_method={self.flow_method!r} is not one of {FLOW_METHODS}")

    def flow_params(self) -> dict | None:
        """The motion stream's parameters (:class:`vidcap.features.flow.MotionFeatures`), None without one."""
        if not self.flow:
            return None
        return {"method": self.flow_method, "size": self.flow_size, "grid": self.flow_grid, "gap": self.flow_gap}


CLASSIFY_MODELS = ("pool", "lstm", "r2plus1d", "two-stream")


@dataclass
class ClassifyConfig(Config):
    """Everything that defines a classifier training run (stored in every checkpoint).

    Options left at None take the model's default when the run starts, and the
    resolved value is what the checkpoint stores.
    """

    model: str = option("lstm", "pool: features + mean/max pool; lstm: features + LSTM (seed 003); r2plus1d: a "
                        "(2+1)D CNN on clips; two-stream: features + optical flow, late fusion", choices=CLASSIFY_MODELS)
    backbone: str = option("mobilenet_v2", "frame feature backbone (pool, lstm, two-stream)")
    num_frames: int | None = option(None, "frames sampled per video (default 16; 8 for r2plus1d)")
    short: str = option("pad", "videos shorter than num_frames: pad (with a mask) or repeat", choices=("pad", "repeat"))
    hidden: int = option(256, "LSTM hidden size")
    pool: str = option("mean", "temporal pooling of the pool model", choices=("mean", "max"))
    dropout: float = option(0.3, "dropout before the classifier")
    clip_size: int | None = option(None, "r2plus1d input side (default 32; 112 with --pretrained)")
    pretrained: str | None = option(None, "r2plus1d: start from Kinetics-400 weights", choices=("kinetics400",))
    width: int | None = option(None, "r2plus1d: channels of the first stage (default 16; 64, the full R(2+1)D-18, "
                               "with --pretrained)")
    input_norm: str | None = option(None, "r2plus1d: Kinetics mean/std only, or each clip standardised too "
                                    "(default: clip from scratch)", choices=("kinetics", "clip"))
    augment: bool | None = option(None, "r2plus1d: random shifts and colour-channel order of training clips "
                                  "(default: on)")
    schedule: str | None = option(None, "learning-rate schedule (default: cosine with warmup for r2plus1d, else "
                                  "constant)", choices=("constant", "cosine"))
    warmup_epochs: int = option(2, "cosine schedule: epochs of linear warmup from 0 to lr")
    flow_size: int = option(56, "two-stream: side of the optical-flow input")
    flow_method: str = option("dis", "two-stream: optical flow", choices=("dis", "farneback"))
    fusion: str = option("avg", "two-stream: average the two streams' scores or concatenate their features",
                         choices=("avg", "concat"))
    epochs: int = option(30, "passes over the training videos")
    batch_size: int | None = option(None, "videos per step (default 32; 16 for r2plus1d)")
    lr: float | None = option(None, "AdamW learning rate (default 1e-3; r2plus1d 2e-3, 3e-4 with --pretrained)")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    patience: int = option(8, "early stopping: epochs without a better validation accuracy")
    val_fraction: float = option(0.15, "share of train held out for validation when the dataset has no val split")
    recalibrate_bn: bool | None = option(None, "recompute BatchNorm statistics after each epoch (default: r2plus1d only)")
    seed: int = option(0, "random seed")

    def __post_init__(self):
        if self.model not in CLASSIFY_MODELS:
            raise ConfigError(f"model must be one of {', '.join(CLASSIFY_MODELS)}, got {self.model!r}")
        r2 = self.model == "r2plus1d"
        if self.num_frames is None:
            self.num_frames = 8 if r2 else 16
        if self.clip_size is None:
            self.clip_size = 112 if self.pretrained else 32
        if self.batch_size is None:
            self.batch_size = 16 if r2 else 32
        if self.lr is None:
            self.lr = (3e-4 if self.pretrained else 2e-3) if r2 else 1e-3
        self._positive("num_frames", "epochs", "batch_size")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.schedule not in (None, "constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")
        if self.patience < 0:
            raise ConfigError(f"patience must be >= 0, got {self.patience}")

    def resolved(self) -> "ClassifyConfig":
        """The options a run starts with: r2plus1d's model defaults written out, so the checkpoint
        rebuilds the same network."""
        d = self.to_dict()
        if self.model == "r2plus1d":
            d["width"] = self.width or (64 if self.pretrained else 16)
            d["input_norm"] = self.input_norm or ("kinetics" if self.pretrained else "clip")
            d["augment"] = self.augment is not False
            d["schedule"] = self.schedule or "cosine"
        return ClassifyConfig(**d)


@dataclass
class RetrievalTrainConfig(Config):
    """The joint video-text embedding (MIL-NCE over a frame -> clip -> video transformer)."""

    epochs: int = option(60, "passes over the training videos")
    batch_size: int = option(128, "videos per step (each step's other videos are the negatives)")
    captions_per_video: int = option(4, "positive captions per video in a step (MIL-NCE)")
    lr: float = option(1e-3, "peak AdamW learning rate (one-cycle schedule)")
    weight_decay: float = option(0.05, "AdamW weight decay")
    seed: int = option(0, "random seed")
    num_frames: int = option(16, "frames per video when extracting from --videos")
    backbone: str = option("mobilenet_v2", "feature backbone when extracting from --videos")
    hidden: int = option(256, "transformer width")
    embed_dim: int = option(256, "size of the joint embedding")
    layers: int = option(1, "transformer layers per level")
    clip_frames: int = option(16, "frames per clip; longer videos get a clip -> video level")
    dropout: float = option(0.1, "dropout")
    patience: int = option(0, "stop after this many epochs without a better validation recall (0: never)")

    def __post_init__(self):
        self._positive("epochs", "batch_size", "captions_per_video", "num_frames", "hidden", "embed_dim", "layers",
                       "clip_frames")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2 (contrastive training needs negatives)")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be positive")


@dataclass
class CootTrainConfig(Config):
    """COOT: clip/sentence and video/paragraph alignment with cross-modal cycle consistency."""

    epochs: int = option(30, "passes over the training videos")
    batch_size: int = option(64, "videos per step (the step's other videos and events are the negatives)")
    lr: float = option(1e-3, "peak AdamW learning rate (one-cycle schedule)")
    weight_decay: float = option(0.05, "AdamW weight decay")
    seed: int = option(0, "random seed")
    backbone: str = option("mobilenet_v2", "frame feature backbone (features at 4 frames a second)")
    hidden: int = option(256, "transformer width")
    embed_dim: int = option(256, "size of the joint embedding")
    layers: int = option(1, "transformer layers per encoder")
    clip_frames: int = option(16, "frames per event clip")
    video_frames: int = option(48, "frames of the whole video (the global context)")
    max_clips: int = option(16, "most events a video may have")
    context: bool = option(True, "the contextual transformer (false: attention pooling over clips)")
    cycle_weight: float = option(0.01, "weight of the cross-modal cycle-consistency loss (0: off)")
    dropout: float = option(0.1, "dropout")
    val_fraction: float = option(0.1, "share of videos held out for validation when the file has no subsets")
    patience: int = option(0, "stop after this many epochs without a better validation recall (0: never)")

    def __post_init__(self):
        self._positive("epochs", "batch_size", "hidden", "embed_dim", "layers", "clip_frames", "video_frames",
                       "max_clips")
        if self.batch_size < 2:
            raise ConfigError("batch_size must be at least 2 (contrastive training needs negatives)")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be positive")
        if not self.cycle_weight >= 0:
            raise ConfigError(f"cycle_weight={self.cycle_weight} must be 0 or more")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")


@dataclass
class BoundaryTrainConfig(Config):
    """The event-boundary head: a temporal CNN over frame features at 4 frames a second."""

    epochs: int = option(40, "passes over the training videos")
    batch_size: int = option(16, "videos per step")
    lr: float = option(1e-3, "AdamW learning rate")
    weight_decay: float = option(0.01, "AdamW weight decay")
    seed: int = option(0, "random seed")
    backbone: str = option("mobilenet_v2", "frame feature backbone (features at 4 frames a second)")
    hidden: int = option(128, "convolution width")
    dropout: float = option(0.1, "dropout")
    val_fraction: float = option(0.1, "share of videos held out for validation when the file has no subsets")
    patience: int = option(0, "stop after this many epochs without a better validation F1 (0: never)")

    def __post_init__(self):
        self._positive("epochs", "batch_size", "hidden")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be positive")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")


@dataclass
class EmotionTrainConfig(Config):
    """The seed's 6-class FER2013 network, trained as the seed does (Adam 0.003, batch 128, augmentation)."""

    epochs: int = option(300, "passes over the training images (seed: 300)")
    batch_size: int = option(128, "images per step (seed: 128)")
    lr: float = option(0.003, "Adam learning rate (seed: 0.003)")
    val_fraction: float = option(0.1, "share of training rows held out when the CSV has no PrivateTest rows")
    bn_momentum: float = option(0.01, "batch-norm running-average weight (Keras' 0.01; try 0.1 for short runs)")
    patience: int = option(0, "stop after this many epochs without a lower validation loss (0: never)")
    seed: int = option(0, "random seed")

    def __post_init__(self):
        self._positive("epochs", "batch_size")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
