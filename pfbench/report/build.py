"""Assemble the report: header (network, data, device), verdicts, the per-variant summary, then every registered
benchmark's section as a collapsible appendix; write report.md and report.html."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pfbench.core.files import read_json
from pfbench.render.blocks import Block, details, heading, render_html, render_markdown, text
from pfbench.render.context import ReportContext
from pfbench.report.sections import run_header, section_skipped, section_suites
from pfbench.results.store import load_results, read_statuses


def make_context(run_dir: str | Path, df: pd.DataFrame | None = None) -> ReportContext:
    run_dir = Path(run_dir)
    df = load_results(run_dir) if df is None else df
    return ReportContext(run_dir=run_dir, df=df.reset_index(drop=True), statuses=read_statuses(run_dir),
                         config=read_json(run_dir / "config.json"), env=read_json(run_dir / "env.json"))


def _guarded(title: str, section, ctx: ReportContext) -> list[Block]:
    try:
        return list(section(ctx))
    except Exception as err:  # one broken section must not lose the report
        return [text(f"_The section {title!r} could not be drawn: {type(err).__name__}: {err}_")]


def build_report(run_dir: str | Path, df: pd.DataFrame | None = None, compare_with: str | Path | None = None,
                 threshold: float | None = None) -> list[Block]:
    """All report blocks for a run folder (plots are written to run_dir/plots/ on the way)."""
    from pfbench.benchmarks import all_benchmarks
    from pfbench.report.first_screen import section_summary, section_verdicts, section_verdicts_full

    ctx = make_context(run_dir, df)
    benchmarks = all_benchmarks()
    title = f"pfbench report: {ctx.config.get('run_id', ctx.run_dir.name)}"
    blocks = [heading(title, 1), *run_header(ctx),
              heading("Verdicts on the paper's claims"), *_guarded("verdicts", lambda c: section_verdicts(
                  c, benchmarks), ctx),
              heading("Each variant against full_sequence"), *_guarded("summary", section_summary, ctx),
              heading("Appendix: detailed measurements"),
              details("Verdicts in full", _guarded("verdicts in full", lambda c: section_verdicts_full(
                  c, benchmarks), ctx))]
    blocks.append(details("Suites of this run", section_suites(ctx)))
    for b in benchmarks:
        if b.section is not None:
            blocks.append(details(b.title, _guarded(b.title, b.section, ctx)))
    blocks.append(details("Skipped, failed and missing", section_skipped(ctx)))
    if compare_with is not None:
        from pfbench.report.compare import section_comparison
        blocks.append(details(f"Comparison with {Path(compare_with).name}",
                              section_comparison(ctx, Path(compare_with), threshold)))
    return blocks


def write_report(run_dir: str | Path, df: pd.DataFrame | None = None, compare_with: str | Path | None = None,
                 threshold: float | None = None) -> tuple[Path, Path]:
    """Write report.md and report.html (self-contained) into the run folder; returns both paths."""
    run_dir = Path(run_dir)
    blocks = build_report(run_dir, df, compare_with, threshold)
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_markdown(blocks, run_dir), encoding="utf-8")
    page.write_text(render_html(blocks, str(blocks[0].content)), encoding="utf-8")
    return md, page
