"""The tokens benchmark's report section: tokens and attention pairs per variant (analytic beside counted and
the paper's numbers), FLOPs per training sample and per video, and the paper plan's GPU-hours."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pfbench.render.blocks import Block, heading, image, table, text
from pfbench.render.context import ReportContext, no_data, value_of
from pfbench.render.format import fmt, pct_change
from pfbench.render.style import BASELINE, color, line_style, order_variants


def _seconds_of_case(case: str) -> float:
    """'paper-768p-10s' -> 10.0; NaN when the case names no length."""
    tail = case.rsplit("-", 1)[-1]
    try:
        return float(tail[:-1]) if tail.endswith("s") else float("nan")
    except ValueError:
        return float("nan")


def section_tokens(ctx: ReportContext) -> list[Block]:
    t = ctx.rows("tokens", metric=["max_tokens", "mean_tokens", "attention_pairs", "max_attention_pairs"])
    if t.empty:
        return [no_data(ctx, "tokens", "token counts")]
    ctx.mark(t)
    blocks = [text("Sequence length of the largest forward pass (max tokens), mean tokens per training sample, and "
                   "attention (query, key) pairs the mask allows, per variant. `analytic` numbers come from "
                   "`pfbench.accounting`; `counted` ones from the real model; `paper` ones are the paper's stated "
                   "numbers.")]
    sweep = t[(t["x_name"] == "seconds") & (t["backend"] != "paper")]
    if not sweep.empty:
        blocks.append(image(_plot_tokens_sweep(ctx, sweep, t[t["backend"] == "paper"]),
                            "Tokens and attention pairs against video length at 768p (log scale); stars: the "
                            "paper's numbers"))
    cases = [c for c in dict.fromkeys(t[t["x_name"] == ""]["case"])]
    rows = []
    for case in cases:
        d = t[t["case"] == case]
        full_max = value_of(d, variant=BASELINE, metric="max_tokens", backend="analytic")
        full_pairs = value_of(d, variant=BASELINE, metric="attention_pairs", backend="analytic")
        for v in order_variants(d["variant"]):
            dv = d[d["variant"] == v]
            mx = value_of(dv, metric="max_tokens", backend="analytic")
            pairs = value_of(dv, metric="attention_pairs", backend="analytic")
            rows.append({
                "case": case, "variant": v, "max tokens": fmt(mx, "tokens"),
                "paper": fmt(value_of(dv, metric="max_tokens", backend="paper"), "tokens"),
                "counted": fmt(value_of(dv, metric="max_tokens", backend="counted"), "tokens"),
                "vs full": pct_change(mx, full_max),
                "mean tokens": fmt(value_of(dv, metric="mean_tokens", backend="analytic"), "tokens"),
                "attention pairs": fmt(pairs, "pairs"), "pairs vs full": pct_change(pairs, full_pairs),
            })
            if (d["metric"] == "max_attention_pairs").any():
                rows[-1]["max pairs (one pass)"] = fmt(value_of(dv, metric="max_attention_pairs",
                                                                backend="analytic"), "pairs")
    if rows:
        blocks.append(table(pd.DataFrame(rows), "Per case (preset): measured/analytic beside the paper's numbers"))
    return blocks


def _plot_tokens_sweep(ctx: ReportContext, sweep: pd.DataFrame, paper: pd.DataFrame) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, metric, label in ((axes[0], "max_tokens", "tokens"), (axes[1], "attention_pairs", "pairs")):
        d = sweep[sweep["metric"] == metric]
        for i, v in enumerate(order_variants(d["variant"])):
            dv = d[d["variant"] == v].sort_values("x_value")
            ax.plot(dv["x_value"], dv["value"], label=v, **line_style(v, i))
        p = paper[paper["metric"] == metric]
        if not p.empty:
            xs = p["case"].map(_seconds_of_case)
            ax.scatter(xs, p["value"], marker="*", s=160, color="gold", edgecolor="black", zorder=5,
                       label="paper")
        _annotate_saving(ax, d, label)
        ax.set_yscale("log")
        ax.set_xlabel("video length (seconds, 24 fps)")
        ax.set_ylabel(f"{'max sequence length' if metric == 'max_tokens' else 'attention pairs'} ({label})")
        ax.set_title("Tokens in the largest forward pass vs length (768p)" if metric == "max_tokens" else
                     "Attention pairs per training sample vs length (768p)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return ctx.save(fig, "tokens_vs_length")


def _annotate_saving(ax, d: pd.DataFrame, label: str, variant: str = "pyramid_ar") -> None:
    """Write '-87% tokens' next to the pyramid curve at the longest length."""
    if d.empty:
        return
    x = d["x_value"].max()
    base = value_of(d[d["x_value"] == x], variant=BASELINE)
    new = value_of(d[d["x_value"] == x], variant=variant)
    if pd.isna(base) or pd.isna(new) or base <= 0:
        return
    change = (new - base) / base * 100
    shown = f"{change:+.1f}" if abs(change) >= 99.5 else f"{change:+.0f}"  # never round -99.8% to -100%
    ax.annotate(f"{shown}% {label}", xy=(x, new), xytext=(-10, -22),
                textcoords="offset points", ha="right", fontsize=10, fontweight="bold", color=color(variant),
                arrowprops=dict(arrowstyle="->", color=color(variant)))


def section_flops(ctx: ReportContext) -> list[Block]:
    f = ctx.rows("tokens", metric=["train_flops_per_sample", "sample_flops_per_video"])
    g = ctx.rows("tokens", metric=["gpu_hours", "implied_mfu"])
    if f.empty and g.empty:
        return [no_data(ctx, "tokens", "FLOP or GPU-hour numbers")]
    ctx.mark(f), ctx.mark(g)
    blocks = []
    if not f.empty:
        rows = []
        # the length sweep (x_name "seconds") is drawn, not tabled: its 768p-5s/10s rows repeat the paper cases
        for case in dict.fromkeys(f[f["x_name"] == ""]["case"]):
            d = f[f["case"] == case]
            base_t = value_of(d, variant=BASELINE, metric="train_flops_per_sample")
            base_s = value_of(d, variant=BASELINE, metric="sample_flops_per_video")
            for v in order_variants(d["variant"]):
                tr = value_of(d, variant=v, metric="train_flops_per_sample")
                sa = value_of(d, variant=v, metric="sample_flops_per_video")
                rows.append({"case": case, "variant": v, "train FLOP / sample": fmt(tr, "FLOP"),
                             "vs full": pct_change(tr, base_t), "sampling FLOP / video": fmt(sa, "FLOP"),
                             "vs full ": pct_change(sa, base_s)})
        big = _largest_paper_case(f)
        if big:
            blocks.append(image(_plot_flops(ctx, f[f["case"] == big], big),
                                f"Training and sampling FLOPs per variant at {big} (log scale)"))
        blocks.append(table(pd.DataFrame(rows), "FLOPs per training sample and per generated video (1 MAC = 2 FLOP; "
                                                "a training step = 3x forward)"))
    if not g.empty:
        rows = [{"variant": r.variant, "metric": r.metric, "value": fmt(r.value, r.unit), "unit": r.unit,
                 "backend": r.backend, "note": r.note} for r in g.itertuples()]
        hours = g[g["metric"] == "gpu_hours"]
        if not hours.empty:
            blocks.append(image(_plot_gpu_hours(ctx, hours), "Projected GPU-hours for the paper's training plan "
                                                             "against the paper's 20.7k A100-hours"))
        blocks.append(table(pd.DataFrame(rows), "GPU-hours for the paper's plan (case `paper-plan`)"))
    return blocks


def _largest_paper_case(d: pd.DataFrame) -> str | None:
    paper = [c for c in dict.fromkeys(d["case"]) if c.startswith("paper-") and c != "paper-plan"]
    if not paper:
        return next(iter(dict.fromkeys(d["case"])), None)
    return max(paper, key=lambda c: (("768p" in c), _seconds_of_case(c)))


def _plot_flops(ctx: ReportContext, d: pd.DataFrame, case: str) -> Path:
    variants = order_variants(d["variant"])
    metrics = [("train_flops_per_sample", "training, per sample"), ("sample_flops_per_video", "sampling, per video")]
    fig, ax = plt.subplots(figsize=(11, 4.6))
    width = 0.8 / len(metrics)
    xs = np.arange(len(variants))
    for j, (metric, label) in enumerate(metrics):
        vals = [value_of(d, variant=v, metric=metric) for v in variants]
        bars = ax.bar(xs + (j - (len(metrics) - 1) / 2) * width, vals, width, label=label,
                      color=["#8c8c8c", "#d62728"][j % 2], alpha=0.85)
        base = value_of(d, variant=BASELINE, metric=metric)
        for bar, v, val in zip(bars, variants, vals):
            if v != BASELINE and not pd.isna(val) and not pd.isna(base) and base > 0:
                ax.annotate(f"{(val - base) / base * 100:+.0f}%", (bar.get_x() + bar.get_width() / 2, val),
                            ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, variants, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("FLOP (log scale)")
    ax.set_title(f"Compute per variant at {case} (labels: change vs {BASELINE})")
    ax.set_ylim(top=ax.get_ylim()[1] * 20)  # room for the legend above the tallest bar
    ax.legend(loc="upper left", ncols=2)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return ctx.save(fig, "flops")


def _plot_gpu_hours(ctx: ReportContext, hours: pd.DataFrame) -> Path:
    labels = [f"{r.variant}\n({r.backend})" for r in hours.itertuples()]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    colors = ["gold" if b == "paper" else color(v) for v, b in zip(hours["variant"], hours["backend"])]
    bars = ax.barh(labels, hours["value"], color=colors, edgecolor="black")
    base = value_of(hours, variant=BASELINE, backend="projection")
    for bar, r in zip(bars, hours.itertuples()):
        label = f"{r.value / 1000:,.1f}k"
        if r.variant != BASELINE and not pd.isna(base) and base > 0:
            label += f" ({(r.value - base) / base * 100:+.0f}% vs {BASELINE} projection)"
        ax.annotate(label, (r.value, bar.get_y() + bar.get_height() / 2), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=9)
    log = hours["value"].max() / max(hours["value"].min(), 1e-9) > 30
    if log:
        ax.set_xscale("log")
    ax.set_xlim(right=hours["value"].max() * (3 if log else 1.45))
    ax.set_xlabel("GPU-hours" + (" (log scale)" if log else ""))
    ax.set_title("Training the paper's plan: projected vs stated GPU-hours")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return ctx.save(fig, "gpu_hours")


def section(ctx: ReportContext) -> list[Block]:
    """Tokens and attention pairs, then FLOPs and the paper plan's GPU-hours."""
    return [heading("Tokens and attention pairs", 4), *section_tokens(ctx),
            heading("FLOPs and GPU-hours", 4), *section_flops(ctx)]
