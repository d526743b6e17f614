"""The ar_per_frame benchmark's report section: the per-frame cost of autoregressive generation;
reads only run rows."""
from __future__ import annotations

import pandas as pd

from pfbench.render.blocks import image, table, text
from pfbench.render.context import no_data, value_of
from pfbench.render.format import fmt

SETTING_ORDER = ["pyramid_ar", "pyramid_ar_window", "ar_full_history"]
SETTING_COLORS = {"pyramid_ar": "#d62728", "pyramid_ar_window": "#2ca02c", "ar_full_history": "#9467bd"}


def _per_frame(d: pd.DataFrame, metric: str, backend: str | None = None) -> dict[str, pd.DataFrame]:
    d = d[d["metric"] == metric]
    if backend:
        d = d[d["backend"] == backend]
    d = d[d["value"].notna()]
    return {s: d[d["variant"] == s].sort_values("x_value") for s in SETTING_ORDER if (d["variant"] == s).any()}


def _plot_per_frame(ctx, d: pd.DataFrame, case: str):
    """Measured wall time, predicted FLOPs and peak memory per latent frame, side by side."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator
    panels = [("frame_wall_s", "measured", "wall time per frame (s)", 1.0),
              ("frame_flops", "analytic", "predicted FLOPs per frame (GFLOP)", 1e-9),
              ("frame_peak_memory_bytes", None, "peak memory while generating (MiB)", 2.0 ** -20)]
    panels = [p for p in panels if _per_frame(d, p[0], p[1])]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6), squeeze=False)
    for ax, (metric, backend, label, scale) in zip(axes[0], panels):
        for setting, rows in _per_frame(d, metric, backend).items():
            ax.plot(rows["x_value"], rows["value"] * scale, marker="o", ms=4, lw=1.8,
                    color=SETTING_COLORS.get(setting), label=setting)
            if metric == "frame_wall_s" and rows["spread"].notna().any():
                half = rows["spread"].fillna(0) * scale / 2
                ax.fill_between(rows["x_value"], rows["value"] * scale - half, rows["value"] * scale + half,
                                color=SETTING_COLORS.get(setting), alpha=0.15, lw=0)
        ax.set_xlabel("latent frame index")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", useOffset=False)
        if metric == "frame_peak_memory_bytes":
            backends = set(d[d["metric"] == metric]["backend"].dropna())
            label += " (process peak RSS)" if backends == {"vmhwm-clear-refs"} else ""
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Per-frame cost of autoregressive generation ({case})", fontsize=11)
    fig.tight_layout()
    return ctx.save(fig, "ar_per_frame")


def section_ar_per_frame(ctx) -> list:
    d = ctx.rows("ar_per_frame")
    if d.empty:
        return [no_data(ctx, "ar_per_frame", "per-frame autoregressive costs")]
    ctx.mark(d)
    blocks = []
    cost = d[d["case"].str.endswith("-ar-per-frame")]
    quality = d[d["case"] == "ar_per_frame_samples"]
    quality_label = _quality_label(quality)
    for case in dict.fromkeys(cost["case"]):
        c = cost[cost["case"] == case]
        if c[c["metric"] == "frame_wall_s"].empty and c[c["metric"] == "frame_flops"].empty:
            continue
        blocks.append(image(_plot_per_frame(ctx, c, case), "Per latent frame: measured wall time (median over "
                            "interleaved rounds; band = range), the FLOPs pfbench.accounting predicts, and the peak "
                            "memory while that frame was generated"))
        base_s = value_of(c, variant="pyramid_ar", metric="video_wall_s")
        base_f = c[(c["metric"] == "frame_flops") & (c["backend"] == "analytic") & (c["variant"] == "pyramid_ar")]
        rows = []
        for s in SETTING_ORDER:
            cs = c[c["variant"] == s]
            if cs.empty:
                continue
            flops = cs[(cs["metric"] == "frame_flops") & (cs["backend"] == "analytic")]["value"].sum()
            wall = value_of(cs, metric="video_wall_s")
            row = {"setting": s,
                   "measured growth (last / frame 1)": fmt(value_of(cs, metric="frame_cost_growth", backend="measured")),
                   "predicted growth": fmt(value_of(cs, metric="frame_cost_growth", backend="analytic")),
                   "video wall time": fmt(wall, "s") + " s" if wall == wall else "—",
                   "predicted FLOPs / video": fmt(flops, "FLOP"),
                   "vs pyramid_ar (FLOPs)": f"{flops / base_f['value'].sum() - 1:+.1%}" if not base_f.empty else "—",
                   "vs pyramid_ar (time)": f"{wall / base_s - 1:+.1%}" if base_s == base_s and wall == wall else "—"}
            q = quality[(quality["variant"] == s) & (quality["metric"] == "vbench_quality_score")]
            row[quality_label] = fmt(q["value"].iloc[0]) if not q.empty and q["value"].notna().any() else "—"
            rows.append(row)
        note = c["note"].dropna()
        window = next((n for n in note if "window W=" in n), "")
        blocks.append(table(pd.DataFrame(rows), f"Per-frame cost growth and what the sliding window saves ({case}); "
                            f"{window.split(';')[-1].strip() if window else ''}; quality = offline VBench-style "
                            "aggregate of the same settings' samples"))
        blocks.append(text(_verdict(c)))
    if not quality.empty:
        dims = quality[quality["metric"] != "vbench_quality_score"]
        if not dims.empty:
            pivot = dims.pivot_table(index="metric", columns="variant", values="value", aggfunc="first")
            pivot = pivot[[s for s in SETTING_ORDER if s in pivot.columns]].map(fmt)
            pivot["backend"] = [", ".join(b for b in dict.fromkeys(dims[dims["metric"] == m]["backend"]) if b) or "?"
                                for m in pivot.index]
            blocks.append(table(pivot.reset_index(), "VBench-style offline scores per setting (window = the pyramid_ar "
                                                     "model sampled with the last W frames only)"))
    return blocks or [no_data(ctx, "ar_per_frame", "per-frame autoregressive costs")]


def _quality_label(quality: pd.DataFrame) -> str:
    """The quality column's name: the aggregate, how many of VBench's quality dimensions it has (a partial score
    says so) and the backends of those dimensions."""
    from pfbench.metrics.vbench.names import QUALITY_DIMENSIONS
    ok = quality[(quality["status"] == "ok") & quality["value"].notna()]
    have = [m for m in QUALITY_DIMENSIONS if (ok["metric"] == m).any()]
    backends = ", ".join(b for b in dict.fromkeys(ok[ok["metric"].isin(have)]["backend"]) if b) or "?"
    part = "" if len(have) == len(QUALITY_DIMENSIONS) else f" (partial: {len(have)} of {len(QUALITY_DIMENSIONS)} dims)"
    return f"VBench-style quality{part} [{backends}]"


def _verdict(c: pd.DataFrame) -> str:
    """Where the temporal pyramid keeps the cost flat, and what the window saves, from the predicted rows."""
    growth = {s: value_of(c, variant=s, metric="frame_cost_growth", backend="analytic") for s in SETTING_ORDER}
    measured = {s: value_of(c, variant=s, metric="frame_cost_growth", backend="measured") for s in SETTING_ORDER}
    parts = [f"Predicted last-frame cost over frame 1: full history x{growth['ar_full_history']:.2f}, "
             f"compressed history (pyramid_ar) x{growth['pyramid_ar']:.2f}, sliding window "
             f"x{growth['pyramid_ar_window']:.2f} (flat once the window is full)."]
    if all(v == v for v in measured.values()):
        parts.append(f"Measured: x{measured['ar_full_history']:.2f}, x{measured['pyramid_ar']:.2f}, "
                     f"x{measured['pyramid_ar_window']:.2f}; on a small CPU model fixed per-evaluation overheads "
                     "flatten the measured growth relative to the FLOP prediction.")
    parts.append(_kv_cache_note(c))
    return " ".join(p for p in parts if p)


def _kv_cache_note(c: pd.DataFrame) -> str:
    """What caching history keys/values across a stage's steps could save at most (pfbench.benchmarks.ar_per_frame.frame_costs's bound)."""
    flops = c[c["backend"] == "analytic"].groupby(["variant", "metric"])["value"].sum()
    saving = {s: 1 - flops[(s, "frame_flops_kv_cache_bound")] / flops[(s, "frame_flops")] for s in SETTING_ORDER
              if (s, "frame_flops_kv_cache_bound") in flops.index and (s, "frame_flops") in flops.index}
    if not saving:
        return ""
    listed = ", ".join(f"{s} {v:.0%}" for s, v in saving.items())
    return (f"A KV cache of history tokens across each stage's denoising steps would save at most {listed} of "
            "the FLOPs per video. It is not built: this backbone, like the public Pyramid-Flow models, modulates "
            "every token (history included) with the current step's time embedding, so history keys and values "
            "change at every step and a cache would change the model; it pays only for a backbone trained with "
            "time-independent history tokens.")


section = section_ar_per_frame
