"""Statistics of two feature sets that stay valid when there are fewer samples than feature dimensions.

A Fréchet distance of N samples in D dimensions is biased upward by roughly tr(S1 + S2) * D / N; while N is not
much larger than D the bias, not the distance, decides the value, and a *less diverse* generator (smaller
covariance, smaller bias) scores better than a perfect one. Rule (:func:`bias_dominated`): a Fréchet distance of
fewer than ``BIAS_RULE`` x D samples per set is bias-dominated and no verdict reads it.

What verdicts read instead:

- the **clip-blocked kernel distance** (:func:`blocked_mmd`): KID's polynomial-kernel MMD^2 with every pair of
  frames of one clip left out of the within-set sums. Frames of a clip are correlated, so the usual unbiased
  estimator (which treats them as independent) is biased upward; with clips independent and same-clip pairs left
  out, the estimator is unbiased for the MMD^2 of the two frame distributions at any N. Its interval
  (:func:`blocked_mmd_interval`) comes from half-samples of the clips of each set, as the Fréchet interval does;
- **diversity** (:func:`diversity_ratio`, :func:`precision_recall`): the fake / real ratio of the feature covariance
  traces, and improved precision / recall (Kynkaenniemi et al., NeurIPS 2019: k-NN balls of each set), so a
  generator that wins by collapsing is named as such;
- a **projection** fitted on the reference set alone (:func:`fit_projection`), for a Fréchet distance in a
  dimension the N supports (its dimension is declared next to the number).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from pfbench.metrics.stats import frechet_distance

BIAS_RULE = 10          # a Fréchet distance needs >= BIAS_RULE x D samples per set to be read
LESS_DIVERSE_MARGIN = 0.8  # fake / real covariance-trace ratio below this: "less diverse" (a verdict says so)


def bias_dominated(n: int, d: int, rule: int = BIAS_RULE) -> bool:
    """True when a Fréchet distance of ``n`` samples (the smaller set) in ``d`` dimensions is bias-dominated."""
    return n < rule * d


def _as64(x) -> np.ndarray:
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {a.shape}")
    return a.astype(np.float64, copy=False)


def _labels(n: int, groups) -> np.ndarray:
    """Clip id per row (``groups``), or one clip per row."""
    if groups is None:
        return np.arange(n)
    labels = np.asarray(groups)
    if len(labels) != n:
        raise ValueError(f"groups has {len(labels)} labels for {n} samples")
    return labels


CHUNK = 4096  # kernel / distance rows computed at a time: memory stays O(CHUNK x N), not O(N^2 x D)


def _clip_index(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clip index 0..C-1 of each row in first-seen order, frames per clip (C,))."""
    order = {g: i for i, g in enumerate(dict.fromkeys(labels.tolist()))}
    index = np.fromiter((order[g] for g in labels.tolist()), dtype=np.int64, count=len(labels))
    return index, np.bincount(index, minlength=len(order))


def _clip_kernel_sums(a: np.ndarray, b: np.ndarray, ia, ib, degree: int, coef: float) -> np.ndarray:
    """(Ca, Cb) sums of the kernel (a.b / D + coef)^degree over the frame pairs of each pair of clips; with every
    row its own clip (``ia`` / ``ib`` None) the kernel matrix itself. Computed CHUNK rows at a time."""
    d = a.shape[1]
    if ia is None and ib is None and len(a) <= CHUNK:
        return (a @ b.T / d + coef) ** degree  # (Na, Nb)
    from scipy import sparse

    onehot = lambda idx, n: sparse.csr_matrix((np.ones(len(idx)), (np.arange(len(idx)), idx)),
                                              shape=(len(idx), n))
    pa = None if ia is None else onehot(ia, int(ia.max()) + 1)  # (Na, Ca)
    pb = None if ib is None else onehot(ib, int(ib.max()) + 1)  # (Nb, Cb)
    out = np.zeros((len(a) if pa is None else pa.shape[1], len(b) if pb is None else pb.shape[1]))
    for lo in range(0, len(a), CHUNK):
        k = (a[lo:lo + CHUNK] @ b.T / d + coef) ** degree  # (c, Nb)
        k = k if pb is None else np.asarray(k @ pb)  # (c, Cb)
        if pa is None:
            out[lo:lo + CHUNK] = k
        else:
            out += np.asarray(pa[lo:lo + CHUNK].T @ k)  # (Ca, Cb)
    return out


