"""pfbench.benchmarks.fid.convergence: ladder targets, cost to reach, ratio intervals, verdicts, on curves with a known answer."""
import math

import numpy as np
import pytest

from pfbench.benchmarks.fid.convergence import (
    Curve,
    cost_to_reach,
    geometric_mean_ratio,
    ladder_ratios,
    ladder_targets,
    mean_curve,
    still_falling,
)
from pfbench.benchmarks.vocabulary import ratio_claim

GRID = tuple(np.geomspace(2e9, 1e11, 14))  # training FLOPs at the evaluation points


def _fid(x):
    return 2.0 + 40.0 * (x / 1e9) ** -0.5  # a falling power law (compute-bound)


def _runs(shift: float, seeds, noise: float = 0.03):
    """Runs whose true curve is the baseline's at ``shift`` x the compute, with relative noise per point."""
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        y = [_fid(shift * x) * (1 + noise * rng.standard_normal()) for x in GRID]
        out.append(Curve(GRID, tuple(y), tuple(noise * _fid(shift * x) for x in GRID),
                         tuple(np.asarray(GRID) / GRID[-1])))
    return out


def test_cost_to_reach_interpolates_in_log_cost_and_flags_bounds():
    x, y = (1.0, 10.0, 100.0), (8.0, 4.0, 2.0)
    assert cost_to_reach(x, y, 3.0).cost == pytest.approx(math.sqrt(1000))  # halfway between 10 and 100 in log
    assert cost_to_reach(x, y, 3.0).bound == ""
    assert cost_to_reach(x, y, 9.0).cost == 1.0 and cost_to_reach(x, y, 9.0).bound == "upper"
    assert cost_to_reach(x, y, 1.0).cost is None and cost_to_reach(x, y, 1.0).bound == "lower"


def test_targets_come_from_the_baseline_alone():
    base = _runs(1.0, [1, 2, 3])
    targets = ladder_targets(base)
    m = mean_curve(base)
    assert [f for f, _ in targets] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert targets[-1][1] == pytest.approx(m.y[-1])
    assert all(a[1] > b[1] for a, b in zip(targets, targets[1:]))  # a falling curve: harder targets later


@pytest.mark.parametrize("seed", [0, 1])
def test_a_known_3x_compute_shift_is_recovered_within_the_interval(seed):
    base, var = _runs(1.0, [10 + seed, 20 + seed, 30 + seed]), _runs(3.0, [40 + seed, 50 + seed, 60 + seed])
    targets = ladder_targets(base)
    ratios = ladder_ratios(base, var, targets)
    for r in ratios[1:]:  # the 20% target is reached at the variant's first point: a lower bound, high end inf
        assert r.low <= 3.0 <= r.high, r
        assert r.low > 1.0, r                      # and it excludes "no speed-up"
        assert ratio_claim(r.low, r.high).status == "reproduced"
        assert r.ratio == pytest.approx(3.0, rel=0.35) and r.seeds == (3, 3)
    assert geometric_mean_ratio(ratios) == pytest.approx(3.0, rel=0.2)


@pytest.mark.parametrize("seed", [0, 1])
def test_no_shift_gives_an_interval_containing_1x(seed):
    base, var = _runs(1.0, [11 + seed, 21 + seed, 31 + seed]), _runs(1.0, [41 + seed, 51 + seed, 61 + seed])
    for r in ladder_ratios(base, var, ladder_targets(base)):
        assert r.low <= 1.0 <= r.high, r


def test_a_slower_variant_is_not_reproduced_and_one_that_never_reaches_is_an_upper_bound():
    base = _runs(1.0, [1, 2, 3], noise=0.01)
    slow = _runs(1 / 3, [4, 5, 6], noise=0.01)
    ratios = ladder_ratios(base, slow, ladder_targets(base))
    assert ratio_claim(ratios[0].low, ratios[0].high).status == "not reproduced"
    final = ratios[-1]  # the baseline's final value: a 3x slower variant never gets there
    assert final.ratio is None and final.bound == "upper" and final.low == 0.0
    assert "never reached the target" in final.cause


