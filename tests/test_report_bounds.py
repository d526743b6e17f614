"""Lower bounds (results' `bound` column) read as '>= X' in the report, and the memory plot's budget comes from the
run's recorded budget or its config (an environment override included), not from today's preset."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from pfbench.benchmarks.memory.section import budget_gib, section_memory
from pfbench.render.context import ReportContext
from pfbench.render.format import fmt
from pfbench.report.first_screen import section_summary
from pfbench.results.schema import tidy_frame

GIB = 2 ** 30


def ctx_of(rows, tmp_path: Path, config: dict | None = None) -> ReportContext:
    return ReportContext(run_dir=tmp_path, df=tidy_frame(rows), statuses=pd.DataFrame(columns=["suite", "status"]),
                         config=config or {"device": "cpu", "preset": {"name": "cpu", "memory_budget_gib": 1.0}},
                         env={})


def fit_rows(bound: str):
    rows = []
    for t, peak in ((1, 0.1), (2, 0.2), (4, 0.4)):
        rows.append(dict(suite="memory", case="frames_sweep", variant="full_sequence", metric="peak_memory_bytes",
                         value=peak * GIB, x_name="latent_frames", x_value=t, backend="child_peak_rss"))
    rows.append(dict(suite="memory", case="frames_sweep", variant="full_sequence", metric="max_frames_fit", value=4,
                     bound=bound, backend="child_peak_rss"))
    return rows


def test_fmt_marks_bounds():
    assert fmt(8.0, "frames", "lower") == ">= 8" and fmt(8.0, "frames", "upper") == "<= 8"
    assert fmt(8.0, "frames") == "8"


def test_lower_bound_frontier_reads_at_least(tmp_path):
    ctx = ctx_of(fit_rows("lower"), tmp_path)
    table = next(b.content for b in section_memory(ctx) if b.kind == "table")
    assert table["max frames that fit"].iloc[0] == ">= 4"
    summary = section_summary(ctx_of(fit_rows("lower"), tmp_path))[0].content
    assert summary["OOM frontier (latent frames)"].iloc[0] == ">= 4"
    exact = next(b.content for b in section_memory(ctx_of(fit_rows(""), tmp_path)) if b.kind == "table")
    assert exact["max frames that fit"].iloc[0] == "4"


def test_memory_budget_from_the_run_not_todays_preset(tmp_path):
    m = tidy_frame(fit_rows(""))
    override = {"device": "cpu", "preset": {"name": "cpu", "memory_budget_gib": 1.0},
                "overrides": {"memory_budget_gib": 2.0}}
    assert budget_gib(ctx_of([], tmp_path, override), m) == 2.0
    recorded = tidy_frame(fit_rows("") + [dict(suite="memory", case="budget", variant="", metric="memory_budget_bytes",
                                               value=3 * GIB)])
    assert budget_gib(ctx_of([], tmp_path), recorded) == 3.0


def test_fmt_writes_infinite_ends_instead_of_failing():
    from pfbench.render.format import sci

    assert fmt(float("inf"), "x") == "inf" and fmt(float("-inf"), "FLOP") == "-inf" and sci(float("inf")) == "inf"
    assert fmt(float("inf"), "x", bound="lower") == ">= inf"


def test_a_value_with_its_interval_keeps_only_the_digits_the_interval_supports():
    from pfbench.render.format import fmt_pm

    assert fmt_pm(220.3, 5.349) == "220.3 ± 5.3"
    assert fmt_pm(5392.0, 1156.0) == "5,400 ± 1,200"
    assert fmt_pm(0.52331, 0.0123) == "0.523 ± 0.012"
    assert fmt_pm(7.0, float("nan")) == "7" and fmt_pm(7.0, 0.0) == "7"  # no interval: the value as fmt shows it
