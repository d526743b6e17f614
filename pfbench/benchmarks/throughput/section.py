"""The throughput benchmark's report section: time per call with its IQR, measured beside FLOP-predicted
speedups, FLOP/s and MFU."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pfbench.render.blocks import Block, image, table, text
from pfbench.render.context import ReportContext, no_data, value_of
from pfbench.render.format import fmt, fmt_x
from pfbench.render.style import BASELINE, color, order_variants


def section_throughput(ctx: ReportContext) -> list[Block]:
    b = ctx.rows("throughput")
    if b.empty:
        return [no_data(ctx, "throughput", "throughput measurements")]
    ctx.mark(b)
    timed = b[b["metric"] == "time_s"]
    blocks = [text("Median seconds per call with the interquartile range (IQR) over rounds; speedups are "
                   f"relative to `{BASELINE}` (measured) beside the FLOP-predicted speedup. The "
                   "`train_step_interleaved` case times at least 10 alternating rounds (full_sequence and each "
                   "paired variant back to back; ar_full_history only in `train_step`, the order reversed every other round) and takes the median of the "
                   "per-round ratios with its exact order-statistic 95% interval (wall and process CPU time), so a "
                   "change of machine speed during the run cancels out.")]
    if not timed.empty:
        blocks.append(image(_plot_throughput(ctx, b), "Median time per call with IQR; labels: measured speedup vs "
                                                      "full sequence"))
    rows = []
    for case in dict.fromkeys(b["case"]):
        d = b[b["case"] == case]
        for v in order_variants(d["variant"]):
            dv = d[d["variant"] == v]
            if dv[dv["metric"] == "time_s"].empty and dv[dv["metric"].str.startswith("speedup")].empty:
                continue
            t = dv[dv["metric"] == "time_s"]
            rows.append({
                "case": case, "variant": v,
                "median (s)": fmt(value_of(dv, metric="time_s")),
                "IQR (s)": fmt(float(t["spread"].iloc[0]) if len(t) else float("nan")),
                "rounds": fmt(value_of(dv, metric="rounds"), "count"),
                "speedup (measured)": fmt_x(value_of(dv, metric="speedup_vs_full_sequence")),
                "speedup (FLOP-predicted)": fmt_x(value_of(dv, metric="predicted_speedup")),
                "measured / predicted": fmt(value_of(dv, metric="speedup_ratio")),
                "tokens/s": fmt(value_of(dv, metric="tokens_per_s")),
                "samples/s": fmt(value_of(dv, metric="samples_per_s")),
                "achieved FLOP/s": fmt(value_of(dv, metric="achieved_flops_per_s"), "FLOP/s"),
                "MFU": fmt(value_of(dv, metric="mfu"), "fraction"),
            })
    blocks.append(table(pd.DataFrame(rows), "Throughput per case and variant (MFU — when the device's peak is "
                                            "unknown, e.g. on CPU)"))
    return blocks


def _plot_throughput(ctx: ReportContext, b: pd.DataFrame) -> Path:
    timed = b[b["metric"] == "time_s"]
    cases = list(dict.fromkeys(timed["case"]))
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4.4), squeeze=False)
    for ax, case in zip(axes[0], cases):
        d = timed[timed["case"] == case]
        variants = order_variants(d["variant"])
        vals = [value_of(d, variant=v) for v in variants]
        iqr = [float(d[d["variant"] == v]["spread"].fillna(0).iloc[0]) for v in variants]
        bars = ax.bar(variants, vals, yerr=np.array(iqr) / 2, capsize=5,
                      color=[color(v, i) for i, v in enumerate(variants)])
        base = value_of(d, variant=BASELINE)
        for bar, v, val in zip(bars, variants, vals):
            if v != BASELINE and base > 0 and val > 0:
                label = f"{base / val:.2f}x faster" if val <= base else f"{val / base:.2f}x slower"
            else:
                label = f"{val:.3g} s"
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, val), xytext=(0, 4), textcoords="offset points",
                        ha="center", fontsize=7.5, fontweight="bold")
        ax.set_ylabel("median time per call (s), error bar = IQR")
        ax.set_title(f"{case}: time per call")
        ax.tick_params(axis="x", rotation=15)
        ax.grid(True, axis="y", alpha=0.3)
    return ctx.save(fig, "throughput")


section = section_throughput
