"""The benchmark registry: every metric a suite emits is declared once (unit, better direction), and `pfbench
compare` judges changes by those declarations, never by the metric's name."""
from __future__ import annotations

import pandas as pd
import pytest

from pfbench.benchmarks import all_benchmarks, direction, metric_spec, suite_files
from pfbench.benchmarks.base import Metric, mark_timed
from pfbench.results.compare import compare_results
from pfbench.results.schema import tidy_frame
from pfbench.runner.catalog import SUITE_FILES


def test_registry_is_the_runners_suite_map():
    assert SUITE_FILES == suite_files()
    names = [b.name for b in all_benchmarks()]
    assert len(names) == len(set(names))
    for b in all_benchmarks():
        declared = [m.name for m in b.metrics]
        assert len(declared) == len(set(declared)), f"{b.name} declares a metric twice"
        assert callable(b.section), b.name


@pytest.mark.parametrize("suite, metric, better, unit", [
    ("memory", "max_frames_fit", "higher", "frames"),
    ("memory", "max_tokens_per_frame_fit", "higher", "tokens"),
    ("memory", "memory_budget_bytes", "setting", "bytes"),
    ("memory", "peak_memory_bytes", "lower", "bytes"),
    ("throughput", "speedup_vs_full_sequence", "higher", "x"),
    ("throughput", "mfu", "higher", "fraction"),
    ("throughput", "time_s", "lower", "s"),
    ("tokens", "max_tokens", "lower", "tokens"),
    ("fid", "fid", "lower", ""),
    ("vbench", "warping_error", "lower", "score"),
    ("vbench", "flow_score", "setting", "score"),
    ("vbench", "motion_smoothness", "higher", "score"),
    ("scaling", "weak_scaling_efficiency", "higher", "fraction"),
])
def test_declared_direction_and_unit(suite, metric, better, unit):
    spec = metric_spec(suite, metric)
    assert spec is not None and (spec.better, spec.unit) == (better, unit)
    assert direction(suite, metric) == {"higher": 1, "lower": -1, "setting": 0}[better]


def test_metric_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="higher', 'lower' or 'setting'"):
        Metric("x", "", "up")  # type: ignore[arg-type]


def _pair(metric: str, suite: str, a: float, b: float, backend: str = "child_peak_rss"):
    """One row in two runs, with a small recorded spread (a row without one is `unknown`)."""
    row = {"suite": suite, "case": "c", "variant": "full_sequence", "metric": metric, "backend": backend,
           "spread": 0.1}
    return tidy_frame([{**row, "value": a}]), tidy_frame([{**row, "value": b}])


@pytest.mark.parametrize("suite, metric, bigger_is", [
    ("memory", "max_frames_fit", "better"),            # a bigger fit is an improvement, not a regression
    ("memory", "max_tokens_per_frame_fit", "better"),
    ("memory", "peak_memory_bytes", "regression"),
    ("throughput", "speedup_vs_full_sequence", "better"),
    ("memory", "memory_budget_bytes", "differs"),      # a setting has no better side
])
def test_compare_reads_the_declared_direction(suite, metric, bigger_is):
    a, b = _pair(metric, suite, 16.0, 32.0)
    assert compare_results(a, b)["verdict"].iloc[0] == bigger_is


def test_a_declared_deterministic_count_that_moves_fails():
    a, b = _pair("analytic_flops", "throughput", 1e9, 1.1e9, backend="")
    assert compare_results(a, b)["verdict"].iloc[0] == "changed"


def test_rows_without_a_unit_get_the_declared_one():
    df = tidy_frame([{"suite": "memory", "case": "c", "metric": "max_frames_fit", "value": 3}])
    assert df["unit"].iloc[0] == "frames"


