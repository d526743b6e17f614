"""FID convergence: FID (and KID) of each variant's samples against training compute, and the compute each
variant needs to reach full_sequence's FID at every target of a ladder. Its verdict speaks to the ~3x claim."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Claim, Metric, mark_timed

METRICS = (
    Metric("fid", "", "lower", doc="Fréchet distance; its extractor is the row's backend"),
    Metric("fid_debiased", "", "lower"),
    Metric("kid", "", "lower"),
    Metric("final_fid", "", "lower"),
    Metric("compute_to_reach_full_sequence_fid", "FLOP", "lower"),
    Metric("compute_saving_vs_full_sequence", "x", "higher"),
    Metric("train_loss", "", "lower"),
    Metric("final_train_loss", "", "lower"),
    Metric("train_flops", "FLOP", "setting", doc="training compute spent"),
    Metric("train_flops_per_sample", "FLOP", "lower", True),
    Metric("train_flops_per_step", "FLOP", "lower", True),
    Metric("train_time_s", "s", "lower"),
    Metric("eval_time_s", "s", "lower"),
    Metric("steps", "count", "setting"),
    Metric("batch", "samples", "setting"),
    Metric("batch_clips", "clips", "setting"),
    # compute to quality over a ladder of targets (pfbench.benchmarks.fid.convergence, suites/test_fid_convergence.py)
    Metric("fid_run", "", "lower", doc="one seed's FID at an evaluation step (case seed<N>)"),
    Metric("ladder_target", "", "setting",
           doc="full_sequence's seed-mean value of the ladder's statistic (the row's backend) at a fraction of its run"),
    Metric("kid_blocked", "", "lower", doc="clip-blocked kernel distance (MMD^2, unbiased at any N), seed mean"),
    Metric("kid_blocked_run", "", "lower", doc="one seed's clip-blocked kernel distance at an evaluation step"),
    Metric("diversity_ratio", "", "setting", doc="fake / real covariance-trace ratio of the features (1: as diverse)"),
    Metric("precision", "fraction", "higher", doc="improved precision of the generated frames (k-NN balls of the real)"),
    Metric("recall", "fraction", "higher", doc="improved recall: real frames inside the generated frames' k-NN balls"),
    Metric("feature_dim", "", "setting", doc="dimension of the features the distances are computed in"),
    Metric("fake_frames", "frames", "setting", doc="generated frames per evaluation"),
    Metric("bias_dominated", "", "setting", doc="1 when the Fréchet distance has fewer than 10 x D frames per set"),
    Metric("compute_ratio_vs_full_sequence", "x", "higher",
           doc="full_sequence training FLOPs / the variant's to reach a ladder target"),
    Metric("compute_ratio_vs_full_sequence_ci_low", "x", "higher", doc="2.5% bootstrap quantile"),
    Metric("compute_ratio_vs_full_sequence_ci_high", "x", "higher", doc="97.5% bootstrap quantile"),
    Metric("wall_ratio_vs_full_sequence", "x", "higher",
           doc="full_sequence training wall seconds / the variant's to reach a ladder target"),
    Metric("wall_ratio_vs_full_sequence_ci_low", "x", "higher"),
    Metric("wall_ratio_vs_full_sequence_ci_high", "x", "higher"),
    Metric("fid_drop_last20_z", "", "setting",
           doc="drop of the ladder's statistic over the last 20% of the run in standard errors"),
    Metric("eval_points", "count", "setting"),
    Metric("experiment_cpu_s", "s", "lower"),
    Metric("experiment_wall_s", "s", "lower"),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "train_time_s", "eval_time_s", "wall_ratio_vs_full_sequence", "wall_ratio_vs_full_sequence_ci_low",
    "wall_ratio_vs_full_sequence_ci_high", "experiment_cpu_s", "experiment_wall_s")

BENCHMARK = Benchmark(
    name="fid", suite_file="test_fid_convergence.py", title="FID against training compute", metrics=METRICS,
    section=lazy("pfbench.benchmarks.fid.section:section"),
    verdicts=lazy("pfbench.benchmarks.fid.verdicts:verdicts"),
    claims=(
    Claim('FID convergence', "FID convergence: the pyramid reaches full_sequence's FID with ~1/3 of the compute"),
    ),
    measured_axes=("train_wall_s",),  # the curve against measured training seconds
)
