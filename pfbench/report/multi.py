"""Several runs side by side (`pfbench report RUN_A RUN_B ...`): CPU vs GPU, before vs after a change.

One table per measure (a declared, non-setting metric of a benchmark): a row per (case, variant, backend), one
column per run, and the ratio of each later run to the first with its better/worse reading from the metric's
declared direction. Swept points (x_value) and deterministic counts stay in each run's own report; the counts are
summarised in one line (equal or not)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from pfbench.core.files import read_json
from pfbench.render.blocks import Block, bullets, heading, render_html, render_markdown, table, text
from pfbench.render.format import fmt
from pfbench.results.compare import context_differences
from pfbench.results.store import load_results

SAME_WITHIN = 0.02  # ratios within 2% of 1 read "same"


def run_name(run_dir: Path, config: dict) -> str:
    return str(config.get("run_id") or run_dir.name)


def reading(ratio: float, direction: int) -> str:
    """'better' / 'worse' / 'same' / '' for a ratio later/first of a metric with that direction."""
    if math.isnan(ratio) or direction == 0:
        return ""
    if abs(ratio - 1) <= SAME_WITHIN:
        return "same"
    return "better" if (ratio > 1) == (direction > 0) else "worse"


def measure_tables(frames: list[pd.DataFrame], names: list[str]) -> list[Block]:
    """One table per (suite, metric) of the declared, non-setting, non-deterministic metrics present in any run."""
    from pfbench.benchmarks import all_benchmarks, direction, metric_spec

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
            sign = direction(bench.name, metric)
            for name in names[1:]:
                ratio = wide[f"_{name}"] / wide[f"_{names[0]}"]
                wide[f"{name} / {names[0]}"] = [("—" if math.isnan(r) else f"{r:.3g}x") for r in ratio]
                wide[f"{name}: reading"] = [reading(r, sign) for r in ratio]
            wide = wide.drop(columns=[f"_{n}" for n in names]).fillna("—").reset_index()
            side = {"higher": "higher is better", "lower": "lower is better"}[spec.better]
            blocks.append(table(wide, f"{bench.name} · `{metric}` ({spec.unit or 'no unit'}; {side})"))
    return blocks


def deterministic_line(frames: list[pd.DataFrame], names: list[str]) -> str:
    """Whether the analytic/counted numbers of every run equal the first run's."""
    from pfbench.results.compare import is_deterministic

    def counts(df):
        mask = pd.Series([is_deterministic(s, m, b) for s, m, b in zip(df["suite"], df["metric"], df["backend"])],
                         index=df.index, dtype=bool)
        d = df[mask & df["value"].notna()]
        return {(r.suite, r.case, r.variant, r.metric, r.backend, r.x_value): r.value for r in d.itertuples()}
    first = counts(frames[0])
    out = []
    for df, name in zip(frames[1:], names[1:]):
        other = counts(df)
        shared = set(first) & set(other)
        moved = sum(1 for k in shared if first[k] != other[k])
        out.append(f"`{name}`: {len(shared)} deterministic counts shared with `{names[0]}`, {moved} differ")
    return "; ".join(out)


def build_multi(run_dirs: list[Path]) -> list[Block]:
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
    blocks.append(text("Deterministic counts: " + deterministic_line(frames, names) + "."))
    blocks.append(heading("One table per measure"))
    tables = measure_tables(frames, names)
    return blocks + (tables or [text("_No measure is present in two of these runs._")])


def write_multi(run_dirs: list[Path], out: Path) -> tuple[Path, Path]:
    """Write report.md and report.html comparing the runs into the folder ``out`` (created)."""
    blocks = build_multi(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(blocks, out), encoding="utf-8")
    page.write_text(render_html(blocks, str(blocks[0].content)), encoding="utf-8")
    return md, page
