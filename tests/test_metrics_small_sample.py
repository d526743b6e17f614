"""pfbench.metrics.small_sample: known answers and simulations with known truths.

The clip-blocked kernel distance is unbiased on clips of correlated frames where the frame-independent KID
estimator is not; its half-sample interval over clips covers the true MMD^2; the diversity ratio, precision /
recall and the reference-only projection give their known answers.
"""
from __future__ import annotations

import numpy as np
import pytest

from pfbench.metrics import small_sample as ss
from pfbench.metrics import stats

T, RHO = 4, 0.7  # frames per clip, correlation of two frames of one clip


def clips(rng, n_clips: int, d: int, shift: float = 0.0, draws: int | None = None) -> np.ndarray:
    """Frames of ``n_clips`` independent clips of T frames: frame = shift + sqrt(rho) z_clip + sqrt(1 - rho) e;
    every frame is N(shift, I) and two frames of one clip have correlation rho. (draws, n_clips * T, d)."""
    b = draws or 1
    z = rng.standard_normal((b, n_clips, 1, d))
    e = rng.standard_normal((b, n_clips, T, d))
    x = (shift + np.sqrt(RHO) * z + np.sqrt(1 - RHO) * e).reshape(b, n_clips * T, d)
    return x if draws else x[0]


def groups(n_clips: int) -> np.ndarray:
    return np.repeat(np.arange(n_clips), T)


def mean_se(values) -> tuple[float, float]:
    v = np.asarray(values)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))


# ----------------------------------------------------------------------------------------------- blocked MMD

@pytest.mark.parametrize("d", [64, 256])
def test_blocked_mmd_is_unbiased_on_correlated_clips_where_kid_is_not(d):
    """300 draws of two clip sets of one distribution (6 vs 12 clips of 4 frames): the blocked estimator's mean
    is 0 within 3 standard errors; the frame-independent estimator (same-clip pairs counted as independent) is
    biased upward by many standard errors."""
    rng = np.random.default_rng(d)
    xs, ys = clips(rng, 6, d, draws=300), clips(rng, 12, d, draws=300)
    gx, gy = groups(6), groups(12)
    blocked = mean_se([ss.blocked_mmd(x, y, gx, gy) for x, y in zip(xs, ys)])
    plain = mean_se([stats.polynomial_mmd(x, y) for x, y in zip(xs, ys)])
    print(f"D={d}: blocked mean {blocked[0]:+.5f} (se {blocked[1]:.5f}), KID's {plain[0]:+.5f} (se {plain[1]:.5f})")
    assert abs(blocked[0]) < 3 * blocked[1]
    assert plain[0] > 20 * plain[1] and plain[0] > 0.2


def test_blocked_mmd_without_groups_is_kids_estimator_exactly():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 32)), rng.standard_normal((40, 32)) + 0.2
    assert ss.blocked_mmd(x, y) == stats.polynomial_mmd(x, y)
    assert ss.blocked_mmd(x, y, np.arange(24), np.arange(40)) == pytest.approx(stats.polynomial_mmd(x, y),
                                                                               rel=1e-12)


