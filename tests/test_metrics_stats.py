"""pfbench.metrics.stats: the Fréchet distance equals torch-fidelity's, the clip-level interval covers the true
distance of two Gaussians, and KID subsets differ."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pfbench.metrics import stats


def _truth(d: int, scale: float, shift: float) -> float:
    """FD between N(0, I_d) and N(shift * 1, scale^2 I_d)."""
    return d * shift ** 2 + d * (1 - scale) ** 2


@pytest.mark.parametrize("n,d", [(50, 20), (300, 20), (60, 200)])
def test_frechet_distance_equals_torch_fidelity(n, d):
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    rng = np.random.default_rng(n + d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3 + 0.2
    s1, s2 = (fid_features_to_statistics(torch.from_numpy(x)) for x in (a, b))
    ref = fid_statistics_to_metric(s1, s2, False)[KEY_METRIC_FID]
    assert stats.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert stats.frechet_from_stats(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]) == pytest.approx(ref, rel=1e-6)
    assert stats.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_converges_to_the_truth():
    rng = np.random.default_rng(0)
    d = 8
    a, b = rng.normal(size=(40000, d)), rng.normal(size=(40000, d)) * 1.5 + 0.3
    assert stats.frechet_distance(a, b) == pytest.approx(_truth(d, 1.5, 0.3), rel=0.03)


def _clips(rng, n_clips, frames, d, scale, shift):
    """(n_clips * frames, d) Gaussian features whose frames share a clip component (correlation 0.7)."""
    base = rng.normal(size=(n_clips, 1, d))
    x = np.sqrt(0.7) * base + np.sqrt(0.3) * rng.normal(size=(n_clips, frames, d))
    return (x * scale + shift).reshape(-1, d), np.repeat(np.arange(n_clips), frames)


def test_clip_level_interval_covers_the_true_distance():
    """95% interval: coverage >= 85% over 40 independent replications, where the plain FD (biased upward by
    ~tr(S)/N) almost never sits near the truth and a with-replacement bootstrap interval misses it."""
    d, n_clips, frames, scale, shift = 8, 32, 4, 1.3, 0.2
    truth = _truth(d, scale, shift)
    covered, plain_above = 0, 0
    for rep in range(40):
        rng = np.random.default_rng(1000 + rep)
        a, ga = _clips(rng, n_clips, frames, d, 1.0, 0.0)
        b, gb = _clips(rng, n_clips, frames, d, scale, shift)
        iv = stats.frechet_interval(a, b, ga, gb, resamples=30, seed=rep)
        covered += iv.low <= truth <= iv.high
        plain_above += iv.fd > truth
        assert iv.over.startswith("clips") and iv.n_groups == (n_clips, n_clips)
    assert covered >= 34, covered
    assert plain_above >= 36  # the bias the interval corrects is real


def test_interval_needs_clips_and_says_so():
    x = np.random.default_rng(0).normal(size=(6, 3))
    iv = stats.frechet_interval(x, x + 1, [0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert np.isnan(iv.low) and "fewer than 4 clips" in iv.over


def test_kid_subsets_differ_so_the_spread_is_not_zero():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(64, 16)), rng.normal(size=(64, 16)) + 0.5
    kid = stats.kernel_distance(a, b, subsets=20)
    assert kid.subset_size == stats.kid_subset_size(64, 64) == 32
    assert kid.std > 0 and kid.mean > 0
    near = stats.kernel_distance(a, rng.normal(size=(64, 16)), subsets=20)
    assert near.mean < kid.mean


def test_polynomial_mmd_matches_torch_fidelity():
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 10)), rng.normal(size=(30, 10)) * 1.2
    ref = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=1, kid_subset_size=30,
                                 verbose=False)[KEY_METRIC_KID_MEAN]
    assert stats.polynomial_mmd(a, b) == pytest.approx(ref, rel=1e-9)


def test_rank_test_minimum_rounds_and_error_rates():
    """The fewest rounds at which the exact rank test can reach its level, and on simulated rounds with a known
    truth: identical distributions are called different at most at about that level; a 2x slowdown is caught."""
    import math

    assert stats.min_rounds_for_rank_test(0.01) == 5 and 2 / math.comb(10, 5) < 0.01 <= 2 / math.comb(8, 4)
    rng = np.random.default_rng(0)
    same = [stats.rounds_differ_p(rng.lognormal(0, 0.3, 10), rng.lognormal(0, 0.3, 10)) for _ in range(400)]
    slower = [stats.rounds_differ_p(rng.lognormal(0, 0.3, 10), 2 * rng.lognormal(0, 0.3, 10)) for _ in range(200)]
    assert np.mean(np.array(same) < 0.01) <= 0.03
    assert np.mean(np.array(slower) < 0.01) >= 0.9
    with pytest.raises(ValueError, match="rounds on both sides"):
        stats.rounds_differ_p([], [1.0])
