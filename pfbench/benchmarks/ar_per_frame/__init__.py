"""The per-frame cost of autoregressive generation (pyramid_ar, its sliding window, ar_full_history): predicted
FLOPs (analytic = counted), measured wall time and peak memory per latent frame, and the samples' quality."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed
from pfbench.benchmarks.vbench import quality_metrics

METRICS = quality_metrics() + (
    Metric("frame_flops", "FLOP", "lower", True, "FLOPs to generate one latent frame"),
    Metric("frame_flops_kv_cache_bound", "FLOP", "lower", True,
           "FLOPs per frame if history K/V were cached per stage (a bound, not a mode of this model)"),
    Metric("frame_wall_s", "s", "lower"),
    Metric("frame_peak_memory_bytes", "bytes", "lower"),
    Metric("frame_cost_growth", "ratio", "lower", doc="last frame's cost over frame 1's"),
    Metric("video_wall_s", "s", "lower"),
    Metric("frames", "frames", "setting"),
    Metric("window", "frames", "setting"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "frame_wall_s", "frame_cost_growth", "video_wall_s")

BENCHMARK = Benchmark(
    name="ar_per_frame", suite_file="test_ar_per_frame.py", title="Per-frame cost of autoregressive generation",
    metrics=METRICS, section=lazy("pfbench.benchmarks.ar_per_frame.section:section"),
)
