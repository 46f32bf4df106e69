"""Training on several processes: DistributedDataParallel under the one loop (:mod:`vidcap.train.loop`).

``nproc=N`` (``vidcap train ... --nproc N``) starts N processes on this machine in one
process group (gloo: the caption, classify and retrieval trainers run on CPUs; see
:func:`backend`). Under ``torchrun`` (``RANK``/``WORLD_SIZE`` in the environment, any
number of machines) each process joins the group ``torchrun`` set up.

What every process does, so that N processes follow the steps one process takes:

* ``batch_size`` stays the **global** batch: every process draws the same batch from the
  run's generators (exactly what one process draws) and computes its share of it, the
  rows ``rank, rank + N, ...`` (:func:`local_rows`: the distributed sampler);
* its loss is weighted by its share of the batch's items (:func:`weighted`), so that the
  gradients DDP averages are the gradient of the whole batch's mean loss, and the loss it
  reports is the whole batch's;
* rank 0 validates and broadcasts its row, writes every file of the run folder
  (checkpoints included; ``last.pt`` holds every rank's random generators, so a resumed
  run continues exactly) and reports progress.

What stays per process: dropout masks and BatchNorm statistics (of its share of the
batch), and the retrieval trainer's contrastive negatives (its own videos of the batch).
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from vidcap.errors import ConfigError, VidcapError

log = logging.getLogger(__name__)

TIMEOUT = timedelta(hours=6)  # rank 0 may extract features while the others wait


def active() -> bool:
    """True inside a process group of several processes."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if active() else 0


def world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


# --------------------------------------------------------------------------- data and loss
def local_rows(n: int):
    """``(rows, count)``: this process's rows of a global batch of ``n`` (``rank::world``).

    A process whose share is empty (a last batch smaller than the group) gets row 0
    with count 0: it still runs forward and backward (DDP needs every process), with
    weight 0."""
    import torch

    rows = torch.arange(rank(), n, world())
    if len(rows) == 0:
        return torch.zeros(1, dtype=torch.long), 0
    return rows, len(rows)


def weighted(loss, count: int):
    """``(loss to backpropagate, the global batch's mean loss, the global count)`` for a loss
    that is the mean over this process's ``count`` items (tokens, videos).

    Alone: ``(loss, float(loss), count)``. In a group: the loss is scaled by
    ``count * world / total`` so that DDP's averaged gradient is the gradient of the mean
    over all ``total`` items, as one process with the whole batch computes it."""
    import torch
    import torch.distributed as dist

    if not active():
        return loss, float(loss.detach()), count
    t = torch.tensor([float(loss.detach()) * count, float(count)], dtype=torch.float64)
    dist.all_reduce(t)
    total = float(t[1])
    return loss * (count * world() / total if total else 0.0), float(t[0]) / max(total, 1.0), total


def total(value: float) -> float:
    """The sum of ``value`` over the group (the value itself alone)."""
    import torch
    import torch.distributed as dist

    if not active():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t[0])


def broadcast(obj):
    """Rank 0's ``obj`` on every process."""
    import torch.distributed as dist

    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj) -> list:
    """Every rank's ``obj``, in rank order, on every process."""
    import torch.distributed as dist

    if not active():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    import torch.distributed as dist

    if active():
        dist.barrier()


def wrap(model):
    """The model under DistributedDataParallel in a group (its attributes stay reachable), else itself."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    class DDP(DistributedDataParallel):
        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.module, name)

    device = next(model.parameters()).device
    # static_graph: the same parameters take part in every step (a retrieval model of one clip never uses
    # its video-level encoder), which DDP then need not look for each step
    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None, static_graph=True)


class rank_zero_first:
    """``with rank_zero_first():`` rank 0 runs the block first (it fills caches), then the others."""

    def __enter__(self):
        if not is_main():
            barrier()

    def __exit__(self, *exc):
        if is_main():
            barrier()


# --------------------------------------------------------------------------- processes
def _from_torchrun() -> bool:
    """Join the group ``torchrun`` describes in the environment (True), or not (False)."""
    import torch.distributed as dist

    if active() or int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return False
    dist.init_process_group(backend(), init_method="env://", timeout=TIMEOUT)
    return True


def backend() -> str:
    """gloo: the caption, classify and retrieval trainers keep their models and batches on the
    CPU (they have no device option), and NCCL reduces only CUDA tensors. ``VIDCAP_DDP_BACKEND``
    overrides it for a trainer that runs on GPUs."""
    return os.environ.get("VIDCAP_DDP_BACKEND", "gloo")


def run(fn, nproc: int, kwargs: dict, progress=None):
    """``fn(progress=..., **kwargs)`` alone (``nproc`` 1), as this process's rank (inside a
    group, or under torchrun), or in ``nproc`` new processes of this machine; returns rank
    0's result. Only rank 0 reports progress."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"nproc must be a positive integer, got {nproc!r}")
    if active():
        return fn(progress=progress if is_main() else None, **kwargs)
    if _from_torchrun():
        import torch.distributed as dist

        try:
            return fn(progress=progress if is_main() else None, **kwargs)
        finally:
            dist.destroy_process_group()
    if nproc == 1:
        return fn(progress=progress, **kwargs)
    return launch(fn, nproc, kwargs, progress)


def launch(fn, nproc: int, kwargs: dict, progress=None):
    """Start ``nproc`` processes (a gloo group on 127.0.0.1) running ``fn``; rank 0's
    events reach ``progress`` here and its result is returned. A process that fails ends
    the others; its error is raised here."""
    import queue as queues

    from vidcap.parallel import pool_context

    ctx = pool_context()
    port = _free_port()
    messages = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(fn, kwargs, r, nproc, port, messages), name=f"vidcap-rank{r}")
             for r in range(nproc)]
    for p in procs:
        p.start()
    result, error = None, None
    try:
        while True:
            try:
                kind, value = messages.get(timeout=0.2)
            except queues.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if not dead and not all(p.exitcode == 0 for p in procs):
                    continue
                while True:  # what the processes said before they ended
                    try:
                        kind, value = messages.get(timeout=0.5)
                    except queues.Empty:
                        break
                    result, error = _take(kind, value, progress, result, error)
                if dead and error is None:
                    error = VidcapError(f"training process {dead[0].name} died (exit code {dead[0].exitcode})")
                break
            result, error = _take(kind, value, progress, result, error)
    finally:
        for p in procs:
            if error is not None and p.is_alive():
                p.terminate()
            p.join()
        messages.close()
    if error is not None:
        raise error
    return result


def _take(kind: str, value, progress, result, error):
    if kind == "progress" and progress is not None:
        progress(value)
    elif kind == "result":
        result = value
    elif kind == "error":
        error = error or value
    return result, error


def _rank_main(fn, kwargs: dict, rank_: int, nproc: int, port: int, messages) -> None:
    import torch
    import torch.distributed as dist

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))  # the processes share the cores
    dist.init_process_group(backend(), init_method=f"tcp://127.0.0.1:{port}", rank=rank_, world_size=nproc,
                            timeout=TIMEOUT)
    try:
        result = fn(progress=(lambda e: messages.put(("progress", e))) if rank_ == 0 else None, **kwargs)
        if rank_ == 0:
            messages.put(("result", result))
    except VidcapError as exc:
        messages.put(("error", exc))
        raise SystemExit(1) from None
    except BaseException as exc:
        messages.put(("error", VidcapError(f"training process {rank_} failed: {type(exc).__name__}: {exc}")))
        raise
    finally:
        dist.destroy_process_group()
        torch.set_num_threads(before)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
