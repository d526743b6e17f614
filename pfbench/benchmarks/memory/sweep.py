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

CPU (backend ``child_peak_rss``): one spawned child per variant runs both ladders
(``pfbench.measure.child_rss.peak_rss_in_child`` with a relative RLIMIT_AS budget, so running out raises MemoryError /
"can't allocate memory" inside the child instead of swapping). Before each size the child resets its RSS
high-water mark (``/proc/self/clear_refs`` = 5, Linux >= 4.0) after handing freed heap memory back to the OS
(glibc ``malloc_trim``), and reads ``VmHWM`` after the step, so each number is that size's own peak even after a
larger size, the other sweep or a caught out-of-memory (the same size read the same within ~2% either way). Where the reset is refused the
numbers are the running maximum over the sizes so far (ascending sizes: the same thing while memory grows), and
each point says so. Two numbers per size, named apart:
  * ``peak_rss_bytes``: the child's absolute peak RSS (interpreter, torch, model and the step);
  * ``increase_bytes``: that peak minus the child's RSS right after model creation (the step's own footprint).
The budget caps the address space the target (model creation included) may add over the child's size after
imports; address space is a little larger than RSS, so the budget is reached slightly before RSS would reach it.
The child writes a progress line before and after each size to a file, so if it dies (kernel OOM killer,
crash, timeout) the finished sizes still become rows and the size in flight gets the child's status.

CUDA (backends ``cuda_max_allocated`` / ``cuda_max_reserved`` / ``nvml_device_used``): in-process with
``track_memory`` (empty_cache + reset_peak_memory_stats per size) and ``run_catching_oom``; the budget is the
device's capacity and an out-of-memory is ``torch.cuda.OutOfMemoryError``. ``increase_bytes`` is max allocated
minus the allocated bytes after the model was moved to the device.

The child target must be importable by name ('spawn' pickles it by reference), hence this module.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable

import torch

from pfbench.benchmarks.memory.frontier import frontier_summary, search_frontier
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

__all__ = [
    "RESOLUTION_MULTIPLIERS", "frame_ladder", "resolution_ladder", "largest_layout_tokens", "sweep_points",
    "training_step", "sweep_variant_in_child", "measure_variant_cpu", "measure_variant_cuda",
    "points_to_rows", "fit_rows", "per_frame_bytes",
]

RESOLUTION_MULTIPLIERS = (1.0, 1.5, 2.0, 3.0, 4.0)
SWEEP_X = {"frames_sweep": "latent_frames", "resolution_sweep": "tokens_per_frame"}
FIT_METRIC = {"frames_sweep": ("max_frames_fit", "frames"), "resolution_sweep": ("max_tokens_per_frame_fit", "tokens")}


# --------------------------------------------------------------------------------------------------- ladders
def frame_ladder(max_frames: int) -> list[int]:
    """1, 2, 3, ... ``max_frames``: every clip length (the frontier search measures only a few of them)."""
    if max_frames < 1:
        raise ValueError(f"memory_max_frames must be >= 1, got {max_frames}")
    return list(range(1, max_frames + 1))


def resolution_ladder(height: int, width: int, align: int,
                      multipliers: Iterable[float] = RESOLUTION_MULTIPLIERS) -> list[tuple[int, int]]:
    """(H, W) scaled by each multiplier, rounded to a multiple of ``align`` (patch_size * 2**(stages - 1)),
    ascending and without repeats."""
    sizes: list[tuple[int, int]] = []
    for m in multipliers:
        h = max(align, int(round(height * m / align)) * align)
        w = max(align, int(round(width * m / align)) * align)
        if not sizes or (h * w > sizes[-1][0] * sizes[-1][1]):
            sizes.append((h, w))
    return sizes


def largest_layout_tokens(variant: str, frames: int, height: int, width: int, patch_size: int,
                          num_stages: int) -> int:
    """Tokens in the variant's largest training layout (the one a step is measured at)."""
    from reference_model.layout import clip_layout
    from reference_model.temporal import ar_layout
    from reference_model.variants import get_variant

    v = get_variant(variant)
    if not v.autoregressive:
        return clip_layout(frames, height, width, patch_size).num_tokens
    return ar_layout(frames - 1, 0, num_stages, height, width, patch_size, not v.compressed_history,
                     v.causal).num_tokens


