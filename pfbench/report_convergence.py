"""Report side of issue 16: the convergence section (ladder table with intervals, curves plot) and the verdict lines
on the paper's FID-convergence, corrective-noise, causal-attention and temporal-pyramid claims.

Reads only rows the fid and ablations suites wrote (suites/test_fid_convergence.py, suites/test_ablations.py); every
ratio or difference is shown with its interval, and a verdict's wording comes from pfbench.convergence.verdict_text.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from pfbench.benchmarks.base import Verdict
from pfbench.convergence import fmt_ratio, verdict_status, verdict_text
from pfbench.report.blocks import Block, image, table, text
from pfbench.report.common import BASELINE, ReportContext, fmt, line_style, order_variants

RATIO = "compute_ratio_vs_full_sequence"
WALL = "wall_ratio_vs_full_sequence"
PAPER_FID = "~3x less training compute to the same FID (Fig. 7)"


def _ladder(ctx: ReportContext, metric: str) -> pd.DataFrame:
    d = ctx.rows("fid", case="ladder")
    cols = ["variant", "fraction", "ratio", "low", "high", "bound"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for (variant, fraction), g in d[d["metric"].isin([metric, metric + "_ci_low", metric + "_ci_high"])].groupby(
            ["variant", "x_value"]):
        get = lambda m: g.loc[g["metric"] == m, "value"]  # noqa: E731
        ratio, lo, hi = get(metric), get(metric + "_ci_low"), get(metric + "_ci_high")
        bound = g.loc[g["metric"] == metric, "bound"]
        out.append(dict(variant=variant, fraction=float(fraction),
                        ratio=float(ratio.iloc[0]) if len(ratio) and pd.notna(ratio.iloc[0]) else None,
                        low=float(lo.iloc[0]) if len(lo) else math.nan, high=float(hi.iloc[0]) if len(hi) else math.nan,
                        bound=str(bound.iloc[0]) if len(bound) and isinstance(bound.iloc[0], str) else ""))
    return pd.DataFrame(out, columns=cols)


def _ratio_cell(r) -> str:
    if r["ratio"] is None or (isinstance(r["ratio"], float) and math.isnan(r["ratio"])):
        return f"never reached (CI {fmt_ratio(r['low'])}-{fmt_ratio(r['high'])})"
    mark = {"lower": ">= ", "upper": "<= "}.get(r["bound"], "")
    return f"{mark}{r['ratio']:.2f}x [{fmt_ratio(r['low'])}, {fmt_ratio(r['high'])}]"


def section_convergence(ctx: ReportContext) -> list[Block]:
    """Ladder table (ratio and 95% interval per target, FLOPs and wall time), curves plot, compute-bound check."""
    fid = ctx.rows("fid", case="convergence", metric="fid")
    if fid.empty:
        return [text("No FID-convergence rows in this run (suite `fid`).")]
    ctx.mark(ctx.rows("fid"))
    backend = ", ".join(f"`{b}`" for b in dict.fromkeys(fid["backend"]) if b)
    blocks = [text(f"Compute to quality over a ladder of targets (Fréchet distance, extractor {backend}). Targets are "
                   f"{BASELINE}'s seed-mean FID at 20/40/60/80% of its run and at its end, fixed before the other "
                   "variants were scored; each cell is full_sequence's cost / the variant's cost to reach it, with a "
                   "bootstrap 95% interval over seeds and evaluation samples. `>=`: reached at its first evaluation "
                   "point; never reached: the variant needs more than its whole run. Paper: " + PAPER_FID + ".")]
    targets = ctx.rows("fid", case="ladder", metric="ladder_target_fid").sort_values("x_value")
    flops, wall = _ladder(ctx, RATIO), _ladder(ctx, WALL)
    if not flops.empty:
        rows = []
        for v in order_variants(flops["variant"]):
            for _, r in flops[flops["variant"] == v].sort_values("fraction").iterrows():
                w = wall[(wall["variant"] == v) & (wall["fraction"] == r["fraction"])]
                t = targets[targets["x_value"] == r["fraction"]]["value"]
                rows.append({"variant": v, "target (baseline at % of run)": f"{r['fraction']:.0%}",
                             "target FID": fmt(t.iloc[0]) if len(t) else "—",
                             "FLOPs ratio [95% CI]": _ratio_cell(r),
                             "wall-time ratio [95% CI]": _ratio_cell(w.iloc[0]) if len(w) else "—"})
        blocks.append(table(pd.DataFrame(rows), "compute to reach each target, full_sequence / variant"))
    blocks.append(image(_plot(ctx, fid), "seed-mean FID vs training FLOPs (95% CI over seeds), log x"))
    fall = ctx.rows("fid", case="compute_bound", metric="fid_drop_last20_z")
    if not fall.empty:
        blocks.append(table(pd.DataFrame([{"variant": r["variant"], "FID drop over the last 20% (in se)": fmt(r["value"]),
                                           "still falling (> 2 se)": "yes" if r["value"] > 2 else "no"}
                                          for _, r in fall.iterrows()]),
                            "compute-bound check: curves still falling at the last target"))
    budget = ctx.rows("fid", case="budget")
    if not budget.empty:
        blocks.append(text("Budget: " + "; ".join(f"{r['metric']} {fmt(r['value'])} ({r['note']})"
                                                  for _, r in budget.iterrows())))
    return blocks


def _plot(ctx: ReportContext, fid: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    curve = fid[fid["x_name"] == "train_flops"]
    for i, v in enumerate(order_variants(curve["variant"])):
        dv = curve[curve["variant"] == v].sort_values("x_value")
        ax.errorbar(dv["x_value"], dv["value"], yerr=dv["spread"].fillna(0).to_numpy(), capsize=3, label=v,
                    **line_style(v, i))
    for _, t in ctx.rows("fid", case="ladder", metric="ladder_target_fid").iterrows():
        ax.axhline(t["value"], color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (analytic)")
    extractor = ", ".join(b for b in dict.fromkeys(curve["backend"].dropna()) if b) or "extractor not recorded"
    ax.set_ylabel(f"FID [{extractor}] (lower is better)")
    ax.legend()
    ax.set_title("FID vs training compute; dotted: full_sequence's ladder targets")
    return ctx.save(fig, "fid_convergence_ladder")


# ----------------------------------------------------------------------------------------------- verdicts

def _fid_verdicts(ctx: ReportContext) -> list[Verdict]:
    flops = _ladder(ctx, RATIO)
    if flops.empty:
        return []
    out = []
    for v in order_variants(flops["variant"]):
        d = flops[flops["variant"] == v].sort_values("fraction")
        final = d.iloc[-1]
        status = verdict_status(final["low"], final["high"])
        line = verdict_text(status, final["ratio"], final["low"], final["high"])
        levels = "; ".join(f"{r['fraction']:.0%}: {_ratio_cell(r)}" for _, r in d.iterrows())
        out.append(Verdict(f"FID convergence ({v}): compute to reach full_sequence's final FID", status, line,
                           PAPER_FID, f"training FLOPs ratio at every ladder target: {levels}"))
    return out


def _gap(ctx: ReportContext, case: str, metric: str) -> dict | None:
    d = ctx.rows("ablations", case=case)
    if d.empty:
        return None
    get = lambda m: d.loc[d["metric"] == m, "value"]  # noqa: E731
    if get(metric).empty or get(metric + "_ci_low").empty:
        return None
    return dict(value=float(get(metric).iloc[0]), low=float(get(metric + "_ci_low").iloc[0]),
                high=float(get(metric + "_ci_high").iloc[0]),
                note=str(d.loc[d["metric"] == metric, "note"].iloc[0]))


def _diff_line(status: str, g: dict, what: str) -> str:
    iv = f"{g['value']:+.3g}, 95% CI {g['low']:+.3g} to {g['high']:+.3g}"
    return {"reproduced": f"reproduced at this scale ({what} {iv})", "not reproduced": f"not reproduced ({what} {iv})",
            "inconclusive": f"inconclusive (the interval spans 0: {what} {iv})"}[status]


def _sign_status(g: dict, positive_is_claim: bool = True) -> str:
    lo, hi = (g["low"], g["high"]) if positive_is_claim else (-g["high"], -g["low"])
    return "reproduced" if lo > 0 else "not reproduced" if hi <= 0 else "inconclusive"


def _ablation_verdicts(ctx: ReportContext) -> list[Verdict]:
    out = []
    g = _gap(ctx, "corrective_noise", "block_correlation_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Corrective noise: without it, samples show 2x2 block artifacts", st,
                           _diff_line(st, g, "block correlation off - on"), "blocky, blurred samples without it "
                           "(Fig. 10)", g["note"]))
    g = _gap(ctx, "corrective_noise", "fid_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Corrective noise: FID is worse without it", st, _diff_line(st, g, "FID off - on"),
                           "Fig. 10 (qualitative)", g["note"]))
    g = _gap(ctx, "attention", "frame_similarity_gap")
    if g:
        st = _sign_status(g)
        out.append(Verdict("Causal attention: more consistent frames than bidirectional", st,
                           _diff_line(st, g, "frame-to-frame similarity causal - bidirectional"),
                           "bidirectional changes shape and colour (Fig. 11)", g["note"]))
    g = _gap(ctx, "temporal_pyramid", "fid_gap")
    if g:
        st = _sign_status(g, positive_is_claim=False)
        out.append(Verdict("Temporal pyramid: compressed history keeps quality (FID pyramid_ar - ar_full_history)",
                           st, _diff_line(st, g, "FID pyramid_ar - ar_full_history"),
                           "comparable quality at far fewer tokens (Fig. 8)", g["note"]))
    return out


def convergence_verdicts(ctx: ReportContext) -> list[Verdict]:
    """One line per claim (FID convergence per pyramid variant, corrective noise, causal attention, temporal
    pyramid), each with its number and interval; claims without rows are left to the report's 'not measured'."""
    return _fid_verdicts(ctx) + _ablation_verdicts(ctx)