def _sums(x, y, groups_x, groups_y, degree, coef):
    """Clip-level kernel sums and clip sizes of both sets: (Sxx, Syy, Sxy, nx, ny)."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {x.shape[1]} vs {y.shape[1]}")
    ix, nx = (None, np.ones(len(x), np.int64)) if groups_x is None else _clip_index(_labels(len(x), groups_x))
    iy, ny = (None, np.ones(len(y), np.int64)) if groups_y is None else _clip_index(_labels(len(y), groups_y))
    if min(len(nx), len(ny)) < 2:
        raise ValueError(f"a clip-blocked kernel distance needs at least 2 clips per set, got {len(nx)} and {len(ny)}")
    return (_clip_kernel_sums(x, x, ix, ix, degree, coef), _clip_kernel_sums(y, y, iy, iy, degree, coef),
            _clip_kernel_sums(x, y, ix, iy, degree, coef), nx, ny)


def blocked_mmd(x, y, groups_x=None, groups_y=None, degree: int = 3, coef: float = 1.0) -> float:
    """Clip-blocked unbiased MMD^2 with KID's kernel (x.y / D + coef)^degree; same-clip pairs are left out of the
    within-set terms (``groups_*``: each row's clip id; None: every row its own clip, the usual estimator)."""
    return _mmd_of_sums(*_sums(_as64(x), _as64(y), groups_x, groups_y, degree, coef))


def _mmd_of_sums(sxx, syy, sxy, nx, ny) -> float:
    """The blocked MMD^2 of all clips from their kernel sums: a clip's diagonal block (its own pairs) is dropped."""
    within_x = (sxx.sum() - np.trace(sxx)) / int(nx.sum() ** 2 - (nx ** 2).sum())
    within_y = (syy.sum() - np.trace(syy)) / int(ny.sum() ** 2 - (ny ** 2).sum())
    return float(within_x + within_y - 2 * (sxy.sum() / int(nx.sum() * ny.sum())))


def _masked_mmd(sxx, syy, sxy, nx, ny, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """blocked_mmd of the clips selected by each row of the 0/1 masks mx (B, Cx), my (B, Cy): (B,)."""
    ox, oy = sxx - np.diag(np.diag(sxx)), syy - np.diag(np.diag(syy))
    fx, fy = mx @ nx, my @ ny  # frames selected (B,)
    within_x = ((mx @ ox) * mx).sum(1) / (fx ** 2 - mx @ nx ** 2)
    within_y = ((my @ oy) * my).sum(1) / (fy ** 2 - my @ ny ** 2)
    return within_x + within_y - 2 * ((mx @ sxy) * my).sum(1) / (fx * fy)


@dataclass(frozen=True)
class KernelInterval:
    """A clip-blocked kernel distance with its half-sample standard error and normal interval."""

    value: float
    se: float
    low: float
    high: float
    confidence: float
    n_clips: tuple[int, int]
    resamples: int
    over: str = "clips (half-samples without replacement)"

    def to_dict(self) -> dict:
        return asdict(self)


def blocked_mmd_interval(x, y, groups_x=None, groups_y=None, resamples: int = 50, confidence: float = 0.95,
                         seed: int = 0) -> KernelInterval:
    """:func:`blocked_mmd` with an interval: the spread of the statistic over half-samples of each set's clips
    (drawn without replacement; finite-sample factor m / (N - m) = 1 for halves) as its standard error. The
    interval is not truncated at 0: the estimator is unbiased, and a negative value means "no detectable gap".
    At small N it is conservative: the halves' spread also carries the U-statistic's second-order term (up to 3x
    its variance where the distributions are close); tests/test_metrics_small_sample.py measures its coverage.
    The kernel is computed once; each half-sample only sums its clips' blocks."""
    x, y = _as64(x), _as64(y)
    sxx, syy, sxy, nx, ny = _sums(x, y, groups_x, groups_y, 3, 1.0)
    value = _mmd_of_sums(sxx, syy, sxy, nx, ny)
    cx, cy = len(nx), len(ny)
    if min(cx, cy) < 4 or resamples < 2:
        return KernelInterval(value, float("nan"), float("nan"), float("nan"), confidence, (cx, cy), 0,
                              "none (fewer than 4 clips)" if min(cx, cy) < 4 else "none (no resamples)")
    rng = np.random.default_rng(seed)
    mx, my = np.zeros((resamples, cx)), np.zeros((resamples, cy))
    for b in range(resamples):
        mx[b, rng.choice(cx, cx // 2, replace=False)] = 1
        my[b, rng.choice(cy, cy // 2, replace=False)] = 1
    se = float(np.std(_masked_mmd(sxx, syy, sxy, nx.astype(float), ny.astype(float), mx, my), ddof=1))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return KernelInterval(value, se, value - z * se, value + z * se, confidence, (cx, cy), resamples)


def diversity_ratio(fake, real) -> float:
    """tr Cov(fake) / tr Cov(real): 1 for a generator as diverse as the data, < 1 for a collapsing one (NaN
    when the real set has no spread)."""
    f, r = _as64(fake), _as64(real)
    spread = r.var(axis=0, ddof=1).sum()
    return float(f.var(axis=0, ddof=1).sum() / spread) if spread > 0 else float("nan")


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (Na, Nb) by |a|^2 + |b|^2 - 2 a.b, with rounding noise of coincident rows
    (below 1e-10 of the squared norms) set to exactly 0, so that a copy is at distance 0 from its original."""
    sa, sb = (a * a).sum(1), (b * b).sum(1)
    d2 = sa[:, None] + sb[None, :] - 2 * (a @ b.T)  # (Na, Nb)
    d2[d2 <= 1e-10 * (sa[:, None] + sb[None, :])] = 0.0
    return d2


def _kth_radius(a: np.ndarray, clip: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each row of ``a`` to its k-th nearest row of another clip (a clip's own frames are
    near duplicates and would shrink every ball)."""
    out = np.empty(len(a))
    for lo in range(0, len(a), CHUNK):
        d2 = _sq_dist(a[lo:lo + CHUNK], a)  # (c, N)
        d2[clip[lo:lo + CHUNK, None] == clip[None, :]] = np.inf
        out[lo:lo + CHUNK] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return out


def _inside(points: np.ndarray, centres: np.ndarray, radius2: np.ndarray) -> np.ndarray:
    """For each point: inside the ball of squared radius ``radius2`` around some centre (boundary included)."""
    return np.concatenate([(_sq_dist(points[lo:lo + CHUNK], centres) <= radius2[None, :]).any(axis=1)
                           for lo in range(0, len(points), CHUNK)])


def precision_recall(real, fake, groups_real=None, groups_fake=None, k: int = 3) -> tuple[float, float]:
    """Improved precision (share of fake samples inside some real sample's k-NN ball) and recall (share of real
    samples inside some fake sample's k-NN ball); the balls' neighbours come from other clips (k is lowered to
    the fewest other-clip rows a sample has, when that is fewer)."""
    r, f = _as64(real), _as64(fake)
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {r.shape[1]} vs {f.shape[1]}")
    (cr, nr), (cf, nf) = _clip_index(_labels(len(r), groups_real)), _clip_index(_labels(len(f), groups_fake))
    if min(len(nr), len(nf)) < 2:
        raise ValueError(f"precision / recall need at least 2 clips per set, got {len(nr)} and {len(nf)}")
    k = max(1, min(k, len(r) - int(nr.max()), len(f) - int(nf.max())))
    centre = r.mean(axis=0)  # centring keeps |a|^2 small next to the distances (less rounding)
    r, f = r - centre, f - centre
    precision = float(_inside(f, r, _kth_radius(r, cr, k)).mean())
    recall = float(_inside(r, f, _kth_radius(f, cf, k)).mean())
    return precision, recall


class ProjectionDimError(ValueError):
    """A projection dimension outside 1..min(N, D) of the reference features."""

    def __init__(self, dim: int, n: int, d: int):
        self.dim, self.n, self.d, self.limit = dim, n, d, min(n, d)
        super().__init__(f"projection dimension {dim} must be between 1 and min(N, D) = {self.limit} of the "
                         f"reference features (N = {n}, D = {d})")


@dataclass(frozen=True)
class Projection:
    """A linear map to ``dim`` dimensions fitted on the reference features alone (PCA: their top components)."""

    mean: np.ndarray        # (D,)
    components: np.ndarray  # (D, dim)

    @property
    def dim(self) -> int:
        return int(self.components.shape[1])

    def __call__(self, x) -> np.ndarray:
        return (_as64(x) - self.mean) @ self.components  # (N, dim)


def supported_dim(n: int, rule: int = BIAS_RULE) -> int:
    """The largest feature dimension a Fréchet distance of ``n`` samples per set supports under the bias rule."""
    return max(1, n // rule)


def fit_projection(reference, dim: int) -> Projection:
    """PCA of the reference features (only the reference: the fake set never shapes the axes) to ``dim`` dims."""
    r = _as64(reference)
    if not 1 <= dim <= min(r.shape):
        raise ProjectionDimError(dim, *r.shape)
    mean = r.mean(axis=0)
    _, _, vt = np.linalg.svd(r - mean, full_matrices=False)  # (min(N, D), D)
    return Projection(mean, vt[:dim].T)


def summary(real, fake, groups_real=None, groups_fake=None, resamples: int = 50, confidence: float = 0.95,
            seed: int = 0, features_dim: int | None = None, kernel: str = "kid", distance: str = "fid") -> dict:
    """Everything above as flat result fields: ``feature_dim``, ``bias_dominated`` (rule on the smaller set's
    rows), ``{kernel}_blocked`` with ``_low`` / ``_high`` / ``_se`` (None without an interval),
    ``diversity_ratio``, ``precision`` / ``recall`` (None where a set has fewer than 2 clips), and, when
    ``features_dim`` is set, ``projected_dim`` and ``{distance}_projected``: the Fréchet distance after a
    projection fitted on ``real`` alone."""
    r, f = _as64(real), _as64(fake)
    finite = lambda v: float(v) if np.isfinite(v) else None
    out = {"feature_dim": int(r.shape[1]), "bias_dominated": bias_dominated(min(len(r), len(f)), r.shape[1]),
           f"{kernel}_blocked": None, f"{kernel}_blocked_low": None, f"{kernel}_blocked_high": None,
           f"{kernel}_blocked_se": None, "diversity_ratio": finite(diversity_ratio(f, r)), "precision": None,
           "recall": None, "projected_dim": None, f"{distance}_projected": None}
    try:
        iv = blocked_mmd_interval(r, f, groups_real, groups_fake, resamples, confidence, seed)
        out |= {f"{kernel}_blocked": iv.value, f"{kernel}_blocked_low": finite(iv.low),
                f"{kernel}_blocked_high": finite(iv.high), f"{kernel}_blocked_se": finite(iv.se)}
        out["precision"], out["recall"] = precision_recall(r, f, groups_real, groups_fake)
    except ValueError:  # fewer than 2 clips in a set: no blocked distance, no other-clip neighbours
        pass
    if features_dim is not None:
        proj = fit_projection(r, features_dim)
        out["projected_dim"], out[f"{distance}_projected"] = proj.dim, frechet_distance(proj(r), proj(f))
    return out
