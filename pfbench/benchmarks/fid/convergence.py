"""Compute to quality over a ladder of targets: the paper's "almost 3x faster convergence" claim as a ratio with an
interval. Pure functions over measured curves; the FID-convergence suite and the report call them.

A *curve* is one training run scored at evaluation points: cost x (training FLOPs, or wall seconds) against a
Fréchet distance y (lower is better) and its standard error from the evaluation samples. Protocol (MLPerf-style):

1. Targets are fixed from the baseline (full_sequence) alone, before any other variant is scored
   (:func:`ladder_targets`): the seed-mean baseline curve's value at 20, 40, 60 and 80% of its run and at its end.
2. Cost to reach a target (:func:`cost_to_reach`): the first evaluation point at or below it, interpolated linearly
   in log cost from the point before (the report's rule). Reached at the first point: the cost is *at most* that
   point's (bound "upper"); never reached: *more than* the run's cost (bound "lower", reported as None).
3. Ratio = baseline cost / variant cost on the seed-mean curves. Interval (:func:`ladder_ratios`): the wider of two,
   so that it holds whichever noise dominates. (i) The runs are paired by seed (same initial weights and data
   stream): each seed gives its own ratio, and the Student-t interval of the mean log ratio over seeds (n - 1
   degrees of freedom, wide with 3 seeds, as it should be) covers seed-to-seed variation. (ii) The percentile
   bootstrap over seeds (resampled with replacement) and evaluation samples (each point redrawn as y + se * N(0, 1),
   se from the statistic's interval over clips) covers evaluation noise, which 3 seeds cannot estimate. A seed or a
   draw whose variant never reaches the target counts as ratio 0 (low end 0); one whose baseline never reaches its
   own target, or whose variant reaches it at its first point (a ratio that is only a lower bound), sets the high end
   to infinity; draws where neither reaches it have no ratio, and when they exceed the interval's tail the interval
   is [0, inf]. Each unbounded end names its cause.
4. Verdict: pfbench.benchmarks.vocabulary.ratio_claim words the interval against the paper's "almost 3x".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Sequence

import numpy as np

from pfbench.metrics.stats import t_interval, t_quantile

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
    """The ratio baseline cost / variant cost at one target, with its interval over paired seeds."""

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
    seeds: tuple[int, int]       # (baseline runs, variant runs)
    per_seed: tuple[float, ...] = ()   # each seed's ratio (NaN: undefined)
    cause: str = ""              # why an end of the interval is unbounded, or why there is none
    over: str = ("the wider of: Student-t over paired seeds (log ratios); bootstrap over seeds and evaluation "
                 "samples")


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


def _seed_ratio(base: Curve, var: Curve, target: float) -> tuple[float, str, str]:
    """One seed's ratio, its censoring ("" exact, "lower": at least, "upper": at most, "undefined") and why."""
    rb, rv = cost_to_reach(base.x, base.y, target), cost_to_reach(var.x, var.y, target)
    if rb.cost is None and rv.cost is None:
        return math.nan, "undefined", "neither run reached the target (no ratio)"
    if rv.cost is None:
        return float(rb.cost) / float(var.x[-1]), "upper", "the variant never reached the target (low end 0)"
    if rb.cost is None:
        return (float(base.x[-1]) / float(rv.cost), "lower",
                "full_sequence never reached its own target (high end unbounded)")
    if rv.bound == "upper":
        return (float(rb.cost) / float(rv.cost), "lower", "the variant reached it at its first evaluation (the "
                "ratio is only a lower bound; high end unbounded)")
    if rb.bound == "upper":
        return (float(rb.cost) / float(rv.cost), "upper", "full_sequence reached it at its first evaluation (the "
                "ratio is only an upper bound; low end 0)")
    return float(rb.cost) / float(rv.cost), "", ""


