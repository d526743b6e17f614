"""VBench-style quality: the scores of each variant's samples and the metrics' own throughput. The dimension names
come from pfbench.metrics.vbench.names (the one list); every score's backend is the row's `backend`."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Metric, mark_timed
from pfbench.metrics.vbench.names import DIMENSION_NAMES, QUALITY_DIMENSIONS

LOWER_IS_BETTER = ("warping_error",)
NO_BETTER_SIDE = ("flow_score",)  # mean flow magnitude in pixels: motion, not quality


def quality_metrics() -> tuple[Metric, ...]:
    """Every VBench/EvalCrafter dimension plus the aggregate quality score (shared by the suites that score
    samples: vbench, ablations, ar_per_frame)."""
    dims = tuple(Metric(name, "score", "lower" if name in LOWER_IS_BETTER else
                        "setting" if name in NO_BETTER_SIDE else "higher") for name in DIMENSION_NAMES)
    return dims + (Metric("vbench_quality_score", "score", "higher",
                          doc=f"VBench's weighted quality score over the dimensions present of {QUALITY_DIMENSIONS}"),
                   Metric("quality_score", "score", "higher", doc="the same score as vbench_quality_score, under its short name"))


METRICS = quality_metrics() + (
    Metric("frames_per_second", "frames/s", "higher", doc="frames a metric scores per second"),
    Metric("frames_per_s", "frames/s", "higher"),
    Metric("realtime_factor", "x", "higher", doc="frames/s over the clip's fps"),
    Metric("faster_than_realtime", "", "higher"),
    Metric("clip_fps", "frames/s", "setting"),
    Metric("frames", "frames", "setting"),
    Metric("height", "pixels", "setting"),
    Metric("width", "pixels", "setting"),
    Metric("value", "score", "setting", doc="the score computed while timing (a check, not a result)"),
    Metric("fvd", "", "lower", doc="Fréchet video distance, Kinetics-400 I3D logits (pfbench.metrics.fvd); N in the note"),
    Metric("kvd", "", "lower", doc="kernel video distance (polynomial MMD of the I3D logits, as KID)"),
    Metric("fvd_videos", "videos", "setting", doc="N of an FVD/KVD row: generated videos per set (reference N in the note)"),
    Metric("fvd_debiased", "", "lower",
           doc="half-sample bias-corrected FVD: the centre of the FVD interval (the fvd row's spread: its half-width)"),
    Metric("kvd_blocked", "", "lower",
           doc="KVD's MMD^2 with same-video pairs left out (unbiased at any N); spread: 95% half-width over videos"),
    Metric("bias_dominated", "", "setting",
           doc="1 when the smaller set has fewer than 10 x D I3D windows: FVD bias-dominated, read kvd_blocked"),
    Metric("feature_dim", "", "setting", doc="D of the features an FVD/KVD row is computed on (400: I3D logits)"),
    Metric("diversity_ratio", "", "setting",
           doc="tr Cov(fake) / tr Cov(real) of the I3D features: < 1 a less diverse set, > 1 a more spread one"),
    Metric("precision", "fraction", "higher",
           doc="improved precision (k = 3): share of generated videos inside a reference video's k-NN ball"),
    Metric("recall", "fraction", "higher",
           doc="improved recall (k = 3): share of reference videos inside a generated video's k-NN ball"),
    Metric("peak_rss_gib", "GiB", "lower", doc="peak RSS a dimension's scoring adds (child process, decode included)"),
    Metric("load_average", "", "setting", doc="1-minute load average while a real-clip speed was measured"),
    Metric("cpu_seconds", "s", "lower", doc="CPU time (all threads) of scoring one real clip on one dimension"),
    Metric("realtime_factor_cpu_bound", "x", "higher",
           doc="video seconds / (CPU seconds / cores): the real-time factor on idle cores, an upper bound"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "frames_per_second", "frames_per_s", "realtime_factor", "cpu_seconds", "realtime_factor_cpu_bound")

BENCHMARK = Benchmark(
    name="vbench", suite_file="test_vbench.py", title="VBench-style scores", metrics=METRICS,
    section=lazy("pfbench.benchmarks.vbench.section:section"),
)
