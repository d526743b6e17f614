"""Ablations: corrective noise on/off, causal vs bidirectional attention, stage mix, each a paired comparison over
seeds. Its verdicts speak to corrective noise, causal attention and the temporal pyramid."""
from pfbench.benchmarks._lazy import lazy
from pfbench.benchmarks.base import Benchmark, Claim, Metric, mark_timed
from pfbench.benchmarks.vbench import quality_metrics

METRICS = quality_metrics() + (
    Metric("fid", "", "lower", doc="Fréchet distance; its extractor is the row's backend"),
    Metric("kid_blocked", "", "lower", doc="clip-blocked kernel distance (MMD^2, unbiased at any N)"),
    Metric("diversity_ratio", "", "setting", doc="fake / real covariance-trace ratio of the features (1: as diverse)"),
    Metric("block_correlation", "", "setting", doc="neighbour correlation of high-passed samples (mechanism)"),
    Metric("jump_block_correlation", "", "setting", doc="block correlation of the renoising jump (mechanism)"),
    Metric("loss", "", "lower"),
    Metric("train_loss", "", "lower"),
    *(Metric(f"heldout_loss_stage{k}", "", "lower", doc=f"held-out loss with every sample at stage {k}")
      for k in range(6)),
    Metric("temporal_consistency", "fraction", "higher"),
    Metric("train_flops_per_sample", "FLOP", "lower", True),
    Metric("train_time_s", "s", "lower"),
    Metric("eval_time_s", "s", "lower"),
    # paired gaps over seeds (a - b, Student-t interval; suites/test_ablations.py)
    Metric("frame_similarity", "fraction", "higher", doc="cosine similarity of consecutive frames' features"),
    Metric("fvd", "", "lower", doc="not measured on clips shorter than 16 frames"),
    Metric("mean_tokens_per_sample", "tokens", "lower", True),
    *(Metric(f"{m}{suffix}", unit, "setting", doc="paired difference over seeds" + (f" ({suffix[1:]})" if suffix else ""))
      for m, unit in (("block_correlation_gap", ""), ("fid_gap", ""), ("kid_blocked_gap", ""),
                      ("frame_similarity_gap", "fraction"),
                      *((f"heldout_loss_stage{k}_gap", "") for k in range(6)))
      for suffix in ("", "_ci_low", "_ci_high")),
)


# measured from elapsed time: inconclusive in `pfbench compare` when the machine was busy
METRICS = mark_timed(
    METRICS, "train_time_s", "eval_time_s")

BENCHMARK = Benchmark(
    name="ablations", suite_file="test_ablations.py", title="Ablations", metrics=METRICS,
    section=lazy("pfbench.benchmarks.ablations.section:section"),
    verdicts=lazy("pfbench.benchmarks.ablations.verdicts:verdicts"),
    claims=(
    Claim('Corrective noise', "Corrective noise improves the pyramid's samples"),
    Claim('Causal attention', 'Causal attention is as good as bidirectional for pyramid_ar'),
    Claim('Temporal pyramid', 'Temporal pyramid: compressed history keeps quality'),
    ),
)