def _reach_many(x: np.ndarray, y: np.ndarray, target: float) -> np.ndarray:
    """:func:`cost_to_reach` for R curves at once: x, y (R, P) with x increasing along P; NaN where never reached."""
    hit = y <= target  # (R, P)
    i = hit.argmax(axis=1)  # (R,) first point at or below the target
    r = np.arange(len(y))
    xi, yi = x[r, i], y[r, i]
    x0, y0 = x[r, np.maximum(i - 1, 0)], y[r, np.maximum(i - 1, 0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(y0 != yi, (y0 - target) / (y0 - yi), 1.0)
        cost = np.exp(np.log(x0) + frac * (np.log(xi) - np.log(x0)))
    cost = np.where(i == 0, xi, cost)
    return np.where(hit.any(axis=1), cost, np.nan)


def _bootstrap(baseline: Sequence[Curve], variant: Sequence[Curve], targets, resamples: int, seed: int) -> np.ndarray:
    """Ratios of resampled seed-mean curves (R, targets): seeds with replacement, each point redrawn y + se N(0, 1);
    0 where the variant never reaches a target, inf where only the baseline never does, NaN where neither does."""
    rng = np.random.default_rng(seed)

    def draws(curves):
        x = np.array([c.x for c in curves])  # (S, P)
        y = np.array([c.y for c in curves])
        se = np.array([c.se if c.se else (0.0,) * len(c.y) for c in curves])
        picks = rng.integers(0, len(curves), (resamples, len(curves)))  # (R, S)
        noisy = y[picks] + se[picks] * rng.standard_normal((resamples, len(curves), y.shape[1]))  # (R, S, P)
        return x[picks].mean(axis=1), noisy.mean(axis=1)  # (R, P) each

    (xb, yb), (xv, yv) = draws(baseline), draws(variant)
    out = np.empty((resamples, len(targets)))
    for j, (_, target) in enumerate(targets):
        cb, cv = _reach_many(xb, yb, target), _reach_many(xv, yv, target)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = cb / cv
        ratio = np.where(np.isnan(cv) & ~np.isnan(cb), 0.0, ratio)
        ratio = np.where(np.isnan(cb) & ~np.isnan(cv), np.inf, ratio)
        out[:, j] = ratio  # NaN: neither reached
    return out


def _t_interval(per: list[tuple[float, str, str]], confidence: float) -> tuple[float, float, list[str]]:
    """Student-t interval of the mean log ratio over paired seeds, with censored seeds widening it (and named)."""
    if len(per) < 2:
        return math.nan, math.nan, ["one seed: no interval over seeds"]
    logs = np.log([max(r, 1e-12) if r == r else 1.0 for r, _, _ in per])
    half = t_quantile(0.5 + confidence / 2, len(logs) - 1) * float(logs.std(ddof=1)) / math.sqrt(len(logs))
    low, high = float(math.exp(logs.mean() - half)), float(math.exp(logs.mean() + half))
    for _, kind, _ in per:
        low = 0.0 if kind in ("upper", "undefined") else low
        high = math.inf if kind in ("lower", "undefined") else high
    return low, high, [f"seed {i}: {why}" for i, (_, kind, why) in enumerate(per) if kind]


def ladder_ratios(baseline: Sequence[Curve], variant: Sequence[Curve], targets: Sequence[tuple[float, float]],
                  resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> list[LadderRatio]:
    """Per target: baseline cost / variant cost on the seed-mean curves, and the wider of the paired-seed t
    interval and the bootstrap interval (module docstring). ``baseline`` and ``variant`` are paired by position:
    one run per seed, in the same seed order. ``targets`` come from :func:`ladder_targets` on the baseline alone."""
    if not baseline or len(baseline) != len(variant):
        raise ValueError(f"ladder_ratios needs one variant run per baseline run (paired by seed), got "
                         f"{len(baseline)} and {len(variant)}")
    mb, mv = mean_curve(baseline), mean_curve(variant)
    boot = _bootstrap(baseline, variant, targets, resamples, seed)
    alpha = (1.0 - confidence) / 2.0
    out = []
    for j, (fraction, target) in enumerate(targets):
        rb, rv = cost_to_reach(mb.x, mb.y, target), cost_to_reach(mv.x, mv.y, target)
        ratio = None if rv.cost is None or rb.cost is None else rb.cost / rv.cost
        per = [_seed_ratio(b, v, target) for b, v in zip(baseline, variant)]
        t_low, t_high, causes = _t_interval(per, confidence)
        draws = boot[:, j]
        undefined = float(np.isnan(draws).mean())
        if undefined > alpha:
            b_low, b_high = 0.0, math.inf
            causes.append(f"{undefined:.0%} of bootstrap draws: neither curve reached the target")
        else:
            finite = draws[~np.isnan(draws)]
            b_low, b_high = (float(np.quantile(finite, q, method="inverted_cdf")) for q in (alpha, 1.0 - alpha))
        low, high = (b_low, b_high) if t_low != t_low else (min(t_low, b_low), max(t_high, b_high))
        if math.isinf(high) and not any("high end" in c for c in causes):
            causes.append(f"{np.isinf(draws).mean():.0%} of bootstrap draws: full_sequence never reached its own "
                          "target (high end unbounded)")
        bound = "upper" if rv.cost is None else ("lower" if rv.bound == "upper" else "")
        out.append(LadderRatio(fraction, target, ratio, low, high, confidence, rb.cost, rv.cost, bound,
                               (len(baseline), len(variant)), tuple(r for r, _, _ in per), "; ".join(causes)))
    return out


def geometric_mean_ratio(ratios: Sequence[LadderRatio]) -> float | None:
    """Geometric mean of the ladder's finite ratios (one summary number; each level keeps its own interval)."""
    vals = [r.ratio for r in ratios if r.ratio and math.isfinite(r.ratio)]
    return float(math.exp(np.mean(np.log(vals)))) if vals else None


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
    return t_interval(np.asarray(a, float) - np.asarray(b, float), confidence)
