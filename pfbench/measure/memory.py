"""Peak memory and out-of-memory as a result: on CUDA from the allocator's statistics (reset per measurement), on
the CPU from the process's VmHWM or a child process's peak RSS under an address-space budget.
"""
from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from pfbench.measure.child_rss import is_oom_error, self_peak_rss_bytes
from pfbench.measure.energy import nvml_index

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
