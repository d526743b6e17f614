"""The VBench benchmark's report section: each variant's VBench-style scores with the backend of every number,
the metric checks on clips with known answers, and the metrics' own throughput.

Honest quality rows: a quality score aggregated over fewer than all of VBench's quality dimensions says which it
has and is never shown or drawn beside the paper's full published score; per-dimension paper values are reference
points of another model at 768p, drawn as ticks."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pfbench.metrics.vbench.names import DIMENSION_NAMES, QUALITY_DIMENSIONS
from pfbench.render.blocks import Block, image, table, text
from pfbench.render.context import ReportContext, no_data, value_of
from pfbench.render.format import fmt
from pfbench.render.style import color, order_variants

# VBench Table 1 of the paper (768p, 5 s, percent): the published Pyramid Flow scores, all 7 quality dimensions.
PAPER_VBENCH_PERCENT = {
    "quality_score": 84.74, "motion_smoothness": 99.12, "dynamic_degree": 64.63, "subject_consistency": 96.95,
    "background_consistency": 98.06, "temporal_flickering": 99.49, "aesthetic_quality": 63.26,
    "imaging_quality": 65.01,
}
AGGREGATES = ("vbench_quality_score", "quality_score")
LOWER_IS_BETTER = ("warping_error",)
NO_PLOT = ("flow_score", "warping_error")  # not on a [0, 1] higher-is-better axis
SPEED_METRICS = ("frames_per_s", "frames_per_second", "realtime_factor")


def present_dimensions(dims: pd.DataFrame, variant: str) -> list[str]:
    """The VBench quality dimensions a variant's aggregate is computed from (ok rows of this sample set)."""
    ok = dims[(dims["variant"] == variant) & (dims["status"] == "ok") & dims["value"].notna()]
    return [m for m in QUALITY_DIMENSIONS if (ok["metric"] == m).any()]


def aggregate_label(dims: pd.DataFrame, variants: list[str]) -> tuple[str, bool]:
    """'quality score (partial: 3 of 7 dims: a, b, c)' and whether it is partial."""
    have = sorted({d for v in variants for d in present_dimensions(dims, v)}, key=QUALITY_DIMENSIONS.index)
    if len(have) == len(QUALITY_DIMENSIONS):
        return "quality score (all 7 quality dimensions)", False
    return f"quality score (partial: {len(have)} of {len(QUALITY_DIMENSIONS)} dims: {', '.join(have)})", True


def section_vbench(ctx: ReportContext) -> list[Block]:
    vb = ctx.rows("vbench")
    if vb.empty:
        return [no_data(ctx, "vbench", "VBench-style scores")]
    ctx.mark(vb)
    scored = vb[vb["metric"].isin(list(DIMENSION_NAMES) + list(AGGREGATES)) & (vb["source"] == "rows")].copy()
    samples = scored[scored["case"] == "variant_samples"]
    dims = samples if not samples.empty else scored
    checks = scored[scored["case"] != "variant_samples"].copy() if not samples.empty else scored.iloc[0:0]
    if dims["case"].nunique() > 1:  # several sample sets: one column per case/variant
        dims = dims.assign(variant=dims["case"] + "/" + dims["variant"])
    blocks = [text("VBench-style dimensions computed offline on each variant's samples; every row names its "
                   "backend. The paper column is Pyramid Flow's published score (768p, 5 s; Table 1) per dimension: "
                   "a reference point, not a like-for-like comparison; a partial quality score (fewer than VBench's "
                   "7 quality dimensions) gets no paper value. Higher is better except warping_error; flow_score is "
                   "mean flow magnitude in pixels (motion, no better side).")]
    if not dims.empty:
        variants = order_variants(dims["variant"])
        agg_label, partial = aggregate_label(dims, variants)
        rows = []
        for metric in dict.fromkeys(dims["metric"]):
            dm = dims[dims["metric"] == metric]
            row = {"dimension": agg_label if metric in AGGREGATES else metric}
            for v in variants:
                dv = dm[dm["variant"] == v]
                row[v] = fmt(value_of(dv)) if len(dv) and dv["status"].iloc[0] == "ok" else (
                    dv["status"].iloc[0] if len(dv) else "—")
            paper = PAPER_VBENCH_PERCENT.get("quality_score" if metric in AGGREGATES else metric)
            row["paper (Pyramid Flow, 768p)"] = ("— (partial score)" if metric in AGGREGATES and partial else
                                                 "—" if paper is None else fmt(paper / 100))
            row["backend"] = ", ".join(b for b in dict.fromkeys(dm["backend"]) if b) or "?"
            rows.append(row)
        ok = dims[(dims["status"] == "ok") & dims["value"].notna() & ~dims["metric"].isin(NO_PLOT)]
        if partial:
            ok = ok[~ok["metric"].isin(AGGREGATES)]  # a partial aggregate is never drawn beside the full score
        if not ok.empty:
            blocks.append(image(_plot_vbench(ctx, ok, agg_label if partial else ""), "VBench-style dimensions per variant [backend]; gold ticks: "
                                                       "the paper's per-dimension scores (768p, another model size)"))
        blocks.append(table(pd.DataFrame(rows), "VBench-style scores per variant"))
    if not checks.empty:
        checks["clip"] = checks["case"] + "/" + checks["variant"]
        wide = checks.pivot_table(index="metric", columns="clip", values="value", aggfunc="first").map(fmt)
        wide["backend"] = [", ".join(b for b in dict.fromkeys(checks[checks["metric"] == m]["backend"]) if b)
                           for m in wide.index]
        blocks.append(table(wide.reset_index(), "Metric checks on clips with known answers (static, noise, constant "
                                                "translation)"))
    blocks += _speed_table(vb)
    from pfbench.benchmarks.vbench.fvd_section import section_fvd
    return blocks + section_fvd(ctx)


