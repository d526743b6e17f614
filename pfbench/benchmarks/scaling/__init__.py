"""Data-parallel training under torchrun at 1..N processes: samples/s, tokens/s, weak-scaling efficiency and the
all-reduce time in flight per step."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed

PROCESS_COUNTS = (1, 2, 3, 4, 6, 8, 16, 32, 64)

METRICS = (
    Metric("samples_per_s", "samples/s", "higher"),
    Metric("tokens_per_s", "tokens/s", "higher"),
    Metric("step_s", "s", "lower", doc="median training step"),
    Metric("weak_scaling_efficiency", "fraction", "higher", doc="throughput(N) / (N x throughput(1))"),
    Metric("comm_s_per_step", "s", "lower", doc="all-reduce time in flight per step (overlaps the backward)"),
    *(Metric(f"samples_per_s_{n}", "samples/s", "higher", doc=f"samples/s at {n} processes (benchmark JSON)")
      for n in PROCESS_COUNTS),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "samples_per_s", "tokens_per_s", "step_s", "comm_s_per_step", *(f"samples_per_s_{n}" for n in PROCESS_COUNTS))

BENCHMARK = Benchmark(
    name="scaling", suite_file="test_scaling.py", title="Data-parallel scaling", metrics=METRICS,
    section=lazy("pfbench.benchmarks.scaling.section:section"),
)
