"""Comparing two runs in a report: the comparison section, its formatted table, and the HTML page of
`pfbench compare --html` with regressions highlighted."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pfbench.render.blocks import Block, heading, render_html, table, text
from pfbench.render.format import fmt
from pfbench.results.compare import compare_results, comparison_failed, context_differences
from pfbench.results.store import load_results


def section_comparison(ctx, other_dir: Path, threshold: float) -> list[Block]:
    other = load_results(other_dir)
    return comparison_blocks(compare_results(other, ctx.df, threshold), other, ctx.df, threshold,
                             f"`{other_dir}`", "this run")


def comparison_blocks(cmp: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, threshold: float, name_a: str,
                      name_b: str) -> list[Block]:
    counts = cmp["verdict"].value_counts()
    summary = ", ".join(f"{k}: {v}" for k, v in counts.items())
    failed = comparison_failed(cmp)
    blocks = [text(f"Baseline A = {name_a}, B = {name_b}. Threshold {threshold:.1%}; a regression is a change in the "
                   f"worse direction (each benchmark declares its metrics' better side) beyond the threshold and "
                   f"beyond the combined spread; a `changed` deterministic (analytic/counted/paper) number is also a "
                   f"failure.\n\nVerdict: **{'FAIL' if failed else 'pass'}** ({summary}).")]
    blocks += [text(f"**Warning:** {line}.") for line in context_differences(a, b)]
    order = {"regression": 0, "changed": 1, "missing": 2, "worse": 3, "better": 4}
    interesting = cmp[~cmp["verdict"].isin(["same"])]
    interesting = interesting.iloc[interesting["verdict"].map(lambda v: order.get(v, 9)).argsort(kind="stable")]
    blocks.append(table(format_comparison(interesting.head(300)),
                        "Rows that are not identical, regressions first (A = baseline, B = new)"))
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


def comparison_html(cmp: pd.DataFrame, a: pd.DataFrame, b: pd.DataFrame, threshold: float, name_a: str,
                    name_b: str) -> str:
    """A self-contained HTML page of a comparison; regression/changed/missing cells are red."""
    title = f"pfbench compare: {name_a} vs {name_b}"
    return render_html([heading(title, 1), *comparison_blocks(cmp, a, b, threshold, f"`{name_a}`", f"`{name_b}`")],
                       title)
