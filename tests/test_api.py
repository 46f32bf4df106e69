"""The public API and the command line around it: one set of defaults, light imports,
strict JSON, the layer rules, and scripts without a main guard."""
from __future__ import annotations

import ast
import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from vidcap import api

SRC = Path(api.__file__).parent

# api name -> (module, function) whose defaults it repeats
TASK_FUNCTIONS = {
    "extract": ("vidcap.features.extract", "extract"),
    "extract_many": ("vidcap.features.pipeline", "extract_many"),
    "synth": ("vidcap.data.synthetic", "generate_world"),
    "score_captions": ("vidcap.metrics.caption", "score_captions"),
    "train_caption": ("vidcap.train.caption", "train_caption"),
    "evaluate_caption": ("vidcap.train.caption", "evaluate_caption"),
    "classify": ("vidcap.tasks.classify", "classify"),
    "train_classify": ("vidcap.train.classify", "train_classify"),
    "evaluate_classify": ("vidcap.train.classify", "evaluate_classify"),
    "emotions": ("vidcap.tasks.emotions", "analyze"),
    "train_emotions": ("vidcap.train.emotions", "train_emotions"),
    "interpolate": ("vidcap.tasks.interpolate", "interpolate_video"),
    "inbetween": ("vidcap.tasks.interpolate", "inbetween_files"),
    "index": ("vidcap.tasks.search", "index"),
    "search": ("vidcap.tasks.search", "search"),
    "train_retrieval": ("vidcap.train.retrieval", "train_retrieval"),
    "evaluate_retrieval": ("vidcap.tasks.search", "evaluate_retrieval"),
    "transcribe": ("vidcap.tasks.speech", "transcribe"),
    "subtitles": ("vidcap.tasks.subtitles", "subtitles"),
    "describe": ("vidcap.tasks.subtitles", "describe"),
    "evaluate_describe": ("vidcap.tasks.dense", "evaluate_describe"),
    "evaluate_moments": ("vidcap.tasks.moments", "evaluate_moments"),
    "train_coot": ("vidcap.train.coot", "train_coot"),
    "evaluate_coot": ("vidcap.tasks.coot", "evaluate_coot"),
    "train_boundaries": ("vidcap.train.boundaries", "train_boundaries"),
    "shots": ("vidcap.features.shots", "detect_shots"),
    "tag": ("vidcap.tasks.tags", "tag"),
    "ocr": ("vidcap.tasks.ocr", "ocr"),
}


@pytest.mark.parametrize("name", sorted(TASK_FUNCTIONS))
def test_api_defaults_are_the_task_functions(name):
    """api.py repeats each task function's defaults (so that --help needs no torch); they may not drift."""
    import importlib

    module, fn = TASK_FUNCTIONS[name]
    task = inspect.signature(getattr(importlib.import_module(module), fn)).parameters
    shown = inspect.signature(getattr(api, name)).parameters
    for p, param in shown.items():
        if param.default is inspect.Parameter.empty or p not in task:
            continue
        default = task[p].default
        if name in ("interpolate", "inbetween") and p in ("flow", "preset", "flow_scale", "cut_mode", "warp"):
            continue  # checked below against InterpolationConfig
        assert param.default == default or (isinstance(default, tuple) and tuple(param.default) == default), (name, p)


def test_interpolation_defaults_are_the_config_dataclass():
    from vidcap.models.interpolate import InterpolationConfig

    cfg = InterpolationConfig()
    for fn in (api.interpolate, api.inbetween):
        for p in ("flow", "preset", "flow_scale", "cut_mode", "warp"):
            assert inspect.signature(fn).parameters[p].default == getattr(cfg, p)


def _imports(argv: list[str]) -> set[str]:
    code = ("import sys, runpy; sys.argv = ['vidcap'] + %r\n"
            "try:\n    runpy.run_module('vidcap', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('MODULES', ' '.join(sorted(sys.modules)))" % argv)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    return set(out.rsplit("MODULES ", 1)[1].split())


@pytest.mark.parametrize("argv", [["--help"], ["train", "caption", "--help"], ["backbones", "--json"],
                                  ["info", "/nonexistent.mp4"], ["models", "--json"]])
def test_light_commands_import_neither_torch_nor_transformers(argv):
    loaded = _imports(argv)
    assert "vidcap.cli" in loaded
    assert not {"torch", "transformers", "torchvision"} & loaded, argv


def test_library_ls_imports_no_torch(tmp_path):
    from vidcap.tasks.library import FORMAT, Library

    lib = Library(tmp_path / "lib", create=True)
    lib.claim_meta({"format": FORMAT, "format_version": 1})
    loaded = _imports(["library", "ls", "--library", str(tmp_path / "lib")])
    assert not {"torch", "transformers"} & loaded


def test_help_shows_the_defaults(capsys):
    from vidcap.cli import main

    with pytest.raises(SystemExit):
        main(["train", "caption", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, default in (("--epochs", 100), ("--batch-size", 32), ("--lr", 0.0001), ("--hidden", 512)):
        assert f"(default {default})" in text.split(flag, 2)[-1][:300], flag


def test_json_is_strict_and_results_render():
    from vidcap.io.files import to_json
    from vidcap.results import CaptionResult, Failure

    r = CaptionResult("a.mp4", "", float("nan"), 3, "a.mp4: broken")
    text = to_json([r, Failure("b.mp4", "b.mp4: broken"), {"x": math.inf, "y": [1.5, float("-inf")]}])
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back[0]["score"] is None and back[2] == {"x": None, "y": [1.5, None]}
    assert json.loads(r.to_json())["error"] == "a.mp4: broken" and Failure("b", "e").render() == "skipped e"


def test_layer_rules():
    """models/ reads and writes no files; nothing outside train/ (but the api facade) imports train/."""
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        if rel.parts[0] not in ("train",) and rel.name != "api.py":
            assert not {m for m in imported if m.startswith("vidcap.train")}, rel
        if rel.parts[0] == "models":
            calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            attrs = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
            assert "open" not in calls and not {"load", "save", "imwrite", "imread", "read_text", "write_text"} & attrs, rel
            assert not {m for m in imported if m.startswith(("vidcap.io", "tqdm", "av"))}, rel
        if rel.parts[0] != "cli" and rel.name != "demo.py":
            assert "tqdm" not in str(imported), rel  # progress bars belong to the command line


def test_no_global_state_changes_in_the_library():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert "os.umask(" not in text and "matplotlib.use(" not in text and "matplotlib.pyplot" not in text, path
        if path.parent.name != "cli":
            assert "set_num_threads" not in text or "before" in text, path  # restored where set


def test_a_script_without_a_main_guard_gets_one_sentence(tmp_path):
    from clips import coded_frames, write_clip

    for i in range(3):
        write_clip(tmp_path / f"v{i}.mp4", coded_frames(10))
    script = tmp_path / "unguarded.py"
    script.write_text(f"from vidcap import api\napi.extract_many({str(tmp_path)!r}, {str(tmp_path / 'f')!r}, "
                      "num_frames=2, workers=2)\nprint('finished')\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "finished" not in run.stdout
    assert "line 2 starts vidcap's worker processes from top-level code" in run.stderr
    assert not (tmp_path / "f").exists()  # refused before any work started
    guarded = tmp_path / "guarded.py"
    guarded.write_text("from vidcap import api\nif __name__ == '__main__':\n"
                       f"    s = api.extract_many({str(tmp_path)!r}, {str(tmp_path / 'g')!r}, num_frames=2, workers=2)\n"
                       "    print('finished', len(s.ok))\n")
    run = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "finished 3" in run.stdout, run.stderr
