"""Device-correct measurement: peak memory, out-of-memory as a result, counted FLOPs, MFU.

Timing lives in pfbench.timing and energy in pfbench.energy; both are re-exported here so one import serves a
suite. Peak memory on CUDA comes from the allocator's statistics (reset per measurement); on CPU from the
process's VmHWM or a child process's peak RSS under an address-space budget.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import resource
import signal
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

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


def proc_status_bytes(field: str) -> int | None:
    """A 'Vm*' field of /proc/self/status in bytes (Linux), None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (VmHWM := VmRSS, Linux >= 4.0 ``/proc/self/clear_refs`` = 5), so
    the next ``self_peak_rss_bytes`` is the peak since now; False where the kernel refuses or /proc is absent."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return proc_status_bytes("VmHWM") is not None
    except OSError:
        return False


def self_peak_rss_bytes() -> int:
    """This process's own peak RSS (VmHWM; since the last ``reset_peak_rss`` where that succeeded).

    VmHWM belongs to the address space, which exec replaces, so a spawned child starts from its own
    footprint. getrusage's ru_maxrss survives fork + exec: a child started by a large parent would report
    the parent's peak, so it is only the fallback where /proc is absent.
    """
    hwm = proc_status_bytes("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # ru_maxrss is KiB on Linux


def _vm_size_bytes() -> int:
    size = proc_status_bytes("VmSize")
    if size is None:
        raise OSError("VmSize not found in /proc/self/status")
    return size


@dataclass(frozen=True)
class MemoryResult:
    """Outcome of `peak_rss_in_child`: status "ok" | "oom" | "error" | "timeout", the child's return value if ok."""

    status: str
    result: Any
    message: str
    peak_rss_bytes: int | None        # child's peak RSS over its whole life (interpreter + imports + target)
    baseline_rss_bytes: int | None    # child's peak RSS just before the target ran (after imports)
    budget_bytes: int | None
    exitcode: int | None
    wall_s: float

    @property
    def target_rss_bytes(self) -> int | None:
        """Peak RSS the target added on top of the child's start-up footprint."""
        if self.peak_rss_bytes is None or self.baseline_rss_bytes is None:
            return None
        return self.peak_rss_bytes - self.baseline_rss_bytes


def is_oom_error(error: BaseException) -> bool:
    """MemoryError, torch.cuda.OutOfMemoryError, or a RuntimeError saying CUDA/CPU ran out of memory (including a
    C++ std::bad_alloc surfacing through torch under an address-space limit)."""
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                                or "bad_alloc" in text)


def _child_main(conn, target, args, kwargs, budget_bytes) -> None:
    """Runs in the spawned child: optional address-space budget, the target, then (status, payload, rss) back."""
    try:
        if budget_bytes is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = _vm_size_bytes() + budget_bytes
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        baseline = self_peak_rss_bytes()
        try:
            status, payload = "ok", target(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - everything becomes a result row
            status = "oom" if is_oom_error(error) else "error"
            payload = f"{type(error).__name__}: {error}" if status == "oom" else traceback.format_exc()
        peak = self_peak_rss_bytes()
        try:
            conn.send((status, payload, peak, baseline))
        except Exception as error:  # unpicklable result
            conn.send(("error", f"could not send the result back: {error!r}", peak, baseline))
    finally:
        conn.close()


def peak_rss_in_child(target: Callable[..., Any], *args, budget_bytes: int | None = None,
                      timeout_s: float | None = 600.0, **kwargs) -> MemoryResult:
    """Run picklable top-level `target(*args, **kwargs)` in a fresh 'spawn' process and read its peak RSS.

    `budget_bytes` caps the address space the target may ADD (RLIMIT_AS = the child's mapped size after imports +
    budget): exceeding it raises MemoryError / "can't allocate memory" in the child, reported as status "oom",
    instead of pushing the machine into swap or the OOM killer. RLIMIT_AS counts virtual memory (thread stacks,
    malloc arenas), so a budget is an upper bound on what the target may touch, not an RSS limit.
    A child killed by SIGKILL (the kernel OOM killer) is also "oom"; other signals and exceptions are "error".
    `budget_bytes` and `timeout_s` are reserved keyword names (not passed to `target`).
    """
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child_conn, target, args, kwargs, budget_bytes))
    t0 = time.perf_counter()
    proc.start()
    child_conn.close()
    message = None
    try:
        ready = multiprocessing.connection.wait([parent_conn, proc.sentinel], timeout=timeout_s)
        if ready and parent_conn.poll():  # data, or EOF when the child died without sending
            message = parent_conn.recv()
    except EOFError:
        message = None
    finally:
        parent_conn.close()
    proc.join(timeout_s if ready else 0)  # a sent result is followed by a prompt exit
    if proc.is_alive():
        proc.kill()
        proc.join()
        return MemoryResult("timeout", None, f"child still running after {timeout_s} s; killed", None, None,
                            budget_bytes, proc.exitcode, time.perf_counter() - t0)
    wall_s = time.perf_counter() - t0
    if message is not None:
        status, payload, peak, baseline = message
        result, text = (payload, "") if status == "ok" else (None, payload)
        return MemoryResult(status, result, text, peak, baseline, budget_bytes, proc.exitcode, wall_s)
    code = proc.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        status = "oom" if -code == signal.SIGKILL else "error"
        return MemoryResult(status, None, f"child killed by {name} (SIGKILL usually means the kernel OOM killer)",
                            None, None, budget_bytes, code, wall_s)
    return MemoryResult("error", None, f"child exited with code {code} without a result", None, None,
                        budget_bytes, code, wall_s)


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