def test_blocked_mmd_leaves_out_exactly_the_same_clip_pairs():
    """Against a direct formula: within-set means over pairs of different clips, cross mean over all pairs; clip
    ids need not be contiguous, and computing in small chunks changes nothing."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 8)), rng.standard_normal((15, 8)) + 0.3
    gx, gy = rng.integers(0, 5, 20), np.array(list("abcde") * 3)

    def direct(x, y, gx, gy):
        k = lambda a, b: (a @ b.T / 8 + 1) ** 3
        other = lambda g: g[:, None] != g[None, :]
        return k(x, x)[other(gx)].mean() + k(y, y)[other(gy)].mean() - 2 * k(x, y).mean()

    want = direct(x, y, gx, gy)
    assert ss.blocked_mmd(x, y, gx, gy) == pytest.approx(want, rel=1e-10)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ss, "CHUNK", 3)
        assert ss.blocked_mmd(x, y, gx, gy) == pytest.approx(want, rel=1e-10)
        assert ss.blocked_mmd(x, y) == pytest.approx(stats.polynomial_mmd(x, y), rel=1e-10)
    with pytest.raises(ValueError, match="at least 2 clips"):
        ss.blocked_mmd(x, y, np.zeros(20), gy)


def test_half_samples_sum_the_right_blocks():
    """The vectorised half-sample statistic equals blocked_mmd of the selected clips."""
    rng = np.random.default_rng(2)
    x, y = clips(rng, 6, 16), clips(rng, 8, 16, shift=0.2)
    gx, gy = groups(6), groups(8)
    sums = ss._sums(x, y, gx, gy, 3, 1.0)
    mx, my = np.zeros((2, 6)), np.zeros((2, 8))
    mx[0, [0, 2, 5]], my[0, [1, 2, 3, 7]] = 1, 1
    mx[1, [1, 3, 4]], my[1, [0, 4, 5, 6]] = 1, 1
    got = ss._masked_mmd(*sums[:3], sums[3].astype(float), sums[4].astype(float), mx, my)
    for b in range(2):
        sx, sy = np.isin(gx, np.flatnonzero(mx[b])), np.isin(gy, np.flatnonzero(my[b]))
        assert got[b] == pytest.approx(ss.blocked_mmd(x[sx], y[sy], gx[sx], gy[sy]), rel=1e-10)


def true_mmd2(shift: float, d: int, n: int = 4000, seed: int = 99) -> float:
    """Population MMD^2 of the frame distributions N(0, I) and N(shift, I): a large-sample estimate on
    independent frames (unbiased; its standard error is far below the intervals' widths here)."""
    rng = np.random.default_rng(seed)
    return stats.polynomial_mmd(rng.standard_normal((n, d)), shift + rng.standard_normal((n, d)))


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_blocked_interval_covers_the_true_mmd2(shift):
    """400 draws of 6 vs 12 clips (D = 64): the 95% interval covers the true MMD^2 in >= 93% of draws, both
    when the distributions are equal (truth 0) and when one is shifted (truth from a large sample); under the
    shift it also excludes 0 in most draws (an interval wide enough to cover everything would not)."""
    d, draws = 64, 400
    truth = 0.0 if shift == 0 else true_mmd2(shift, d)
    rng = np.random.default_rng(7)
    xs, ys = clips(rng, 6, d, draws=draws), clips(rng, 12, d, shift, draws=draws)
    ivs = [ss.blocked_mmd_interval(x, y, groups(6), groups(12), resamples=50, seed=i)
           for i, (x, y) in enumerate(zip(xs, ys))]
    covered = np.mean([iv.low <= truth <= iv.high for iv in ivs])
    values = mean_se([iv.value for iv in ivs])
    print(f"shift {shift}: truth {truth:.4f}, mean estimate {values[0]:.4f} (se {values[1]:.4f}), "
          f"coverage {covered:.3f}, mean half-width {np.mean([iv.high - iv.value for iv in ivs]):.4f}")
    assert covered >= 0.93
    assert abs(values[0] - truth) < 3 * values[1]  # unbiased under the shift too
    if shift:
        assert truth > 0.5 and np.mean([iv.low > 0 for iv in ivs]) > 0.8


def test_interval_needs_four_clips_and_is_centred_on_the_value():
    rng = np.random.default_rng(3)
    x, y = clips(rng, 3, 8), clips(rng, 6, 8)
    few = ss.blocked_mmd_interval(x, y, groups(3), groups(6))
    assert np.isnan(few.se) and few.resamples == 0 and few.value == ss.blocked_mmd(x, y, groups(3), groups(6))
    iv = ss.blocked_mmd_interval(clips(rng, 6, 8), y, groups(6), groups(6), resamples=20)
    assert iv.se > 0 and iv.value - iv.low == pytest.approx(iv.high - iv.value) and iv.n_clips == (6, 6)
    assert iv.high - iv.low == pytest.approx(2 * 1.959964 * iv.se, rel=1e-5)


# ----------------------------------------------------------------------------------------------- diversity

def test_diversity_ratio_is_the_variance_scale():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((3000, 16))
    for s in (0.5, 1.0, 2.0):
        assert ss.diversity_ratio(s * real + 3.0, real) == pytest.approx(s ** 2, rel=1e-12)  # shift-free
        assert ss.diversity_ratio(s * rng.standard_normal((3000, 16)), real) == pytest.approx(s ** 2, rel=0.06)
    assert np.isnan(ss.diversity_ratio(real[:5], np.ones((5, 16))))


def test_precision_and_recall_name_a_collapsed_generator():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((400, 10))
    same_p, same_r = ss.precision_recall(real, rng.standard_normal((400, 10)))
    coll_p, coll_r = ss.precision_recall(real, 0.6 * rng.standard_normal((400, 10)))
    wide_p, wide_r = ss.precision_recall(real, 1.8 * rng.standard_normal((400, 10)))
    print(f"same {same_p:.3f}/{same_r:.3f}, collapsed {coll_p:.3f}/{coll_r:.3f}, wide {wide_p:.3f}/{wide_r:.3f}")
    assert same_p > 0.7 and same_r > 0.7
    assert coll_p > 0.95 and coll_r < 0.4 and coll_r < same_r - 0.4
    assert wide_p < 0.5 and wide_r > 0.9  # the roles swap: the precision side names an over-spread set


def test_precision_recall_take_neighbours_from_other_clips():
    """Clips of 4 near-identical frames: with the clips given, balls reach other clips and both scores are high;
    a clip's own frames as neighbours (groups ignored) shrink every ball to the clip and the scores collapse."""
    rng = np.random.default_rng(6)

    def clip_set():
        return np.repeat(rng.standard_normal((60, 4)), T, axis=0) + 1e-3 * rng.standard_normal((60 * T, 4))

    real, fake, g = clip_set(), clip_set(), groups(60)
    p, r = ss.precision_recall(real, fake, g, g)
    p0, r0 = ss.precision_recall(real, fake)
    assert p > 0.5 and r > 0.5 and p0 < 0.1 and r0 < 0.1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ss, "CHUNK", 7)
        assert ss.precision_recall(real, fake, g, g) == (p, r)


