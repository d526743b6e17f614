"""Peak memory as clip length and resolution grow until the budget runs out; the largest clip that fits (the
out-of-memory frontier, a lower bound where the sweep's time cap stopped it)."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed

METRICS = (
    Metric("peak_memory_bytes", "bytes", "lower"),
    Metric("peak_memory_increase_bytes", "bytes", "lower", doc="peak above the process's memory just before the step"),
    Metric("memory_per_frame_bytes", "bytes", "lower", doc="slope of the increase over latent frames"),
    Metric("max_frames_fit", "frames", "higher", doc="largest latent-frame count within the budget"),
    Metric("max_tokens_per_frame_fit", "tokens", "higher", doc="largest tokens per frame within the budget"),
    Metric("memory_budget_bytes", "bytes", "setting", doc="the sweep's budget"),
    Metric("sizes_measured", "count", "setting"),
    Metric("child_wall_s", "s", "lower", doc="wall time of a sweep child that did not return"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "child_wall_s")

BENCHMARK = Benchmark(
    name="memory", suite_file="test_memory.py", title="Memory and the out-of-memory frontier", metrics=METRICS,
    section=lazy("pfbench.benchmarks.memory.section:section"),
)
