"""The field's video transformers (diffusers' Wan, LTX-Video, CogVideoX, HunyuanVideo, Mochi) under test: forward
latency and memory at each pyramid stage's latent size, measured per-stage cost against the FLOP-predicted one,
and a pyramid schedule's end-to-end saving measured by timing pfbench's samplers over the real module."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed

METRICS = (
    Metric("forward_s", "s", "lower", doc="median seconds of one forward at the stage's latent size"),
    Metric("peak_memory_bytes", "bytes", "lower", doc="CUDA allocator peak of one forward (CPU: not measured)"),
    Metric("counted_flops", "FLOP", "lower", True, doc="FlopCounterMode, one forward of the measured config"),
    Metric("stage_cost_measured", "fraction", "setting", doc="forward seconds of the stage / of the full size"),
    Metric("stage_cost_predicted", "fraction", "setting", True, doc="counted FLOPs of the stage / of the full size"),
    Metric("stage_cost_measured_over_predicted", "ratio", "setting",
           doc="1 when time follows FLOPs; above 1 when fixed per-call costs dominate small stages"),
    Metric("sample_s", "s", "lower", doc="seconds of one whole sampler run (full-sequence or pyramid Euler)"),
    Metric("sample_flops", "FLOP", "lower", True, doc="counted FLOPs per step x steps of the schedule"),
    Metric("pyramid_saving_measured", "fraction", "higher", doc="1 - pyramid sampler seconds / full-sequence"),
    Metric("pyramid_saving_predicted", "fraction", "setting", True, doc="1 - pyramid FLOPs / full-sequence FLOPs "
           "(a prediction the measured saving is read against)"),
    Metric("forward_flops", "FLOP", "setting", True, doc="the card's full config at its native video: analytic "
                                                         "(card) and flop-counter (module) backends"),
    Metric("counted_vs_analytic", "fraction", "setting", True, doc="module FLOPs / card FLOPs - 1 (full config)"),
)

# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(METRICS, "forward_s", "stage_cost_measured", "stage_cost_measured_over_predicted", "sample_s",
                     "pyramid_saving_measured")

BENCHMARK = Benchmark(
    name="models", suite_file="test_diffusers_models.py",
    title="The field's video transformers (diffusers) through the pyramid", metrics=METRICS,
    section=lazy("pfbench.benchmarks.models.section:section"),
)
