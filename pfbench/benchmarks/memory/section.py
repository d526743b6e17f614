"""The memory benchmark's report section: peak memory against clip length and resolution, and the out-of-memory
frontier (a lower bound where the sweep's time cap stopped it)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from pfbench.render.blocks import Block, image, table, text
from pfbench.render.context import ReportContext, bound_of, no_data, value_of
from pfbench.render.format import BOUND_MARKER, GIB, fmt
from pfbench.render.style import color, line_style, order_variants, plain_log_axis


def section_memory(ctx: ReportContext) -> list[Block]:
    m = ctx.rows("memory")
    if m.empty:
        return [no_data(ctx, "memory", "memory measurements")]
    ctx.mark(m)
    # One quantity per plot: on CPU the increase over the child's start-up footprint (what the RAM budget
    # caps); on CUDA the allocator's peak of live tensors. Other backends stay in the tables.
    increase = m[m["metric"] == "peak_memory_increase_bytes"]
    if not increase.empty:
        peaks = pd.concat([increase, m[(m["metric"] == "peak_memory_bytes") & (m["status"] == "oom")]])
        what = "peak RSS above the child's start-up footprint (`child_peak_rss`)"
    else:
        peaks = m[(m["metric"] == "peak_memory_bytes") & m["backend"].isin(["cuda_max_allocated", "child_peak_rss"])]
        what = ", ".join(f"`{b}`" for b in dict.fromkeys(peaks["backend"]) if b) or "?"
    peaks = peaks.drop_duplicates(subset=["variant", "x_name", "x_value", "status"])
    blocks = [text(f"Peak memory against clip length ({what}); an ✕ marks the first length that ran out of "
                   "memory, and the dotted line the largest length that fits (the out-of-memory frontier). An open "
                   "▷ marks a lower bound: the search stopped (ladder end or time cap) before running out, so the "
                   "frontier lies at or beyond it (`>=` in the table).")]
    if not peaks.empty:
        blocks.append(image(_plot_memory(ctx, peaks, m), "Peak memory vs latent frames and tokens per frame, "
                                                      "with the out-of-memory frontier"))
    rows = []
    for v in order_variants(m["variant"]):
        if not v:
            continue  # run-level rows (the memory budget) belong to no variant
        dv = m[m["variant"] == v]
        oom = dv[(dv["status"] == "oom") & (dv["x_name"] == "latent_frames")]["x_value"]
        ok = dv[(dv["metric"] == "peak_memory_bytes") & (dv["status"] == "ok") & (dv["x_name"] == "latent_frames")]
        top = ok.sort_values("x_value").iloc[-1] if len(ok) else None
        rows.append({"variant": v,
                     "max frames that fit": fmt(value_of(dv, metric="max_frames_fit"), "frames",
                                                bound_of(dv, metric="max_frames_fit")),
                     "max tokens/frame that fit": fmt(value_of(dv, metric="max_tokens_per_frame_fit"), "tokens",
                                                      bound_of(dv, metric="max_tokens_per_frame_fit")),
                     "first OOM at (frames)": fmt(oom.min(), "frames") if len(oom) else "none in sweep",
                     "peak at largest fit": fmt(top["value"], "bytes") if top is not None else "—",
                     "frames there": fmt(top["x_value"], "frames") if top is not None else "—"})
    blocks.append(table(pd.DataFrame(rows), "Out-of-memory frontier per variant"))
    return blocks


FIT_METRIC = {"latent_frames": "max_frames_fit", "tokens_per_frame": "max_tokens_per_frame_fit"}


def budget_gib(ctx: ReportContext, m: pd.DataFrame) -> float | None:
    """The sweep's budget: the run's recorded `memory_budget_bytes` row, else the resolved config (an env override
    such as PFBENCH_MEMORY_BUDGET_GIB is in config["overrides"]); None on CUDA without a row (device capacity)."""
    row = m[(m["metric"] == "memory_budget_bytes") & (m["case"] == "budget")]
    if row["value"].notna().any():
        return float(row["value"].dropna().iloc[0]) / GIB
    return ctx.setting("memory_budget_gib") if ctx.config.get("device", "cpu") == "cpu" else None


def _plot_memory(ctx: ReportContext, peaks: pd.DataFrame, m: pd.DataFrame) -> Path:
    sweeps = [s for s in ("latent_frames", "tokens_per_frame") if (peaks["x_name"] == s).any()]
    fig, axes = plt.subplots(1, max(len(sweeps), 1), figsize=(6 * max(len(sweeps), 1), 4.6), squeeze=False)
    budget = budget_gib(ctx, m)
    for ax, sweep in zip(axes[0], sweeps):
        d = peaks[peaks["x_name"] == sweep]
        top = d["value"].max() / GIB if d["value"].notna().any() else 1.0
        for i, v in enumerate(order_variants(d["variant"])):
            dv = d[d["variant"] == v].sort_values("x_value")
            ok = dv[dv["status"] == "ok"]
            c = color(v, i)
            ax.plot(ok["x_value"], ok["value"] / GIB, label=v, **line_style(v, i))
            oom = dv[dv["status"] == "oom"]
            if len(oom):
                y = budget or top
                x_oom = oom["x_value"].min()
                ax.scatter([x_oom], [y], marker="X", s=120, color=c, zorder=5)
                ax.annotate(f"{v}: OOM at {x_oom:g}", (x_oom, y), xytext=(-8, -14 - 12 * i),
                            textcoords="offset points", ha="right", fontsize=8, color=c)
                if len(ok):
                    ax.axvline(ok["x_value"].max(), color=c, ls=":", lw=1.2)
            fit = m[(m["variant"] == v) & (m["metric"] == FIT_METRIC[sweep])]
            if len(ok) and bound_of(fit) == "lower":
                x_fit = value_of(fit)
                y_fit = float(ok[ok["x_value"] <= x_fit]["value"].iloc[-1]) / GIB if (ok["x_value"] <= x_fit).any() \
                    else float(ok["value"].iloc[-1]) / GIB
                ax.scatter([x_fit], [y_fit], marker=BOUND_MARKER, s=110, facecolors="none", edgecolors=c, lw=1.6,
                           zorder=6, label=f"{v}: frontier >= {x_fit:g}")
        if budget:
            ax.axhline(budget, color="black", ls="--", lw=1, label=f"budget {budget:g} GiB")
        ax.set_xscale("log", base=2)
        plain_log_axis(ax.xaxis)
        ax.set_xlabel("latent frames" if sweep == "latent_frames" else "tokens per frame")
        ax.set_ylabel("peak memory (GiB)" if budget is None else "peak memory above start-up (GiB)")
        ax.set_title(f"Peak memory vs {'clip length' if sweep == 'latent_frames' else 'resolution'} (✕ = OOM)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return ctx.save(fig, "memory")


section = section_memory