def undeclared(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(suite, metric) pairs of a run's rows that no benchmark declares."""
    pairs = df[["suite", "metric"]].drop_duplicates().itertuples(index=False, name=None)
    return sorted((s, m) for s, m in pairs if metric_spec(s, m) is None)


def unit_mismatches(df: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """(suite, metric, emitted unit, declared unit) where a row's own unit disagrees with its declaration."""
    out = set()
    for s, m, u in df[["suite", "metric", "unit"]].drop_duplicates().itertuples(index=False, name=None):
        spec = metric_spec(s, m)
        if spec is not None and u and u != spec.unit:
            out.add((s, m, u, spec.unit))
    return sorted(out)


def test_the_fixture_runs_metrics_are_all_declared():
    from pathlib import Path

    from pfbench.results.store import collect_run

    assert undeclared(collect_run(Path(__file__).parent / "fixtures" / "run_cpu")) == []


COST_UNITS = ("s", "bytes", "FLOP", "pairs", "J", "GPU-h")  # more of these is never an improvement
RATE_UNITS = ("FLOP/s", "tokens/s", "samples/s", "frames/s")  # more of these is never a regression


def test_every_declaration_is_sane():
    """Each declared metric: a known direction, a documented unit, and no cost declared higher-is-better or rate
    declared lower-is-better (a `setting` may be anything)."""
    for b in all_benchmarks():
        for m in b.metrics:
            where = f"{b.name}.{m.name} ({m.unit}, {m.better})"
            assert m.better in ("higher", "lower", "setting"), where
            if m.unit in COST_UNITS:
                assert m.better in ("lower", "setting"), where
            if m.unit in RATE_UNITS:
                assert m.better in ("higher", "setting"), where
            if m.deterministic:
                assert m.better != "higher" or m.unit == "x", where  # counts are costs, or predicted ratios


def test_the_run_input_rows_are_declared_with_their_emitted_units():
    from pfbench.experiments.inputs import RunInputs  # noqa: F401 - the rows' author

    df = tidy_frame([{"suite": "data", "case": "data", "metric": m, "value": 1, "unit": u}
                     for m, u in (("clips_used", "videos"), ("clips_skipped", "videos"), ("clip_frames", "frames"),
                                  ("latent_clips", "clips"), ("latent_frames", "frames"))])
    assert undeclared(df) == [] and unit_mismatches(df) == []
def test_a_counted_backend_does_not_make_a_timing_deterministic():
    """Only a declaration makes a row an exact count: a tokens timing carries backend 'counted' and stays a timing."""
    a, b = _pair("time_mean_s", "tokens", 1.0, 2.0, backend="counted")
    assert compare_results(a, b)["verdict"].iloc[0] != "changed"
    a, b = _pair("max_tokens", "tokens", 10.0, 11.0, backend="measured")
    assert compare_results(a, b)["verdict"].iloc[0] == "changed"


def test_a_measure_without_spread_or_rounds_is_unknown():
    row = {"suite": "memory", "case": "c", "variant": "v", "metric": "peak_memory_bytes", "backend": "x"}
    a, b = tidy_frame([{**row, "value": 1e9}]), tidy_frame([{**row, "value": 3e9}])
    out = compare_results(a, b).iloc[0]
    assert out["verdict"] == "unknown: too few rounds" and "no spread" in out["why"]


def test_points_on_a_measured_axis_are_matched_by_order():
    """The FID curve against training wall seconds: the seconds differ between runs, the points still match."""
    def run(seconds):
        return tidy_frame([{"suite": "fid", "case": "convergence", "variant": "v", "metric": "fid", "value": 10.0 - i,
                            "spread": 0.5, "x_name": "train_wall_s", "x_value": s} for i, s in enumerate(seconds)])
    out = compare_results(run([1.31, 2.62]), run([1.57, 3.01]))
    assert list(out["verdict"]) == ["same", "same"] and list(out["x_point"]) == ["#1", "#2"]
    planned = [{"suite": "fid", "case": "ladder", "variant": "v", "metric": "ladder_target", "value": 1.0,
                "x_name": "target_fraction", "x_value": 0.2}]
    out = compare_results(tidy_frame(planned), tidy_frame([{**planned[0], "x_value": 0.4}]))
    assert sorted(out["verdict"]) == ["missing", "new"]  # a planned axis is matched by its value


def test_a_zero_spread_is_no_evidence():
    """An IQR over one round is 0: a change beyond it says nothing."""
    row = {"suite": "throughput", "case": "train_step", "variant": "v", "metric": "speedup_vs_full_sequence",
           "backend": "measured", "spread": 0.0}
    a, b = tidy_frame([{**row, "value": 9.5}]), tidy_frame([{**row, "value": 0.26}])
    assert compare_results(a, b).iloc[0]["verdict"] == "unknown: too few rounds"


def test_a_timed_measure_of_a_busy_machine_is_unknown_and_others_are_judged():
    a, b = _pair("speedup_vs_full_sequence", "throughput", 1.2, 0.4, backend="measured")
    busy = {"throughput": "run B: load average 8 on 2 CPU(s)"}
    assert compare_results(a, b, busy=busy)["verdict"].iloc[0] == "unknown: machine busy"
    assert compare_results(a, b)["verdict"].iloc[0] == "regression"
    a, b = _pair("peak_memory_bytes", "memory", 16.0, 32.0)  # not timed: the load does not excuse it
    assert compare_results(a, b, busy={"memory": "busy"})["verdict"].iloc[0] == "regression"
    with pytest.raises(ValueError, match="not declared"):
        mark_timed((Metric("a", "s", "lower"),), "b")


def test_a_timed_spread_over_few_rounds_is_no_evidence_but_many_rounds_are():
    """A models forward timed 3 times: its IQR says nothing about the next process. The same change over 10
    recorded rounds each, beyond the spread and the threshold, is a regression."""
    row = {"suite": "models", "case": "wan", "variant": "stage1", "metric": "forward_s", "backend": "measured",
           "spread": 0.001}
    few = compare_results(tidy_frame([{**row, "value": 0.01, "rounds": 3}]),
                          tidy_frame([{**row, "value": 0.018, "rounds": 3}])).iloc[0]
    assert few["verdict"] == "unknown: too few rounds" and "3 round(s) in A, 3 in B" in few["why"]
    assert few["rounds_a"] == 3
    many = compare_results(tidy_frame([{**row, "value": 0.01, "rounds": 10}]),
                           tidy_frame([{**row, "value": 0.018, "rounds": 10}])).iloc[0]
    assert many["verdict"] == "regression"
    # a count is not excused by its rounds: only timed metrics are
    mem = {"suite": "memory", "case": "c", "variant": "v", "metric": "peak_memory_bytes", "spread": 1.0}
    out = compare_results(tidy_frame([{**mem, "value": 1e9, "rounds": 1}]),
                          tidy_frame([{**mem, "value": 3e9, "rounds": 1}])).iloc[0]
    assert out["verdict"] == "regression"


def test_a_bound_is_not_judged_as_a_measurement():
    row = {"suite": "memory", "case": "frontier", "variant": "v", "metric": "max_frames_fit"}
    a = tidy_frame([{**row, "value": 11.0, "spread": 0.1}])
    b = tidy_frame([{**row, "value": 5.0, "spread": 0.1, "bound": "lower"}])
    out = compare_results(a, b).iloc[0]
    assert out["verdict"] == "unknown: a bound" and "B: a lower bound" in out["why"]
    assert compare_results(a, tidy_frame([{**row, "value": 5.0, "spread": 0.1}])).iloc[0]["verdict"] == "regression"


def test_sweep_points_beyond_a_time_capped_stop_are_not_missing():
    """B's frontier search stopped at 4 frames (its time cap, a skipped point): A's points at 4 and 8 frames are
    'cut short', never 'missing'; a point before the stop that B lacks is still missing and fails."""
    def point(x, **kw):
        return {"suite": "memory", "case": "frames_sweep", "variant": "v", "metric": "peak_memory_bytes",
                "x_name": "latent_frames", "x_value": x, "value": 1e8 * x, **kw}
    a = tidy_frame([point(1), point(2), point(4), point(8)])
    b = tidy_frame([point(2), point(4, value=None, status="skipped", note="time cap, not memory")])
    out = compare_results(a, b).set_index("x_value")["verdict"]
    assert out[1.0] == "missing" and out[2.0] == "same"
    assert out[8.0] == "unknown: sweep cut short"
    assert out[4.0] == "n/a"  # a value in A, a skipped point in B: nothing to compare, nothing lost
    why = compare_results(a, b).set_index("x_value")["why"][8.0]
    assert "stopped at latent_frames = 4" in why and "time cap" in why
