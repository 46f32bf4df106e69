"""Progress of long work, reported through one callback.

Library functions that take a while accept ``progress=`` (a callable or None) and
call it with a :class:`Progress` event: how much of which task is done, and, for
work over many inputs, the finished item's result as soon as it exists. The CLI
turns events into tqdm bars and prints items as they come (``vidcap.cli.common.Bars``);
the web service sends them as server-sent events. Library code never creates a bar.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Progress:
    """One progress event.

    task: what is running (``"extract"``, ``"caption"``, ``"train"``, ...).
    done, total: units finished and expected (``total`` None when unknown).
    unit: what is counted (``"video"``, ``"epoch"``, ``"frame"``, ``"s"``).
    item: a finished input's result (a :mod:`vidcap.results` object), when one just finished.
    info: small numbers to show beside the bar (``{"loss": 2.31}``).
    message: a sentence to announce (``"early stop: ..."``), shown once.
    """

    task: str
    done: float
    total: float | None = None
    unit: str = "video"
    item: Any = None
    info: dict = field(default_factory=dict)
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


Callback = Callable[[Progress], None]


def report(callback: Callback | None, task: str, done: float, total: float | None = None, **kwargs) -> None:
    """Send one event to ``callback`` (nothing happens when it is None)."""
    if callback is not None:
        callback(Progress(task, done, total, **kwargs))
