"""Data parallelism through PyTorch's own wrappers: DistributedDataParallel, or FSDP2's ``fully_shard``.

``wrap`` returns (wrapped, core): ``wrapped`` is what the loss calls (DDP, or the sharded module itself),
``core`` the module whose parameters the optimizer owns and whose state dict is saved.
"""
from __future__ import annotations

import contextlib

import torch
from torch.nn.parallel import DistributedDataParallel

from pfbench.core.distributed import DistContext

PARALLEL = ("ddp", "fsdp2")


class _DDP(DistributedDataParallel):
    """DDP that exposes the DiT's ``cfg`` and ``null_label`` (the objectives read them off the model)."""

    @property
    def cfg(self):
        return self.module.cfg

    @property
    def null_label(self):
        return self.module.null_label


def wrap(model: torch.nn.Module, ctx: DistContext, parallel: str, device: str):
    if parallel not in PARALLEL:
        raise ValueError(f"unknown --parallel {parallel!r}: choose one of {', '.join(PARALLEL)}")
    if not ctx.distributed:
        return model, model
    if parallel == "ddp":
        ids = [torch.device(device).index] if device.startswith("cuda") else None
        return _DDP(model, device_ids=ids), model
    from torch.distributed.fsdp import fully_shard

    for block in model.blocks:  # one FSDP unit per transformer block, the root holds embeddings and head
        fully_shard(block)
    fully_shard(model)
    return model, model


def no_sync(wrapped, parallel: str, enabled: bool):
    """Skip the gradient all-reduce for all but the last chunk of a step (gradient accumulation)."""
    if not enabled:
        return contextlib.nullcontext()
    if isinstance(wrapped, DistributedDataParallel):
        return wrapped.no_sync()
    if hasattr(wrapped, "set_requires_gradient_sync"):
        return _FsdpNoSync(wrapped)
    return contextlib.nullcontext()


class _FsdpNoSync:
    def __init__(self, module):
        self.module = module

    def __enter__(self):
        self.module.set_requires_gradient_sync(False)

    def __exit__(self, *exc):
        self.module.set_requires_gradient_sync(True)
        return False


def clip_grad_norm(core: torch.nn.Module, max_norm: float) -> float:
    """Clip to ``max_norm`` and return the total norm before clipping (full norm for sharded grads)."""
    norm = torch.nn.utils.clip_grad_norm_(core.parameters(), max_norm)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)
