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
                                 value=val, x_name="target_fraction", x_value=f, bound="", note="",
                                 backend="kid_blocked[efficientnet-lite0]"))
    for f in (0.2, 0.4, 0.6, 0.8, 1.0):
        rows.append(dict(suite="fid", case="ladder", variant="full_sequence", metric="ladder_target",
                         value=10 - 5 * f, x_name="target_fraction", x_value=f, bound="", note="",
                         backend="kid_blocked[efficientnet-lite0]"))
    for v, div in (("full_sequence", 0.9), ("spatial_pyramid", 0.85), ("pyramid_ar", 0.95)):
        for metric in ("fid", "kid_blocked"):
            for x in (1e9, 2e9, 4e9):
                rows.append(dict(suite="fid", case="convergence", variant=v, metric=metric, value=1e10 / x,
                                 spread=0.1, x_name="train_flops", x_value=x, backend="efficientnet-lite0", bound="",
                                 note=""))
        rows.append(dict(suite="fid", case="convergence", variant=v, metric="diversity_ratio", value=div,
                         x_name="train_step", x_value=24.0, backend="efficientnet-lite0", bound="", note=""))
    for m, val in (("block_correlation_gap", 0.4), ("block_correlation_gap_ci_low", 0.3),
                   ("block_correlation_gap_ci_high", 0.5)):
        rows.append(dict(suite="ablations", case="corrective_noise", variant="renoise_off", metric=m, value=val,
                         x_name="", x_value=None, bound="", note="3 seeds"))
    return pd.DataFrame(rows)


def test_verdicts_carry_ratio_and_interval(tmp_path):
    ctx = ReportContext(tmp_path, _rows(), pd.DataFrame(), {}, {})
    verdicts = {v.claim.split(":")[0]: v for v in (fid_verdicts(ctx) + ablation_verdicts(ctx))}
    sp = verdicts["FID convergence (spatial_pyramid)"]
    assert sp.status == "reproduced" and sp.value == "consistent with ~3x: 2.7x (95% CI 2.1-3.4, paired seeds)"
    ar = verdicts["FID convergence (pyramid_ar)"]  # headline: the final target, an unbounded upper end
    assert ar.status == "reproduced" and ar.value == "consistent with ~3x: 2.8x (95% CI 2.1-inf, paired seeds)"
    assert "20%: 1.3x [0.7, 2]" in ar.why and "reads kid_blocked[efficientnet-lite0]" in ar.why
    cn = verdicts["Corrective noise"]
    assert cn.status == "reproduced" and "95% CI +0.3 to +0.5" in cn.value
    blocks = section_convergence(ctx)
    table = next(b for b in blocks if b.kind == "table").content
    assert "2.7x [2.1, 3.4]" in table["FLOPs ratio [95% CI]"].tolist()
    assert (tmp_path / "plots" / "fid_convergence_ladder.png").exists()


def test_a_less_diverse_variant_is_never_called_faster(tmp_path):
    df = _rows()
    df.loc[(df["variant"] == "spatial_pyramid") & (df["metric"] == "diversity_ratio"), "value"] = 0.35
    ctx = ReportContext(tmp_path, df, pd.DataFrame(), {}, {})
    sp = next(v for v in fid_verdicts(ctx) if "spatial_pyramid" in v.claim)
    assert sp.status == "inconclusive" and sp.value.startswith("inconclusive: less diverse")


def test_a_bias_dominated_fid_ladder_gets_no_verdict(tmp_path):
    df = _rows()
    df.loc[df["case"] == "ladder", "backend"] = "fid[efficientnet-lite0]"
    df = pd.concat([df, pd.DataFrame([dict(suite="fid", case="convergence", variant="full_sequence",
                                           metric="bias_dominated", value=1.0, x_name="train_step", x_value=24.0,
                                           backend="efficientnet-lite0", bound="", note="")])])
    ctx = ReportContext(tmp_path, df.reset_index(drop=True), pd.DataFrame(), {}, {})
    assert all(v.status == "inconclusive" and "bias-dominated" in v.value for v in fid_verdicts(ctx))


def test_no_rows_no_verdicts(tmp_path):
    ctx = ReportContext(tmp_path, pd.DataFrame(columns=["suite", "case", "metric", "variant", "value"]),
                        pd.DataFrame(), {}, {})
    assert (fid_verdicts(ctx) + ablation_verdicts(ctx)) == []
