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

BUDGET_ENV = "PFBENCH_FID_BUDGET_S"


def convergence_scale(preset: Preset, environ=None) -> ConvergenceScale:
    """The scale of the convergence experiment for a run preset (table in the module docstring);
    ``$PFBENCH_FID_BUDGET_S`` (in ``environ``, default os.environ) replaces the time budget."""
    import dataclasses
    import os

    scale = experiment_shape(preset).convergence
    raw = (os.environ if environ is None else environ).get(BUDGET_ENV, "").strip()
    if not raw:
        return scale
    try:
        budget = float(raw)
    except ValueError:
        budget = float("nan")
    if not budget > 0 or math.isinf(budget):
        raise ValueError(f"${BUDGET_ENV}={raw!r} is not a positive number of seconds: set e.g. 600, or unset it")
    return dataclasses.replace(scale, budget_s=budget)


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
    step: int
    flops: float
    wall_s: float
    fid: float
    se: float
    fid_high: float | None
    extractor: str


def run_curve(points: list[Point], steps: int, x: str = "flops") -> Curve | None:
    """A Curve (cost ``x``: 'flops' or 'wall_s') from a run's evaluated points, or None without points."""
    pts = sorted(points, key=lambda p: p.step)
    if not pts:
        return None
    xs = [getattr(p, x) for p in pts]
    if any(b <= a for a, b in zip(xs, xs[1:])) or xs[0] <= 0:  # wall clocks of resumed runs may tie: nudge
        xs = list(np.maximum.accumulate(np.maximum(xs, 1e-9)) + np.arange(len(xs)) * 1e-9)
    return Curve(tuple(xs), tuple(p.fid for p in pts), tuple(p.se for p in pts),
                 tuple(p.step / steps for p in pts))


def point_from_fid(step: int, flops: float, wall_s: float, result) -> Point:
    """A Point from a pfbench.metrics.fid.compute.FidResult: plain FID, se behind its clip-level interval."""
    se = normal_se(result.fid_ci_high, result.fid_debiased, result.confidence)
    return Point(step, float(flops), float(wall_s), float(result.fid), se, result.fid_ci_high, result.extractor)


def common_points(runs: dict) -> dict:
    """Keep, for each variant, only the steps evaluated in all of its runs (runs must share evaluation points)."""
    out = {}
    for variant, by_seed in runs.items():
        shared = set.intersection(*[{p.step for p in pts} for pts in by_seed.values()]) if by_seed else set()
        out[variant] = {s: [p for p in pts if p.step in shared] for s, pts in by_seed.items()}
    return out


def seed_mean_rows(variant: str, by_seed: dict, note: str) -> list[dict]:
    """Seed-mean FID per evaluation point, spread = 95% t half-width over seeds (one row per x axis)."""
    from scipy.stats import t as student_t

    steps = sorted({p.step for pts in by_seed.values() for p in pts})
    rows = []
    for step in steps:
        pts = [p for pts in by_seed.values() for p in pts if p.step == step]
        vals = np.array([p.fid for p in pts])
        half = (float(student_t.ppf(0.975, len(vals) - 1) * vals.std(ddof=1) / math.sqrt(len(vals)))
                if len(vals) > 1 else None)
        common = dict(case="convergence", variant=variant, metric="fid", value=float(vals.mean()), unit="",
                      backend=pts[0].extractor, spread=half, spread_kind="ci95_seeds",
                      note=f"mean of {len(vals)} seeds; " + note)
        rows += [{**common, "x_name": "train_flops", "x_value": float(np.mean([p.flops for p in pts]))},
                 {**common, "x_name": "train_step", "x_value": float(step)},
                 {**common, "x_name": "train_wall_s", "x_value": float(np.mean([p.wall_s for p in pts]))}]
    return rows
