"""Device-correct measurement: peak memory, out-of-memory as a result, counted FLOPs, MFU.

Timing lives in pfbench.timing and energy in pfbench.energy; both are re-exported here so one import serves a
suite. Peak memory on CUDA comes from the allocator's statistics (reset per measurement); on CPU from the
process's VmHWM or a child process's peak RSS under an address-space budget.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from pfbench.child_rss import (MemoryResult, _child_main, _vm_size_bytes, is_oom_error,  # noqa: F401
                               peak_rss_in_child, proc_status_bytes, reset_peak_rss, self_peak_rss_bytes)
from pfbench.energy import EnergyMeter, EnergyResult, nvml_index  # noqa: F401  (re-exported)
from pfbench.timing import (CpuOps, CudaOps, DeviceEvent, DeviceOps, Stats, Timing, device_ops,  # noqa: F401
                            synchronized, synchronizer, time_fn)  # (re-exported)

__all__ = [
    "DeviceEvent", "DeviceOps", "CpuOps", "CudaOps", "device_ops", "synchronizer", "synchronized",
    "Stats", "Timing", "time_fn",
    "MemoryStats", "MemoryTracker", "track_memory", "MemoryResult", "peak_rss_in_child",
    "OomCaught", "run_catching_oom", "is_oom_error", "reset_peak_rss", "self_peak_rss_bytes", "proc_status_bytes",
    "EnergyResult", "EnergyMeter", "nvml_index",
    "FlopCount", "CPU_SDPA_FLOP_FORMULAS", "flop_counter", "count_flops",
    "achieved_flops_per_s", "mfu",
]

GIB = 2**30

# --------------------------------------------------------------------------------------------------- memory


@dataclass(frozen=True)
class MemoryStats:
    """Peak memory over a window. Which counter a number is matters (see field comments)."""

    device: str
    max_allocated_bytes: int | None        # CUDA: peak bytes held by tensors (torch caching allocator)
    max_reserved_bytes: int | None         # CUDA: peak bytes the allocator reserved from the driver
    nvml_device_used_bytes: int | None     # NVML at window end: WHOLE device, ALL processes, CUDA context included
    process_max_rss_bytes: int | None      # CPU: this process's lifetime peak RSS (never reset: use peak_rss_in_child)


class MemoryTracker:
    """Holder filled when the `track_memory` block exits: `tracker.result` is a MemoryStats."""

    def __init__(self, device: torch.device):
        self.device = device
        self.result: MemoryStats | None = None


def _nvml_used_bytes(device: torch.device) -> int | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index(device))
            return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return None


@contextmanager
def track_memory(device: torch.device | str):
    """Measure peak memory of the block. CUDA: empty_cache + reset_peak_memory_stats first, then the allocator peaks.

    CPU: only the process's lifetime peak RSS is available in-process; use `peak_rss_in_child` for an honest number.
    """
    device = torch.device(device)
    tracker = MemoryTracker(device)
    cuda = device.type == "cuda" and torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield tracker
    finally:
        if cuda:
            torch.cuda.synchronize(device)
            tracker.result = MemoryStats(
                device=str(device), max_allocated_bytes=torch.cuda.max_memory_allocated(device),
                max_reserved_bytes=torch.cuda.max_memory_reserved(device),
                nvml_device_used_bytes=_nvml_used_bytes(device), process_max_rss_bytes=None)
        else:
            tracker.result = MemoryStats(device=str(device), max_allocated_bytes=None, max_reserved_bytes=None,
                                         nvml_device_used_bytes=None, process_max_rss_bytes=self_peak_rss_bytes())


# --------------------------------------------------------------------------------------------------- OOM as result


class OomCaught(NamedTuple):
    """(result or None, oom, message): an out-of-memory is a result row, not a crash."""

    result: Any
    oom: bool
    message: str


def run_catching_oom(fn: Callable[[], Any]) -> OomCaught:
    """Call `fn()`; on CUDA/CPU out-of-memory return (None, True, message) after freeing memory. Other errors raise.

    The exception (and the frames holding its tensors) is dropped before gc.collect + empty_cache, so the memory
    really comes back for the next configuration of a sweep.
    """
    message = None
    try:
        return OomCaught(fn(), False, "")
    except (MemoryError, RuntimeError) as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_oom_error(error):
            raise
        message = f"{type(error).__name__}: {error}"
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return OomCaught(None, True, message)


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
