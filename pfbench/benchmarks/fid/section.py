"""The FID-convergence benchmark's report section: FID against training compute and the compute each variant
needs to reach full_sequence's final FID (pfbench.experiments.compute_to_reach)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from pfbench.report.blocks import Block, image, table, text
from pfbench.report.common import (BASELINE, ReportContext, color, fmt, line_style, order_variants)
from pfbench.report.sections import no_data


def section_fid(ctx: ReportContext) -> list[Block]:
    f = ctx.rows("fid", metric="fid")
    if f.empty:
        return [no_data(ctx, "fid", "FID measurements")]
    ctx.mark(ctx.rows("fid"))
    curve = f[f["x_name"] == "train_flops"]
    extractors = ", ".join(f"`{b}`" for b in dict.fromkeys(f["backend"]) if b) or "?"
    blocks = [text(f"FID (feature extractor: {extractors}) against training compute; error bars are the reported "
                   "spread (95% CI). Lower is better. The paper reports pyramidal flow matching converging almost "
                   "3x faster than full-sequence flow matching.")]
    saving = ""
    if not curve.empty:
        path, saving = _plot_fid(ctx, curve)
        blocks.append(image(path, "FID vs training FLOPs (log x)"))
    rows = []
    for v in order_variants(curve["variant"] if not curve.empty else f["variant"]):
        dv = (curve if not curve.empty else f)
        dv = dv[dv["variant"] == v].sort_values("x_value")
        last = dv.iloc[-1]
        rows.append({"variant": v, "points": len(dv), "final FID": fmt(last["value"]),
                     "± (ci95)": fmt(last["spread"]), "best FID": fmt(dv["value"].min()),
                     "train FLOPs at end": fmt(last["x_value"], "FLOP")})
    blocks.append(table(pd.DataFrame(rows), "FID at the end of training"))
    if saving:
        blocks.append(text(saving))
    return blocks


def _plot_fid(ctx: ReportContext, curve: pd.DataFrame) -> tuple[Path, str]:
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    for i, v in enumerate(order_variants(curve["variant"])):
        dv = curve[curve["variant"] == v].sort_values("x_value")
        ax.errorbar(dv["x_value"], dv["value"], yerr=dv["spread"].fillna(0), capsize=3, label=v,
                    **line_style(v, i))
    saving = ""
    base = curve[curve["variant"] == BASELINE].sort_values("x_value")
    best = "pyramid_ar" if (curve["variant"] == "pyramid_ar").any() else "spatial_pyramid"
    pyr = curve[curve["variant"] == best]
    if len(base) and len(pyr):
        target = float(base["value"].iloc[-1])
        x_base = _reach(base, target)
        x_pyr = _reach(pyr, target)
        if not pd.isna(x_pyr) and x_pyr > 0:
            ratio = x_base / x_pyr
            saving = (f"`{best}` reaches the final `{BASELINE}` FID ({target:.4g}) with {ratio:.2f}x less training "
                      f"compute ({x_pyr:.3g} vs {x_base:.3g} FLOP).")
            ax.axhline(target, color="gray", ls=":", lw=1)
            ax.annotate(f"{best}: {ratio:.1f}x less compute\nto reach FID {target:.0f}", xy=(x_pyr, target),
                        xytext=(-30, -45), textcoords="offset points", ha="right", fontsize=10, fontweight="bold",
                        color=color(best), bbox=dict(boxstyle="round", fc="white", ec=color(best), alpha=0.9),
                        arrowprops=dict(arrowstyle="->", color=color(best)))
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels collide within a decade
    ax.set_xlabel("training compute (FLOP, log scale)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title("FID convergence against training compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ctx.save(fig, "fid_vs_compute"), saving


def _reach(dv: pd.DataFrame, target: float) -> float:
    """pfbench.experiments.compute_to_reach on a curve's rows (the suite's own rule); NaN when never reached."""
    from pfbench.experiments import compute_to_reach

    x = compute_to_reach(dv["x_value"].tolist(), dv["value"].tolist(), target)
    return float("nan") if x is None else x


def section(ctx: ReportContext) -> list[Block]:
    """Helper B's convergence section (pfbench.report_convergence, issue 16) where it exists, else this one."""
    try:
        from pfbench.report_convergence import section_convergence
    except ImportError:
        return section_fid(ctx)
    return section_convergence(ctx)
