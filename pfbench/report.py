"""The run report: Markdown and one self-contained HTML file (plots embedded as base64 PNG).

The report is built as a list of blocks (headings, paragraphs, tables, images) by one function per section,
then rendered twice: :func:`render_markdown` (images linked from plots/) and :func:`render_html` (images
inlined). Every section tolerates missing data and says so instead of failing.
"""
from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pfbench.results import (  # noqa: E402
    compare_results, comparison_failed, context_differences, load_results, read_json, read_statuses,
)

VARIANT_ORDER = ["full_sequence", "spatial_pyramid", "pyramid_ar", "ar_full_history", "pyramid_ar_bidirectional"]
VARIANT_COLORS = {"full_sequence": "#4c4c4c", "spatial_pyramid": "#1f77b4", "pyramid_ar": "#d62728",
                  "ar_full_history": "#9467bd", "pyramid_ar_bidirectional": "#ff7f0e"}
BASELINE = "full_sequence"
GIB = 2 ** 30

# VBench Table 1 of the paper (768p, 5 s, percent): the published Pyramid Flow scores.
PAPER_VBENCH_PERCENT = {
    "quality_score": 84.74, "motion_smoothness": 99.12, "dynamic_degree": 64.63, "subject_consistency": 96.95,
    "background_consistency": 98.06, "temporal_flickering": 99.49, "aesthetic_quality": 63.26,
    "imaging_quality": 65.01,
}
PAPER_VBENCH_PERCENT["vbench_quality_score"] = PAPER_VBENCH_PERCENT["quality_score"]


# ---------------------------------------------------------------------------------------------
# Blocks and rendering
# ---------------------------------------------------------------------------------------------

@dataclass
class Block:
    """One piece of the report: kind is heading | text | table | image | bullets."""

    kind: str
    content: object
    level: int = 2
    caption: str = ""


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level)


def text(body: str) -> Block:
    return Block("text", body)


def table(df: pd.DataFrame, caption: str = "") -> Block:
    return Block("table", df, caption=caption)


def image(path: Path, caption: str) -> Block:
    return Block("image", path, caption=caption)


def bullets(items: list[str]) -> Block:
    return Block("bullets", items)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of already formatted cells."""
    if df.empty:
        return "_(no rows)_"
    cells = df.astype(str).map(lambda s: s.replace("|", "\\|").replace("\n", " "))
    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False, name=None)]
    return "\n".join([head, sep] + body)


def render_markdown(blocks: list[Block], run_dir: Path) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append("#" * b.level + " " + b.content)
        elif b.kind == "text":
            out.append(str(b.content))
        elif b.kind == "table":
            out.append((f"*{b.caption}*\n\n" if b.caption else "") + markdown_table(b.content))
        elif b.kind == "image":
            rel = Path(b.content).relative_to(run_dir).as_posix()
            out.append(f"![{b.caption}]({rel})\n\n*{b.caption}*")
        elif b.kind == "bullets":
            out.append("\n".join(f"- {item}" for item in b.content) or "- (none)")
    return "\n\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}
td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}
code{background:#f4f4f4;padding:0 3px}.caption{font-style:italic;color:#555;margin-bottom:.2em}
.bad{color:#b00;font-weight:bold}
"""


def _inline(text_: str) -> str:
    """Escape HTML and turn `code` spans into <code>."""
    parts = html.escape(text_).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_NUMERIC = re.compile(r"^[-+]?[\d.,]+(e-?\d+)?(%|x| GiB)?$|^—$")


def _cell(value) -> str:
    """A table cell; numbers are right-aligned."""
    text_ = str(value)
    return f"<td class='n'>{_inline(text_)}</td>" if _NUMERIC.match(text_) else f"<td>{_inline(text_)}</td>"


