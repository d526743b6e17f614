"""The registry of benchmarks: each suite declares its metrics, its report section and its verdicts once.

``all_benchmarks()`` lists them in report order; ``metric_spec(suite, metric)`` is what results.py, the report and
`pfbench compare` read for a metric's unit and better direction (nothing guesses from names); ``suite_files()`` is
the runner's one suite map. Timing rows that pytest-benchmark adds to every suite (``TIMING_METRICS``) are declared
once here and apply to every suite.
"""
from __future__ import annotations

from functools import lru_cache

from pfbench.benchmarks.base import TIMING_FAIL_ABOVE, Benchmark, Metric

# Rows results.benchmark_rows derives from every pytest-benchmark JSON entry, whatever the suite: a timing regresses
# only when its rounds differ (a rank test) AND it moved by more than TIMING_FAIL_ABOVE; `pfbench compare
# --fail-above` tightens it.
TIMING_METRICS: tuple[Metric, ...] = (
    Metric("time_s", "s", "lower", doc="median seconds per round (spread: IQR)", over_rounds=True,
           fail_above=TIMING_FAIL_ABOVE, timed=True),
    Metric("time_mean_s", "s", "lower", doc="mean seconds per round (spread: standard deviation)", over_rounds=True,
           fail_above=TIMING_FAIL_ABOVE, timed=True),
    Metric("time_min_s", "s", "lower", doc="fastest round", over_rounds=True, fail_above=TIMING_FAIL_ABOVE,
           timed=True),
    Metric("rounds", "count", "setting", doc="timed rounds"),
)
# What else ran while a suite timed something (pfbench.measure.machine_load): every pytest-benchmark entry records
# them, and a suite's own rows may too.
MACHINE_METRICS: tuple[Metric, ...] = (
    Metric("machine_load_average", "", "setting", doc="highest 1-minute load average at the window's ends"),
    Metric("machine_cores", "count", "setting", doc="the machine's logical CPUs"),
    Metric("machine_others_cpu_share", "fraction", "setting",
           doc="share of the machine's CPU capacity that processes other than the benchmark took (/proc/stat)"),
    Metric("machine_steal_share", "fraction", "setting", doc="share of the capacity the hypervisor stole"),
)
_TIMING = {m.name: m for m in TIMING_METRICS + MACHINE_METRICS}
# What `pfbench run` records about the inputs it was given (suite "data": data.sources / data.latents).
INPUT_METRICS: tuple[Metric, ...] = (
    Metric("clips_used", "videos", "setting", True, "videos of data.sources that decoded and are long enough"),
    Metric("clips_skipped", "videos", "setting", True, "videos of data.sources skipped, each named in its own row"),
    Metric("clip_frames", "frames", "setting", True, "decoded frames of one video (skipped: the reason)"),
    Metric("latent_clips", "clips", "setting", True, "precomputed latent clips of data.latents"),
    Metric("latent_frames", "frames", "setting", True, "latent frames of one latent clip"),
)


def all_benchmarks() -> tuple[Benchmark, ...]:
    """Every registered benchmark, in the order of `pfbench run` and of the report's sections."""
    from pfbench.benchmarks import (ablations, ar_per_frame, cards, fid, memory, models, scaling, throughput, tokens,
                                    vbench)
    return tuple(m.BENCHMARK for m in (tokens, throughput, memory, fid, vbench, ablations, scaling, ar_per_frame,
                                       cards, models))


def benchmark(name: str) -> Benchmark:
    """The benchmark run by ``pfbench run --suites NAME``; a KeyError naming the choices otherwise."""
    for b in all_benchmarks():
        if b.name == name:
            return b
    raise KeyError(f"unknown benchmark {name!r}: choose from {', '.join(b.name for b in all_benchmarks())}")


def suite_files() -> dict[str, str]:
    """Suite name -> its file under suites/ (the runner's suite map)."""
    return {b.name: b.suite_file for b in all_benchmarks()}


@lru_cache(maxsize=None)
def _index() -> dict[tuple[str, str], Metric]:
    """(suite, metric) -> declaration, built once (declarations are frozen data)."""
    return {(b.name, m.name): m for b in all_benchmarks() for m in b.metrics}


@lru_cache(maxsize=None)
def measured_axes() -> frozenset[tuple[str, str]]:
    """(suite, x_name) of every x axis a benchmark declares measured (its points are matched by order)."""
    return frozenset((b.name, x) for b in all_benchmarks() for x in b.measured_axes)


def metric_spec(suite: str, metric: str) -> Metric | None:
    """The declaration of ``metric`` in ``suite`` (the pytest-benchmark timing rows in any suite); None when
    undeclared (tests/test_benchmarks.py keeps every emitted metric declared)."""
    if suite == "data":
        return next((m for m in INPUT_METRICS if m.name == metric), None)
    return _index().get((suite, metric)) or _TIMING.get(metric)


def direction(suite: str, metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 for a setting or an undeclared metric."""
    spec = metric_spec(suite, metric)
    return {"higher": 1, "lower": -1}.get(spec.better, 0) if spec else 0
