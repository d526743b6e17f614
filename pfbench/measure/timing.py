"""Device-correct timing: sync points, robust statistics of repeated timings, and ``time_fn``.

GPU work is asynchronous: a host clock read right after a call measures the kernel *launches*. Every timer here
waits for queued device work (`DeviceOps.synchronize`) before each host clock read, and records device events
around each repeat for device time. The sync points are a small protocol, so tests can use a fake device.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

# --------------------------------------------------------------------------------------------------- sync points


class DeviceEvent(Protocol):
    """A marker in the device's work queue (torch.cuda.Event's interface)."""

    def record(self) -> None: ...
    def elapsed_time(self, end: DeviceEvent) -> float: ...  # milliseconds from self to end


class DeviceOps(Protocol):
    """What a timer needs from a device: wait for queued work, and (optionally) timing events."""

    def synchronize(self) -> None: ...
    def event(self) -> DeviceEvent | None: ...  # None: the device has no event timer (CPU)


class CpuOps:
    """CPU work is synchronous: nothing to wait for, no device clock."""

    def synchronize(self) -> None:
        pass

    def event(self) -> None:
        return None


class _CudaEvent:
    def __init__(self, device: torch.device):
        self.device = device
        self.cuda_event = torch.cuda.Event(enable_timing=True)

    def record(self) -> None:
        self.cuda_event.record(torch.cuda.current_stream(self.device))

    def elapsed_time(self, end: _CudaEvent) -> float:
        return self.cuda_event.elapsed_time(end.cuda_event)


class CudaOps:
    """torch.cuda.synchronize(device) and CUDA events on the device's current stream."""

    def __init__(self, device: torch.device | str = "cuda"):
        self.device = torch.device(device)

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def event(self) -> _CudaEvent:
        return _CudaEvent(self.device)


def device_ops(device: torch.device | str) -> DeviceOps:
    """CudaOps for a CUDA device (when CUDA is available), CpuOps otherwise."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return CudaOps(device)
    return CpuOps()


def synchronizer(device: torch.device | str) -> Callable[[], None]:
    """A callable that waits for the device's queued work (a no-op on CPU)."""
    return device_ops(device).synchronize


def synchronized(fn: Callable[..., Any], device: torch.device | str = "cpu", *,
                 ops: DeviceOps | None = None) -> Callable[..., Any]:
    """Wrap `fn` so it waits for the device before returning.

    pytest-benchmark reads its host timer only at the start and end of a round, so
    `benchmark.pedantic(synchronized(step, device), ...)` makes each round cover the device work, not just launches.
    """
    sync = (ops or device_ops(device)).synchronize
    slowdown = slowdown_test_hook()

    def wrapped(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        sync()
        if slowdown > 1:  # busy-wait, as slower code would: a sleep lets the CPU idle and clock up
            end = time.perf_counter() + (slowdown - 1) * (time.perf_counter() - start)
            while time.perf_counter() < end:
                pass
        return out

    return wrapped


TEST_HOOK_SLOWDOWN_ENV = "PFBENCH_TEST_HOOK_SLOWDOWN"


def slowdown_test_hook(environ=None) -> float:
    """TEST HOOK, set only by tests/test_compare_gate.py: ``$PFBENCH_TEST_HOOK_SLOWDOWN=F`` makes every call that
    :func:`synchronized` wraps (each timed step) busy-wait until it took F times as long, so a test can plant a
    genuine slowdown and check that `pfbench compare` catches it. 1 (unset) in any real run."""
    raw = (os.environ if environ is None else environ).get(TEST_HOOK_SLOWDOWN_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = float("nan")
    if not 1 <= factor < 100:
        raise ValueError(f"{TEST_HOOK_SLOWDOWN_ENV}={raw!r}: a test hook's slowdown factor between 1 and 100, e.g. 2; "
                         f"unset it outside tests")
    return factor


# --------------------------------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Stats:
    """Summary of per-repeat seconds (stdev and IQR are 0 for a single sample)."""

    n: int
    median_s: float
    mean_s: float
    stdev_s: float
    iqr_s: float
    min_s: float
    max_s: float

    @classmethod
    def of(cls, samples_s: tuple[float, ...]) -> Stats:
        if not samples_s:
            raise ValueError("Stats need at least one sample")
        many = len(samples_s) > 1
        if many:
            q1, _, q3 = statistics.quantiles(samples_s, n=4, method="inclusive")
        return cls(n=len(samples_s), median_s=statistics.median(samples_s), mean_s=statistics.fmean(samples_s),
                   stdev_s=statistics.stdev(samples_s) if many else 0.0, iqr_s=(q3 - q1) if many else 0.0,
                   min_s=min(samples_s), max_s=max(samples_s))


@dataclass(frozen=True)
class Timing:
    """Per-repeat host wall seconds (device synced) and device-event seconds (None without device events)."""

    wall_s: tuple[float, ...]
    device_s: tuple[float, ...] | None
    warmup: int

    @property
    def wall(self) -> Stats:
        return Stats.of(self.wall_s)

    @property
    def device(self) -> Stats | None:
        return Stats.of(self.device_s) if self.device_s is not None else None

    @property
    def median_s(self) -> float:
        """Median wall seconds: what a user waits, the number MFU is computed from."""
        return self.wall.median_s


def time_fn(fn: Callable[[], Any], *, device: torch.device | str = "cpu", warmup: int = 3, repeats: int = 10,
            ops: DeviceOps | None = None) -> Timing:
    """Time `fn()` `repeats` times after `warmup` untimed calls, syncing the device before each clock read.

    `ops` overrides the device's sync points (tests pass a fake device).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    ops = ops or device_ops(device)
    for _ in range(warmup):
        fn()
    wall_s, device_s = [], []
    for _ in range(repeats):
        start, end = ops.event(), ops.event()
        ops.synchronize()
        t0 = time.perf_counter()
        if start is not None:
            start.record()
        fn()
        if end is not None:
            end.record()
        ops.synchronize()
        wall_s.append(time.perf_counter() - t0)
        if start is not None and end is not None:
            device_s.append(start.elapsed_time(end) / 1e3)
    return Timing(wall_s=tuple(wall_s), device_s=tuple(device_s) if device_s else None, warmup=warmup)