def render_html(blocks: list[Block], title: str) -> str:
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b.kind == "heading":
            out.append(f"<h{b.level}>{_inline(b.content)}</h{b.level}>")
        elif b.kind == "text":
            for para in str(b.content).split("\n\n"):
                out.append(f"<p>{_inline(para).replace(chr(10), '<br>')}</p>")
        elif b.kind == "table":
            df = b.content
            cap = f"<div class='caption'>{_inline(b.caption)}</div>" if b.caption else ""
            if df.empty:
                out.append(cap + "<p><em>(no rows)</em></p>")
                continue
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in df.columns)
            rows = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>"
                           for r in df.itertuples(index=False, name=None))
            out.append(f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "image":
            data = base64.b64encode(Path(b.content).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{_inline(b.caption)}</figcaption></figure>")
        elif b.kind == "bullets":
            items = "".join(f"<li>{_inline(i)}</li>" for i in b.content) or "<li>(none)</li>"
            out.append(f"<ul>{items}</ul>")
    out.append("</body></html>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------------------------

def sci(v: float) -> str:
    """1.4171e10 -> '1.42e10'."""
    mant, exp = f"{v:.2e}".split("e")
    return f"{mant}e{int(exp)}"


def fmt(value: float, unit: str = "") -> str:
    """A number for a table cell, in a readable scale for its unit; missing -> '—'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if unit == "bytes":
        return f"{v / GIB:.3g} GiB"
    if unit in ("FLOP", "FLOP/s", "pairs") or abs(v) >= 1e7:
        return sci(v) if abs(v) >= 1e4 else f"{v:.4g}"
    if abs(v) >= 1000 or (v == int(v) and unit in ("tokens", "count", "frames", "GPU-h")):
        return f"{v:,.0f}"
    if v == int(v):
        return f"{int(v)}"
    return f"{v:.4g}"


def pct_change(new: float, base: float) -> str:
    if base is None or new is None or pd.isna(base) or pd.isna(new) or base == 0:
        return "—"
    return f"{(new - base) / base * 100:+.1f}%"


def order_variants(variants) -> list[str]:
    known = [v for v in VARIANT_ORDER if v in set(variants)]
    return known + sorted(v for v in set(variants) if v not in VARIANT_ORDER)


def color(variant: str, i: int = 0) -> str:
    return VARIANT_COLORS.get(variant, plt.get_cmap("tab10")(i % 10))


_LINESTYLES = ["-", "--", "-.", ":"]
_MARKERS = ["o", "s", "^", "D", "v", "P"]


def line_style(variant: str, i: int) -> dict:
    """Colour, marker and dash per variant, so curves that coincide stay distinguishable."""
    k = VARIANT_ORDER.index(variant) if variant in VARIANT_ORDER else i
    return dict(color=color(variant, i), marker=_MARKERS[k % len(_MARKERS)], ls=_LINESTYLES[k % len(_LINESTYLES)],
                ms=5, mfc="none" if k % 2 else None, lw=1.8)


def plain_log_axis(axis) -> None:
    """Log axis with plain-number tick labels (2, 4, 8, ... rather than 2^1)."""
    from matplotlib.ticker import ScalarFormatter

    fmt_ = ScalarFormatter()
    fmt_.set_scientific(False)
    axis.set_major_formatter(fmt_)


# ---------------------------------------------------------------------------------------------
# Report context
# ---------------------------------------------------------------------------------------------

@dataclass
class ReportContext:
    """What every section reads: the run's table, statuses, config and where plots go."""

    run_dir: Path
    df: pd.DataFrame
    statuses: pd.DataFrame
    config: dict
    env: dict
    shown: set = field(default_factory=set)   # row indices a section displayed

    @property
    def plots_dir(self) -> Path:
        path = self.run_dir / "plots"
        path.mkdir(exist_ok=True)
        return path

    def rows(self, suite: str, **where) -> pd.DataFrame:
        """Rows of a suite, filtered by column equality (a list value means 'one of')."""
        d = self.df[self.df["suite"] == suite]
        for col, val in where.items():
            d = d[d[col].isin(val)] if isinstance(val, (list, tuple, set)) else d[d[col] == val]
        return d

    def mark(self, d: pd.DataFrame) -> pd.DataFrame:
        self.shown.update(d.index)
        return d

    def save(self, fig, name: str) -> Path:
        path = self.plots_dir / f"{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return path

    def suite_state(self, suite: str) -> str:
        """Why a suite has no data: its status note, or 'not run'."""
        st = self.statuses[self.statuses["suite"] == suite] if not self.statuses.empty else self.statuses
        if st.empty:
            return f"the {suite} suite was not run in this run"
        row = st.iloc[0]
        note = f": {row['note']}" if row.get("note") else ""
        return f"the {suite} suite's status is {row['status']}{note}"


def no_data(ctx: ReportContext, suite: str, what: str) -> Block:
    return text(f"_No {what} in this run ({ctx.suite_state(suite)})._")


def value_of(d: pd.DataFrame, **where) -> float:
    for col, val in where.items():
        d = d[d[col] == val]
    d = d[d["value"].notna()]
    return float(d["value"].iloc[0]) if len(d) else float("nan")


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------

def section_summary(ctx: ReportContext) -> list[Block]:
    c, e = ctx.config, ctx.env
    preset = c.get("preset") or {}
    facts = [
        f"run id: `{c.get('run_id', ctx.run_dir.name)}`, started {c.get('started', '?')}, commit `{c.get('commit') or '?'}`",
        f"preset `{preset.get('name', '?')}` ({preset.get('description', '')}); device `{c.get('device', '?')}`, "
        f"dtype `{c.get('dtype', '?')}`, seed {c.get('seed', '?')}",
        f"machine: {e.get('gpu_name') or e.get('cpu_model') or '?'}; torch {e.get('torch_version', '?')}, "
        f"python {e.get('python_version', '?')}, {e.get('platform', '')}",
        f"{len(ctx.df)} result rows in `results.parquet` / `results.csv` (one row per measured number)",
    ]
    blocks = [bullets(facts), heading("Suites", 3)]
    if ctx.statuses.empty:
        blocks.append(text("_No suite status files (status/*.json) in this folder._"))
    else:
        st = ctx.statuses.copy()
        st["duration_s"] = st["duration_s"].map(lambda v: fmt(v))
        counts = ctx.df.groupby("suite").size()
        st["rows"] = st["suite"].map(lambda s: int(counts.get(s, 0)))
        blocks.append(table(st[["suite", "status", "duration_s", "rows", "note", "log"]]))
    return blocks


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
        ax.set_title(f"{'Tokens' if metric == 'max_tokens' else 'Attention pairs'} per forward pass vs length (768p)")
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
        for case in dict.fromkeys(f["case"]):
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
    ax.legend()
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


def section_throughput(ctx: ReportContext) -> list[Block]:
    b = ctx.rows("throughput")
    if b.empty:
        return [no_data(ctx, "throughput", "throughput measurements")]
    ctx.mark(b)
    timed = b[b["metric"] == "time_s"]
    blocks = [text("Median seconds per call with the interquartile range (IQR) over rounds; speedups are "
                   f"relative to `{BASELINE}` (measured) beside the FLOP-predicted speedup. The "
                   "`train_step_interleaved` case times every variant back to back in each round and takes the "
                   "median of the per-round ratios, so a change of machine speed during the run cancels out.")]
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
                "speedup (measured)": _x(value_of(dv, metric="speedup_vs_full_sequence")),
                "speedup (FLOP-predicted)": _x(value_of(dv, metric="predicted_speedup")),
                "measured / predicted": fmt(value_of(dv, metric="speedup_ratio")),
                "tokens/s": fmt(value_of(dv, metric="tokens_per_s")),
                "samples/s": fmt(value_of(dv, metric="samples_per_s")),
                "achieved FLOP/s": fmt(value_of(dv, metric="achieved_flops_per_s"), "FLOP/s"),
                "MFU": fmt(value_of(dv, metric="mfu"), "fraction"),
            })
    blocks.append(table(pd.DataFrame(rows), "Throughput per case and variant (MFU — when the device's peak is "
                                            "unknown, e.g. on CPU)"))
    return blocks


def _x(v: float) -> str:
    return "—" if pd.isna(v) else f"{v:.2f}x"


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
                        ha="center", fontsize=9, fontweight="bold")
        ax.set_ylabel("median time per call (s), error bar = IQR")
        ax.set_title(f"{case}: time per call")
        ax.tick_params(axis="x", rotation=15)
        ax.grid(True, axis="y", alpha=0.3)
    return ctx.save(fig, "throughput")


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
                   "memory, and the dotted line the largest length that fits (the out-of-memory frontier).")]
    if not peaks.empty:
        blocks.append(image(_plot_memory(ctx, peaks), "Peak memory vs latent frames and tokens per frame, "
                                                      "with the out-of-memory frontier"))
    rows = []
    for v in order_variants(m["variant"]):
        if not v:
            continue  # run-level rows (the memory budget) belong to no variant
        dv = m[m["variant"] == v]
        oom = dv[(dv["status"] == "oom") & (dv["x_name"] == "latent_frames")]["x_value"]
        ok = dv[(dv["metric"] == "peak_memory_bytes") & (dv["status"] == "ok") & (dv["x_name"] == "latent_frames")]
        top = ok.sort_values("x_value").iloc[-1] if len(ok) else None
        rows.append({"variant": v, "max frames that fit": fmt(value_of(dv, metric="max_frames_fit"), "frames"),
                     "first OOM at (frames)": fmt(oom.min(), "frames") if len(oom) else "none in sweep",
                     "peak at largest fit": fmt(top["value"], "bytes") if top is not None else "—",
                     "frames there": fmt(top["x_value"], "frames") if top is not None else "—"})
    blocks.append(table(pd.DataFrame(rows), "Out-of-memory frontier per variant"))
    return blocks