def sweep_points(variant: str, preset: Preset, sweep: str) -> list[dict]:
    """The ascending sizes of one sweep, as plain dicts (picklable for the child)."""
    align = preset.patch_size * 2 ** (preset.stages - 1)
    if sweep == "frames_sweep":
        shapes = [(t, preset.height, preset.width) for t in frame_ladder(preset.memory_max_frames)]
    elif sweep == "resolution_sweep":
        shapes = [(preset.frames, h, w) for h, w in resolution_ladder(preset.height, preset.width, align)]
    else:
        raise ValueError(f"unknown sweep {sweep!r}: use one of {', '.join(SWEEP_X)}")
    points = []
    for t, h, w in shapes:
        tpf = (h // preset.patch_size) * (w // preset.patch_size)
        points.append(dict(sweep=sweep, x_name=SWEEP_X[sweep],
                           x_value=float(t if sweep == "frames_sweep" else tpf), frames=t, height=h, width=w,
                           tokens_per_frame=tpf,
                           tokens=largest_layout_tokens(variant, t, h, w, preset.patch_size, preset.stages)))
    return points


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
        return dict(status=status, message=message, peak_rss_bytes=peak, increase_bytes=peak - baseline,
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
    """Both ladders of one variant in one spawned child under an address-space budget.

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
                                  timeout_s=timeout_s)
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


# --------------------------------------------------------------------------------------------------- rows
def _gib(n: float | None) -> str:
    return "?" if n is None else f"{n / 2**30:.3f} GiB"


def points_to_rows(variant: str, points: list[dict], *, device_kind: str, budget_bytes: int) -> list[dict]:
    """Tidy rows for the measured points of one variant (both sweeps).

    CPU: ``peak_memory_bytes`` = absolute child peak RSS, ``peak_memory_increase_bytes`` = peak minus the
    child's RSS after model creation (both backend ``child_peak_rss``). CUDA: ``peak_memory_bytes`` once per
    backend (max allocated, max reserved, NVML device used) and the increase of max allocated over the model.
    An out-of-memory is a row with value None and status "oom"; a time-capped size is status "skipped".
    """
    cuda = device_kind == "cuda"
    primary = "cuda_max_allocated" if cuda else "child_peak_rss"
    rows = []
    for p in points:
        base = dict(case=p["sweep"], variant=variant, unit="bytes", x_name=p["x_name"], x_value=p["x_value"])
        shape = (f"T={p['frames']} H={p['height']} W={p['width']}, {p['tokens']} tokens in the largest layout")
        if p["status"] != "ok":
            why = (f"exceeded the {_gib(budget_bytes)} budget" if p["status"] == "oom" else p["status"])
            rows.append(dict(base, metric="peak_memory_bytes", value=None, backend=primary, status=p["status"],
                             note=f"{why} at {shape}: {p.get('message', '')}"))
            continue
        note = shape + (f"; step {p['step_s']:.2f} s" if p.get("step_s") is not None else "")
        if cuda:
            for backend, key in (("cuda_max_allocated", "max_allocated_bytes"),
                                 ("cuda_max_reserved", "max_reserved_bytes"),
                                 ("nvml_device_used", "nvml_device_used_bytes")):
                if p.get(key) is not None:
                    extra = "; whole device, all processes, CUDA context included" if key.startswith("nvml") else ""
                    rows.append(dict(base, metric="peak_memory_bytes", value=int(p[key]), backend=backend,
                                     status="ok", note=note + extra))
            increase_note = "max allocated minus the bytes allocated after the model was on the device"
        else:
            running = "" if p.get("hwm_reset", True) else "; running maximum over this and smaller sizes"
            rows.append(dict(base, metric="peak_memory_bytes", value=int(p["peak_rss_bytes"]), backend=primary,
                             status="ok", note="absolute peak RSS of the child (interpreter, torch, model, step); "
                                               + note + running))
            increase_note = "peak RSS minus the child's RSS right after model creation"
        if p.get("increase_bytes") is not None:
            rows.append(dict(base, metric="peak_memory_increase_bytes", value=int(p["increase_bytes"]),
                             backend=primary, status="ok", note=increase_note))
    return rows


def fit_rows(variant: str, points: list[dict], *, device_kind: str, budget_bytes: int) -> list[dict]:
    """Per sweep: the largest size that fits (max_frames_fit / max_tokens_per_frame_fit), from the frontier search.

    ``bound`` "" when the next size on the ladder ran out (the frontier itself), "lower" when the search ended
    before that (time cap, the ladder's cap, an error): the true frontier is at least the value. Status "ok" unless
    nothing fitted ("oom") or nothing was measured ("error").
    """
    backend = "cuda_max_allocated" if device_kind == "cuda" else "child_peak_rss"
    rows = []
    for sweep, (metric, unit) in FIT_METRIC.items():
        ps = [p for p in points if p["sweep"] == sweep]
        if not ps:
            continue
        found = frontier_summary(ps)
        value = found["fit"]
        status = "ok" if value is not None else ("oom" if found["oom"] is not None else "error")
        note = found["why"] + (f" (budget {_gib(budget_bytes)})" if found["oom"] is not None else "")
        rows.append(dict(case=sweep, variant=variant, metric=metric, value=value, unit=unit, backend=backend,
                         bound=found["bound"] if value is not None else "", x_name=None, x_value=None,
                         status=status, note=note))
    return rows


def per_frame_bytes(points: list[dict], key: str = "increase_bytes") -> float | None:
    """Least-squares slope of ``key`` against latent frames over the ok points of the frame sweep (bytes/frame)."""
    ok = [(p["frames"], p[key]) for p in points
          if p["sweep"] == "frames_sweep" and p["status"] == "ok" and p.get(key) is not None]
    if len(ok) < 2:
        return None
    n = len(ok)
    mx = sum(x for x, _ in ok) / n
    my = sum(y for _, y in ok) / n
    sxx = sum((x - mx) ** 2 for x, _ in ok)
    if sxx == 0 or math.isnan(sxx):
        return None
    return sum((x - mx) * (y - my) for x, y in ok) / sxx
