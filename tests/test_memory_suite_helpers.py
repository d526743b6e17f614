"""The memory suite's helpers: ladders, the frontier search's rows, and a real child running out of budget."""
from __future__ import annotations

import math

import pytest

from pfbench.benchmarks.memory.frontier import search_frontier
from pfbench.benchmarks.memory.ladders import frame_ladder, largest_layout_tokens, resolution_ladder, sweep_points
from pfbench.benchmarks.memory.rows import fit_rows, per_frame_bytes, points_to_rows
from pfbench.benchmarks.memory.sweep import measure_variant_cpu
from pfbench.core.config import get_preset

MIB = 2**20


def test_frame_ladder_is_every_length_up_to_the_cap():
    assert frame_ladder(48) == list(range(1, 49))
    assert frame_ladder(1) == [1]
    with pytest.raises(ValueError, match="memory_max_frames"):
        frame_ladder(0)


@pytest.mark.parametrize("h, w", [(16, 16), (32, 32), (48, 80)])
def test_resolution_ladder_stays_on_the_pyramid_grid(h, w):
    sizes = resolution_ladder(h, w, 8)
    assert sizes[0] == (h, w) and sizes[-1] == (4 * h, 4 * w)
    assert all(a % 8 == 0 and b % 8 == 0 for a, b in sizes)
    areas = [a * b for a, b in sizes]
    assert areas == sorted(set(areas))


def test_largest_layouts():
    p = get_preset("cpu")  # 32 x 32 latents, patch 2: 256 tokens per frame
    assert largest_layout_tokens("full_sequence", 8, 32, 32, 2, 3) == 8 * 256
    assert largest_layout_tokens("spatial_pyramid", 8, 32, 32, 2, 3) == 8 * 256
    assert largest_layout_tokens("ar_full_history", 8, 32, 32, 2, 3) == 8 * 256
    # last frame at stage 0: itself and its predecessor at full size, one at 1/2, the rest at 1/4
    assert largest_layout_tokens("pyramid_ar", 8, 32, 32, 2, 3) == 256 + 256 + 64 + 5 * 16
    points = sweep_points("pyramid_ar", p, "resolution_sweep")
    assert points[0]["frames"] == p.frames and points[0]["x_value"] == p.tokens_per_frame
    assert [q["x_name"] for q in points] == ["tokens_per_frame"] * len(points)


def _fake(oom_from: int, step_s: float = 0.0):
    """A size runs out from ``oom_from`` frames on; memory is the tokens."""
    return lambda point: {"status": "oom" if point["frames"] >= oom_from else "ok", "message": "",
                          "peak_rss_bytes": 10**9 + point["tokens"], "increase_bytes": point["tokens"],
                          "step_s": step_s}


def _points(n):
    return [dict(sweep="frames_sweep", x_name="latent_frames", x_value=float(t), frames=t, height=8, width=8,
                 tokens_per_frame=16, tokens=16 * t) for t in frame_ladder(n)]


def test_search_rows_name_the_frontier_exactly():
    out = search_frontier(_points(16), _fake(oom_from=7), budget_bytes=16 * 6.5)
    rows = points_to_rows("v", out, device_kind="cpu", budget_bytes=2**30)
    oom = [r for r in rows if r["status"] == "oom"]
    assert oom and all(r["value"] is None for r in oom) and min(r["x_value"] for r in oom) == 7.0
    (fit,) = fit_rows("v", out, device_kind="cpu", budget_bytes=2**30)
    assert fit["metric"] == "max_frames_fit" and fit["value"] == 6.0 and fit["bound"] == ""
    assert "ran out at 7" in fit["note"]


def test_a_ladder_that_never_runs_out_gives_a_lower_bound():
    out = search_frontier(_points(8), _fake(oom_from=99))
    (fit,) = fit_rows("v", out, device_kind="cpu", budget_bytes=2**30)
    assert (fit["value"], fit["status"], fit["bound"]) == (8.0, "ok", "lower")
    assert "did not run out within the sweep" in fit["note"]


def test_time_limit_gives_a_lower_bound_not_a_failure():
    out = search_frontier(_points(16), _fake(oom_from=12, step_s=10.0), time_limit_s=30.0)
    assert out[-1]["status"] == "skipped" and "time cap, not memory" in out[-1]["message"]
    assert all(p["status"] == "ok" for p in out[:-1])
    (fit,) = fit_rows("v", out, device_kind="cpu", budget_bytes=2**30)
    assert fit["bound"] == "lower" and fit["status"] == "ok" and "time limit" in fit["note"]


def test_per_frame_slope():
    pts = [dict(sweep="frames_sweep", status="ok", frames=t, increase_bytes=100 + 7 * t) for t in (1, 2, 4, 8)]
    assert per_frame_bytes(pts) == pytest.approx(7.0)


def test_cuda_rows_name_each_backend():
    p = dict(sweep="frames_sweep", x_name="latent_frames", x_value=2.0, frames=2, height=8, width=8, tokens=32,
             status="ok", step_s=0.1, max_allocated_bytes=10, max_reserved_bytes=20, nvml_device_used_bytes=None,
             increase_bytes=5)
    rows = points_to_rows("v", [p], device_kind="cuda", budget_bytes=100)
    assert {(r["metric"], r["backend"]) for r in rows} == {
        ("peak_memory_bytes", "cuda_max_allocated"), ("peak_memory_bytes", "cuda_max_reserved"),
        ("peak_memory_increase_bytes", "cuda_max_allocated")}


@pytest.mark.slow
def test_a_child_out_of_budget_is_a_row_not_a_crash():
    """A real spawned child with a small RLIMIT_AS budget runs out part-way up the ladder and says so.

    The address space a step adds depends on the machine (allocator, BLAS buffers, thread stacks), so the budget is
    found here, not assumed: from a budget every size fits under, it shrinks until the ladder runs out part-way."""
    preset = get_preset("smoke").replace(height=32, width=32, memory_max_frames=16)

    def ladder(budget_bytes: float) -> dict:
        return measure_variant_cpu("full_sequence", preset, budget_bytes=int(budget_bytes), time_limit_s=60,
                                   sweeps=("frames_sweep",))

    lo, hi = 8 * MIB, 1024 * MIB  # lo: not even the first size fits (assumed); hi: every size fits (checked)
    calibration = ladder(hi)
    assert calibration["child_status"] == "ok", calibration["child_message"]
    assert all(p["status"] == "ok" for p in calibration["points"]), "1 GiB of address space should fit every size"
    budget, tried = 1.5 * max(p["increase_bytes"] for p in calibration["points"]), []
    for _ in range(8):  # bisect (in log space) for a budget the ladder runs out of part-way
        result = ladder(budget)
        statuses = [p["status"] for p in result["points"]]
        tried.append((round(budget / MIB), result["child_status"], statuses))
        if result["child_status"] != "ok" or not statuses or statuses[0] == "oom":
            lo = budget  # too small for the first size (or for the child's own imports and model)
        elif "oom" not in statuses:
            hi = budget
        else:
            break
        budget = math.sqrt(lo * hi)
    assert result["child_status"] == "ok", result["child_message"]
    assert statuses[0] == "ok" and statuses[-1] == "oom", tried
    ok = [p for p in result["points"] if p["status"] == "ok"]
    assert all(p["peak_rss_bytes"] > p["increase_bytes"] > 0 for p in ok)
    assert len(ok) == 1 or ok[-1]["increase_bytes"] > ok[0]["increase_bytes"]