def _plot_memory(ctx: ReportContext, peaks: pd.DataFrame) -> Path:
    sweeps = [s for s in ("latent_frames", "tokens_per_frame") if (peaks["x_name"] == s).any()]
    fig, axes = plt.subplots(1, max(len(sweeps), 1), figsize=(6 * max(len(sweeps), 1), 4.6), squeeze=False)
    budget = (ctx.config.get("preset") or {}).get("memory_budget_gib") if ctx.config.get("device") == "cpu" else None
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


def _compute_to_reach(dv: pd.DataFrame, target: float) -> float:
    """First training compute at which a (log-x interpolated) FID curve reaches ``target``; NaN if never."""
    dv = dv.sort_values("x_value")
    xs, ys = dv["x_value"].to_numpy(), dv["value"].to_numpy()
    for i in range(len(xs)):
        if ys[i] <= target:
            if i == 0:
                return float(xs[0])
            frac = (ys[i - 1] - target) / (ys[i - 1] - ys[i])
            return float(10 ** (np.log10(xs[i - 1]) + frac * (np.log10(xs[i]) - np.log10(xs[i - 1]))))
    return float("nan")


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
        x_base = _compute_to_reach(base, target)
        x_pyr = _compute_to_reach(pyr, target)
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


def section_vbench(ctx: ReportContext) -> list[Block]:
    vb = ctx.rows("vbench")
    if vb.empty:
        return [no_data(ctx, "vbench", "VBench-style scores")]
    ctx.mark(vb)
    is_speed = vb["metric"].map(_is_speed_metric)
    all_dims = vb[~is_speed & ~vb["metric"].isin(["time_s", "time_mean_s", "time_min_s", "rounds"])
                  & (vb["source"] == "rows")].copy()
    # the reference variants' samples get the main table and the plot; clips with known answers (static, noise,
    # translation) used to check the metrics get a table of their own
    samples = all_dims[all_dims["case"] == "variant_samples"]
    dims = samples if not samples.empty else all_dims
    checks = all_dims[all_dims["case"] != "variant_samples"].copy() if not samples.empty else all_dims.iloc[0:0]
    if dims["case"].nunique() > 1:  # several sample sets: one column per case/variant
        dims = dims.assign(variant=dims["case"] + "/" + dims["variant"])
    blocks = [text("VBench-style dimensions computed offline on each variant's samples (backend per dimension). "
                   "The paper column is Pyramid Flow's published VBench score (768p, 5 s; Table 1) scaled to this "
                   "table's unit: a reference point, not a like-for-like comparison. VBench dimensions and the "
                   "quality score: higher is better; warping_error: lower is better; flow_score: mean flow "
                   "magnitude in pixels.")]
    if not dims.empty:
        variants = order_variants(dims["variant"])
        rows = []
        for metric in dict.fromkeys(dims["metric"]):
            dm = dims[dims["metric"] == metric]
            unit = dm["unit"].iloc[0]
            row = {"dimension": metric}
            for v in variants:
                dv = dm[dm["variant"] == v]
                row[v] = fmt(value_of(dv)) if len(dv) and dv["status"].iloc[0] == "ok" else (
                    dv["status"].iloc[0] if len(dv) else "—")
            paper = PAPER_VBENCH_PERCENT.get(metric)
            row["paper (Pyramid Flow)"] = "—" if paper is None else fmt(paper / 100 if unit != "%" else paper)
            row["backend"] = ", ".join(b for b in dict.fromkeys(dm["backend"]) if b)
            rows.append(row)
        ok = dims[(dims["status"] == "ok") & dims["metric"].isin(UNIT_INTERVAL_SCORES)]
        if not ok.empty:
            blocks.append(image(_plot_vbench(ctx, ok), "VBench-style scores per variant; gold ticks: the paper"))
        blocks.append(table(pd.DataFrame(rows), "VBench-style scores per variant"))
    if not checks.empty:
        checks["clip"] = checks["case"] + "/" + checks["variant"]
        table_rows = checks.pivot_table(index="metric", columns="clip", values="value", aggfunc="first")
        blocks.append(table(table_rows.map(fmt).reset_index(), "Metric checks on clips with known answers "
                                                                "(static, noise, constant translation)"))
    speed = vb[is_speed]
    if not speed.empty:
        speed = speed.assign(variant=[f"{c}/{v}" if speed["case"].nunique() > 1 else v
                                      for c, v in zip(speed["case"], speed["variant"])])
        speed = speed.assign(metric=speed["metric"].replace({"frames_per_second": "frames_per_s"}))
        rows = [{"variant": v, "frames/s": fmt(value_of(speed, variant=v, metric="frames_per_s")),
                 "realtime factor": fmt(value_of(speed, variant=v, metric="realtime_factor"))}
                for v in order_variants(speed["variant"])]
        blocks.append(table(pd.DataFrame(rows), "Metric throughput: frames scored per second (realtime factor = "
                                                "frames/s divided by the clip's 24 fps)"))
    return blocks


