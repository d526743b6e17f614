"""Comparing two runs in a report: the comparison section, its formatted table, and the HTML page of
`pfbench compare --html` with regressions highlighted. The comparison itself is pfbench.results.run_pair's."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pfbench.render.blocks import Block, bullets, heading, render_html, table, text
from pfbench.render.format import fmt
from pfbench.results.compare import MIN_ROUNDS, QUIET_VERDICTS, RANK_TEST_ALPHA
from pfbench.results.run_pair import Comparison, compare_runs


def section_comparison(ctx, other_dir: Path, threshold: float | None) -> list[Block]:
    return comparison_blocks(compare_runs(other_dir, ctx.run_dir, threshold, name_a=f"`{other_dir}`",
                                          name_b="this run"))


RULE = (f"A declared deterministic count fails on any change (`changed`); a timing is tested on the rounds both runs "
        f"recorded (two-sided rank test at {RANK_TEST_ALPHA:g}, at least {MIN_ROUNDS} rounds in each, else `unknown: "
        f"too few rounds`, never a failure); other measures by their recorded spread. A `regression` is worse beyond "
        f"that and beyond the metric's threshold; a change that rounds to 0.0% is `same`.")


def comparison_blocks(cmp: Comparison) -> list[Block]:
    """The verdict line, warnings, missing-row advice and the table of rows that are not the same."""
    blocks = [text(f"Baseline A = {cmp.name_a}, B = {cmp.name_b}. {RULE}\n\n"
                   f"Verdict: **{'FAIL' if cmp.failed else 'pass'}** ({cmp.summary()})")]
    blocks += [text(f"**Warning:** {line}.") for line in cmp.warnings()]
    if cmp.missing_advice():
        blocks.append(bullets(cmp.missing_advice()))
    order = {"regression": 0, "changed": 1, "missing": 2, "worse": 3, "better": 4}
    interesting = cmp.table[~cmp.table["verdict"].isin(QUIET_VERDICTS)]
    interesting = interesting.iloc[interesting["verdict"].map(lambda v: order.get(v, 9)).argsort(kind="stable")]
    quiet = ", ".join(f"{v} {n}" for v, n in cmp.counts.items() if v in QUIET_VERDICTS)
    if interesting.empty:
        blocks.append(text("No row moved beyond the noise" + (f" (not listed: {quiet})." if quiet else ".")))
        return blocks
    blocks.append(table(format_comparison(interesting.head(300)),
                        "Rows that moved beyond the noise or are missing, failures first (A = baseline, B = new)"
                        + (f"; not listed: {quiet} (`pfbench compare --all` lists every row)" if quiet else "")))
    return blocks


def _change(rel: float) -> str:
    if pd.isna(rel):
        return "—"
    return f"{rel:+.2g}" if 0 < abs(rel) < 0.0005 else f"{rel:+.1%}"


def _rounds(na: float, nb: float) -> str:
    return "" if pd.isna(na) and pd.isna(nb) else f"{0 if pd.isna(na) else int(na)}/{0 if pd.isna(nb) else int(nb)}"


def format_comparison(cmp: pd.DataFrame) -> pd.DataFrame:
    """A comparison table with formatted numbers."""
    out = cmp[["suite", "case", "variant", "metric", "backend"]].copy()
    out["x"] = [p if str(p).startswith("#") else fmt(x) for p, x in zip(cmp["x_point"], cmp["x_value"])]
    out["A"] = [fmt(v, u) for v, u in zip(cmp["value_a"], cmp["unit"])]
    out["B"] = [fmt(v, u) for v, u in zip(cmp["value_b"], cmp["unit"])]
    out["change"] = cmp["change_rel"].map(_change)
    out["spread"] = [fmt(s, u) for s, u in zip(cmp["spread"], cmp["unit"])]
    out["rounds A/B"] = [_rounds(a, b) for a, b in zip(cmp["rounds_a"], cmp["rounds_b"])]
    out["verdict"] = cmp["verdict"]
    out["why"] = cmp["why"]
    return out


def comparison_html(cmp: Comparison) -> str:
    """A self-contained HTML page of a comparison; regression/changed/missing cells are red."""
    title = f"pfbench compare: {cmp.name_a} vs {cmp.name_b}"
    return render_html([heading(title, 1), *comparison_blocks(cmp)], title)
