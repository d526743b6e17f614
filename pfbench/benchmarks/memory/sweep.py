"""Peak memory of one training step at a variant's largest layout, swept over clip length and resolution.

What decides whether a clip fits is the forward + backward (batch 1) of the largest sequence a variant ever
builds: the whole clip at full resolution for ``full_sequence`` / ``spatial_pyramid`` (stage 0), and the last
frame at stage 0 for the autoregressive variants (compressed history for ``pyramid_ar`` and
``pyramid_ar_bidirectional``, full-resolution history for ``ar_full_history``). Each size is built through the
public API, ``reference_model.variants.training_loss(..., stages=[0], frames=[T - 1])``; no optimizer runs
(its state does not depend on the clip). Parameter gradients are part of the step and are counted.

Two sweeps per variant, each a search for the out-of-memory frontier over an ascending ladder of sizes
(``pfbench.benchmarks.memory.frontier.search_frontier``: grow toward the budget, then bisect to the exact frontier):
  * ``frames_sweep``: latent frames 1, 2, 3, ... up to ``preset.memory_max_frames`` at the preset's H x W;
  * ``resolution_sweep``: H and W times 1, 1.5, 2, 3, 4 (rounded to the pyramid's multiple) at T = preset.frames.
Each sweep has a time budget: a size predicted (largest fitting step time x token ratio squared, an upper bound
for attention) to overrun it is not measured, and when nothing more fits the time the search ends with a
"skipped" point and the largest size that fitted is a lower bound (``bound`` "lower"): a time cap, not a failure.

CPU (backend ``child_peak_rss``): one child process per variant runs both ladders
(``pfbench.measure.child_rss.peak_rss_in_child``, forked from a server that imported torch once, with a relative
RLIMIT_AS budget, so running out raises MemoryError / "can't allocate memory" inside the child instead of
swapping). Before each size the child resets its RSS high-water mark (``/proc/self/clear_refs`` = 5,
Linux >= 4.0) after handing freed heap memory back to the OS (glibc ``malloc_trim``), and reads ``VmHWM`` after the
step, so each number is that size's own peak even after a larger size, the other sweep or a caught out-of-memory
(the same size read the same within ~2% either way). Where the reset is refused the
numbers are the running maximum over the sizes so far (ascending sizes: the same thing while memory grows), and
each point says so. Two numbers per size, named apart:
  * ``peak_rss_bytes``: the child's absolute peak RSS (interpreter, torch, model and the step);
  * ``increase_bytes``: that peak minus the child's RSS just before the step (after the collection and trim), the
    step's own footprint. One-time state of the warm-up step (library pages it touched, allocator pools) is not
    counted: it differs between a spawned child and one forked from a server that imported torch (15 against 23 MiB
    at the smoke preset), while the steps' own increases agree within ~0.2 MiB.
The budget caps the address space the target (model creation included) may add over the child's size after
imports; address space is a little larger than RSS, so the budget is reached slightly before RSS would reach it.
The child writes a progress line before and after each size to a file, so if it dies (kernel OOM killer,
crash, timeout) the finished sizes still become rows and the size in flight gets the child's status.

CUDA (backends ``cuda_max_allocated`` / ``cuda_max_reserved`` / ``nvml_device_used``): in-process with
``track_memory`` (empty_cache + reset_peak_memory_stats per size) and ``run_catching_oom``; the budget is the
device's capacity and an out-of-memory is ``torch.cuda.OutOfMemoryError``. ``increase_bytes`` is max allocated
minus the allocated bytes after the model was moved to the device.

The child target must be importable by name (it is pickled by reference), hence this module.
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import tempfile
import time
from collections.abc import Iterable

import torch

from pfbench.benchmarks.memory.frontier import search_frontier
from pfbench.benchmarks.memory.ladders import sweep_points
from pfbench.core.config import Preset
from pfbench.measure.child_rss import (
    MemoryResult,
    is_oom_error,
    peak_rss_in_child,
    proc_status_bytes,
    reset_peak_rss,
    self_peak_rss_bytes,
)
from pfbench.measure.hardware import autocast
from pfbench.measure.memory import run_catching_oom, track_memory


# --------------------------------------------------------------------------------------------------- one step
def training_step(variant: str, model, preset: Preset, point: dict, *, device: str = "cpu",
                  dtype: torch.dtype = torch.float32, seed: int = 0) -> float:
    """Forward + backward (batch 1) at the variant's largest layout for this size; gradients are then dropped."""
    from reference_model.variants import training_loss

    gen = torch.Generator(device=device).manual_seed(seed)
    x1 = torch.randn((1, preset.channels, point["frames"], point["height"], point["width"]), generator=gen,
                     device=device)  # (1, C, T, H, W)
    try:
        with autocast(device, dtype):
            loss = training_loss(variant, model, x1, generator=gen, num_stages=preset.stages,
                                 stage_mix=preset.stage_mix, stages=torch.tensor([0]),
                                 frames=torch.tensor([point["frames"] - 1]))
        loss.backward()
        return float(loss.detach())
    finally:
        model.zero_grad(set_to_none=True)


