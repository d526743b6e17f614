"""A training step and a full generation per variant: time, FLOPs (analytic and FlopCounterMode), FLOP/s, MFU,
and the measured speedup over full_sequence beside the FLOP-predicted one."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Claim, Metric, mark_timed

METRICS = (
    Metric("speedup_vs_full_sequence", "x", "higher", doc="full_sequence time / this variant's time (wall; "
           "train_step_interleaved: median of the alternating pairs' ratios)"),
    Metric("speedup_vs_full_sequence_ci_low", "x", "higher",
           doc="lower end of the 95% order-statistic interval of the median pair ratio (wall time)"),
    Metric("speedup_vs_full_sequence_ci_high", "x", "higher",
           doc="upper end of the 95% order-statistic interval of the median pair ratio (wall time)"),
    Metric("speedup_cpu_vs_full_sequence", "x", "higher",
           doc="median of the alternating pairs' ratios of process CPU time (host CPU time on CUDA)"),
    Metric("speedup_cpu_vs_full_sequence_ci_low", "x", "higher",
           doc="lower end of the 95% order-statistic interval of the median CPU-time pair ratio"),
    Metric("speedup_cpu_vs_full_sequence_ci_high", "x", "higher",
           doc="upper end of the 95% order-statistic interval of the median CPU-time pair ratio"),
    Metric("speedup_pairs", "count", "setting", doc="alternating (full_sequence, variant) pairs the speedup is over"),
    Metric("torch_threads", "count", "setting", doc="torch's intra-op thread count, fixed while the pairs ran"),
    Metric("load_average", "", "setting", doc="highest 1-minute load average seen while the pairs ran"),
    Metric("busy_rounds", "count", "setting",
           doc="alternating rounds in which other processes took more CPU than pfbench.measure.machine_load's "
               "busy rule allows"),
    Metric("predicted_speedup", "x", "higher", True, "full_sequence FLOPs / this variant's FLOPs"),
    Metric("speedup_ratio", "x", "higher", doc="measured / FLOP-predicted speedup"),
    Metric("achieved_flops_per_s", "FLOP/s", "higher"),
    Metric("mfu", "fraction", "higher", doc="achieved / peak FLOP/s (None where the peak is unknown)"),
    Metric("peak_flops_per_s", "FLOP/s", "setting", doc="the device's peak for the dtype"),
    Metric("analytic_flops", "FLOP", "lower", True, "pfbench.accounting's FLOPs per call"),
    Metric("measured_flops", "FLOP", "lower", True, "FlopCounterMode's FLOPs per call"),
    Metric("analytic_forward_flops", "FLOP", "lower", True),
    Metric("measured_forward_flops", "FLOP", "lower", True),
    Metric("tokens_per_s", "tokens/s", "higher"),
    Metric("samples_per_s", "samples/s", "higher"),
    Metric("frames_per_s", "frames/s", "higher"),
    Metric("max_tokens", "tokens", "lower", True),
    Metric("mean_tokens", "tokens", "lower", True),
    Metric("tokens_per_step", "tokens", "setting"),
    Metric("samples_per_step", "samples", "setting"),
    Metric("token_budget", "tokens", "setting"),
    Metric("budget_fill", "fraction", "setting", doc="share of the token budget a packed step fills"),
    Metric("batch", "samples", "setting"),
    Metric("model_evaluations", "count", "setting"),
    Metric("warmup_rounds", "count", "setting"),
    Metric("energy_per_call_j", "J", "lower"),
    Metric("mean_power_w", "W", "setting"),
    Metric("energy_window_s", "s", "setting"),
    Metric("energy_short_window", "", "setting"),
    Metric("a100_projection_s", "s", "lower", doc="projected A100 seconds at this run's MFU"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "speedup_vs_full_sequence", "speedup_vs_full_sequence_ci_low", "speedup_vs_full_sequence_ci_high",
    "speedup_cpu_vs_full_sequence", "speedup_cpu_vs_full_sequence_ci_low", "speedup_cpu_vs_full_sequence_ci_high",
    "speedup_ratio", "achieved_flops_per_s", "mfu", "tokens_per_s", "samples_per_s", "frames_per_s",
    "energy_per_call_j", "a100_projection_s")

BENCHMARK = Benchmark(
    name="throughput", suite_file="test_throughput.py", title="Throughput", metrics=METRICS,
    section=lazy("pfbench.benchmarks.throughput.section:section"),
    verdicts=lazy("pfbench.benchmarks.throughput.verdicts:verdicts"),
    claims=(
    Claim('Training speed', 'Training speed: pyramid_ar trains faster than full_sequence'),
    ),
)
