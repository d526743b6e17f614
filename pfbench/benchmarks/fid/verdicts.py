"""The FID-convergence verdict: per pyramid variant, the training compute it needs to reach full_sequence's final
FID, against the paper's ~1/3 (pfbench.benchmarks.fid.convergence words it).
"""
from __future__ import annotations

from pfbench.benchmarks.base import Verdict
from pfbench.benchmarks.fid.convergence import verdict_status, verdict_text
from pfbench.benchmarks.fid.section import PAPER_FID, RATIO, _ladder, _ratio_cell
from pfbench.render.context import ReportContext
from pfbench.render.style import order_variants

# ----------------------------------------------------------------------------------------------- verdicts

def verdicts(ctx: ReportContext) -> list[Verdict]:
    """FID convergence per pyramid variant: the compute each needs to reach full_sequence's final FID."""
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




