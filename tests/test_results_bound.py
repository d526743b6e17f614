"""The tidy ``bound`` column: "" for an exact value, "lower"/"upper" for a bound; old runs without it read as ""."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pfbench.results.rows import append_rows, benchmark_rows
from pfbench.results.schema import BOUNDS, COLUMNS, MEASURE_COLUMNS
from pfbench.results.store import collect_run, load_results

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"


def test_bound_is_a_measure_column_and_old_runs_read_exact():
    assert "bound" in MEASURE_COLUMNS and "bound" in COLUMNS and BOUNDS == ("", "lower", "upper")
    df = collect_run(FIXTURE)  # written before the column existed
    assert set(df["bound"]) == {""}


def test_lower_bound_row_roundtrip_and_bad_bound_refused(tmp_path):
    append_rows(tmp_path, "memory", [
        dict(case="frames_sweep", variant="full_sequence", metric="max_frames_fit", value=16, unit="frames",
             bound="lower", note="time cap"),
        dict(case="frames_sweep", variant="pyramid_ar", metric="max_frames_fit", value=48, unit="frames")])
    df = collect_run(tmp_path)
    assert list(df["bound"]) == ["lower", ""]
    with pytest.raises(ValueError, match="bound 'at least'"):
        append_rows(tmp_path, "memory", [dict(case="c", metric="m", value=1, bound="at least")])


def test_old_results_table_without_the_column_reads_exact(tmp_path):
    old = pd.DataFrame([{c: None for c in COLUMNS if c != "bound"} | {"metric": "m", "value": 1.0, "case": "c"}])
    old.to_parquet(tmp_path / "results.parquet", index=False)
    assert list(load_results(tmp_path)["bound"]) == [""]


def test_bound_in_benchmark_extra_info_fills_the_column():
    data = {"benchmarks": [{"name": "test_x", "stats": {"median": 1.0}, "extra_info": {"bound": "lower", "n": 3}}]}
    rows = benchmark_rows(data, "memory")
    assert {r["bound"] for r in rows} == {"lower"}
