"""torch.distributed in one place: process-group set-up under torchrun, rank shards, gathers.

Everything here is PyTorch's own engine (``torch.distributed`` with gloo on CPU, NCCL on CUDA); pfbench only
decides *which* items a rank takes. Without torchrun (no ``WORLD_SIZE`` in the environment) every function
is the single-process identity, so callers need no branches.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""
    device: str = "cpu"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init(device: str = "cpu", timeout_s: float = 300.0) -> DistContext:
    """Join the torchrun process group (gloo for CPU, NCCL for CUDA); a plain process gets rank 0 of 1.

    On CUDA each rank takes ``cuda:LOCAL_RANK``. Calling it twice reuses the group.
    """
    if not launched_by_torchrun():
        return DistContext(device=device)
    world, rank = int(os.environ["WORLD_SIZE"]), int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", 0))
    cuda = device.startswith("cuda")
    if cuda:
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device} under torchrun but CUDA is not available; use --device cpu (gloo)")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return DistContext(rank=rank, world_size=world, local_rank=local, backend=backend, device=device)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous slice of ``range(n)``: sizes differ by at most one, every index once."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def shard(items: list, ctx: DistContext) -> list:
    """This rank's items of ``items`` (contiguous slice; the gather below restores the order)."""
    return [items[i] for i in shard_indices(len(items), ctx.rank, ctx.world_size)]


def gather_list(local: list, ctx: DistContext) -> list:
    """Concatenate every rank's list in rank order, on every rank (all_gather_object; pickles only our own
    in-memory objects between the ranks of this job, never a file)."""
    if not ctx.distributed:
        return list(local)
    parts: list = [None] * ctx.world_size
    dist.all_gather_object(parts, list(local))
    return [x for part in parts for x in part]


def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.distributed:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def any_rank(flags: list[bool], ctx: DistContext, device: str = "cpu") -> list[bool]:
    """Each flag true on every rank when it is true on some rank (a stop signal, a timer): one all-reduce, so
    every rank takes the same branch (a collective inside it cannot deadlock)."""
    if not ctx.distributed:
        return list(flags)
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def current(device: str = "cpu") -> DistContext:
    """The context of an initialized process group (rank, world), else a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext(device=device)
    local = int(os.environ.get("LOCAL_RANK", 0))
    dev = f"cuda:{local}" if device.startswith("cuda") else device
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local,
                       backend=dist.get_backend(), device=dev)


@contextlib.contextmanager
def session(device: str = "cpu"):
    """``with session(device) as ctx``: join torchrun's group for a command, leave it at the end. On a normal exit
    the ranks meet at a barrier first: a rank that tears gloo down while its peer still talks to it can abort the
    peer at exit ("terminate called without an active exception"), failing a job whose work was done."""
    joined = launched_by_torchrun() and not dist.is_initialized()
    ctx = init(device)
    try:
        yield ctx
        if joined:
            barrier(ctx)
    finally:
        if joined:
            shutdown()



def sharded_features(extract: Callable, dataset, ctx: DistContext) -> torch.Tensor:
    """(N, D) features of a map-style dataset, each rank extracting a contiguous slice (torch Subset)."""
    if not ctx.distributed:
        return extract(dataset)
    from torch.utils.data import Subset

    idx = list(shard_indices(len(dataset), ctx.rank, ctx.world_size))
    local = extract(Subset(dataset, idx)).cpu() if idx else None
    parts = gather_list([local], ctx)
    return torch.cat([p for p in parts if p is not None])