def _is_speed_metric(metric: str) -> bool:
    return metric in ("realtime_factor", "frames_per_second") or metric.endswith("_per_s")


# scores on [0, 1] where higher is better: what the VBench plot shows on one axis
UNIT_INTERVAL_SCORES = ("subject_consistency", "background_consistency", "temporal_flickering", "motion_smoothness",
                        "dynamic_degree", "aesthetic_quality", "imaging_quality", "clip_temp_score", "quality_score",
                        "vbench_quality_score")


def _plot_vbench(ctx: ReportContext, ok: pd.DataFrame) -> Path:
    metrics = list(dict.fromkeys(ok["metric"]))
    variants = order_variants(ok["variant"])
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(metrics) * max(len(variants), 1) / 1.5 + 1.5))
    h = 0.8 / len(variants)
    ys = np.arange(len(metrics))
    unit = ok["unit"].iloc[0]
    for i, v in enumerate(variants):
        vals = [value_of(ok, variant=v, metric=m) for m in metrics]
        ax.barh(ys + (i - (len(variants) - 1) / 2) * h, vals, h, label=v, color=color(v, i))
    for y, m in zip(ys, metrics):
        if m in PAPER_VBENCH_PERCENT:
            p = PAPER_VBENCH_PERCENT[m] / (1 if unit == "%" else 100)
            ax.plot([p, p], [y - 0.45, y + 0.45], color="gold", lw=3, label="paper" if y == ys[0] else None)
    ax.set_yticks(ys, metrics)
    lo = min(np.nanmin(ok["value"]), *(PAPER_VBENCH_PERCENT[m] / (1 if unit == "%" else 100)
                                      for m in metrics if m in PAPER_VBENCH_PERCENT))
    ax.set_xlim(max(0.0, lo - 0.1 * (1 if unit != "%" else 100)), 1.0 if unit != "%" else 100)
    ax.set_xlabel(f"score ({unit or 'fraction'}, higher is better)")
    ax.set_title("VBench-style dimensions per variant")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ctx.save(fig, "vbench")


