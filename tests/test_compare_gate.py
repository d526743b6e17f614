"""The comparison gate on real runs: two smoke runs of one commit, preset and seed pass `pfbench compare`; the same
pair with one deterministic count edited fails naming that row; a run whose timed train step is made 2x slower
(the busy-wait test hook of pfbench.measure.timing) fails naming the timing rows, unless the machine was busy while a
run was timed (then the timings are `unknown: machine busy` and that test is skipped, saying so); `pfbench report
A B` says the same as `pfbench compare A B`.

Cheap on purpose: each run is the throughput suite's training step of one variant (pytest's -k through
PYTEST_ADDOPTS), 10 timed rounds (PFBENCH_BENCHMARK_ROUNDS), one torch thread (two OpenMP threads on a shared
2-core machine make a step several times slower whenever another process runs), no report. The runs go one after
the other (A, the slow one, B), so drift of the machine's load splits between the pairs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pfbench.cli.main import main
from pfbench.measure.timing import TEST_HOOK_SLOWDOWN_ENV
from pfbench.results.compare import BUSY, MIN_ROUNDS
from pfbench.results.run_pair import compare_runs

ONE_STEP = "test_train_step and not interleaved and spatial_pyramid"
ROUNDS = 10


def _run(out: Path, slowdown: float | None) -> int:
    """One `pfbench run` of the throughput suite's spatial_pyramid train step, in this process (its suite still runs
    in a pytest subprocess, which inherits these variables); the slowdown hook only where asked."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTEST_ADDOPTS", f'-k "{ONE_STEP}"')
        mp.setenv("PFBENCH_BENCHMARK_ROUNDS", str(ROUNDS))
        mp.setenv("OMP_NUM_THREADS", "1")
        mp.delenv(TEST_HOOK_SLOWDOWN_ENV, raising=False)
        if slowdown:
            mp.setenv(TEST_HOOK_SLOWDOWN_ENV, str(slowdown))
        return main(["run", "--preset", "smoke", "--suites", "throughput", "--seed", "0", "--no-report",
                     "--out", str(out)])


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """{"a", "b": two runs of this commit; "slow": the same with every timed step 2x slower; "edited": b with one
    declared deterministic count (training FLOPs) moved by one FLOP}."""
    root = tmp_path_factory.mktemp("gate")
    dirs = {"a": root / "a", "slow": root / "slow", "b": root / "b"}
    for k, d in dirs.items():
        assert _run(d, 2.0 if k == "slow" else None) == 0, f"run {k}: {(d / 'logs' / 'throughput.log').read_text()}"
    dirs["edited"] = root / "edited"
    shutil.copytree(dirs["b"], dirs["edited"])
    path = dirs["edited"] / "benchmarks" / "throughput.json"
    data = json.loads(path.read_text())
    data["benchmarks"][0]["extra_info"]["analytic_flops"] += 1
    path.write_text(json.dumps(data))
    return dirs


def test_the_runs_recorded_enough_rounds_for_the_rank_test(runs):
    data = json.loads((runs["a"] / "benchmarks" / "throughput.json").read_text())
    assert [len(b["stats"]["data"]) for b in data["benchmarks"]] == [ROUNDS] and ROUNDS >= MIN_ROUNDS


def test_two_runs_of_one_commit_pass(runs, capsys):
    assert main(["compare", str(runs["a"]), str(runs["b"])]) == 0
    out = capsys.readouterr().out
    assert ": pass" in out.splitlines()[-1]
    cmp = compare_runs(runs["a"], runs["b"])
    assert not cmp.failed and cmp.counts.get("same", 0) > 0 and "missing" not in cmp.counts


def test_an_edited_count_fails_naming_the_row(runs, capsys):
    assert main(["compare", str(runs["a"]), str(runs["edited"])]) == 1
    captured = capsys.readouterr()
    assert "changed: throughput train_step spatial_pyramid analytic_flops" in captured.err
    cmp = compare_runs(runs["a"], runs["edited"])
    assert list(cmp.failures()["metric"]) == ["analytic_flops"]


def test_a_2x_slower_train_step_fails_naming_the_timing_rows(runs, capsys):
    busy = compare_runs(runs["a"], runs["slow"]).table
    busy = busy[busy["verdict"] == BUSY]
    if not busy.empty:  # other processes competed while a run was timed: the gate rightly says it cannot tell
        from pfbench.benchmarks import metric_spec

        assert {"time_s", "time_mean_s", "time_min_s"} <= set(busy["metric"])
        assert all(metric_spec("throughput", m).timed for m in busy["metric"])  # only declared timed rows
        assert main(["compare", str(runs["a"]), str(runs["slow"])]) == 0
        pytest.skip(f"machine busy, timings inconclusive: {busy['why'].iloc[0]}")
    assert main(["compare", str(runs["a"]), str(runs["slow"]), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failing = {r["metric"] for r in report["rows"] if r["verdict"] == "regression"}
    assert {"time_s", "time_mean_s"} <= failing, report["summary"]
    assert report["passed"] is False and all(r["case"] == "train_step" for r in report["rows"]
                                             if r["verdict"] == "regression")
    # the same rounds read the other way round are an improvement, not a failure
    assert main(["compare", str(runs["slow"]), str(runs["a"])]) == 0


@pytest.mark.parametrize("other", ["b", "edited", "slow"])
def test_report_and_compare_agree_on_what_differs(runs, other, tmp_path, capsys):
    code = main(["compare", str(runs["a"]), str(runs[other])])
    compare_summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["report", str(runs["a"]), str(runs[other]), "--out", str(tmp_path / "multi")]) == 0
    report_lines = capsys.readouterr().out.splitlines()
    assert compare_summary in report_lines  # the same summary line, pass or FAIL
    md = (tmp_path / "multi" / "report.md").read_text()
    assert ("**FAIL**" in md) == (code == 1) and compare_summary in md


def test_the_slowdown_hook_is_off_unless_a_test_sets_it(monkeypatch):
    import time

    from pfbench.measure.timing import slowdown_test_hook, synchronized

    assert slowdown_test_hook({}) == 1.0 and slowdown_test_hook({TEST_HOOK_SLOWDOWN_ENV: "2"}) == 2.0
    with pytest.raises(ValueError, match=TEST_HOOK_SLOWDOWN_ENV):
        slowdown_test_hook({TEST_HOOK_SLOWDOWN_ENV: "0.5"})
    monkeypatch.setenv(TEST_HOOK_SLOWDOWN_ENV, "3")
    step = synchronized(lambda: time.sleep(0.02), "cpu")
    start = time.perf_counter()
    step()
    assert time.perf_counter() - start >= 0.06
