"""The training-speed verdict: the order-statistic interval of the median pair ratio against hand-computed ranks,
its error rates on simulated alternating pairs with a known truth, and the verdict on hand-made tidy rows."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pfbench.benchmarks.throughput.verdicts import MIN_PAIRS, speed_status, training_speed_verdict
from pfbench.metrics.stats import median_ratio_interval, order_statistic_ranks
from pfbench.results.schema import tidy_frame

# ------------------------------------------------------------------------------------------- the interval


@pytest.mark.parametrize("n, low_rank, high_rank", [(6, 1, 6), (9, 2, 8), (10, 2, 9), (12, 3, 10), (20, 6, 15)])
def test_interval_ends_are_the_hand_computed_order_statistics(n, low_rank, high_rank):
    # n = 10: P(Binom(10, 1/2) <= 1) = 11/1024 = 0.011 <= 0.025 < P(<= 2) = 56/1024, so ranks 2 and 9;
    # n = 12: P(<= 2) = 79/4096 = 0.019 <= 0.025 < P(<= 3) = 299/4096, so ranks 3 and 10
    values = np.random.default_rng(n).permutation(np.arange(1, n + 1) / 4.0)  # rank i has value i / 4
    median, low, high = median_ratio_interval(values)
    assert order_statistic_ranks(n) == (low_rank, high_rank)
    assert (low, high) == (low_rank / 4.0, high_rank / 4.0)
    assert median == pytest.approx(np.median(values))


def test_ranks_agree_with_scipy_binomial():
    binom = pytest.importorskip("scipy.stats").binom
    for n in range(6, 61):
        k = max(k for k in range(1, n + 1) if binom.cdf(k - 1, n, 0.5) <= 0.025)
        assert order_statistic_ranks(n) == (k, n - k + 1), n
        assert 1 - 2 * binom.cdf(k - 1, n, 0.5) >= 0.95  # the interval's exact coverage


@pytest.mark.parametrize("n", [1, 2, 5])
def test_too_few_pairs_have_no_interval(n):
    values = np.linspace(1.5, 2.5, n)
    median, low, high = median_ratio_interval(values)
    assert median == pytest.approx(np.median(values)) and math.isnan(low) and math.isnan(high)
    assert order_statistic_ranks(n) is None


def test_interval_is_vectorised_over_leading_axes_and_rejects_non_finite():
    ratios = np.random.default_rng(0).lognormal(size=(7, 12))  # (repetitions, pairs)
    median, low, high = median_ratio_interval(ratios)
    assert median.shape == low.shape == high.shape == (7,)
    assert median_ratio_interval(ratios[3]) == (median[3], low[3], high[3])
    with pytest.raises(ValueError, match="finite"):
        median_ratio_interval([1.0, float("nan"), 2.0])


# ------------------------------------------------------------------------------------------- the simulation

REPS = 4000


def _pairs(rng, reps: int, n: int, speedup: float) -> np.ndarray:
    """(reps, n) per-pair ratios full / variant: the true speedup times iid symmetric noise. Each pair's log ratio
    gets small Gaussian jitter, and in 30% of pairs a heavy-tailed burst (a step slowed by 1 + Lomax(1.5) / 2,
    unbounded tail) on one side chosen at random: on the full_sequence side it raises the ratio, on the variant
    side it lowers it. The true median ratio is ``speedup``."""
    log = rng.normal(0.0, 0.1, (reps, n))
    burst = rng.random((reps, n)) < 0.3
    side = rng.choice([-1.0, 1.0], (reps, n))
    log += burst * side * np.log1p(rng.pareto(1.5, (reps, n)) / 2)
    return speedup * np.exp(log)


def _rates(rng, n: int, speedup: float) -> tuple[float, float, float]:
    """(share 'reproduced', share 'not reproduced', coverage of the true median ratio) over REPS repetitions."""
    _, low, high = median_ratio_interval(_pairs(rng, REPS, n, speedup))
    status = speed_status(low, high, n)
    covered = (low <= speedup) & (speedup <= high)
    return float(np.mean(status == "reproduced")), float(np.mean(status == "not reproduced")), float(covered.mean())


def test_rule_error_rates_on_simulated_pairs():
    rng = np.random.default_rng(20240611)
    table, failures = [], []
    for n in (10, 12, 20):
        false_yes, false_no, coverage = _rates(rng, n, 1.0)  # no real speedup
        power, wrong_way, coverage_2x = _rates(rng, n, 2.0)  # a true 2x speedup
        table.append((n, false_yes, false_no, coverage, power, wrong_way, coverage_2x))
        if false_yes > 0.05:
            failures.append(f"{n} pairs: false 'reproduced' {false_yes:.1%} > 5% with no real speedup")
        if min(coverage, coverage_2x) < 0.93:
            failures.append(f"{n} pairs: coverage of the true median ratio {coverage:.1%} / {coverage_2x:.1%} < 93%")
        if wrong_way > 0.01:
            failures.append(f"{n} pairs: 'not reproduced' {wrong_way:.1%} under a true 2x speedup")
        if n == 12 and power < 0.8:
            failures.append(f"12 pairs: 'reproduced' only {power:.1%} < 80% under a true 2x speedup")
    print(f"\ntraining-speed rule on {REPS} simulated runs per row (symmetric noise, heavy-tailed one-sided bursts)")
    print("pairs  false 'reproduced' (1x)  false 'not reproduced' (1x)  coverage (1x)  "
          "'reproduced' (2x)  'not reproduced' (2x)  coverage (2x)")
    for n, fy, fn, cov, pw, ww, cov2 in table:
        print(f"{n:5d}  {fy:24.1%}  {fn:27.1%}  {cov:13.1%}  {pw:17.1%}  {ww:21.1%}  {cov2:13.1%}")
    assert not failures, "; ".join(failures)


def test_rule_needs_the_minimum_number_of_pairs():
    assert speed_status(2.0, 3.0, MIN_PAIRS - 1) == "inconclusive"
    assert speed_status(2.0, 3.0, MIN_PAIRS) == "reproduced"
    assert speed_status(float("nan"), float("nan"), 50) == "inconclusive"


# ------------------------------------------------------------------------------------------- the verdict on rows


def speed_rows(value, low=None, high=None, pairs=None, load=None, cpu=None, others=None, cores=None):
    base = dict(suite="throughput", case="train_step_interleaved", variant="pyramid_ar")
    rows = [dict(base, metric="speedup_vs_full_sequence", value=value, backend="measured-interleaved"),
            dict(base, metric="predicted_speedup", value=5.0, backend="analytic")]
    for metric, v in (("speedup_vs_full_sequence_ci_low", low), ("speedup_vs_full_sequence_ci_high", high),
                      ("speedup_pairs", pairs), ("load_average", load), ("machine_others_cpu_share", others),
                      ("machine_cores", cores)):
        if v is not None:
            rows.append(dict(base, metric=metric, value=v))
    if cpu is not None:
        rows += [dict(base, metric=f"speedup_cpu_vs_full_sequence{suffix}", value=v)
                 for suffix, v in zip(("", "_ci_low", "_ci_high"), cpu)]
    return tidy_frame(rows)


@pytest.mark.parametrize("value, low, high, pairs, status, why", [
    (3.0, 2.5, 3.4, 12, "reproduced", "lies above 1x"),
    (0.7, 0.6, 0.8, 12, "not reproduced", "lies below 1x"),
    (1.05, 0.9, 1.2, 12, "inconclusive", "contains 1x"),
    (1.3, 1.0, 1.5, 20, "inconclusive", "contains 1x"),          # an end exactly at 1x is not beyond it
    (0.9, 0.8, 1.0, 20, "inconclusive", "contains 1x"),
    (3.0, 2.5, 3.4, 8, "inconclusive", "fewer than 10 alternating pairs"),
])
def test_verdict_on_rows(value, low, high, pairs, status, why):
    v = training_speed_verdict(speed_rows(value, low, high, pairs))
    assert (v.status, why in v.why) == (status, True), v
    assert v.value == (f"{value:.2f}x (95% CI {low:.2f}-{high:.2f} over {pairs} alternating pairs, wall time); "
                       "FLOP-predicted 5.00x")


def test_inconclusive_verdict_on_a_quiet_machine_names_the_load_and_cpu_time():
    v = training_speed_verdict(speed_rows(1.05, 0.9, 1.2, 12, load=1.9, cpu=(1.1, 0.95, 1.25), others=0.02, cores=2))
    assert v.status == "inconclusive" and "machine quiet: load 1.9 on 2 cores, others took 2% of CPU" in v.why
    assert "process CPU time gives 1.10x (95% CI 0.95-1.25)" in v.why and "wall time" in v.value


def test_a_busy_machine_reads_process_cpu_time_and_says_so():
    # wall-time pairs ruined by outside load (0.9-1.5 contains 1x); CPU time is tight and above 1x
    v = training_speed_verdict(speed_rows(1.2, 0.9, 1.5, 12, load=4.1, cpu=(2.0, 1.8, 2.2), others=0.48, cores=2))
    assert v.status == "reproduced", v
    assert "process CPU time: machine busy (load 4.1 on 2 cores, others took 48% of CPU)" in v.value
    assert v.value.startswith("2.00x (95% CI 1.80-2.20 over 12 alternating pairs")
    assert "(process CPU time) lies above 1x" in v.why


def test_a_busy_machine_with_disagreeing_cpu_rounds_is_inconclusive_machine_busy():
    v = training_speed_verdict(speed_rows(1.2, 0.9, 1.5, 12, load=4.1, cpu=(2.0, 1.1, 3.0), others=0.48, cores=2))
    assert v.status == "inconclusive"
    assert v.why.startswith("inconclusive: machine busy (load 4.1 on 2 cores, others took 48% of CPU)"), v.why
    # without CPU-time rows a busy machine is inconclusive too, never read from wall time
    v = training_speed_verdict(speed_rows(3.0, 2.5, 3.4, 12, load=4.1, others=0.48, cores=2))
    assert v.status == "inconclusive" and "machine busy" in v.why


def test_quiet_machine_with_disagreeing_wall_rounds_falls_back_to_cpu_time():
    v = training_speed_verdict(speed_rows(3.0, 1.2, 6.0, 12, load=1.0, cpu=(3.0, 2.7, 3.3), others=0.01, cores=2))
    assert v.status == "reproduced" and "rounds disagree (wall-time interval 1.20-6.00" in v.value


def test_old_rows_without_an_interval_are_inconclusive():
    old = tidy_frame([dict(suite="throughput", case="train_step_interleaved", variant="pyramid_ar",
                           metric="speedup_vs_full_sequence", value=3.0, spread=0.5, spread_kind="iqr",
                           note="median of 5 interleaved rounds")])
    v = training_speed_verdict(old)
    assert v.status == "inconclusive" and "no interval" in v.why and v.value == "3.00x"
    assert training_speed_verdict(tidy_frame([])).status == "not measured here"


def test_verdict_on_rows_built_from_simulated_pairs():
    ratios = _pairs(np.random.default_rng(7), 1, 12, 3.0)[0]
    median, low, high = median_ratio_interval(ratios)
    v = training_speed_verdict(speed_rows(median, low, high, len(ratios)))
    assert v.status == "reproduced" and "over 12 alternating pairs" in v.value, v
