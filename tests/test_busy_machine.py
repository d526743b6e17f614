"""A timed comparison under a controlled background load: the verdict is right or inconclusive, never wrong.

Two known workloads, one doing twice the other's matrix products, are timed in the same alternating rounds the
throughput suite uses, while a background process this test starts (and stops, after at most 20 s) spins on one
core. The rows go through the same row builder and the same training-speed verdict as a real run.
"""
from __future__ import annotations

import time

import pytest
import torch
from foreign_load import start_foreign_spinner, stop

from pfbench.benchmarks.throughput.rows import interleaved_rows
from pfbench.benchmarks.throughput.verdicts import MIN_PAIRS, training_speed_verdict
from pfbench.measure.interleave import alternating_rounds
from pfbench.measure.machine_load import BUSY_RULE, _proc_stat
from pfbench.results.schema import tidy_frame

TRUE_SPEEDUP = 2.0


def _workload(products: int):
    a = torch.randn(160, 160, generator=torch.Generator().manual_seed(0))

    def run():
        x = a
        for _ in range(products):
            x = a @ a  # (160, 160): the same work each product
        return x

    return run


@pytest.fixture
def background_load():
    """One spinning process for at most 20 s (killed when the test ends), taking one core while it runs; not this
    process's descendant, as another process's load is not (tests/foreign_load.py)."""
    proc = start_foreign_spinner(20)
    time.sleep(0.3)  # let it start spinning
    try:
        yield proc
    finally:
        stop(proc)


def _verdict(timing, predicted):
    rows = [dict(r, suite="throughput") for r in interleaved_rows(timing, "fast", torch.get_num_threads(), predicted)]
    return training_speed_verdict(tidy_frame(rows), variant="fast"), rows


def test_a_2x_workload_under_background_load_is_right_or_inconclusive(background_load):
    steps = {"full_sequence": _workload(2 * 40), "fast": _workload(40)}
    for step in steps.values():
        step()  # warm-up
    timing = alternating_rounds(steps, "full_sequence", min_rounds=MIN_PAIRS + 2, max_rounds=MIN_PAIRS + 2,
                                budget_s=0.0)
    verdict, rows = _verdict(timing, TRUE_SPEEDUP)
    values = {r["metric"]: r["value"] for r in rows}
    print(f"\ncontrolled load: {timing.whole.describe()}; wall {values['speedup_vs_full_sequence']:.2f}x "
          f"({values['speedup_vs_full_sequence_ci_low']:.2f}-{values['speedup_vs_full_sequence_ci_high']:.2f}), "
          f"cpu {values['speedup_cpu_vs_full_sequence']:.2f}x ({values['speedup_cpu_vs_full_sequence_ci_low']:.2f}-"
          f"{values['speedup_cpu_vs_full_sequence_ci_high']:.2f}); verdict {verdict.status}: {verdict.value} | "
          f"{verdict.why}")
    if _proc_stat() is not None:  # the load this test made is seen (others: at least most of one core of the two)
        assert timing.whole.others_share * timing.whole.cores >= 0.5, timing.whole.describe()
        assert BUSY_RULE.busy(timing.whole.others_share, timing.whole.steal_share)
    assert verdict.status in ("reproduced", "inconclusive"), verdict
    if verdict.status == "reproduced":  # right: the ratio it read is 2x within the declared spread
        read = "speedup_cpu_vs_full_sequence" if "process CPU time" in verdict.value else "speedup_vs_full_sequence"
        spread = BUSY_RULE.max_interval_spread
        assert TRUE_SPEEDUP / spread <= values[read] <= TRUE_SPEEDUP * spread, (read, values[read], verdict)
        assert values[f"{read}_ci_low"] <= TRUE_SPEEDUP * spread and values[f"{read}_ci_high"] >= TRUE_SPEEDUP / spread
    else:
        assert "machine busy" in verdict.why or "rounds disagree" in verdict.value + verdict.why, verdict


def test_equal_workloads_are_not_called_faster_or_slower_by_much(background_load):
    steps = {"full_sequence": _workload(40), "fast": _workload(40)}
    for step in steps.values():
        step()
    timing = alternating_rounds(steps, "full_sequence", min_rounds=MIN_PAIRS + 2, max_rounds=MIN_PAIRS + 2,
                                budget_s=0.0)
    verdict, rows = _verdict(timing, 1.0)
    print(f"\nequal workloads under load: {verdict.status}: {verdict.value} | {verdict.why}")
    if verdict.status != "inconclusive":  # a 2.5%-per-side error is allowed; a large wrong ratio never
        values = {r["metric"]: r["value"] for r in rows}
        read = "speedup_cpu_vs_full_sequence" if "process CPU time" in verdict.value else "speedup_vs_full_sequence"
        assert 1 / BUSY_RULE.max_interval_spread <= values[read] <= BUSY_RULE.max_interval_spread, verdict