def section_ablations(ctx: ReportContext) -> list[Block]:
    a = ctx.rows("ablations")
    if a.empty:
        return [no_data(ctx, "ablations", "ablation results")]
    ctx.mark(a)
    blocks = []
    for case in dict.fromkeys(a["case"]):
        d = a[a["case"] == case]
        wide = {}
        for r in d.itertuples():
            cell = fmt(r.value, r.unit) if r.status == "ok" else r.status
            if not pd.isna(r.spread):
                cell += f" ± {fmt(r.spread)}"
            wide.setdefault(r.variant, {"variant": r.variant})[f"{r.metric} [{r.backend}]" if r.backend
                                                              else r.metric] = cell
        blocks.append(table(pd.DataFrame(list(wide.values())).fillna("—"), f"Ablation: {case}"))
    missing = [c for c in ("corrective_noise", "attention", "stage_mix") if c not in set(a["case"])]
    if missing:
        blocks.append(text(f"_No rows for {', '.join(missing)} ({ctx.suite_state('ablations')})._"))
    return blocks


def section_skipped(ctx: ReportContext) -> list[Block]:
    items = []
    if not ctx.statuses.empty:
        for r in ctx.statuses.itertuples():
            if r.status != "passed":
                items.append(f"suite **{r.suite}**: {r.status}" + (f": {r.note}" if r.note else "") +
                             (f" (log: `{r.log}`)" if r.log else ""))
    planned = (ctx.config or {}).get("suites") or []
    have = set(ctx.statuses["suite"]) if not ctx.statuses.empty else set()
    items += [f"suite **{s}**: not run (no status file; continue with `pfbench run --resume {ctx.run_dir}`)"
              for s in planned if s not in have]
    bad = ctx.df[ctx.df["status"].isin(["skipped", "error"])]
    for (suite, metric, status, note), grp in bad.groupby(["suite", "metric", "status", "note"], sort=False):
        where = ", ".join(sorted(set(f"{c}/{v}" if v else c for c, v in zip(grp["case"], grp["variant"]))))
        items.append(f"{suite} `{metric}` {status} ({where}): {note or 'no reason given'}")
    items += _pytest_skips(ctx)
    return [text("Everything that did not produce a number, with the reason and how to enable it."),
            bullets(items or ["nothing was skipped"])]


