"""The FID-convergence verdict: per pyramid variant, the training compute it needs to reach full_sequence's final
quality, against the paper's "almost 3x" (pfbench.benchmarks.vocabulary.ratio_claim words it).

The ladder reads the statistic the suite chose (the row's backend, e.g. ``kid_blocked[efficientnet-lite0]``): the
Fréchet distance only where it is not bias-dominated. A verdict in the variant's favour is withheld when its samples
are less diverse than the baseline's beyond the declared margin: a collapsing generator can look converged.
"""
from __future__ import annotations

import math

import pandas as pd

from pfbench.benchmarks.base import Verdict
from pfbench.benchmarks.fid.section import PAPER_FID, RATIO, _end, _ladder, _ratio_cell
from pfbench.benchmarks.vocabulary import diversity_guard, fmt_x, ratio_claim
from pfbench.render.context import ReportContext
from pfbench.render.style import BASELINE, order_variants

FINAL = 1.0  # the verdict reads the ladder's last target: full_sequence's quality at the end of its run


def _final_value(ctx: ReportContext, variant: str, metric: str) -> float:
    d = ctx.rows("fid", case="convergence", variant=variant, metric=metric)
    d = d[d["value"].notna()]
    return float(d.sort_values("x_value")["value"].iloc[-1]) if len(d) else math.nan


def _sizes(ctx: ReportContext) -> str:
    """'N = 24 generated frames, D = 1280' from the baseline's rows."""
    n, d = _final_value(ctx, BASELINE, "fake_frames"), _final_value(ctx, BASELINE, "feature_dim")
    return f"N = {n:.0f} generated frames per evaluation, D = {d:.0f}" if n == n and d == d else "N, D not recorded"


def ladder_call(low: float, high: float, diversity: float, base_diversity: float,
                fid_bias_dominated: bool = False) -> tuple[str, str]:
    """(status, words) of the convergence claim from the last target's ratio interval: the "~3x" vocabulary, then
    withheld ("inconclusive") for a variant less diverse than the baseline beyond the margin, and for a ladder read
    on a bias-dominated Fréchet distance."""
    call = diversity_guard(ratio_claim(low, high), diversity, base_diversity, names=("the variant", BASELINE))
    status, words = call.status, call.words
    if fid_bias_dominated:
        status, words = "inconclusive", "inconclusive: the Fréchet distance is bias-dominated at this N"
    return status, words


def verdicts(ctx: ReportContext) -> list[Verdict]:
    """One verdict per pyramid variant at the ladder's last target."""
    flops = _ladder(ctx, RATIO)
    if flops.empty:
        return []
    ladder = ctx.rows("fid", case="ladder", metric=RATIO)
    statistic = next((b for b in dict.fromkeys(ladder["backend"]) if b), "?")
    base_div = _final_value(ctx, BASELINE, "diversity_ratio")
    out = []
    for v in order_variants(flops["variant"]):
        d = flops[flops["variant"] == v].sort_values("fraction")
        final = d[d["fraction"] == FINAL].iloc[0] if (d["fraction"] == FINAL).any() else d.iloc[-1]
        div = _final_value(ctx, v, "diversity_ratio")
        status, words = ladder_call(final["low"], final["high"], div, base_div,
                                    statistic.startswith("fid[") and _final_value(ctx, BASELINE, "bias_dominated") == 1.0)
        ratio = None if final["ratio"] is None or pd.isna(final["ratio"]) else float(final["ratio"])
        shown = "never reached" if ratio is None else fmt_x(ratio, final["bound"])
        value = f"{words}: {shown} (95% CI {_end(final['low'])}-{_end(final['high'])}, paired seeds)"
        cause = _cause(ctx, v)
        levels = "; ".join(f"{r['fraction']:.0%}: {_ratio_cell(r)}" for _, r in d.iterrows())
        why = (f"reads {statistic}; {_sizes(ctx)}; training FLOPs ratio at every ladder target: {levels}"
               + (f"; {cause}" if cause else "") + (f"; diversity ratio {div:.2f} vs {BASELINE} {base_div:.2f}"
                                                    if div == div and base_div == base_div else ""))
        out.append(Verdict(f"FID convergence ({v}): compute to reach full_sequence's final quality", status, value,
                           PAPER_FID, why))
    return out


def _cause(ctx: ReportContext, variant: str) -> str:
    """Why the last target's interval has an unbounded or missing end (the row's note), '' when it has none."""
    d = ctx.rows("fid", case="ladder", variant=variant, metric=RATIO + "_ci_high")
    d = d[d["x_value"] == FINAL] if (d["x_value"] == FINAL).any() else d
    note = str(d["note"].iloc[-1]) if len(d) else ""
    return note.split("; ", 1)[1] if "; " in note else ""
