"""``--profile``: a torch.profiler trace of a few steps and a short table of where a step's time goes.

Categories: ``attention`` (SDPA / flash / FlexAttention kernels or ops), ``matmul`` (GEMMs), ``elementwise``
(everything else that runs: norms, activations, copies), and the remainder of the wall time, which on CUDA is
``launch_gaps`` (the device idle between kernels: host overhead, synchronisation) and on CPU ``framework``
(Python and dispatcher time outside any aten op). On CUDA the shares are of device kernel time (the kernels'
own durations from the trace); on CPU of the ops' self time. The trace opens in Perfetto / chrome://tracing.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from pfbench.measure.timing import synchronizer

CATEGORIES = ("attention", "matmul", "elementwise")
_ATTENTION = ("attention", "flash", "fmha", "flex", "sdpa", "scaled_dot_product")
_MATMUL = ("gemm", "matmul", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "cutlass", "xmma", "cublas",
           "sm80_", "sm90_", "ampere_", "hopper_", "aten::_grouped_mm")


def categorize(name: str) -> str:
    """'attention' | 'matmul' | 'elementwise' for a kernel or aten op name."""
    n = name.lower()
    if any(s in n for s in _ATTENTION):
        return "attention"
    if any(s in n for s in _MATMUL) or n in ("mm", "addmm", "bmm"):
        return "matmul"
    return "elementwise"


def _cuda_kernel_us(prof) -> dict[str, float]:
    """Kernel microseconds per category from the device events of a trace."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for evt in prof.events():
        if getattr(evt, "device_type", None) == torch.autograd.DeviceType.CUDA:
            totals[categorize(evt.name)] += evt.time_range.elapsed_us()
    return totals


def _cpu_op_us(prof) -> dict[str, float]:
    """Self CPU microseconds of aten ops per category (self times of nested ops are disjoint)."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for avg in prof.key_averages():
        if avg.key.startswith("aten::") or "flex" in avg.key.lower():
            totals[categorize(avg.key)] += avg.self_cpu_time_total
    return totals


def breakdown(busy_us: dict[str, float], wall_s: float, cuda: bool) -> list[dict]:
    """Rows (category, seconds, share of wall) from busy time per category and the profiled wall time."""
    wall_us = wall_s * 1e6
    rest = max(0.0, wall_us - sum(busy_us.values()))
    items = list(busy_us.items()) + [("launch_gaps" if cuda else "framework", rest)]
    return [dict(category=name, seconds=us / 1e6, share=us / wall_us if wall_us else 0.0) for name, us in items]


def markdown_table(rows: list[dict], title: str) -> str:
    lines = [f"### {title}", "", "| category | seconds | share of wall |", "|---|---:|---:|"]
    lines += [f"| {r['category']} | {r['seconds']:.4f} | {r['share']:.1%} |" for r in rows]
    return "\n".join(lines) + "\n"


def profile_steps(step: Callable[[], object], device: str, out_dir: str | Path, name: str, *, steps: int = 3,
                  warmup: int = 1) -> dict:
    """Profile ``steps`` calls of ``step`` (after ``warmup`` unprofiled ones); write ``<name>.trace.json`` and
    ``<name>.md`` under ``out_dir``. Returns {rows, trace, table, wall_s_per_step}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cuda = torch.device(device).type == "cuda" and torch.cuda.is_available()
    sync = synchronizer(device)
    for _ in range(warmup):
        step()
    sync()
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    with torch.profiler.profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        wall_s = time.perf_counter() - t0
    trace = out_dir / f"{name}.trace.json"
    prof.export_chrome_trace(str(trace))
    rows = breakdown(_cuda_kernel_us(prof) if cuda else _cpu_op_us(prof), wall_s, cuda)
    table = out_dir / f"{name}.md"
    title = f"{name}: {steps} steps, {wall_s / steps * 1e3:.1f} ms per step ({'device kernels' if cuda else 'CPU ops'})"
    table.write_text(markdown_table(rows, title), encoding="utf-8")
    return dict(rows=rows, trace=trace, table=table, wall_s_per_step=wall_s / steps)
