"""The scaling benchmark's report section: throughput against process count, with the ideal line."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from pfbench.render.blocks import image, table, text
from pfbench.render.context import ReportContext, no_data, value_of
from pfbench.render.format import fmt


def section_scaling(ctx: ReportContext) -> list:
    d = ctx.rows("scaling")
    if d.empty:
        return [no_data(ctx, "scaling", "data-parallel scaling measurements")]
    ctx.mark(d)
    d = d.assign(n=pd.to_numeric(d["x_value"], errors="coerce"))
    counts = sorted(int(n) for n in d["n"].dropna().unique())
    rows = []
    for n in counts:
        dn = d[d["n"] == n]
        rows.append({"processes": n, "backend": dn["backend"].iloc[0],
                     "samples/s": fmt(value_of(dn, metric="samples_per_s")),
                     "tokens/s": fmt(value_of(dn, metric="tokens_per_s")),
                     "median step (s)": fmt(value_of(dn, metric="step_s")),
                     "weak-scaling efficiency": fmt(value_of(dn, metric="weak_scaling_efficiency"), "fraction"),
                     "all-reduce in flight per step (s)": fmt(value_of(dn, metric="comm_s_per_step"))})
    blocks = [text("Weak scaling under torchrun (DDP): the per-process batch is fixed, so N processes train N times "
                   "the samples per step. Efficiency = throughput(N) / (N x throughput(1)); the all-reduce time is "
                   "measured by a DDP communication hook and overlaps the backward pass. On a shared CPU the "
                   "processes also compete for cores, which caps the efficiency below 1.")]
    blocks.append(image(_plot(ctx, d, counts), "Training throughput against process count (dashed: ideal)"))
    blocks.append(table(pd.DataFrame(rows), f"Scaling of `{d['variant'].iloc[0]}` ({d['case'].iloc[0]})"))
    return blocks


def _plot(ctx: ReportContext, d: pd.DataFrame, counts: list[int]):
    sps = [value_of(d[d["n"] == n], metric="samples_per_s") for n in counts]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot(counts, sps, "o-", label="measured")
    ax.plot(counts, [sps[0] / counts[0] * n for n in counts], "--", color="grey", label="ideal (linear)")
    ax.set_xlabel("processes")
    ax.set_ylabel("training samples / s")
    ax.set_xticks(counts)
    ax.legend()
    ax.grid(True, alpha=0.3)
    eff = [value_of(d[d["n"] == n], metric="weak_scaling_efficiency") for n in counts]
    ax2.plot(counts, eff, "o-")
    ax2.set_ylim(0, 1.1)
    ax2.set_xlabel("processes")
    ax2.set_ylabel("weak-scaling efficiency")
    ax2.set_xticks(counts)
    ax2.grid(True, alpha=0.3)
    return ctx.save(fig, "scaling")


section = section_scaling
