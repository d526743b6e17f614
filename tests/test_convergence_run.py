"""pfbench.benchmarks.fid.convergence_run: scales, evaluation priority under a budget, curves from evaluated points."""
import time

import pytest

from pfbench.benchmarks.fid.convergence_run import Budget, Point, common_points, convergence_scale, run_curve
from pfbench.core.config import get_preset


def test_scales_meet_the_protocol():
    cpu, gpu = convergence_scale(get_preset("cpu")), convergence_scale(get_preset("gpu"))
    assert cpu.seeds >= 3 and gpu.seeds >= 3 and cpu.data == "real"
    assert cpu.eval_steps[-1] == cpu.steps and cpu.eval_priority()[0] == cpu.steps
    assert sorted(cpu.eval_priority()) == list(cpu.eval_steps)
    assert cpu.eval_priority()[:3] == [24, 12, 6]  # end, middle, quarter first
    assert gpu.budget_clock == "wall" and cpu.budget_clock == "cpu"
    assert len(set(cpu.seed_list(0))) == cpu.seeds
    with pytest.raises(ValueError, match="shape-only"):
        convergence_scale(get_preset("paper-768p-10s"))


def test_budget_counts_cpu_seconds_not_waiting():
    b = Budget(10.0, "cpu")
    time.sleep(0.2)  # waiting costs wall time, not CPU time
    assert b.used() < 0.1 and b.left() > 9.9 and b.usage()["wall_s"] >= 0.2
    with pytest.raises(ValueError, match="budget clock"):
        Budget(1.0, "gpu")


def test_curves_from_points_keep_only_shared_steps():
    pts = lambda steps: [Point(s, 1e9 * s, 0.5 * s, 10.0 / s, 0.1, None, "x") for s in steps]  # noqa: E731
    runs = {"a": {0: pts([4, 8, 16]), 1: pts([4, 16])}}
    shared = common_points(runs)["a"]
    assert [p.step for p in shared[0]] == [4, 16] and [p.step for p in shared[1]] == [4, 16]
    c = run_curve(shared[0], 16)
    assert c.x == (4e9, 16e9) and c.progress == (0.25, 1.0) and c.se == (0.1, 0.1)
    assert run_curve(shared[0], 16, "wall_s").x == (2.0, 8.0)
    assert run_curve([], 16) is None


def test_budget_from_the_config_key_and_the_environment():
    from pfbench.core.config import resolve_run_config

    assert convergence_scale(get_preset("cpu").replace(fid_budget_s=1234.0)).budget_s == 1234.0
    assert convergence_scale(get_preset("cpu")).budget_s == 600.0
    from_env = resolve_run_config("cpu", environ={"PFBENCH_FID_BUDGET_S": "1234"}).preset
    assert convergence_scale(from_env).budget_s == 1234.0
    with pytest.raises(ValueError, match="PFBENCH_FID_BUDGET_S"):
        resolve_run_config("cpu", environ={"PFBENCH_FID_BUDGET_S": "-1"})
