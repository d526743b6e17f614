"""pfbench.report_convergence: verdict lines and the ladder section from hand-made rows."""
import pandas as pd

from pfbench.benchmarks.ablations.verdicts import verdicts as ablation_verdicts
from pfbench.benchmarks.fid.section import section as section_convergence
from pfbench.benchmarks.fid.verdicts import verdicts as fid_verdicts
from pfbench.render.context import ReportContext


def _rows():
    rows = []
    for v, ratios in (("spatial_pyramid", [(2.7, 2.1, 3.4)] * 5), ("pyramid_ar", [(1.3, 0.7, 2.0)] * 4 + [(2.8, 2.1, float("inf"))])):
        for f, (r, lo, hi) in zip((0.2, 0.4, 0.6, 0.8, 1.0), ratios):
            for m, val in (("", r), ("_ci_low", lo), ("_ci_high", hi)):
                rows.append(dict(suite="fid", case="ladder", variant=v, metric="compute_ratio_vs_full_sequence" + m,
                                 value=val, x_name="target_fraction", x_value=f, bound="", note=""))
    for f in (0.2, 0.4, 0.6, 0.8, 1.0):
        rows.append(dict(suite="fid", case="ladder", variant="full_sequence", metric="ladder_target_fid",
                         value=10 - 5 * f, x_name="target_fraction", x_value=f, bound="", note=""))
    for v in ("full_sequence", "spatial_pyramid", "pyramid_ar"):
        for x in (1e9, 2e9, 4e9):
            rows.append(dict(suite="fid", case="convergence", variant=v, metric="fid", value=1e10 / x, spread=0.1,
                             x_name="train_flops", x_value=x, backend="efficientnet-lite0", bound="", note=""))
    for m, val in (("block_correlation_gap", 0.4), ("block_correlation_gap_ci_low", 0.3),
                   ("block_correlation_gap_ci_high", 0.5)):
        rows.append(dict(suite="ablations", case="corrective_noise", variant="renoise_off", metric=m, value=val,
                         x_name="", x_value=None, bound="", note="3 seeds"))
    return pd.DataFrame(rows)


def test_verdicts_carry_ratio_and_interval(tmp_path):
    ctx = ReportContext(tmp_path, _rows(), pd.DataFrame(), {}, {})
    verdicts = {v.claim.split(":")[0]: v for v in (fid_verdicts(ctx) + ablation_verdicts(ctx))}
    sp = verdicts["FID convergence (spatial_pyramid)"]
    assert sp.status == "reproduced" and sp.value == "reproduced at this scale (2.7x, 95% CI 2.1-3.4)"
    ar = verdicts["FID convergence (pyramid_ar)"]  # headline: the final target, an unbounded upper end
    assert ar.status == "reproduced" and ar.value == "reproduced at this scale (2.8x, 95% CI 2.1-inf)"
    assert "20%: 1.30x [0.7, 2]" in ar.why
    cn = verdicts["Corrective noise"]
    assert cn.status == "reproduced" and "95% CI +0.3 to +0.5" in cn.value
    blocks = section_convergence(ctx)
    table = next(b for b in blocks if b.kind == "table").content
    assert "2.70x [2.1, 3.4]" in table["FLOPs ratio [95% CI]"].tolist()
    assert (tmp_path / "plots" / "fid_convergence_ladder.png").exists()


def test_no_rows_no_verdicts(tmp_path):
    ctx = ReportContext(tmp_path, pd.DataFrame(columns=["suite", "case", "metric", "variant", "value"]),
                        pd.DataFrame(), {}, {})
    assert (fid_verdicts(ctx) + ablation_verdicts(ctx)) == []
