"""Several runs side by side (`pfbench report RUN_A RUN_B ...`): CPU vs GPU, before vs after a change.

Each later run is compared with the first by `pfbench compare`'s one code path (pfbench.results.run_pair): its
verdict line, failures and missing rows come first, and the verdict of each row is what the measure tables' reading
column shows, so this report and `pfbench compare A B` agree on what differs. One table per measure (a declared,
non-setting metric of a benchmark): a row per (case, variant, backend), one column per run, and the ratio of each
later run to the first. Swept points (x_value) and deterministic counts stay in each run's own report; the counts
are summarised in one line (equal or not)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pfbench.core.files import read_json
from pfbench.render.blocks import Block, bullets, heading, render_html, render_markdown, table, text
from pfbench.render.format import fmt
from pfbench.results.compare import context_differences
from pfbench.results.run_pair import Comparison, compare_runs
from pfbench.results.store import load_results


def run_name(run_dir: Path, config: dict) -> str:
    return str(config.get("run_id") or run_dir.name)


def _verdict_lookup(cmp: Comparison) -> dict[tuple, str]:
    """(suite, case, variant, metric, backend) -> the comparison's verdict, for rows off any x axis."""
    t = cmp.table[cmp.table["x_name"] == ""]
    return {k: v for k, v in zip(zip(t["suite"], t["case"], t["variant"], t["metric"], t["backend"]), t["verdict"])}


def measure_tables(frames: list[pd.DataFrame], names: list[str],
                   comparisons: list[Comparison] | None = None) -> list[Block]:
    """One table per (suite, metric) of the declared, non-setting, non-deterministic metrics present in any run."""
    from pfbench.benchmarks import all_benchmarks, metric_spec

    lookups = [_verdict_lookup(c) for c in comparisons] if comparisons else [{} for _ in names[1:]]

    keys = ["case", "variant", "backend"]
    blocks: list[Block] = []
    for bench in all_benchmarks():
        for metric in [m.name for m in bench.metrics] + ["time_s"]:
            spec = metric_spec(bench.name, metric)
            if spec is None or spec.better == "setting" or spec.deterministic:
                continue
            parts = []
            for df, name in zip(frames, names):
                d = df[(df["suite"] == bench.name) & (df["metric"] == metric) & (df["x_name"] == "")
                       & df["value"].notna()]
                bound = d["bound"] if "bound" in d.columns else pd.Series("", index=d.index)
                d = d.assign(**{name: [fmt(v, spec.unit, b) for v, b in zip(d["value"], bound)],
                                f"_{name}": d["value"]})
                parts.append(d[keys + [name, f"_{name}"]].drop_duplicates(subset=keys).set_index(keys))
            wide = pd.concat(parts, axis=1)
            if wide.empty or wide[[f"_{n}" for n in names]].notna().sum(axis=1).max() < 2:
                continue  # a measure only one run has: nothing to compare
            for name, lookup in zip(names[1:], lookups):
                ratio = wide[f"_{name}"] / wide[f"_{names[0]}"]
                wide[f"{name} / {names[0]}"] = [("—" if math.isnan(r) else f"{r:.3g}x") for r in ratio]
                wide[f"{name}: verdict"] = [lookup.get((bench.name, c, v, metric, be), "")
                                            for c, v, be in wide.index]
            wide = wide.drop(columns=[f"_{n}" for n in names]).fillna("—").reset_index()
            side = {"higher": "higher is better", "lower": "lower is better"}[spec.better]
            blocks.append(table(wide, f"{bench.name} · `{metric}` ({spec.unit or 'no unit'}; {side})"))
    return blocks


def deterministic_line(comparisons: list[Comparison], names: list[str]) -> str:
    """Whether the declared deterministic counts of every run equal the first run's (the comparisons' verdicts)."""
    from pfbench.results.compare import is_deterministic

    out = []
    for cmp, name in zip(comparisons, names[1:]):
        t = cmp.table
        counted = t[[is_deterministic(s, m) for s, m in zip(t["suite"], t["metric"])]]
        shared = counted[counted["value_a"].notna() & counted["value_b"].notna()]
        moved = int((shared["verdict"] == "changed").sum())
        out.append(f"`{name}`: {len(shared)} deterministic counts shared with `{names[0]}`, {moved} differ")
    return "; ".join(out)


def verdict_blocks(comparisons: list[Comparison], names: list[str]) -> list[Block]:
    """Per later run: `pfbench compare`'s summary line, then its failing rows and missing-row advice."""
    from pfbench.report.compare import format_comparison

    blocks: list[Block] = []
    for cmp, name in zip(comparisons, names[1:]):
        verdict = "FAIL" if cmp.failed else "pass"
        blocks.append(text(f"`{name}` against `{names[0]}` (as `pfbench compare`): **{verdict}**"
                           f": {cmp.summary()}"))
        if cmp.missing_advice():
            blocks.append(bullets(cmp.missing_advice()))
        failing = cmp.failures()
        if not failing.empty:
            blocks.append(table(format_comparison(failing.head(100)), f"`{name}`: the rows that fail the comparison"))
    return blocks


def build_multi(run_dirs: list[Path], threshold: float | None = None) -> tuple[list[Block], list[Comparison]]:
    run_dirs = [Path(p) for p in run_dirs]
    frames = [load_results(p) for p in run_dirs]
    configs = [read_json(p / "config.json") for p in run_dirs]
    envs = [read_json(p / "env.json") for p in run_dirs]
    ids = [run_name(p, c) for p, c in zip(run_dirs, configs)]
    names = [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(len(run_dirs))]  # short column labels
    title = "pfbench: " + " vs ".join(ids)
    runs = pd.DataFrame([{"label": n, "run": i, "folder": str(p), "preset": (c.get("preset") or {}).get("name", "?"),
                          "device": f"{c.get('device', '?')} ({e.get('gpu_name') or e.get('cpu_model') or '?'})",
                          "dtype": c.get("dtype", "?"), "commit": c.get("commit", "?"), "rows": len(df)}
                         for n, i, p, c, e, df in zip(names, ids, run_dirs, configs, envs, frames)])
    blocks = [heading(title, 1), table(runs, "The runs; A is the reference of every ratio")]
    warnings = [f"`{n}` vs `{names[0]}`: {line}" for n, df in zip(names[1:], frames[1:])
                for line in context_differences(frames[0], df)]
    if warnings:
        blocks.append(bullets(warnings))
    comparisons = [compare_runs(run_dirs[0], p, threshold, name_a=str(run_dirs[0]), name_b=str(p))
                   for p in run_dirs[1:]]
    blocks.append(heading("What differs"))
    blocks += verdict_blocks(comparisons, names)
    blocks.append(text("Deterministic counts: " + deterministic_line(comparisons, names) + "."))
    blocks.append(heading("One table per measure"))
    tables = measure_tables(frames, names, comparisons)
    return blocks + (tables or [text("_No measure is present in two of these runs._")]), comparisons


def write_multi(run_dirs: list[Path], out: Path,
                threshold: float | None = None) -> tuple[Path, Path, list[Comparison]]:
    """Write report.md and report.html comparing the runs into the folder ``out`` (created); returns both paths
    and each later run's comparison with the first."""
    blocks, comparisons = build_multi(run_dirs, threshold)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(blocks, out), encoding="utf-8")
    page.write_text(render_html(blocks, str(blocks[0].content)), encoding="utf-8")
    return md, page, comparisons
