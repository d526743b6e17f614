"""The report's first screen (1400 x 900): one compact verdict line per claim of the paper, then each variant against
full_sequence (tokens, attention pairs, FLOPs, speedups, memory, FID and FVD with their N) on one table. Every "—"
carries a numbered reason under its table; the verdicts' full evidence folds below (:func:`section_verdicts_full`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from pfbench.benchmarks.base import Verdict
from pfbench.render.blocks import Block, table, text
from pfbench.render.context import ReportContext, bound_of, value_of
from pfbench.render.format import fmt, fmt_pm, fmt_x
from pfbench.render.style import BASELINE, VARIANT_ORDER, order_variants


def declared_claims(benchmarks) -> list[tuple[str, str, str]]:
    """(key a verdict's claim starts with, the claim as shown when nothing measured it, what would measure it) for
    every claim the registered benchmarks declare, in registry order."""
    return [(c.key, c.text, f"the {b.name} suite") for b in benchmarks for c in b.claims]


def gather_verdicts(found: list[Verdict], claims: list[tuple[str, str, str]]) -> list[Verdict]:
    """One line per claim in ``claims`` order (all of a claim's verdicts, e.g. FID for two variants); a claim no
    verdict speaks to is 'not measured here' with what would measure it; unknown claims follow at the end."""
    out, used = [], set()
    for key, claim, needs in claims:
        mine = [v for v in found if v.claim.lower().startswith(key.lower())]
        used.update(id(v) for v in mine)
        out += mine or [Verdict(claim, "not measured here", "", "", f"needs {needs}")]
    return out + [v for v in found if id(v) not in used]


class Dashes:
    """Numbered reasons for the "—" cells of one table: ``dash(why)`` is "—¹", ``legend()`` the lines under it."""
    MARKS = "¹²³⁴⁵⁶⁷⁸⁹"

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def dash(self, why: str) -> str:
        if why not in self.reasons:
            self.reasons.append(why)
        i = self.reasons.index(why)
        return "—" + (self.MARKS[i] if i < len(self.MARKS) else f"[{i + 1}]")

    def legend(self) -> list[Block]:
        """One short paragraph: "—¹ why; —² why"."""
        return [text("; ".join(f"—{self.MARKS[i] if i < len(self.MARKS) else f'[{i + 1}]'} {why}"
                               for i, why in enumerate(self.reasons)) + ".")] if self.reasons else []


def verdict_frame(verdicts: list[Verdict], dashes: Dashes | None = None) -> pd.DataFrame:
    """The verdict table; with ``dashes`` a "—" cell says why through its numbered reason."""
    def missing(v: Verdict, what: str) -> str:
        if dashes is None:
            return "—"
        if what == "paper":
            return dashes.dash("paper: its figure is stated with a measured verdict (claim text above)")
        return dashes.dash(v.why if v.status == "not measured here" else f"{what}: {v.why}")
    return pd.DataFrame([{"claim": v.claim, "status": v.status, "this run": v.value or missing(v, "value"),
                          "paper": v.paper or missing(v, "paper"), "evidence / why": v.why} for v in verdicts])


def run_verdicts(ctx: ReportContext, benchmarks) -> list[Verdict]:
    """Every benchmark's verdicts, one or more per declared claim, in first-screen order."""
    found: list[Verdict] = []
    for b in benchmarks:
        if b.verdicts is not None:
            try:
                found += list(b.verdicts(ctx))
            except Exception as err:  # a broken verdict must not lose the report
                found.append(Verdict(f"{b.title}", "inconclusive", "", "", f"verdict failed: {err}"))
    return gather_verdicts(found, declared_claims(benchmarks))


def section_verdicts(ctx: ReportContext, benchmarks) -> list[Block]:
    """The compact verdict table of the first screen (one line a claim in HTML; full text in the fold below)."""
    dashes = Dashes()
    frame = verdict_frame(run_verdicts(ctx, benchmarks), dashes)
    return [table(frame, "One line per claim of the paper (the whole evidence: 'Verdicts in full' below; rules: "
                         "README.md, Verdicts)", html_id="verdicts"), *dashes.legend()]


def section_verdicts_full(ctx: ReportContext, benchmarks) -> list[Block]:
    """The verdict table with every line whole, for the fold below the first screen."""
    return [table(verdict_frame(run_verdicts(ctx, benchmarks)), "Each verdict with its evidence")]


def absent(ctx: ReportContext, suite: str, metric: str, variant: str, case: str | None = None) -> str:
    """Why a variant's number is not in this run: the suite did not run or pass, emitted no such metric, skipped the
    variant (its note), or did not measure that variant."""
    df = ctx.df
    state = ctx.suite_state(suite)
    if not (df["suite"] == suite).any():
        return state
    rows = df[(df["suite"] == suite) & (df["metric"] == metric) & ((df["case"] == case) if case else True)]
    if rows.empty:
        return f"the {suite} suite emitted no {metric}" + (f" for {case}" if case else "")
    mine = rows[rows["variant"] == variant]
    if mine.empty:
        return f"the {suite} suite did not measure {variant}" if variant != "…" else state
    note = next((n for n in mine["note"] if n), "") or next((s for s in mine["status"] if s and s != "ok"), "")
    return f"{suite}: {note}" if note else f"the {suite} suite recorded no value"


@dataclass(frozen=True)
class Where:
    """Rows of one suite/case/metric/backend."""
    suite: str
    metric: str
    case: str | None = None
    backend: str | None = None

    def pick(self, df: pd.DataFrame, variant: str) -> tuple[float, str]:
        d = df[(df["suite"] == self.suite) & (df["metric"] == self.metric) & (df["variant"] == variant)]
        if self.case is not None:
            d = d[d["case"] == self.case]
        if self.backend is not None:
            d = d[d["backend"] == self.backend]
        return value_of(d), bound_of(d)


def _vs(v: float, base: float) -> str:
    """' (-87%)' against the baseline; '' for the baseline itself or a missing number."""
    if any(map(math.isnan, (v, base))) or base == 0 or v == base:
        return ""
    change = (v - base) / base
    return f" ({change:+.1%})" if abs(change) > 0.99 else f" ({change:+.0%})"  # never round -99.8% to -100%


def _counted_agrees(df: pd.DataFrame, case: str, variant: str, metric: str) -> str:
    d = df[(df["suite"] == "tokens") & (df["case"] == case) & (df["variant"] == variant) & (df["metric"] == metric)]
    a, c = value_of(d, backend="analytic"), value_of(d, backend="counted")
    if math.isnan(c) or math.isnan(a):
        return ""
    return " ✓" if math.isclose(a, c, rel_tol=1e-9) else f" (counted {fmt(c)}, {(c - a) / a:+.2%})"


def section_summary(ctx: ReportContext) -> list[Block]:
    """Each variant against full_sequence on one table; every "—" is numbered with its reason under the table."""
    df = ctx.df
    preset = (ctx.config.get("preset") or {}).get("name") or next(iter(df["preset"].unique()), "")
    variants = order_variants([v for v in df["variant"].unique() if v in VARIANT_ORDER])
    if not variants:
        return [text("_No per-variant measurements in this run._")]
    dashes, notes = Dashes(), []
    quality = _quality_cells(df, notes)
    rows = []
    for v in variants:
        row = {"variant": v}

        def cell(where: Where, unit: str, suffix=lambda val, base: "") -> str:
            val, bound = where.pick(df, v)
            if val != val:
                return dashes.dash(absent(ctx, where.suite, where.metric, v, where.case))
            return fmt(val, unit, bound) + suffix(val, where.pick(df, BASELINE)[0])

        for label, case in (("max tokens 768p 10 s", "paper-768p-10s"), (f"max tokens {preset}", preset)):
            row[label] = cell(Where("tokens", "max_tokens", case, "analytic"), "tokens", _vs)
        row["attention pairs 768p 10 s"] = cell(Where("tokens", "attention_pairs", "paper-768p-10s", "analytic"),
                                                "pairs", _vs)
        for case in ("paper-768p-10s", preset):
            row[f"train FLOPs / sample {case.replace('paper-768p-10s', '768p 10 s')}"] = cell(
                Where("tokens", "train_flops_per_sample", case, "analytic"), "FLOP",
                lambda val, base, case=case: _vs(val, base) + _counted_agrees(df, case, v, "train_flops_per_sample"))
        row["train-step speedup measured / FLOPs"] = "1x" if v == BASELINE else _speedup(ctx, v, dashes)
        row["peak memory"] = cell(Where("memory", "peak_memory_bytes", "memory_sweep"), "bytes")
        row["OOM frontier (latent frames)"] = cell(Where("memory", "max_frames_fit"), "frames")
        for label, pick, suite, metric, case in quality:
            shown = pick(v)
            row[label] = dashes.dash(absent(ctx, suite, metric, v, case)) if shown == "—" else shown
        rows.append(row)
    return [table(pd.DataFrame(rows), f"Against `{BASELINE}` (change in brackets); analytic counts (pfbench."
                                      "accounting), ✓ = the model's counted FLOPs agree; `>=` a lower bound",
                  html_id="variants"), *dashes.legend(), *([text("; ".join(notes) + ".")] if notes else [])]


def _speedup(ctx: ReportContext, v: str, dashes: Dashes) -> str:
    """'3.99x / 5.24x': the measured train-step speedup (interleaved pairs, else the separate medians) and the
    FLOP-predicted one; a missing side is a numbered dash."""
    df = ctx.df
    meas = Where("throughput", "speedup_vs_full_sequence", "train_step_interleaved").pick(df, v)[0]
    if meas != meas:
        meas = Where("throughput", "speedup_vs_full_sequence", "train_step").pick(df, v)[0]
    pred = Where("throughput", "predicted_speedup", "train_step").pick(df, v)[0]
    if pred != pred:
        pred = Where("throughput", "predicted_speedup", "train_step_interleaved").pick(df, v)[0]
    measured = fmt_x(meas) if meas == meas else dashes.dash(absent(ctx, "throughput", "speedup_vs_full_sequence", v))
    predicted = fmt_x(pred) if pred == pred else dashes.dash(absent(ctx, "throughput", "predicted_speedup", v))
    return f"{measured} / {predicted}"


BIAS_MARK = "†"
BIAS_NOTE = (f"{BIAS_MARK} bias-dominated: fewer samples than 10x the feature dimension, so the Fréchet distance "
             "mostly measures its own bias at this N; the verdicts read the clip-blocked kernel distance")


def _quality_cells(df: pd.DataFrame, notes: list[str]) -> list[tuple[str, callable, str, str, str]]:
    """(label, pick, suite, metric, case) of the first screen's quality columns: the final FID and the FVD always
    (a run without them shows why), the VBench-style score when measured; the kernel distance stays in its section.
    Footnotes the cells point to are appended to ``notes``."""
    where = {"final FID": ("fid", "fid", "convergence"), "final kernel": ("fid", "kid_blocked", "convergence"),
             "FVD": ("vbench", "fvd", "variant_fvd"), "VBench": ("vbench", "vbench_quality_score", "variant_samples")}
    cols = []
    for label, pick in _quality_columns(df, notes):
        key = next(k for k in where if label.startswith(k))
        if key != "final kernel":
            cols.append((label, pick, *where[key]))
    for key, label in (("final FID", "final FID (N)"), ("FVD", "FVD (N)")):
        if not any(c[0].startswith(key) for c in cols):
            cols.append((label, lambda v: "—", *where[key]))
    return cols


def _sizes(rows: pd.DataFrame, n_metric: str, noun: str = "") -> tuple[dict[str, str], str]:
    """Per variant its sample-size text for a cell ("N=24, D=1280") from its size rows, and the header's text when
    every variant has the same (with ``noun``: "N=6 videos, D=400"; "" otherwise, then the cells carry their own)."""
    sizes = {}
    for v, d in rows.groupby("variant"):
        got = {m: d[d["metric"] == m]["value"] for m in (n_metric, "feature_dim")}
        if not got[n_metric].empty:
            sizes[v] = (f"N={got[n_metric].iloc[0]:.0f}",
                        f", D={got['feature_dim'].iloc[0]:.0f}" if not got["feature_dim"].empty else "")
    shared = set(sizes.values())
    header = "" if len(shared) != 1 else "{}{}{}".format(next(iter(shared))[0], f" {noun}" if noun else "",
                                                         next(iter(shared))[1])
    return {v: n + dim for v, (n, dim) in sizes.items()}, header


def _flagged(rows: pd.DataFrame, v: str) -> bool:
    flag = rows[(rows["variant"] == v) & (rows["metric"] == "bias_dominated")]["value"]
    return not flag.empty and flag.iloc[0] == 1


def _quality_columns(df: pd.DataFrame, notes: list[str]) -> list[tuple[str, callable]]:
    """One column per (quality measure, extractor): distances of different extractors never share a column. N and D
    go in the header when all variants share them, a bias-dominated value carries a mark explained in ``notes``."""
    cols = []
    conv = df[(df["suite"] == "fid") & (df["case"] == "convergence")]
    sizes, shared = _sizes(conv, "fake_frames")

    def mark(rows: pd.DataFrame, v: str) -> str:
        if not _flagged(rows, v):
            return ""
        if BIAS_NOTE not in notes:
            notes.append(BIAS_NOTE)
        return BIAS_MARK

    for metric, label in (("fid", "final FID"), ("kid_blocked", "final kernel distance")):
        rows = conv[(conv["metric"] == metric) & (conv["x_name"] == "train_flops") & conv["value"].notna()]
        for extractor in dict.fromkeys(rows["backend"]):
            d = rows[rows["backend"] == extractor]

            def final(v, d=d, metric=metric):
                dv = d[d["variant"] == v].sort_values("x_value")
                if dv.empty:
                    return "—"
                last = dv.iloc[-1]
                own = f" ({sizes[v]})" if v in sizes and not shared else ""
                return f"{fmt_pm(last['value'], last['spread'])}{own}" + (mark(conv, v) if metric == "fid" else "")
            per_set = f"; {shared} per set" if shared else ", N per set"
            cols.append((f"{label} [{extractor or '?'}] (± 95% CI over seeds{per_set})", final))
    ok_fvd = df[(df["suite"] == "vbench") & (df["case"] == "variant_fvd") & (df["status"] == "ok")]
    fvd = ok_fvd[ok_fvd["metric"] == "fvd"]
    for extractor in dict.fromkeys(fvd["backend"]):
        d = ok_fvd[ok_fvd["backend"] == extractor]
        videos, shared_n = _sizes(d, "fvd_videos", "videos")

        def final_fvd(v, d=d, videos=videos, shared_n=shared_n):
            """The interval's centre (fvd_debiased, where the half-sample interval is computed) ± its half-width,
            N, and a mark when the FVD is bias-dominated; runs without fvd_debiased rows show fvd ± spread."""
            dv = d[d["variant"] == v]
            row = lambda m: dv[dv["metric"] == m].iloc[0] if (dv["metric"] == m).any() else None
            r, centre = row("fvd"), row("fvd_debiased")
            if r is None:
                return "—"
            shown = r if centre is None else centre
            own = f" ({videos[v]})" if v in videos and not shared_n else ""
            return f"{fmt_pm(shown['value'], shown['spread'])}{own}{mark(d, v)}"
        per_set = f"; {shared_n}" if shared_n else ", N videos"
        cols.append((f"FVD [{extractor}] (debiased ± 95% CI{per_set})", final_fvd))
    q = df[(df["suite"] == "vbench") & (df["metric"] == "vbench_quality_score") & (df["case"] == "variant_samples")]
    dims = df[(df["suite"] == "vbench") & (df["case"] == "variant_samples") & (df["status"] == "ok")]
    if not q.empty:
        from pfbench.metrics.vbench.names import QUALITY_DIMENSIONS

        have = {v: [m for m in QUALITY_DIMENSIONS if ((dims["variant"] == v) & (dims["metric"] == m)).any()]
                for v in q["variant"].unique()}
        counts = {len(h) for h in have.values()}
        shared_dims = next(iter(counts)) if len(counts) == 1 else None
        total = len(QUALITY_DIMENSIONS)

        def score(v):
            dv = q[q["variant"] == v]
            if dv.empty or dv["value"].isna().all():
                return "—"
            own = len(have.get(v, []))
            partial = f" ({own} of {total} dims)" if own < total and shared_dims is None else ""
            return fmt(dv["value"].iloc[0]) + partial
        used = dims[dims["metric"].isin(QUALITY_DIMENSIONS) & dims["value"].notna()]
        backend = ", ".join(b for b in dict.fromkeys(used["backend"]) if b) or "?"  # the dimensions' backends
        part = f"; {shared_dims} of {total} dims, partial" if shared_dims is not None and shared_dims < total else ""
        cols.append((f"VBench-style quality [{backend}]{part}", score))
    return cols