def test_a_copied_clip_is_precise_and_recalls_only_itself():
    """Eight copies of one of eight real samples: precision 1, recall 1/8 (exact zero distances, no rounding)."""
    rng = np.random.default_rng(8)
    real = 30.0 + rng.standard_normal((8, 400))
    assert ss.precision_recall(real, np.repeat(real[3:4], 8, axis=0)) == (1.0, 0.125)


# ----------------------------------------------------------------------------------------------- projection

def test_projection_is_fitted_on_the_reference_only():
    rng = np.random.default_rng(9)
    scale = np.ones(12)
    scale[2], scale[7] = 3.0, 2.0
    real = rng.standard_normal((500, 12)) * scale
    p = ss.fit_projection(real, 2)
    assert p.dim == 2 and np.allclose(p.components.T @ p.components, np.eye(2))
    assert abs(p.components[2, 0]) > 0.99 and abs(p.components[7, 1]) > 0.99  # the top variance axes, in order
    fakes = [rng.standard_normal((50, 12)), 5 + rng.standard_normal((80, 12)) * 4]
    for fake in fakes:  # the fake set never moves the axes: the summary's projected FD is the reference's
        got = ss.summary(real, fake, resamples=0, features_dim=2)
        assert got["projected_dim"] == 2
        assert got["fid_projected"] == pytest.approx(stats.frechet_distance(p(real), p(fake)), rel=1e-12)
        both = ss.fit_projection(np.concatenate([real, fake]), 2)
        assert got["fid_projected"] != pytest.approx(stats.frechet_distance(both(real), both(fake)), rel=1e-3)


@pytest.mark.parametrize("shape,bad,good", [((500, 12), 13, 12), ((5, 12), 6, 5)])
def test_projection_refuses_a_dimension_above_min_n_d(shape, bad, good):
    real = np.random.default_rng(10).standard_normal(shape)
    assert ss.fit_projection(real, good).dim == good
    for dim in (0, bad):
        with pytest.raises(ss.ProjectionDimError, match=f"between 1 and min\\(N, D\\) = {good}"):
            ss.fit_projection(real, dim)


# ----------------------------------------------------------------------------------------------- the rule

def test_bias_rule():
    assert ss.bias_dominated(24, 1280) and not ss.bias_dominated(20000, 1280)
    assert ss.bias_dominated(3999, 400) and not ss.bias_dominated(4000, 400)
    assert ss.supported_dim(24) == 2 and ss.supported_dim(5) == 1


def test_summary_fields_and_what_needs_two_clips():
    rng = np.random.default_rng(11)
    real, fake = clips(rng, 6, 8), clips(rng, 6, 8, shift=0.5)
    s = ss.summary(real, fake, groups(6), groups(6), resamples=20, kernel="kvd", distance="fvd")
    assert s["feature_dim"] == 8 and s["bias_dominated"] and s["projected_dim"] is s["fvd_projected"] is None
    assert s["kvd_blocked"] == ss.blocked_mmd(real, fake, groups(6), groups(6))
    assert s["kvd_blocked_low"] < s["kvd_blocked"] < s["kvd_blocked_high"] and s["kvd_blocked_se"] > 0
    assert (s["precision"], s["recall"]) == ss.precision_recall(real, fake, groups(6), groups(6))
    one = ss.summary(real, fake, np.zeros(len(real)), groups(6))  # one clip: no blocked distance, no neighbours
    assert one["kid_blocked"] is None and one["precision"] is None
    assert one["diversity_ratio"] == pytest.approx(ss.diversity_ratio(fake, real))
