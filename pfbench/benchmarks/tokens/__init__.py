"""Tokens, attention pairs and FLOPs per variant at the run's preset and the paper's sizes (analytic = counted),
and the GPU-hours the paper's training plan would take. Analytic counts are deterministic: any change is a failure
in `pfbench compare`."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Claim, Metric

METRICS = (
    Metric("max_tokens", "tokens", "lower", True, "tokens in the largest forward pass"),
    Metric("mean_tokens", "tokens", "lower", True, "mean tokens per training sample"),
    Metric("attention_pairs", "pairs", "lower", True, "(query, key) pairs the mask allows per training sample"),
    Metric("max_attention_pairs", "pairs", "lower", True, "(query, key) pairs of the largest forward pass"),
    Metric("train_flops_per_sample", "FLOP", "lower", True, "training FLOPs per sample (3x forward)"),
    Metric("sample_flops_per_video", "FLOP", "lower", True, "sampling FLOPs per generated video"),
    Metric("train_flops", "FLOP", "lower", True, "training FLOPs of the paper's whole plan"),
    Metric("gpu_hours", "GPU-h", "lower", True, "A100-hours of the paper's plan: projected from the analytic FLOPs at "
           "a stated MFU, or the paper's 20.7k (both fixed numbers)"),
    Metric("implied_mfu", "fraction", "setting", True, "MFU the paper's stated A100-hours imply"),
    Metric("layouts_counted", "", "setting", True, "token layouts built to count"),
)

BENCHMARK = Benchmark(
    name="tokens", suite_file="test_tokens.py", title="Tokens, attention pairs, FLOPs and GPU-hours",
    metrics=METRICS, section=lazy("pfbench.benchmarks.tokens.section:section"),
    verdicts=lazy("pfbench.benchmarks.tokens.verdicts:verdicts"),
    claims=(
    Claim('Tokens', "Tokens: pyramid_ar's longest sequence vs full_sequence"),
    Claim('GPU-hours', "GPU-hours: the paper's plan in 20.7k A100-hours"),
    ),
)
