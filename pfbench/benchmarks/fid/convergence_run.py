"""The FID-convergence experiment's scales and its measured curves (training runs -> evaluated snapshots -> Curves).

Scales (:func:`convergence_scale`): the ``convergence`` part of the one table of experiment scales,
:func:`pfbench.experiments.shapes.experiment_shape` (its docstring lists every preset's numbers). Every variant of one
seed shares data, tokens per batch, optimiser, LR schedule and initial weights; seeds change the initial weights and
the sample stream. Every frame of every generated / held-out clip is scored (EfficientNet-Lite0 Fréchet distance when
its weights are installed; the extractor's name is on every row).

Time budget: training every run is required (no seed can be dropped); evaluation points are scored in priority order
(:meth:`ConvergenceScale.eval_priority`: the end of the run, the middle, a quarter, then the others; the first three
always) until the budget is spent, so a slow or loaded machine gets fewer points, never a failure. On CPU the budget is in *CPU
seconds* of this process (``time.process_time``: 600 CPU-s = 5 minutes of two fully used cores), which a loaded
machine does not shrink; on CUDA it is wall seconds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from pfbench.benchmarks.fid.convergence import Curve, normal_se
from pfbench.core.config import Preset
from pfbench.experiments.shapes import ConvergenceScale, experiment_shape

def convergence_scale(preset: Preset) -> ConvergenceScale:
    """The scale of the convergence experiment for a run preset (table in the module docstring); the config key
    fid.budget_s (``preset.fid_budget_s``, also $PFBENCH_FID_BUDGET_S when a run starts) replaces the time budget."""
    import dataclasses

    scale = experiment_shape(preset).convergence
    if not preset.fid_budget_s:
        return scale
    return dataclasses.replace(scale, budget_s=float(preset.fid_budget_s))


class Budget:
    """Seconds left of a CPU-time (``process_time``) or wall-time budget, from its creation."""

    def __init__(self, seconds: float, clock: str = "cpu"):
        if clock not in ("cpu", "wall"):
            raise ValueError(f"budget clock must be 'cpu' or 'wall', got {clock!r}")
        self.seconds, self.clock = float(seconds), clock
        self._read = time.process_time if clock == "cpu" else time.perf_counter
        self._start = self._read()
        self._wall0, self._cpu0 = time.perf_counter(), time.process_time()

    def used(self) -> float:
        return self._read() - self._start

    def left(self) -> float:
        return self.seconds - self.used()

    def usage(self) -> dict:
        return {"wall_s": time.perf_counter() - self._wall0, "cpu_s": time.process_time() - self._cpu0}


@dataclass
class Point:
    """One run scored at one evaluation step: the Fréchet distance and the clip-blocked kernel distance (with their
    standard errors from the evaluation samples), diversity, and the sizes that decide which one a verdict reads."""
    step: int
    flops: float
    wall_s: float
    fid: float
    se: float
    fid_high: float | None
    extractor: str
    kid: float = math.nan          # clip-blocked MMD^2 (unbiased at any N)
    kid_se: float = 0.0
    diversity: float = math.nan    # fake / real covariance-trace ratio
    feature_dim: int = 0
    n_fake: int = 0                # generated frames scored
    bias_dominated: bool = False   # the Fréchet distance of these sizes is bias-dominated (no verdict reads it)
    precision: float = math.nan    # improved precision / recall of the generated frames against the held-out ones
    recall: float = math.nan

    def value(self, statistic: str) -> tuple[float, float]:
        """(value, se) of ``statistic``: 'fid' or 'kid_blocked'."""
        return (self.fid, self.se) if statistic == "fid" else (self.kid, self.kid_se)


LADDER_STATISTICS = ("fid", "kid_blocked")


def ladder_statistic(points) -> str:
    """The statistic the ladder and its verdict read: the Fréchet distance when no point of these runs is
    bias-dominated, else the clip-blocked kernel distance."""
    return "kid_blocked" if any(p.bias_dominated for p in points) else "fid"


def run_curve(points: list[Point], steps: int, x: str = "flops", statistic: str = "fid") -> Curve | None:
    """A Curve (cost ``x``: 'flops' or 'wall_s'; quality ``statistic``: 'fid' or 'kid_blocked') from a run's
    evaluated points, or None without points."""
    pts = sorted(points, key=lambda p: p.step)
    if not pts:
        return None
    xs = [getattr(p, x) for p in pts]
    if any(b <= a for a, b in zip(xs, xs[1:])) or xs[0] <= 0:  # wall clocks of resumed runs may tie: nudge
        xs = list(np.maximum.accumulate(np.maximum(xs, 1e-9)) + np.arange(len(xs)) * 1e-9)
    values = [p.value(statistic) for p in pts]
    return Curve(tuple(xs), tuple(v for v, _ in values), tuple(se for _, se in values),
                 tuple(p.step / steps for p in pts))


def point_from_fid(step: int, flops: float, wall_s: float, result) -> Point:
    """A Point from a pfbench.metrics.fid.compute.FidResult: plain FID with the se behind its clip-level interval,
    the clip-blocked kernel distance with its se, diversity and the bias flag."""
    se = normal_se(result.fid_ci_high, result.fid_debiased, result.confidence)
    number = lambda v, missing=math.nan: missing if v is None else float(v)  # noqa: E731  (None: too few clips)
    return Point(step, float(flops), float(wall_s), float(result.fid), se, result.fid_ci_high, result.extractor,
                 number(result.kid_blocked), number(result.kid_blocked_se, 0.0), number(result.diversity_ratio),
                 int(result.feature_dim), int(result.n_fake), bool(result.bias_dominated),
                 number(result.precision), number(result.recall))


def common_points(runs: dict) -> dict:
    """Keep, for each variant, only the steps evaluated in all of its runs (runs must share evaluation points)."""
    out = {}
    for variant, by_seed in runs.items():
        shared = set.intersection(*[{p.step for p in pts} for pts in by_seed.values()]) if by_seed else set()
        out[variant] = {s: [p for p in pts if p.step in shared] for s, pts in by_seed.items()}
    return out


def seed_mean_rows(variant: str, by_seed: dict, note: str) -> list[dict]:
    """Seed-mean FID and clip-blocked KID per evaluation point, spread = 95% t half-width over seeds (one row per
    x axis), and at the last point the diversity ratio and the sizes (feature dimension, frames, bias flag)."""
    from pfbench.metrics.stats import t_interval

    steps = sorted({p.step for pts in by_seed.values() for p in pts})
    rows = []
    for step in steps:
        pts = [p for pts in by_seed.values() for p in pts if p.step == step]
        for metric, statistic in (("fid", "fid"), ("kid_blocked", "kid_blocked")):
            vals = np.array([p.value(statistic)[0] for p in pts])
            mean, low, high = t_interval(vals)
            flag = " (bias-dominated: N < 10 D, no verdict reads it)" if metric == "fid" and pts[0].bias_dominated else ""
            common = dict(case="convergence", variant=variant, metric=metric, value=mean, unit="",
                          backend=pts[0].extractor, spread=None if high != high else (high - low) / 2,
                          spread_kind="ci95_seeds", note=f"mean of {len(vals)} seeds{flag}; " + note)
            rows += [{**common, "x_name": "train_flops", "x_value": float(np.mean([p.flops for p in pts]))},
                     {**common, "x_name": "train_step", "x_value": float(step)},
                     {**common, "x_name": "train_wall_s", "x_value": float(np.mean([p.wall_s for p in pts]))}]
    last = [pts[-1] for pts in by_seed.values() if pts]
    if last:
        common = dict(case="convergence", variant=variant, unit="", backend=last[0].extractor, x_name="train_step",
                      x_value=float(last[0].step), note=f"at the last evaluated step, mean of {len(last)} seeds")
        rows += [{**common, "metric": "diversity_ratio", "value": float(np.mean([p.diversity for p in last]))},
                 {**common, "metric": "precision", "value": float(np.mean([p.precision for p in last])),
                  "unit": "fraction"},
                 {**common, "metric": "recall", "value": float(np.mean([p.recall for p in last])), "unit": "fraction"},
                 {**common, "metric": "feature_dim", "value": float(last[0].feature_dim)},
                 {**common, "metric": "fake_frames", "value": float(last[0].n_fake), "unit": "frames"},
                 {**common, "metric": "bias_dominated", "value": float(last[0].bias_dominated)}]
    return rows