# --------------------------------------------------------------------------------------------------- CPU child
# imported once in the children's fork server, not in each child (torch alone is ~2.5 s of a child's start)
CHILD_PRELOAD = ("torch", "pfbench.benchmarks.memory.sweep", "pfbench.train.loop", "reference_model.variants")


def _malloc_trim() -> bool:
    """Give the C heap's free memory back to the OS (glibc malloc_trim); False where unavailable.

    Without it, memory freed by a large step stays resident and the next (smaller) size's peak starts from there:
    measured here, a T=8 step read 928 MiB after a T=16 step and 906 MiB in a fresh ladder; with the trim both
    read the same within 2%.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def sweep_variant_in_child(variant: str, preset: Preset, sweeps: list[list[dict]], seed: int = 0,
                           progress_path: str | None = None, time_limit_s: float | None = None,
                           num_threads: int | None = 1, budget_bytes: int | None = None) -> dict:
    """Child target: build the model, one unrecorded warm-up step at the smallest size (one-time runtime set-up
    would otherwise spoil the first step's time, which the time limit extrapolates from), then each ascending
    sweep with per-size peak RSS.

    Returns {baseline_rss_bytes (RSS after model creation), import_rss_bytes, hwm_reset, points: [...]}; an
    out-of-memory at a size is a point with status "oom" and ends that sweep only.
    """
    from pfbench.train.loop import model_for_preset

    progress = open(progress_path, "a", encoding="utf-8") if progress_path else None

    def log(event: dict) -> None:
        if progress:
            progress.write(json.dumps(event) + "\n")
            progress.flush()

    if num_threads:
        torch.set_num_threads(num_threads)
    import_rss = proc_status_bytes("VmRSS")
    torch.manual_seed(seed)
    model = model_for_preset(preset).train()
    gc.collect()
    gc.freeze()  # what exists now stays: each point's gc.collect then scans only its own garbage (~0.17 s -> ms)
    baseline = proc_status_bytes("VmRSS") or 0
    log({"event": "baseline", "baseline_rss_bytes": baseline})
    hwm_reset = reset_peak_rss()
    smallest = [s[0] for s in sweeps if s]
    if smallest:
        try:
            training_step(variant, model, preset, min(smallest, key=lambda p: p["tokens"]), seed=seed)
        except (MemoryError, RuntimeError) as error:
            if not is_oom_error(error):
                raise  # a real failure: the first sweep point would hit it too

    def measure(point: dict) -> dict:
        gc.collect()
        _malloc_trim()
        rss_before = proc_status_bytes("VmRSS")
        reset = reset_peak_rss()
        message = ""
        t0 = time.perf_counter()
        try:
            training_step(variant, model, preset, point, seed=seed)
            status = "ok"
        except (MemoryError, RuntimeError) as error:
            if not is_oom_error(error):
                raise
            status, message = "oom", f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        step_s = time.perf_counter() - t0
        gc.collect()
        peak = self_peak_rss_bytes()  # no /proc: the lifetime peak, the weakest fallback
        return dict(status=status, message=message, peak_rss_bytes=peak, increase_bytes=peak - (rss_before or 0),
                    hwm_reset=reset, rss_before_bytes=rss_before, step_s=step_s)

    points = []
    try:
        for sweep in sweeps:
            points += search_frontier(sweep, measure, budget_bytes=budget_bytes, time_limit_s=time_limit_s,
                                      log=log)
    finally:
        if progress:
            progress.close()
    return dict(baseline_rss_bytes=baseline, import_rss_bytes=import_rss, hwm_reset=hwm_reset, points=points)


def _points_from_progress(path: str, child: MemoryResult) -> tuple[list[dict], int | None]:
    """Rebuild points from the progress file of a child that did not return; the size in flight gets its status."""
    points, baseline, pending = [], None, None
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the child's death
        kind = event.pop("event", None)
        if kind == "baseline":
            baseline = event["baseline_rss_bytes"]
        elif kind == "start":
            pending = event
        elif kind == "done":
            points.append(event)
            pending = None
    if pending is not None:
        points.append({**pending, "status": child.status if child.status in ("oom", "error") else "error",
                       "message": f"child {child.status}: {child.message[-500:]}", "step_s": None})
    return points, baseline


def measure_variant_cpu(variant: str, preset: Preset, *, budget_bytes: int, seed: int = 0,
                        time_limit_s: float | None = None, timeout_s: float = 600.0, num_threads: int | None = 1,
                        sweeps: Iterable[str] = ("frames_sweep", "resolution_sweep")) -> dict:
    """Both ladders of one variant in one child process under an address-space budget.

    ``num_threads`` sets the child's torch intra-op threads (None: torch's default). One thread is the default:
    memory does not depend on it beyond per-thread scratch, and on a CPU shared with other work two OpenMP
    threads made small steps up to ~70x slower here (0.5 s instead of 7 ms for a 64-token step).
    Returns {points, baseline_rss_bytes, hwm_reset, child_status, child_message, child_wall_s}.
    """
    ladders = [sweep_points(variant, preset, s) for s in sweeps]
    fd, progress_path = tempfile.mkstemp(prefix=f"pfbench-memory-{variant}-", suffix=".jsonl")
    os.close(fd)
    try:
        child = peak_rss_in_child(sweep_variant_in_child, variant, preset, ladders, seed, progress_path,
                                  time_limit_s, num_threads, budget_bytes, budget_bytes=budget_bytes,
                                  timeout_s=timeout_s, preload=CHILD_PRELOAD)
        if child.status == "ok":
            out = child.result
            points, baseline, hwm_reset = out["points"], out["baseline_rss_bytes"], out["hwm_reset"]
        else:
            points, baseline = _points_from_progress(progress_path, child)
            hwm_reset = all(p.get("hwm_reset", False) for p in points if p["status"] == "ok")
    finally:
        with contextlib.suppress(OSError):
            os.unlink(progress_path)
    return dict(points=points, baseline_rss_bytes=baseline, hwm_reset=hwm_reset, child_status=child.status,
                child_message=child.message, child_wall_s=child.wall_s)


# --------------------------------------------------------------------------------------------------- CUDA
def measure_variant_cuda(variant: str, model, preset: Preset, *, device: str, dtype: torch.dtype, seed: int = 0,
                         time_limit_s: float | None = None, budget_bytes: int | None = None,
                         sweeps: Iterable[str] = ("frames_sweep", "resolution_sweep")) -> dict:
    """Both ladders in this process on a CUDA device: allocator peaks per size, OOM caught and freed."""
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        raise RuntimeError(f"measure_variant_cuda needs an available CUDA device, got {device!r}")
    dev = torch.device(device)
    model.zero_grad(set_to_none=True)
    gc.collect()
    torch.cuda.synchronize(dev)
    torch.cuda.empty_cache()
    baseline = torch.cuda.memory_allocated(dev)

    def measure(point: dict) -> dict:
        with track_memory(dev) as tracker:
            caught = run_catching_oom(lambda: training_step(variant, model, preset, point, device=device,
                                                            dtype=dtype, seed=seed))
        stats = tracker.result
        model.zero_grad(set_to_none=True)
        return dict(status="oom" if caught.oom else "ok", message=caught.message.splitlines()[0][:300]
                    if caught.message else "", max_allocated_bytes=stats.max_allocated_bytes,
                    max_reserved_bytes=stats.max_reserved_bytes, nvml_device_used_bytes=stats.nvml_device_used_bytes,
                    peak_rss_bytes=None,
                    increase_bytes=(stats.max_allocated_bytes - baseline) if stats.max_allocated_bytes is not None
                    else None)

    points = []
    for sweep in sweeps:
        points += search_frontier(sweep_points(variant, preset, sweep), measure, budget_bytes=budget_bytes,
                                  time_limit_s=time_limit_s)
    return dict(points=points, baseline_allocated_bytes=baseline)








