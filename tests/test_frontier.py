"""The frontier search on a fake cost model: it finds the out-of-memory frontier exactly by bisection, and a time
cap gives a lower bound (recorded as such), never a failure and never an overrun of the time budget."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pfbench.benchmarks.memory.frontier import frontier_summary, search_frontier

TPF = 256  # tokens per frame


def ladder(n: int) -> list[dict]:
    return [dict(x_value=float(t), frames=t, tokens=TPF * t) for t in range(1, n + 1)]


class FakeMachine:
    """memory = fixed + per_token x tokens^power; step time = sec x (tokens / 256)^2; the clock advances by it."""

    def __init__(self, fixed=20e6, per_token=1e3, power=1.5, sec=0.01):
        self.fixed, self.per_token, self.power, self.sec = fixed, per_token, power, sec
        self.now, self.measured = 0.0, []

    def memory(self, tokens):
        return self.fixed + self.per_token * tokens ** self.power

    def clock(self):
        return self.now

    def measure_with(self, budget):
        def measure(point):
            self.measured.append(point["frames"])
            self.now += self.sec * (point["tokens"] / TPF) ** 2
            mem = self.memory(point["tokens"])
            return dict(status="ok" if mem <= budget else "oom", increase_bytes=mem)
        return measure

    def true_frontier(self, n, budget):
        return max((t for t in range(1, n + 1) if self.memory(TPF * t) <= budget), default=None)


def search(machine, n, budget, time_limit_s=None):
    return search_frontier(ladder(n), machine.measure_with(budget), budget_bytes=budget, time_limit_s=time_limit_s,
                           clock=machine.clock)


def test_bisection_finds_the_frontier_exactly_in_few_steps():
    m, budget = FakeMachine(), 1.0 * 2**30
    out = search(m, 48, budget)
    s = frontier_summary(out)
    f = m.true_frontier(48, budget)
    assert 1 < f < 48 and s["fit"] == f and s["oom"] == f + 1 and s["bound"] == "", (s, m.measured)
    assert len(m.measured) <= 12  # walking up the ladder would take f + 1 = 41 steps
    assert [p["x_value"] for p in out] == sorted(p["x_value"] for p in out)


def test_time_cap_gives_a_lower_bound_within_the_time_budget():
    m, budget = FakeMachine(sec=0.5), 1.0 * 2**30  # the frontier's size takes ~ minutes: out of reach
    out = search(m, 48, budget, time_limit_s=30.0)
    s = frontier_summary(out)
    assert s["bound"] == "lower" and s["fit"] < m.true_frontier(48, budget)
    assert out[-1]["status"] == "skipped" and "time cap, not memory" in out[-1]["message"]
    assert m.now <= 30.0  # every measured size was predicted (upper bound) to fit the time left, and did


def test_under_the_cap_that_stopped_the_doubling_ladder_the_search_gets_closer():
    """The issue's failure: doubling 1, 2, 4, 8, 16 and then T=32 overran the time cap before the budget. Under the
    same cap the search brackets the frontier (T=20) between a fit and an out-of-memory and records the fit as a
    lower bound; with time enough it is exact."""
    m = FakeMachine(power=2.0, per_token=0.25, sec=0.01)
    budget = m.memory(TPF * 20.5)
    limit = 13.0  # doubling: 1..16 take 3.41 s, T=32 is predicted at 10.24 s more: stopped at 16
    s = frontier_summary(search(m, 48, budget, time_limit_s=limit))
    assert s["bound"] == "lower" and 16 < s["fit"] < 20.5 < s["oom"] and m.now <= limit, s
    m = FakeMachine(power=2.0, per_token=0.25, sec=0.01)
    s = frontier_summary(search(m, 48, budget, time_limit_s=60.0))
    assert (s["fit"], s["oom"], s["bound"]) == (20.0, 21.0, ""), s


def test_a_ladder_that_fits_is_a_lower_bound_at_the_cap_and_an_oom_at_the_smallest_size_is_exact():
    m = FakeMachine()
    s = frontier_summary(search(m, 8, budget=1e12))
    assert (s["fit"], s["oom"], s["bound"]) == (8.0, None, "lower") and "ladder's cap" in s["why"]
    s = frontier_summary(search(FakeMachine(), 8, budget=1.0))
    assert (s["fit"], s["oom"], s["bound"]) == (None, 1.0, "")


def test_an_error_stops_the_search_and_is_not_a_frontier():
    def measure(point):
        return dict(status="error" if point["frames"] > 1 else "ok", increase_bytes=1.0, message="boom")
    out = search_frontier(ladder(8), measure, budget_bytes=10.0)
    assert [p["status"] for p in out][-1] == "error"
    assert frontier_summary(out)["bound"] == "lower" and "error" in frontier_summary(out)["why"]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 64), frontier=st.integers(0, 64), power=st.floats(0.6, 2.4), fixed=st.floats(0, 1e8))
def test_bisection_is_exact_for_any_monotone_cost(n, frontier, power, fixed):
    m = FakeMachine(fixed=fixed, power=power)
    frontier = min(frontier, n)
    # a budget between the frontier's memory and the next size's
    lo = m.memory(TPF * frontier) if frontier else 0.0
    hi = m.memory(TPF * (frontier + 1))
    budget = (lo + hi) / 2 if frontier else hi / 2 if m.memory(TPF) > hi / 2 else 0.0
    s = frontier_summary(search(m, n, budget))
    if frontier == 0 and m.memory(TPF) > budget:
        assert s["fit"] is None and s["oom"] == 1.0
    else:
        want = m.true_frontier(n, budget)
        assert s["fit"] == want and s["bound"] == ("lower" if want == n else "")
