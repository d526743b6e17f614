"""The one statistics module for distribution distances: Fréchet distance, polynomial-kernel MMD (KID/KVD), and
an interval for the Fréchet distance at the level of clips.

Fréchet distance of Gaussian fits, ``|mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2)``, with the trace term as a
nuclear norm: for any factors ``S1 = F1 F1^T`` and ``S2 = F2 F2^T``, ``tr sqrt(S1 S2) = ||F1^T F2||_*`` (the
eigenvalues of S1 S2 are the squared singular values of F1^T F2). It is real and non-negative by construction (no
``sqrtm``, whose scipy versions returned FID -341 on identical inputs), and cheap when there are fewer samples than
feature dimensions (F = centred samples / sqrt(n - 1), an n1 x n2 SVD).

Interval (``frechet_interval``): a Fréchet distance of N samples is biased upward by about k / N, and resampling
*with* replacement duplicates samples and inflates it further (the bootstrap interval then misses even the point
estimate). Here: B random half-samples of the *clips* of each set, drawn without replacement (all frames of a clip
stay together: frames of one clip are correlated). Under the 1/N bias model their mean estimates the bias, giving the
half-sample (jackknife-type) correction ``FD* = 2 FD_N - mean(FD_{N/2})``; the spread of half-sample values, times the
finite-sample factor m / (N - m) = 1 for halves, estimates Var(FD_N). The interval is FD* +- z * se (truncated at
0), an interval for the population distance; tests/test_metrics_stats.py checks its coverage on Gaussians with a known distance.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np


def _as64(x) -> np.ndarray:
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _factor(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), F (D, r)) with F F^T the unbiased sample covariance of x (N, D)."""
    mu = x.mean(axis=0)
    n, d = x.shape
    xc = (x - mu) / np.sqrt(max(n - 1, 1))  # (N, D)
    if n <= d:
        return mu, xc.T  # (D, N)
    evals, evecs = np.linalg.eigh(xc.T @ xc)  # (D,), (D, D)
    return mu, evecs * np.sqrt(np.clip(evals, 0, None))  # (D, D)


def frechet_distance(f1, f2) -> float:
    """Fréchet distance between Gaussians fitted to two (N, D) feature sets (unbiased covariances, as in FID)."""
    x1, x2 = _as64(f1), _as64(f2)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x1.shape[1]} vs {x2.shape[1]}")
    if len(x1) < 2 or len(x2) < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 samples per set, got {len(x1)} and {len(x2)}")
    mu1, a = _factor(x1)
    mu2, b = _factor(x2)
    cross = np.linalg.svd(a.T @ b, compute_uv=False).sum()  # tr sqrt(S1 S2)
    fd = float(((mu1 - mu2) ** 2).sum() + (a * a).sum() + (b * b).sum() - 2 * cross)
    return max(fd, 0.0)


def frechet_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """The same distance from given means and covariances (e.g. stored reference statistics)."""
    evals1, evecs1 = np.linalg.eigh(np.asarray(sigma1, np.float64))
    evals2, evecs2 = np.linalg.eigh(np.asarray(sigma2, np.float64))
    a = evecs1 * np.sqrt(np.clip(evals1, 0, None))
    b = evecs2 * np.sqrt(np.clip(evals2, 0, None))
    cross = np.linalg.svd(a.T @ b, compute_uv=False).sum()
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return max(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * cross), 0.0)


# ----------------------------------------------------------------------------------------------- MMD (KID / KVD)