def test_ratio_claim_words_each_case_of_the_interval():
    assert ratio_claim(2.1, 3.4).words == "consistent with ~3x" and ratio_claim(2.1, 3.4).status == "reproduced"
    assert ratio_claim(2.2, 2.8).words == "consistent with ~3x"          # inside the declared band
    assert ratio_claim(1.05, 1.4).words == "faster, but not ~3x"         # above 1, 3x excluded
    assert ratio_claim(1.05, 1.4).status == "partly reproduced"
    assert ratio_claim(5.0, 9.0).words == "faster than ~3x"
    assert ratio_claim(0.7, 2.0).status == "inconclusive"
    assert ratio_claim(0.2, 1.0).words.startswith("contradicted") and ratio_claim(0.2, 1.0).status == "not reproduced"
    assert ratio_claim(float("nan"), 2.0).status == "inconclusive"


def test_an_unbounded_end_names_its_cause():
    base = _runs(1.0, [1, 2, 3], noise=0.01)
    fast = _runs(100.0, [4, 5, 6], noise=0.01)  # reaches every target at its first point
    r = ladder_ratios(base, fast, ladder_targets(base))[-1]
    assert r.bound == "lower" and math.isinf(r.high) and "first evaluation" in r.cause
    never = [Curve(c.x, tuple(v + 100 for v in c.y), c.se, c.progress) for c in base]  # baseline never reaches
    r = ladder_ratios(never, fast, ladder_targets(base))[-1]
    assert math.isinf(r.high) and "full_sequence never reached its own target" in r.cause


def test_still_falling_detects_a_plateau():
    falling = still_falling(_runs(1.0, [1, 2, 3], noise=0.005))
    assert falling.drop > 0 and falling.z > 3
    flat = [Curve(GRID, tuple([3.0 + 0.01 * ((i + s) % 2) for i in range(len(GRID))]), (), ()) for s in range(3)]
    assert abs(still_falling(flat).z) < 3


def test_bad_curves_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        Curve((2.0, 1.0), (1.0, 1.0))
    with pytest.raises(ValueError, match="share their evaluation points"):
        mean_curve([Curve((1.0, 2.0), (1.0, 1.0)), Curve((1.0,), (1.0,))])


def test_paired_difference_interval_covers_a_known_gap():
    from pfbench.benchmarks.fid.convergence import paired_difference
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(200):
        base = rng.normal(0, 1, 4)
        m, lo, hi = paired_difference(base + 0.5 + rng.normal(0, 0.2, 4), base)
        hits += lo <= 0.5 <= hi
    assert 0.9 <= hits / 200 <= 0.99  # a 95% interval over 4 paired seeds
    assert math.isnan(paired_difference([1.0], [0.0])[1])


def test_still_falling_with_two_points_measures_from_the_earlier_one():
    runs = [Curve((1.0, 2.0), (10.0 + 0.1 * s, 8.0), (), (0.5, 1.0)) for s in range(3)]
    fall = still_falling(runs)
    assert fall.from_progress == 0.5 and fall.drop == pytest.approx(2.1) and fall.z > 2


def test_cost_to_reach_on_a_decreasing_curve_in_any_order():
    xs, ys = [1e9, 1e10, 1e11], [10.0, 5.0, 2.0]
    assert cost_to_reach(xs, ys, 10.0).cost == 1e9
    assert cost_to_reach(xs, ys, 2.0).cost == pytest.approx(1e11)
    assert cost_to_reach(xs, ys, 7.5).cost == pytest.approx(10 ** 9.5)
    assert cost_to_reach(xs, ys, 1.0).cost is None
    assert cost_to_reach(list(reversed(xs)), list(reversed(ys)), 5.0).cost == pytest.approx(1e10)
