"""What every command shares: flags from the API's defaults and the config dataclasses,
progress bars, and rendering results (the one place that prints them).

Output rules, the same for every command:

* stdout carries the results; progress bars, notes and errors go to stderr;
* ``--json`` prints the results as strict JSON (``-q``/``--quiet`` too, and silences
  the bars and notes); a command that takes several inputs always prints a JSON list,
  also for one input;
* without them, each result is printed for a person as soon as it is ready;
* the exit status is 0 when everything worked, 1 when some inputs failed (the others
  were processed), 2 for a usage error or a failure of the whole command.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import MISSING, fields

FMT = argparse.RawDescriptionHelpFormatter


def add_quiet(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="print only machine-readable output (JSON), no progress")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print the results as JSON")


def default_of(fn, name: str):
    """The default of parameter ``name`` of ``fn`` (the API's functions hold them); None
    for a parameter without one (``model`` of ``evaluate_caption``: the bundled model)."""
    keyword = fn.__kwdefaults__ or {}
    if name in keyword:
        return keyword[name]
    code = fn.__code__  # a positional parameter: defaults belong to the last ones
    names, defaults = code.co_varnames[:code.co_argcount], fn.__defaults__ or ()
    k = names.index(name) - (len(names) - len(defaults))
    return defaults[k] if k >= 0 else None


def arg(p: argparse.ArgumentParser, fn, name: str, *flags: str, help: str, **kwargs) -> None:
    """A flag whose default is ``fn``'s default for ``name``, shown in the help."""
    default = default_of(fn, name)
    flags = flags or ("--" + name.replace("_", "-"),)
    shown = "" if default is None or kwargs.get("action") in ("store_true", "store_false") else f" (default {default})"
    p.add_argument(*flags, dest=name, default=default, help=help + shown, **kwargs)


def add_engine(p: argparse.ArgumentParser, fn) -> None:
    """``--engine local|ray`` and ``--address``: where a batch command runs (the API's ``engine``/``address``)."""
    arg(p, fn, "engine", choices=["local", "ray"],
        help='local: this machine\'s processes; ray: a Ray cluster (pip install "vidcap[ray]"; see docs/scale.md)')
    arg(p, fn, "address", help="the Ray cluster: host:6379, or auto for the one `ray start` began here "
                               "(default: RAY_ADDRESS, else the cluster `ray start` began here, else a Ray "
                               "instance on this machine for the command)")


def add_nproc(p: argparse.ArgumentParser, fn) -> None:
    """``--nproc``: training processes (DistributedDataParallel on this machine)."""
    arg(p, fn, "nproc", type=int, help="training processes on this machine (DistributedDataParallel: gloo on CPUs); "
                                       "--batch-size stays the global batch; several machines: torchrun, "
                                       "see docs/scale.md")


def add_config(p: argparse.ArgumentParser, cls, *, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of a :mod:`vidcap.config` dataclass, with its help and default.

    Flags left out on the command line are not set at all (argparse.SUPPRESS), so
    :func:`given` passes only what the user typed: a resumed run keeps its own options.
    """
    for f in fields(cls):
        if f.name in skip:
            continue
        default = None if f.default is MISSING else f.default
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(str(f.type).split("|")[0].strip(), str)
        kw = {"dest": f.name, "default": argparse.SUPPRESS,
              "help": f.metadata.get("help", "") + ("" if default is None else f" (default {default})")}
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        else:
            p.add_argument(flag, type=kind, **kw)


def given(args, cls) -> dict:
    """The config fields the user gave on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}


def single_file(inputs) -> bool:
    """One video named on the command line (not a folder or a list): its failure is the
    command's failure (exit status 2), not one input among many (1)."""
    from pathlib import Path

    return len(inputs) == 1 and Path(inputs[0]).suffix.lower() != ".txt" and not Path(inputs[0]).is_dir()


def machine(args) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "quiet", False))


# --------------------------------------------------------------------------- progress
class Bars:
    """A progress callback that draws one tqdm bar per task on stderr and prints each
    finished item (a result) at once: its ``render()`` to stdout, or its error to stderr."""

    def __init__(self, args, *, items: bool = True):
        self.bars_on = not getattr(args, "quiet", False)
        self.items_on = items and not machine(args)
        self.notes_on = not getattr(args, "quiet", False)
        self.bars: dict = {}

    def __call__(self, event) -> None:
        from tqdm.auto import tqdm

        if event.item is not None:
            if is_failure(event.item):
                if self.notes_on:
                    self.write(f"vidcap: skipped {event.item.error}", sys.stderr)
            else:
                if self.items_on:
                    self.write(event.item.render(), sys.stdout)
                if self.notes_on:
                    self.write(warning_of(event.item), sys.stderr)
        if event.message and self.notes_on:
            self.write(f"vidcap: {event.message}", sys.stderr)
        if not self.bars_on:
            return
        bar = self.bars.get(event.task)
        if bar is None:
            total = None if event.total is None else round(event.total, 2)
            bar = self.bars[event.task] = tqdm(total=total, unit=event.unit, desc=event.task, file=sys.stderr,
                                               dynamic_ncols=True, leave=False)
        if event.total is not None and bar.total != round(event.total, 2):
            bar.total = round(event.total, 2)
        bar.n = round(event.done, 2)
        if event.info:
            bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in event.info.items()},
                            refresh=False)
        bar.refresh()
        if event.total is not None and event.done >= event.total:
            bar.close()
            del self.bars[event.task]

    @staticmethod
    def write(text: str | None, stream) -> None:
        if text:
            from tqdm.auto import tqdm

            tqdm.write(text, file=stream)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()

    def __enter__(self) -> "Bars":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- results
def is_failure(result) -> bool:
    """A result that stands for one input that failed."""
    from vidcap.results import CaptionResult, Failure

    return isinstance(result, Failure) or (isinstance(result, CaptionResult) and result.error is not None)


def warning_of(result) -> str | None:
    """The line a person must read beside a result: it is out of its model's domain (None: nothing to say)."""
    warning = getattr(result, "warning", None)
    if not warning:
        return None
    name = getattr(result, "video", None)
    return f"vidcap: warning: {name}: {warning}" if name else f"vidcap: warning: {warning}"


def errors_of(result) -> list[str]:
    """The errors of the inputs a result reports as failed."""
    if is_failure(result):
        return [result.error]
    return list(getattr(result, "failures", []) or [])


def show(result, args, *, many: bool = False, printed: bool = False) -> int:
    """Print a result (or a list of them) by the output rules; returns the exit status.

    ``many``: the command takes several inputs (its JSON is always a list).
    ``printed``: the results were printed one by one as they came (:class:`Bars`).
    """
    from vidcap.io.files import to_json

    items = result if isinstance(result, list) else [result]
    if machine(args):
        print(to_json(items if many else result))
    elif not printed:
        header = getattr(type(items[0]), "HEADER", None) if items else None
        if header:
            print(header)
        for item in items:
            text = "" if is_failure(item) else item.render()
            if text:
                print(text)
    if not printed and not getattr(args, "quiet", False):
        for item in items:
            if not is_failure(item) and warning_of(item):
                print(warning_of(item), file=sys.stderr)
            for e in errors_of(item):
                print(f"vidcap: {'skipped' if is_failure(item) else 'failed:'} {e}", file=sys.stderr)
    return 1 if any(errors_of(i) for i in items) else 0
