"""What else ran: the machine window's shares against hand-computed /proc/stat deltas, and the busy rule."""
from __future__ import annotations

import math
import time

import pytest
from foreign_load import SPIN, start_foreign_spinner, stop

from pfbench.measure.machine_load import (BUSY_RULE, BusyRule, CpuSnapshot, MachineProbe, _proc_stat, snapshot,
                                          window)


def snap(wall, busy, total, steal, own, load=1.0):
    return CpuSnapshot(wall_s=wall, busy_s=busy, total_s=total, steal_s=steal, own_s=own, load1=load)


def test_shares_are_the_hand_computed_fractions_of_capacity():
    # 10 s on 2 cores = 20 CPU-s of capacity; the machine was busy 13 CPU-s, of which this process 4: others 9
    w = window(snap(0, 100, 1000, 5, 50, load=1.5), snap(10, 113, 1020, 6, 54, load=3.2), cores=2)
    assert w.seconds == 10 and w.cores == 2 and w.load_average == 3.2
    assert w.others_share == pytest.approx(9 / 20) and w.own_share == pytest.approx(4 / 20)
    assert w.steal_share == pytest.approx(1 / 20)
    assert w.describe() == "load 3.2 on 2 cores, others took 45% of CPU, steal 5%"
    rows = {r["metric"]: r["value"] for r in w.rows(case="c", variant="v")}
    assert rows["machine_others_cpu_share"] == pytest.approx(0.45) and rows["machine_cores"] == 2


def test_own_time_above_the_machines_busy_time_clamps_at_zero_others():
    w = window(snap(0, 100, 1000, 0, 0), snap(1, 101, 1002, 0, 1.5), cores=2)  # tick rounding
    assert w.others_share == 0.0


def test_without_proc_stat_only_the_load_is_known(tmp_path):
    assert _proc_stat(tmp_path / "missing") is None
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    assert _proc_stat(tmp_path / "stat") is None
    w = window(snapshot(tmp_path / "missing"), snapshot(tmp_path / "missing"))
    assert w.others_share is None and w.steal_share is None and "load average only" in w.source
    assert "load average only" in w.describe()
    rows = {r["metric"]: r for r in w.rows()}
    assert rows["machine_others_cpu_share"]["status"] == "skipped"


def test_proc_stat_is_parsed_in_clock_ticks(tmp_path):
    (tmp_path / "stat").write_text("cpu  100 10 50 800 20 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    hz = __import__("os").sysconf("SC_CLK_TCK")
    busy, total, steal = _proc_stat(tmp_path / "stat")
    assert busy == pytest.approx(170 / hz) and total == pytest.approx(1000 / hz) and steal == pytest.approx(10 / hz)


def test_a_busy_loop_in_another_process_shows_as_others_share():
    if _proc_stat() is None:
        pytest.skip("no /proc/stat on this machine: the shares are unknown here (load average only)")
    spinner = start_foreign_spinner(1.2)  # spins for 1.2 s while this process sleeps for 0.8 s
    try:
        with MachineProbe() as probe:
            time.sleep(0.8)
    finally:
        stop(spinner)
    w = probe.window
    assert w.others_share * w.cores * w.seconds >= 0.4  # at least ~half of the child's spinning CPU-seconds seen
    assert w.own_share < 0.1


def _spin(seconds: float) -> None:
    exec(SPIN.format(seconds=seconds))


def test_a_process_forked_for_us_by_a_fork_server_is_our_own_cpu():
    """The suite processes of `pfbench run` and the memory ladders' children are forked by a server
    (multiprocessing's 'forkserver'): not this process's children, but its descendants, and their CPU is its own."""
    import multiprocessing

    if _proc_stat() is None or "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs /proc/stat and the 'forkserver' start method")
    ctx = multiprocessing.get_context("forkserver")
    with MachineProbe() as probe:
        child = ctx.Process(target=_spin, args=(0.8,))
        child.start()
        child.join(30)
    w = probe.window
    assert child.exitcode == 0
    assert w.own_share * w.cores * w.seconds >= 0.6, w  # the child's 0.8 CPU-seconds are ours


def test_busy_rule():
    assert not BUSY_RULE.busy(0.05, 0.0) and BUSY_RULE.busy(0.3, 0.0) and BUSY_RULE.busy(0.0, 0.2)
    assert not BUSY_RULE.busy(None, None)
    assert BusyRule(max_others_share=0.5).busy(0.6, None)
    assert math.isclose(BUSY_RULE.max_interval_spread, 1.5)


def test_the_reports_machine_line_weights_suites_by_duration():
    import pandas as pd

    from pfbench.report.sections import machine_line

    st = pd.DataFrame([dict(suite="tokens", duration_s=10.0, others_cpu_share=0.02, load_average=1.0, cores=2,
                            steal_share=0.0),
                       dict(suite="fid", duration_s=30.0, others_cpu_share=0.42, load_average=4.1, cores=2,
                            steal_share=0.0)])
    line = machine_line(st)
    # (10 x 2% + 30 x 42%) / 40 = 32%
    assert "**busy**" in line and "took 32% of the CPU" in line and "most 42%, during fid" in line
    assert "up to 4.1 on 2 cores" in line and "inconclusive: machine busy" in line
    quiet = machine_line(st.assign(others_cpu_share=[0.01, 0.03]))
    assert "**quiet**" in quiet and "took 2% of the CPU" in quiet
    assert machine_line(st.drop(columns=["others_cpu_share"])) == ""  # status files from before the probe


def test_a_suite_status_carries_its_machine_window(tmp_path):
    import json

    from pfbench.core.config import get_preset
    from pfbench.runner.execute import run_suite
    from pfbench.runner.folder import RunSpec

    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_tokens.py").write_text("def test_nothing():\n    assert True\n")
    (suites / "conftest.py").write_text(  # the options `pfbench run` passes, accepted and ignored
        "def pytest_addoption(parser):\n"
        "    for name in ('--pf-config', '--pf-preset', '--pf-device', '--pf-run-dir'):\n"
        "        parser.addoption(name)\n")
    spec = RunSpec(run_dir=tmp_path / "run", run_id="t", preset=get_preset("smoke"), suites=("tokens",),
                   device="cpu", suites_dir=suites)
    status = run_suite(spec, "tokens")
    stored = json.loads((tmp_path / "run" / "status" / "tokens.json").read_text())
    assert status.status == "passed" and stored["cores"] >= 1 and stored["load_average"] >= 0
    if _proc_stat() is not None:
        assert 0 <= stored["others_cpu_share"] <= 1
