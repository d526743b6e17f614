"""The FID-convergence report section: the ladder of targets with the compute ratio (and its interval) each
variant needs to reach them, and FID against training compute.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from pfbench.benchmarks.vocabulary import fmt_x
from pfbench.render.blocks import Block, image, table, text
from pfbench.render.context import ReportContext
from pfbench.render.format import fmt
from pfbench.render.style import BASELINE, line_style, order_variants

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


def _end(v: float) -> str:
    return fmt_x(v).rstrip("x")


def _ratio_cell(r) -> str:
    if r["ratio"] is None or (isinstance(r["ratio"], float) and math.isnan(r["ratio"])):
        return f"never reached (CI {_end(r['low'])}-{_end(r['high'])})"
    return f"{fmt_x(r['ratio'], r['bound'])} [{_end(r['low'])}, {_end(r['high'])}]"


def ladder_statistic(ctx: ReportContext) -> tuple[str, str]:
    """(metric, backend) of the statistic the ladder read: 'kid_blocked' or 'fid' with its extractor."""
    t = ctx.rows("fid", case="ladder", metric="ladder_target")
    backend = next((b for b in dict.fromkeys(t["backend"]) if b), "fid[?]")
    return backend.split("[", 1)[0], backend


def section(ctx: ReportContext) -> list[Block]:
    """Ladder table (ratio and 95% interval per target, FLOPs and wall time), curves plot, compute-bound check."""
    fid = ctx.rows("fid", case="convergence", metric="fid")
    if fid.empty:
        return [text("No FID-convergence rows in this run (suite `fid`).")]
    ctx.mark(ctx.rows("fid"))
    metric, backend = ladder_statistic(ctx)
    curve = ctx.rows("fid", case="convergence", metric=metric)
    blocks = [text(f"Compute to quality over a ladder of targets, read on `{backend}` (the Fréchet distance only where "
                   "it has at least 10 x D frames per set; else the clip-blocked kernel distance, unbiased at any N). "
                   f"Targets are {BASELINE}'s seed-mean value at 20/40/60/80% of its run and at its end, fixed before "
                   "the other variants were scored; each cell is full_sequence's cost / the variant's cost to reach "
                   "it, with a Student-t 95% interval over paired seeds (log ratios). `>=`: reached at its first "
                   "evaluation point (a lower bound); never reached: the variant needs more than its whole run. "
                   "Paper: " + PAPER_FID + ".")]
    targets = ctx.rows("fid", case="ladder", metric="ladder_target").sort_values("x_value")
    flops, wall = _ladder(ctx, RATIO), _ladder(ctx, WALL)
    if not flops.empty:
        rows = []
        for v in order_variants(flops["variant"]):
            for _, r in flops[flops["variant"] == v].sort_values("fraction").iterrows():
                w = wall[(wall["variant"] == v) & (wall["fraction"] == r["fraction"])]
                t = targets[targets["x_value"] == r["fraction"]]["value"]
                rows.append({"variant": v, "target (baseline at % of run)": f"{r['fraction']:.0%}",
                             f"target {metric}": fmt(t.iloc[0]) if len(t) else "—",
                             "FLOPs ratio [95% CI]": _ratio_cell(r),
                             "wall-time ratio [95% CI]": _ratio_cell(w.iloc[0]) if len(w) else "—"})
        blocks.append(table(pd.DataFrame(rows), "compute to reach each target, full_sequence / variant"))
    blocks.append(image(_plot(ctx, curve if not curve.empty else fid, metric),
                        f"seed-mean {metric} vs training FLOPs (95% CI over seeds), log x"))
    fall = ctx.rows("fid", case="compute_bound", metric="fid_drop_last20_z")
    if not fall.empty:
        blocks.append(table(pd.DataFrame([{"variant": r["variant"], "drop over the last 20% (in se)": fmt(r["value"]),
                                           "still falling (> 2 se)": "yes" if r["value"] > 2 else "no"}
                                          for _, r in fall.iterrows()]),
                            "compute-bound check: curves still falling at the last target"))
    budget = ctx.rows("fid", case="budget")
    if not budget.empty:
        blocks.append(text("Budget: " + "; ".join(f"{r['metric']} {fmt(r['value'])} ({r['note']})"
                                                  for _, r in budget.iterrows())))
    return blocks


def _plot(ctx: ReportContext, fid: pd.DataFrame, metric: str = "fid"):
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    curve = fid[fid["x_name"] == "train_flops"]
    for i, v in enumerate(order_variants(curve["variant"])):
        dv = curve[curve["variant"] == v].sort_values("x_value")
        ax.errorbar(dv["x_value"], dv["value"], yerr=dv["spread"].fillna(0).to_numpy(), capsize=3, label=v,
                    **line_style(v, i))
    for _, t in ctx.rows("fid", case="ladder", metric="ladder_target").iterrows():
        ax.axhline(t["value"], color="grey", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (analytic)")
    extractor = ", ".join(b for b in dict.fromkeys(curve["backend"].dropna()) if b) or "extractor not recorded"
    ax.set_ylabel(f"{metric} [{extractor}] (lower is better)")
    ax.legend()
    ax.set_title(f"{metric} vs training compute; dotted: full_sequence's ladder targets")
    return ctx.save(fig, "fid_convergence_ladder")
