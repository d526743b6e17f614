"""Compute to quality over a ladder of targets: the paper's "almost 3x faster convergence" claim as a ratio with an
interval. Pure functions over measured curves; the FID-convergence suite and the report call them.

A *curve* is one training run scored at evaluation points: cost x (training FLOPs, or wall seconds) against a
Fréchet distance y (lower is better) and its standard error from the evaluation samples. Protocol (MLPerf-style):

1. Targets are fixed from the baseline (full_sequence) alone, before any other variant is scored
   (:func:`ladder_targets`): the seed-mean baseline curve's value at 20, 40, 60 and 80% of its run and at its end.
2. Cost to reach a target (:func:`cost_to_reach`): the first evaluation point at or below it, interpolated linearly
   in log cost from the point before (the report's rule). Reached at the first point: the cost is *at most* that
   point's (bound "upper"); never reached: *more than* the run's cost (bound "lower", reported as None).
3. Ratio = baseline cost / variant cost on the seed-mean curves. Interval (:func:`ladder_ratios`): bootstrap over
   seeds (each variant's runs resampled with replacement, independently) and over evaluation samples (each point's
   value redrawn as y + se * N(0, 1), se from the Fréchet interval of pfbench.metrics.stats); percentile interval of
   the ratio, quantiles taken without interpolation so a run that never reaches a target counts as ratio 0.
4. Verdict (:func:`verdict_text`): "reproduced at this scale" when the interval lies above 1, "not reproduced" when
   it lies at or below 1, "inconclusive" when it spans 1 — always with the ratio and its interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Sequence

import numpy as np

LADDER_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Curve:
    """One run: cost (x, increasing) and quality (y, lower is better) at its evaluation points; se: y's standard
    error from the evaluation samples (0 when unknown). ``progress``: fraction of the run at each point."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    se: tuple[float, ...] = ()
    progress: tuple[float, ...] = ()

    def __post_init__(self):
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError(f"a curve needs as many costs as values (>= 1), got {len(self.x)} and {len(self.y)}")
        if any(b <= a for a, b in zip(self.x, self.x[1:])) or self.x[0] <= 0:
            raise ValueError(f"curve costs must be positive and increasing, got {self.x}")
        if self.se and len(self.se) != len(self.y):
            raise ValueError("se must give one standard error per point")


@dataclass(frozen=True)
class Reach:
    cost: float | None      # None: never reached within the run
    bound: str = ""         # "" interpolated, "upper" (reached at the first point: at most), "lower" (not reached)


@dataclass(frozen=True)
class LadderRatio:
    """The ratio baseline cost / variant cost at one target, with its bootstrap interval."""

    fraction: float              # where on the baseline's run the target was taken
    target: float
    ratio: float | None          # None: the variant never reached the target on its mean curve
    low: float
    high: float
    confidence: float
    base_cost: float | None
    variant_cost: float | None
    bound: str                   # "" / "lower" (ratio at least: the variant reached it at its first point) /
    #                              "upper" (ratio at most: the variant never reached it; ratio < base / its run)
    resamples: int
    seeds: tuple[int, int]       # (baseline runs, variant runs)
    over: str = "seeds (runs resampled with replacement) and evaluation samples (y + se * N(0, 1))"


def cost_to_reach(x: Sequence[float], y: Sequence[float], target: float) -> Reach:
    """First cost at which y <= target, log-linear between the points around the crossing (points in any order).
    Reached at the first point: an upper bound (it may have been reached earlier); never reached: a lower bound."""
    x, y = zip(*sorted(zip(x, y))) if len(x) else ((), ())
    for i, (xi, yi) in enumerate(zip(x, y)):
        if yi <= target:
            if i == 0:
                return Reach(float(xi), "upper")
            x0, y0 = x[i - 1], y[i - 1]
            frac = (y0 - target) / (y0 - yi) if y0 != yi else 1.0
            return Reach(float(math.exp(math.log(x0) + frac * (math.log(xi) - math.log(x0)))))
    return Reach(None, "lower")


def mean_curve(curves: Sequence[Curve]) -> Curve:
    """Pointwise mean over runs evaluated at the same points (cost: mean cost of each point)."""
    n = {len(c.x) for c in curves}
    if len(n) != 1:
        raise ValueError(f"runs of one variant must share their evaluation points, got lengths {sorted(n)}")
    xs = np.mean([c.x for c in curves], axis=0)
    ys = np.mean([c.y for c in curves], axis=0)
    ses = (np.sqrt(np.sum([np.square(c.se) for c in curves], axis=0)) / len(curves)
           if all(c.se for c in curves) else ())
    return Curve(tuple(xs), tuple(ys), tuple(ses), curves[0].progress)


def ladder_targets(baseline: Sequence[Curve], fractions: Sequence[float] = LADDER_FRACTIONS) -> list[tuple[float, float]]:
    """(fraction, target) per ladder level from the baseline's runs only: the seed-mean curve's value at that
    fraction of the run (its evaluation point at that progress; linear in y between the points around it)."""
    m = mean_curve(baseline)
    progress = m.progress or tuple(np.asarray(m.x) / m.x[-1])
    out = []
    for f in fractions:
        out.append((float(f), float(np.interp(f, progress, m.y))))
    return out


def _resampled_mean(curves: Sequence[Curve], rng: np.random.Generator) -> Curve:
    picks = [curves[i] for i in rng.integers(0, len(curves), len(curves))]
    noisy = [Curve(c.x, tuple(np.asarray(c.y) + (np.asarray(c.se) * rng.standard_normal(len(c.y)) if c.se else 0)),
                   (), c.progress) for c in picks]
    return mean_curve(noisy)