def kid_subset_size(n1: int, n2: int, cap: int = 1000) -> int:
    """KID subset size: half the smaller set (capped at 1000), so that subsets differ and their spread means
    something (with the whole set as every subset the standard deviation is always 0)."""
    return max(2, min(cap, min(n1, n2) // 2))


def polynomial_mmd(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    """Unbiased MMD^2 with the kernel (x.y / D + coef)^degree (KID's kernel)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + coef) ** degree
    kyy = (y @ y.T / d + coef) ** degree
    kxy = (x @ y.T / d + coef) ** degree
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


@dataclass(frozen=True)
class KidResult:
    mean: float
    std: float
    subset_size: int
    subsets: int


def kernel_distance(f1, f2, subsets: int = 100, subset_size: int | None = None, seed: int = 0) -> KidResult:
    """KID/KVD: mean and standard deviation of the polynomial MMD over random subsets (without replacement) of
    ``subset_size`` samples per set (default ``kid_subset_size``)."""
    x1, x2 = _as64(f1), _as64(f2)
    size = min(subset_size or kid_subset_size(len(x1), len(x2)), len(x1), len(x2))
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(x1)} and {len(x2)}")
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd(x1[rng.choice(len(x1), size, replace=False)],
                           x2[rng.choice(len(x2), size, replace=False)]) for _ in range(subsets)]
    return KidResult(float(np.mean(vals)), float(np.std(vals)), size, subsets)


# ----------------------------------------------------------------------------------------------- interval

@dataclass(frozen=True)
class FrechetInterval:
    """A Fréchet distance, its half-sample bias correction and an interval for the population distance."""

    fd: float              # plain FD of all samples (what papers report)
    fd_debiased: float     # 2 FD_N - mean FD_{N/2}
    low: float
    high: float
    confidence: float
    over: str              # what was resampled
    resamples: int
    n_groups: tuple[int, int]

    def to_dict(self) -> dict:
        return asdict(self)


def _groups(n: int, groups) -> list[np.ndarray]:
    """Row indices per group (a clip); ``groups`` (N,) labels, or None for one sample per group."""
    if groups is None:
        return [np.array([i]) for i in range(n)]
    labels = np.asarray(groups)
    if len(labels) != n:
        raise ValueError(f"groups has {len(labels)} labels for {n} samples")
    return [np.flatnonzero(labels == g) for g in dict.fromkeys(labels.tolist())]


def frechet_interval(f1, f2, groups1=None, groups2=None, resamples: int = 50, confidence: float = 0.95,
                     seed: int = 0) -> FrechetInterval:
    """Half-sample interval over clips (see the module docstring). ``groups*`` give each row's clip id."""
    x1, x2 = _as64(f1), _as64(f2)
    g1, g2 = _groups(len(x1), groups1), _groups(len(x2), groups2)
    fd = frechet_distance(x1, x2)
    if min(len(g1), len(g2)) < 4 or resamples < 2:
        return FrechetInterval(fd, fd, float("nan"), float("nan"), confidence, "none (fewer than 4 clips)", 0,
                               (len(g1), len(g2)))
    rng = np.random.default_rng(seed)
    half = []
    for _ in range(resamples):
        s1 = np.concatenate([g1[i] for i in rng.choice(len(g1), len(g1) // 2, replace=False)])
        s2 = np.concatenate([g2[i] for i in rng.choice(len(g2), len(g2) // 2, replace=False)])
        half.append(frechet_distance(x1[s1], x2[s2]))
    half = np.asarray(half)
    debiased = 2 * fd - float(half.mean())
    se = float(half.std(ddof=1))  # x sqrt(m / (N - m)) = 1 for halves
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    # the population distance is >= 0: truncating the interval there only adds coverage
    return FrechetInterval(fd, debiased, max(debiased - z * se, 0.0), max(debiased + z * se, 0.0), confidence,
                           "clips (half-samples without replacement)", resamples, (len(g1), len(g2)))


# ----------------------------------------------------------------------------------------------- paired seeds

@lru_cache(maxsize=256)
def t_quantile(q: float, df: int) -> float:
    """Student-t quantile (cached: verdicts and simulations ask for the same few again and again)."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(q, df))


def t_interval(diffs, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences (one per seed) and its Student-t interval; NaN ends with fewer than 2 pairs."""
    d = np.asarray(diffs, float)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean()) - half, float(d.mean()) + half


# ----------------------------------------------------------------------------------------------- medians of pairs

def order_statistic_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """1-based ranks (k, n - k + 1) of the order statistics that bound the median with at least ``confidence``:
    the largest k with P(Binom(n, 1/2) < k) <= alpha / 2. None when no such k >= 1 exists (n < 6 at 95%)."""
    half_alpha = (1.0 - confidence) / 2
    k, below = 0, 0.0  # below = P(Binom(n, 1/2) <= k - 1)
    while k < n and below + math.comb(n, k) / 2 ** n <= half_alpha + 1e-12:
        below += math.comb(n, k) / 2 ** n
        k += 1
    return (k, n - k + 1) if k >= 1 else None


def median_ratio_interval(ratios, confidence: float = 0.95):
    """(median, low, high) of per-pair ratios: the sample median and the exact order-statistic interval for the
    population median (sign-test inversion; distribution-free, needs only independent pairs). Ratios are (..., n)
    with the pairs on the last axis; leading axes give arrays of results (a simulation's repetitions), a 1-D input
    gives floats. The ends are NaN when n is too small to have an interval at this confidence."""
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim == 0 or r.shape[-1] == 0:
        raise ValueError(f"median_ratio_interval needs at least one ratio, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("median_ratio_interval: ratios must be finite (a timing of 0 s or a NaN upstream?)")
    n = r.shape[-1]
    median = np.median(r, axis=-1)
    ranks = order_statistic_ranks(n, confidence)
    if ranks is None:
        low = high = np.full(r.shape[:-1], np.nan)
    else:
        ordered = np.sort(r, axis=-1)  # (..., n)
        low, high = ordered[..., ranks[0] - 1], ordered[..., ranks[1] - 1]
    if r.ndim == 1:
        return float(median), float(low), float(high)
    return median, low, high


# ----------------------------------------------------------------------------------------------- rounds of a timing

RANK_TEST_ALPHA = 0.01  # two-sided level at which two runs' rounds count as differently distributed


def min_rounds_for_rank_test(alpha: float = RANK_TEST_ALPHA) -> int:
    """The fewest rounds per run (equal counts) at which the exact two-sided Mann-Whitney test can reach ``alpha``:
    its smallest p-value, two completely separated samples of n, is 2 / C(2n, n)."""
    n = 1
    while 2 / math.comb(2 * n, n) >= alpha:
        n += 1
    return n


def rounds_differ_p(a, b) -> float:
    """Two-sided Mann-Whitney U p-value that rounds ``a`` and ``b`` (seconds per round of two runs) come from one
    distribution: rank-based, so a single slow round (another process woke up) moves it little. Exact for small
    samples without ties, asymptotic otherwise (scipy's choice)."""
    from scipy.stats import mannwhitneyu

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size == 0 or y.size == 0:
        raise ValueError(f"rounds_differ_p needs rounds on both sides, got {x.size} and {y.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("rounds_differ_p: rounds must be finite seconds")
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)