def _pytest_skips(ctx: ReportContext) -> list[str]:
    """'SKIPPED [n] file:line: reason' lines from the suites' pytest logs."""
    out = []
    for log in sorted((ctx.run_dir / "logs").glob("*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("SKIPPED"):
                out.append(f"{log.stem} (pytest): {line[len('SKIPPED'):].strip()}")
    return out


def section_other(ctx: ReportContext) -> list[Block]:
    rest = ctx.df.drop(index=[i for i in ctx.shown if i in ctx.df.index])
    rest = rest[rest["status"] == "ok"]
    if rest.empty:
        return []
    cols = ["suite", "case", "variant", "metric", "value", "unit", "backend", "x_name", "x_value"]
    shown = rest[cols].copy()
    shown["value"] = [fmt(v, u) for v, u in zip(rest["value"], rest["unit"])]
    shown["x_value"] = shown["x_value"].map(fmt)
    return [heading("Other measurements"), text("Rows no section above shows (all rows are in `results.csv`)."),
            table(shown.head(200))]


def section_comparison(ctx: ReportContext, other_dir: Path, threshold: float) -> list[Block]:
    other = load_results(other_dir)
    cmp = compare_results(other, ctx.df, threshold)
    counts = cmp["verdict"].value_counts()
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    failed = comparison_failed(cmp)
    blocks = [text(f"Baseline A = `{other_dir}`, this run = B. Threshold {threshold:.1%}; a regression is a change "
                   f"in the worse direction beyond the threshold and beyond the combined spread; a `changed` "
                   f"analytic/counted/paper number is also a failure.\n\n"
                   f"Verdict: **{'FAIL' if failed else 'pass'}** ({summary}).")]
    blocks += [text(f"**Warning:** {line}.") for line in context_differences(other, ctx.df)]
    interesting = cmp[~cmp["verdict"].isin(["same"])]
    blocks.append(table(format_comparison(interesting.head(300)),
                        "Rows that are not identical (A = baseline, B = this run)"))
    return blocks


def format_comparison(cmp: pd.DataFrame) -> pd.DataFrame:
    """A comparison table with formatted numbers."""
    out = cmp[["suite", "case", "variant", "metric", "backend"]].copy()
    out["x"] = cmp["x_value"].map(fmt)
    out["A"] = [fmt(v, u) for v, u in zip(cmp["value_a"], cmp["unit"])]
    out["B"] = [fmt(v, u) for v, u in zip(cmp["value_b"], cmp["unit"])]
    out["change"] = cmp["change_rel"].map(lambda r: "—" if pd.isna(r) else f"{r:+.1%}")
    out["spread"] = [fmt(s, u) for s, u in zip(cmp["spread"], cmp["unit"])]
    out["beyond spread"] = cmp["beyond_spread"].map(lambda b: "yes" if b else "no")
    out["verdict"] = cmp["verdict"]
    return out


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------

SECTIONS = [
    ("Tokens and attention pairs", section_tokens),
    ("FLOPs and GPU-hours", section_flops),
    ("Throughput", section_throughput),
    ("Memory and the out-of-memory frontier", section_memory),
    ("FID against training compute", section_fid),
    ("VBench-style scores", section_vbench),
    ("Ablations", section_ablations),
    ("Per-frame cost of autoregressive generation", lambda ctx: section_ar_per_frame(ctx)),
    ("What a pyramid would save for public video DiTs", lambda ctx: section_card_savings(ctx)),
    ("Data-parallel scaling", lambda ctx: section_scaling(ctx)),
    ("Skipped, failed and missing", section_skipped),
]
from pfbench.report_ar import section_ar_per_frame, section_card_savings  # noqa: E402 (it imports this module)
from pfbench.report_scaling import section_scaling  # noqa: E402 (it imports this module)


def build_report(run_dir: str | Path, df: pd.DataFrame | None = None, compare_with: str | Path | None = None,
                 threshold: float = 0.05) -> list[Block]:
    """All report blocks for a run folder (plots are written to run_dir/plots/ on the way)."""
    run_dir = Path(run_dir)
    df = load_results(run_dir) if df is None else df
    ctx = ReportContext(run_dir=run_dir, df=df.reset_index(drop=True), statuses=read_statuses(run_dir),
                        config=read_json(run_dir / "config.json"), env=read_json(run_dir / "env.json"))
    title = f"pfbench report: {ctx.config.get('run_id', run_dir.name)}"
    blocks = [heading(title, 1), *section_summary(ctx)]
    for name, section in SECTIONS:
        blocks.append(heading(name))
        try:
            blocks += section(ctx)
        except Exception as err:  # one broken section must not lose the report
            blocks.append(text(f"_This section could not be drawn: {type(err).__name__}: {err}_"))
    if compare_with is not None:
        blocks.append(heading(f"Comparison with {Path(compare_with).name}"))
        blocks += section_comparison(ctx, Path(compare_with), threshold)
    blocks += section_other(ctx)
    return blocks


def write_report(run_dir: str | Path, df: pd.DataFrame | None = None, compare_with: str | Path | None = None,
                 threshold: float = 0.05) -> tuple[Path, Path]:
    """Write report.md and report.html (self-contained) into the run folder; returns both paths."""
    run_dir = Path(run_dir)
    blocks = build_report(run_dir, df, compare_with, threshold)
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(blocks, run_dir), encoding="utf-8")
    page.write_text(render_html(blocks, str(blocks[0].content)), encoding="utf-8")
    return md, page