def _ratio(base: Reach, var: Reach) -> float:
    if base.cost is None:
        return math.inf
    if var.cost is None:
        return 0.0
    return base.cost / var.cost


def ladder_ratios(baseline: Sequence[Curve], variant: Sequence[Curve], targets: Sequence[tuple[float, float]],
                  resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> list[LadderRatio]:
    """Per target: baseline cost / variant cost on the seed-mean curves, and its bootstrap percentile interval
    (module docstring). ``targets`` come from :func:`ladder_targets` on the baseline alone."""
    if not baseline or not variant:
        raise ValueError("ladder_ratios needs at least one baseline run and one variant run")
    mb, mv = mean_curve(baseline), mean_curve(variant)
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, len(targets)))
    for r in range(resamples):
        b, v = _resampled_mean(baseline, rng), _resampled_mean(variant, rng)
        for j, (_, target) in enumerate(targets):
            draws[r, j] = _ratio(cost_to_reach(b.x, b.y, target), cost_to_reach(v.x, v.y, target))
    alpha = (1.0 - confidence) / 2.0
    out = []
    for j, (fraction, target) in enumerate(targets):
        rb, rv = cost_to_reach(mb.x, mb.y, target), cost_to_reach(mv.x, mv.y, target)
        ratio = _ratio(rb, rv)
        lo, hi = (float(np.quantile(draws[:, j], q, method="inverted_cdf")) for q in (alpha, 1.0 - alpha))
        bound = "upper" if rv.cost is None else ("lower" if rv.bound == "upper" else "")
        out.append(LadderRatio(fraction, target, None if rv.cost is None or rb.cost is None else ratio, lo, hi,
                               confidence, rb.cost, rv.cost, bound, resamples, (len(baseline), len(variant))))
    return out


def geometric_mean_ratio(ratios: Sequence[LadderRatio]) -> float | None:
    """Geometric mean of the ladder's finite ratios (one summary number; each level keeps its own interval)."""
    vals = [r.ratio for r in ratios if r.ratio and math.isfinite(r.ratio)]
    return float(math.exp(np.mean(np.log(vals)))) if vals else None


def verdict_status(low: float, high: float) -> str:
    """'reproduced' (interval above 1), 'not reproduced' (at or below 1), 'inconclusive' (spans 1)."""
    if low > 1.0:
        return "reproduced"
    if high <= 1.0:
        return "not reproduced"
    return "inconclusive"


def fmt_ratio(v: float | None) -> str:
    """A ratio or interval end for a verdict line: 2 significant digits, 'inf' for an unbounded end."""
    if v is None or math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf"
    return f"{v:.2g}" if v < 1 else f"{v:.2f}".rstrip("0").rstrip(".") if v < 10 else f"{v:.0f}"


def verdict_text(status: str, ratio: float | None, low: float, high: float, confidence: float = 0.95,
                 what: str = "x") -> str:
    """One line a reader can act on, never a ratio without its interval."""
    pct = f"{confidence:.0%}"
    iv = f"{pct} CI {fmt_ratio(low)}-{fmt_ratio(high)}"
    missing = ratio is None or (isinstance(ratio, float) and math.isnan(ratio))
    r = "never reached" if missing else f"{fmt_ratio(ratio)}{what}"
    if status == "reproduced":
        return f"reproduced at this scale ({r}, {iv})"
    if status == "not reproduced":
        return f"not reproduced ({r}, {iv})"
    return f"inconclusive (the interval spans 1x: {r}, {iv})"


def normal_se(high: float | None, centre: float | None, confidence: float = 0.95) -> float:
    """Standard error behind a symmetric normal interval's upper end (0 when unknown)."""
    if high is None or centre is None or not math.isfinite(high):
        return 0.0
    return max(0.0, (high - centre) / NormalDist().inv_cdf(0.5 + confidence / 2))


@dataclass
class StillFalling:
    """Compute-bound check: how far a variant's curve fell over the last 20% of its run, in standard errors."""

    drop: float
    se: float
    from_progress: float = 0.8      # where the measured drop starts (the last evaluated point at or before 0.8)
    z: float = field(init=False)

    def __post_init__(self):
        self.z = self.drop / self.se if self.se > 0 else (math.inf if self.drop > 0 else 0.0)


def still_falling(curves: Sequence[Curve], from_progress: float = 0.8) -> StillFalling:
    """Drop of the seed-mean curve from the last point at or before ``from_progress`` to the end (positive: still
    improving; with few points the span is longer, see ``StillFalling.from_progress``),
    with its standard error (seed-to-seed spread of the drop over sqrt(runs); evaluation se when one run)."""
    drops, starts = [], []
    for c in curves:
        progress = np.asarray(c.progress or tuple(np.asarray(c.x) / c.x[-1]))
        before = np.flatnonzero(progress[:-1] <= from_progress + 1e-9)  # the last point at or before it
        i = int(before[-1]) if len(before) else max(0, len(progress) - 2)
        drops.append(c.y[i] - c.y[-1])
        starts.append(float(progress[i]))
    if len(drops) > 1:
        se = float(np.std(drops, ddof=1) / math.sqrt(len(drops)))
    else:
        se = float(math.hypot(curves[0].se[-1], curves[0].se[i])) if curves[0].se else 0.0
    return StillFalling(float(np.mean(drops)), se, min(starts))


def paired_difference(a, b, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of a - b over paired runs (one pair per seed: same initial weights, data and noise) and its Student-t
    interval over seeds: (mean, low, high); NaN bounds with fewer than 2 pairs."""
    from scipy.stats import t as student_t

    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), math.nan, math.nan
    half = float(student_t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)
