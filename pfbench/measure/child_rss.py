"""Peak memory of a function run in a fresh process, and the process-memory readers it uses (Linux /proc).

Torch-free on purpose: a spawned child imports only this module and its target's, so a measurement of NumPy/OpenCV
work (the VBench-style dimensions' speed rows) does not pay ~3 s of torch start-up per child. Children of torch work
(the memory ladders) name torch in ``preload``: they are forked from a server that imported it once (multiprocessing's
'forkserver', Linux), ~0.1 s a child instead of ~2.5 s.
"""
from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.connection
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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

    VmHWM belongs to the address space: exec replaces it and fork starts the copy's mark at its RSS at the fork
    (checked: a parent that peaked at 528 MiB forked a child reading 19 MiB), so a child starts from its own
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
    torch = sys.modules.get("torch")  # an OOM of torch's kind exists only where torch is loaded
    if isinstance(error, MemoryError) or (torch is not None and isinstance(error, torch.cuda.OutOfMemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text
                                                or "bad_alloc" in text)


def _child_main(conn, target, args, kwargs, budget_bytes) -> None:
    """Runs in the child: optional address-space budget, the target, then (status, payload, rss) back."""
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


def child_context(preload: tuple[str, ...] = ()) -> multiprocessing.context.BaseContext:
    """'spawn' (a fresh interpreter), or with ``preload`` where the platform has it 'forkserver' with those modules
    imported once in the server: a forked child starts with their pages (its VmHWM starts at its RSS at the fork,
    as a spawned child's does after the same imports) and the server has run nothing else, so no CUDA state is
    inherited; keep modules that start threads at import (pandas: pyarrow's allocator) out of ``preload``. One
    server serves the process (the memory ladders' children, `pfbench run`'s suites): the first preloading call
    sets its list, and it is stopped and reaped at exit (``stop_fork_server``)."""
    if preload and "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        atexit.unregister(stop_fork_server)
        atexit.register(stop_fork_server)
        return ctx
    return multiprocessing.get_context("spawn")


def stop_fork_server() -> None:
    """Stop this process's fork server and wait for it (at exit): the CPU time of the children it forked reaches
    this process only when it is reaped here. Left to end by itself it would be orphaned, and a machine window
    around this process (the runner's, per suite) would count that time as another process's."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_pid", None) is not None and hasattr(server, "_stop"):
        server._stop()


def peak_rss_in_child(target: Callable[..., Any], *args, budget_bytes: int | None = None,
                      timeout_s: float | None = 600.0, preload: tuple[str, ...] = (), **kwargs) -> MemoryResult:
    """Run picklable top-level `target(*args, **kwargs)` in a fresh process (`child_context`) and read its peak RSS.

    `budget_bytes` caps the address space the target may ADD (RLIMIT_AS = the child's mapped size after imports +
    budget): exceeding it raises MemoryError / "can't allocate memory" in the child, reported as status "oom",
    instead of pushing the machine into swap or the OOM killer. RLIMIT_AS counts virtual memory (thread stacks,
    malloc arenas), so a budget is an upper bound on what the target may touch, not an RSS limit.
    A child killed by SIGKILL (the kernel OOM killer) is also "oom"; other signals and exceptions are "error".
    `budget_bytes`, `timeout_s` and `preload` are reserved keyword names (not passed to `target`).
    """
    ctx = child_context(preload)
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
