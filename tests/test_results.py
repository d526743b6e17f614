"""The tidy result table built from the committed fixture run, and run comparison."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pfbench.cli.main import main
from pfbench.results.compare import compare_results, parse_threshold
from pfbench.results.run_pair import compare_runs
from pfbench.results.rows import append_rows
from pfbench.results.schema import COLUMNS, declared_unit
from pfbench.results.store import collect_run, load_results, write_results

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return collect_run(FIXTURE)


def one(df: pd.DataFrame, **where) -> pd.Series:
    for col, val in where.items():
        df = df[df[col] == val]
    assert len(df) == 1, where
    return df.iloc[0]


def test_columns_and_context(table):
    assert list(table.columns) == COLUMNS
    assert set(table["suite"]) == {"tokens", "throughput", "memory", "fid", "vbench", "ablations"}
    assert set(table["run_id"]) == {"20261124T071500Z-cpu"}
    assert set(table["preset"]) == {"cpu"} and set(table["device"]) == {"cpu"} and set(table["dtype"]) == {"float32"}
    assert set(table["seed"]) == {0} and set(table["commit"]) == {"5f0b44c"}
    assert (table["time"] != "").all()
    assert set(table["status"]) <= {"ok", "skipped", "error", "oom"}


def test_paper_token_counts(table):
    t = table[(table["suite"] == "tokens") & (table["case"] == "paper-768p-10s") & (table["metric"] == "max_tokens")]
    assert one(t, variant="full_sequence", backend="analytic")["value"] == 119040
    assert one(t, variant="pyramid_ar", backend="analytic")["value"] == 15360
    assert one(t, variant="pyramid_ar", backend="paper")["value"] == 15360
    assert one(t, variant="pyramid_ar", backend="paper")["unit"] == "tokens"


def test_benchmark_json_becomes_rows(table):
    bench = json.loads((FIXTURE / "benchmarks" / "throughput.json").read_text())
    entry = next(b for b in bench["benchmarks"] if b["extra_info"]["case"] == "train_step"
                 and b["extra_info"]["variant"] == "pyramid_ar")
    tp = table[(table["suite"] == "throughput") & (table["case"] == "train_step") & (table["variant"] == "pyramid_ar")]
    median = one(tp, metric="time_s")
    assert median["value"] == pytest.approx(entry["stats"]["median"])
    assert median["spread"] == pytest.approx(entry["stats"]["iqr"])
    assert (median["unit"], median["spread_kind"], median["source"]) == ("s", "iqr", "benchmark")
    assert one(tp, metric="time_mean_s")["spread_kind"] == "std"
    assert one(tp, metric="rounds")["value"] == 3
    assert one(tp, metric="achieved_flops_per_s")["unit"] == "FLOP/s"
    assert one(tp, metric="analytic_flops")["unit"] == "FLOP"
    mfu = one(tp, metric="mfu")  # None in extra_info -> a skipped row that says why
    assert mfu["status"] == "skipped" and pd.isna(mfu["value"]) and "None" in mfu["note"]
    assert one(tp, metric="speedup_vs_full_sequence")["backend"] == "measured"


def test_sweeps_and_oom_rows(table):
    mem = table[(table["suite"] == "memory") & (table["variant"] == "full_sequence")]
    oom = one(mem, metric="peak_memory_bytes", x_value=32.0)
    assert oom["status"] == "oom" and oom["x_name"] == "latent_frames" and pd.isna(oom["value"])
    assert one(mem, metric="max_frames_fit")["value"] == 24


@pytest.mark.parametrize("suite, key, unit", [
    ("memory", "peak_memory_bytes", "bytes"), ("throughput", "time_s", "s"), ("throughput", "analytic_flops", "FLOP"),
    ("throughput", "achieved_flops_per_s", "FLOP/s"), ("vbench", "frames_per_s", "frames/s"),
    ("tokens", "max_tokens", "tokens"), ("throughput", "energy_per_call_j", "J"), ("throughput", "mfu", "fraction"),
    ("throughput", "speedup_vs_full_sequence", "x"), ("tokens", "attention_pairs", "pairs"),
    ("ablations", "block_correlation", ""), ("tokens", "no_such_metric", ""),
])
def test_declared_unit(suite, key, unit):
    """Units come from the benchmarks' declarations (pfbench.benchmarks), not from the metric's name."""
    assert declared_unit(suite, key) == unit


def test_append_rows_roundtrip_and_validation(tmp_path):
    append_rows(tmp_path, "tokens", [{"case": "c", "variant": "v", "metric": "max_tokens", "value": 5, "unit": "tokens",
                                      "backend": "analytic"}])
    append_rows(tmp_path, "tokens", [{"case": "c", "variant": "v", "metric": "mean_tokens", "value": None,
                                      "unit": "tokens", "status": "skipped", "note": "why"}])
    df = collect_run(tmp_path)
    assert list(df["metric"]) == ["max_tokens", "mean_tokens"]
    assert df["value"].iloc[0] == 5 and pd.isna(df["value"].iloc[1]) and df["run_id"].iloc[0] == tmp_path.name
    with pytest.raises(ValueError, match="needs case, metric and value"):
        append_rows(tmp_path, "tokens", [{"case": "c", "value": 1}])


def test_parquet_and_csv_roundtrip(tmp_path, table):
    parquet, csv = write_results(table, tmp_path)
    back = pd.read_parquet(parquet)
    assert list(back.columns) == COLUMNS and len(back) == len(table)
    assert len(pd.read_csv(csv)) == len(table)
    assert len(load_results(tmp_path)) == len(table)  # no raw files: read from results.parquet


def test_missing_results_error_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `pfbench run` first"):
        load_results(tmp_path)


def test_parse_threshold():
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.05") == pytest.approx(0.05)
    with pytest.raises(ValueError, match="5% or 0.05"):
        parse_threshold("five")


# ------------------------------------------------------------------------------------------- compare

def copy_fixture(tmp_path: Path, name: str = "b") -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURE, dest)
    return dest


def edit_benchmark(run: Path, case: str, variant: str, factor: float, rounds: int | None = None) -> None:
    """Scale one throughput entry's timed rounds (and the stats pytest-benchmark derives from them) by ``factor``;
    with ``rounds``, first give it that many rounds (the fixture's rounds repeated with a small spread)."""
    import numpy as np

    path = run / "benchmarks" / "throughput.json"
    data = json.loads(path.read_text())
    for b in data["benchmarks"]:
        if (b["extra_info"]["case"], b["extra_info"]["variant"]) == (case, variant):
            st = b["stats"]
            seconds = np.array(st["data"], dtype=float)
            if rounds is not None:
                seconds = np.resize(seconds, rounds) * np.linspace(0.98, 1.02, rounds)
            seconds = seconds * factor
            q1, q3 = np.percentile(seconds, [25, 75])
            st.update(data=seconds.tolist(), rounds=len(seconds), median=float(np.median(seconds)),
                      mean=float(seconds.mean()), min=float(seconds.min()), max=float(seconds.max()),
                      stddev=float(seconds.std(ddof=1)), iqr=float(q3 - q1))
    path.write_text(json.dumps(data, indent=4))


def pair_with_rounds(tmp_path: Path, rounds: int = 8) -> tuple[Path, Path]:
    """Two copies of the fixture whose throughput timings have ``rounds`` rounds each."""
    a, b = copy_fixture(tmp_path, "a"), copy_fixture(tmp_path, "b")
    for run in (a, b):
        for case in ("train_step", "generate"):
            for variant in ("full_sequence", "pyramid_ar"):
                edit_benchmark(run, case, variant, 1.0, rounds)
    return a, b


def test_compare_unchanged_run_passes(tmp_path, capsys):
    b = copy_fixture(tmp_path)
    assert main(["compare", str(FIXTURE), str(b)]) == 0
    assert ": pass" in capsys.readouterr().out


def test_compare_flags_planted_regression(tmp_path, capsys):
    a, b = pair_with_rounds(tmp_path)
    edit_benchmark(b, "train_step", "pyramid_ar", 1.20)  # every round 20% slower
    assert main(["compare", str(a), str(b), "--fail-above", "5%"]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "+20.0%" in out and "FAIL" in out
    cmp = compare_runs(a, b, 0.05).table
    row = one(cmp, suite="throughput", case="train_step", variant="pyramid_ar", metric="time_s")
    assert row["verdict"] == "regression" and row["p_value"] < 0.01 and row["rounds_a"] == 8
    assert main(["compare", str(a), str(b), "--fail-above", "25%"]) == 0  # under a looser threshold: worse
    assert main(["compare", str(a), str(b)]) == 0  # timings declare 50%: a 20% slowdown is `worse`


def test_compare_improvement_and_noise_do_not_fail(tmp_path):
    a, b = pair_with_rounds(tmp_path)
    edit_benchmark(b, "generate", "pyramid_ar", 0.8)           # faster: better
    edit_benchmark(b, "train_step", "full_sequence", 1.01)     # +1%: the rounds overlap
    cmp = compare_runs(a, b, 0.05).table
    assert one(cmp, case="generate", variant="pyramid_ar", metric="time_s")["verdict"] == "better"
    assert one(cmp, case="train_step", variant="full_sequence", metric="time_s")["verdict"] == "within-noise"
    assert main(["compare", str(a), str(b)]) == 0


def test_too_few_rounds_is_unknown_never_a_failure(tmp_path):
    b = copy_fixture(tmp_path)  # the fixture's timings have 3 rounds, fewer than the rank test needs
    edit_benchmark(b, "train_step", "pyramid_ar", 3.0)
    row = one(compare_runs(FIXTURE, b, 0.05).table, case="train_step", variant="pyramid_ar", metric="time_s")
    assert row["verdict"] == "unknown: too few rounds" and "3 round(s) in A" in row["why"]
    assert main(["compare", str(FIXTURE), str(b)]) == 0


def test_timings_of_a_busy_machine_are_unknown_never_a_failure(tmp_path):
    a, b = pair_with_rounds(tmp_path)
    edit_benchmark(b, "train_step", "pyramid_ar", 2.0)
    assert main(["compare", str(a), str(b)]) == 1
    status = b / "status" / "throughput.json"
    data = json.loads(status.read_text())
    status.write_text(json.dumps({**data, "load_average": 5.5, "cores": 2, "others_cpu_share": 0.6}))
    row = one(compare_runs(a, b).table, case="train_step", variant="pyramid_ar", metric="time_s")
    assert row["verdict"] == "unknown: machine busy" and "others took 60%" in row["why"].replace("other processes took", "others took")
    assert main(["compare", str(a), str(b)]) == 0
    assert main(["compare", str(a), str(b), "--ignore-load"]) == 1  # judged anyway when asked


def test_a_change_that_rounds_to_zero_is_same(tmp_path):
    a, b = pair_with_rounds(tmp_path)
    edit_benchmark(b, "train_step", "pyramid_ar", 0.9999)
    row = one(compare_runs(a, b).table, case="train_step", variant="pyramid_ar", metric="time_s")
    assert row["verdict"] == "same" and row["why"] == "the change rounds to 0.0%"


def test_compare_flags_changed_analytic_count(tmp_path):
    b = copy_fixture(tmp_path)
    path = b / "rows" / "tokens.jsonl"
    lines = path.read_text().splitlines()
    row = json.loads(lines[0])
    row["value"] += 1  # an exactly-deterministic number moved by one token
    path.write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    cmp = compare_results(collect_run(FIXTURE), collect_run(b))
    assert (cmp["verdict"] == "changed").sum() == 1
    assert main(["compare", str(FIXTURE), str(b)]) == 1