def _speed_table(vb: pd.DataFrame) -> list[Block]:
    """One row per (case, backend): frames scored per second and the realtime factor."""
    speed = vb[vb["metric"].isin(SPEED_METRICS) & vb["value"].notna()]
    if speed.empty:
        return []
    if (speed["source"] == "rows").any():  # the suite's own rows name the clip; its benchmark JSON repeats them
        speed = speed[speed["source"] == "rows"]
    speed = speed.assign(metric=speed["metric"].replace({"frames_per_second": "frames_per_s"}))
    rows = []
    for (case, variant, backend), d in speed.groupby(["case", "variant", "backend"], sort=False):
        rows.append({"case": case, "clip": variant, "backend": backend or "?",
                     "frames/s": fmt(value_of(d, metric="frames_per_s")),
                     "realtime factor": fmt(value_of(d, metric="realtime_factor"))})
    table_ = pd.DataFrame(rows).drop_duplicates()
    return [table(table_, "Metric throughput: frames scored per second (realtime factor = frames/s over the clip's "
                          "fps); one row per measured case")]


def _plot_vbench(ctx: ReportContext, ok: pd.DataFrame, partial: str = "") -> Path:
    metrics = list(dict.fromkeys(ok["metric"]))
    variants = order_variants(ok["variant"])
    backends = {m: ", ".join(b for b in dict.fromkeys(ok[ok["metric"] == m]["backend"]) if b) for m in metrics}
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(metrics) * max(len(variants), 1) / 1.5 + 1.5))
    h = 0.8 / len(variants)
    ys = np.arange(len(metrics))
    for i, v in enumerate(variants):
        vals = [value_of(ok, variant=v, metric=m) for m in metrics]
        ax.barh(ys + (i - (len(variants) - 1) / 2) * h, vals, h, label=v, color=color(v, i))
    papers = [PAPER_VBENCH_PERCENT.get("quality_score" if m in AGGREGATES else m) for m in metrics]
    for y, p in zip(ys, papers):
        if p is not None:
            ax.plot([p / 100] * 2, [y - 0.45, y + 0.45], color="gold", lw=3, label="paper" if y == ys[0] else None)
    ax.set_yticks(ys, [f"{m}\n[{backends[m] or '?'}]" for m in metrics], fontsize=8)
    lo = min([np.nanmin(ok["value"])] + [p / 100 for p in papers if p is not None])
    ax.set_xlim(max(0.0, lo - 0.1), 1.0)
    ax.set_xlabel("score (fraction, higher is better)")
    ax.set_title("VBench-style dimensions per variant" + (f"\n(not drawn: the {partial})" if partial else ""),
                 fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ctx.save(fig, "vbench")


section = section_vbench
