"""Counted FLOPs (torch's FlopCounterMode, with the CPU attention kernels counted too) and the achieved FLOP/s and
MFU they give against a device's peak.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

# --------------------------------------------------------------------------------------------------- FLOPs

aten = torch.ops.aten


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, dropout_p, is_causal, *, attn_mask,
    scale): same formula as torch's sdpa_flop (QK^T + PV, the full Lq x Lk; masks and causality ignored)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None,
                            **kwargs) -> int:
    """aten._scaled_dot_product_flash_attention_for_cpu_backward(grad_out, query, key, value, out, logsumexp, ...):
    same formula as torch's sdpa_backward_flop (5 matmuls: recomputed QK^T, dP, dV, dQ, dK)."""
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch registers FLOP formulas only for the CUDA SDPA kernels; on CPU, F.scaled_dot_product_attention runs
# this op (with or without attn_mask / is_causal) and FlopCounterMode would count it as 0.
CPU_SDPA_FLOP_FORMULAS: dict[Any, Callable[..., int]] = {
    getattr(aten, name): formula
    for name, formula in [("_scaled_dot_product_flash_attention_for_cpu", _cpu_sdpa_flop),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_sdpa_backward_flop)]
    if hasattr(aten, name)
}


def flop_counter(**kwargs) -> FlopCounterMode:
    """A FlopCounterMode (display off) that also counts CPU SDPA; use as `with flop_counter() as fc: ...`."""
    mapping = {**CPU_SDPA_FLOP_FORMULAS, **kwargs.pop("custom_mapping", {})}
    return FlopCounterMode(display=kwargs.pop("display", False), custom_mapping=mapping, **kwargs)


@dataclass(frozen=True)
class FlopCount:
    """FLOPs counted by FlopCounterMode (1 MAC = 2 FLOPs; matmul/conv/attention only, elementwise ops are 0)."""

    total_flops: int
    by_operator: dict[str, int] = field(default_factory=dict)


def count_flops(fn: Callable[..., Any], *args, **kwargs) -> FlopCount:
    """Run `fn(*args, **kwargs)` under FlopCounterMode (with CPU SDPA registered) and return the counts.

    What torch counts: a forward SDPA is 2 matmuls = 4*B*H*Lq*Lk*D over the FULL Lq x Lk, whatever attn_mask or
    is_causal allows; its backward is 5 matmuls (QK^T recomputed) = 2.5x the forward. A Linear's backward is 2x its
    forward (grad input + grad weight), or 1x when the input does not require grad.
    """
    with flop_counter() as counter:
        fn(*args, **kwargs)
    by_operator = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return FlopCount(total_flops=int(counter.get_total_flops()), by_operator=by_operator)


# --------------------------------------------------------------------------------------------------- MFU


def achieved_flops_per_s(flops: float, seconds: float) -> float:
    """FLOPs divided by seconds."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return flops / seconds


def mfu(flops: float, seconds: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilisation = flops / (seconds * peak FLOP/s); None when the peak is unknown (e.g. CPU)."""
    if not peak_flops:
        return None
    return achieved_flops_per_s(flops, seconds) / peak_flops
