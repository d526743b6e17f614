"""What a K = 3 pyramid would save for public video DiTs (architecture cards): tokens, FLOPs per video, training
FLOPs per sample, projected GPU-seconds; and the reference backbone at each card's width."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed

METRICS = (
    Metric("max_tokens", "tokens", "lower", True),
    Metric("sample_flops_per_video", "FLOP", "lower", True),
    Metric("train_flops_per_sample", "FLOP", "lower", True),
    Metric("forward_flops", "FLOP", "lower", True),
    Metric("params", "params", "setting", True),
    *(Metric(f"gpu_seconds_{g}", "s", "lower", True, f"projected {g.upper()} seconds at a stated MFU (a closed form "
             "of the analytic FLOPs: a count)")
      for g in ("a100", "h100", "h200")),
    Metric("forward_s", "s", "lower"),
    Metric("achieved_flops_per_s", "FLOP/s", "higher"),
    Metric("mfu", "fraction", "higher"),
    Metric("peak_memory_bytes", "bytes", "lower"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "forward_s", "achieved_flops_per_s", "mfu")

BENCHMARK = Benchmark(
    name="cards", suite_file="test_card_savings.py", title="What a pyramid would save for public video DiTs",
    metrics=METRICS, section=lazy("pfbench.benchmarks.cards.section:section"),
)
