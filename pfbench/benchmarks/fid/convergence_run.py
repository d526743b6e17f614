"""The FID-convergence experiment's scales and its measured curves (training runs -> evaluated snapshots -> Curves).

Scales (:func:`convergence_scale`; every variant of one seed shares data, tokens per batch, optimiser, LR schedule
and initial weights; seeds change the initial weights and the sample stream):

| preset | model | clips (T x H x W) | data | baseline batch | steps | evaluations (fraction of the run) | seeds | samples / held-out clips | budget |
|---|---|---|---|---|---|---|---|---|---|
| smoke | tiny | 3 x 16 x 16 | procedural | 4 | 8 | 0.5, 1 | 2 | 4 / 8 | 120 CPU-s |
| cpu | tiny | 4 x 16 x 16 | real clips | 4 | 24 | 0.125, 0.25, 0.5, 0.75, 1 | 3 | 6 / 12 | 600 CPU-s |
| gpu (and others) | small | 8 x 32 x 32 | real clips | 32 | 1500 | 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1 | 3 | 128 / 256 | 1200 s wall |

tiny = 2 blocks of width 64, small = 4 blocks of width 256 (reference_model.dit.DIT_PRESETS). Every frame of every
generated / held-out clip is scored (EfficientNet-Lite0 Fréchet distance when its weights are installed; the
extractor's name is on every row).

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
from reference_model.variants import SamplingSchedule


@dataclass(frozen=True)
class ConvergenceScale:
    name: str
    model: str
    frames: int
    height: int
    width: int
    batch_size: int                   # full_sequence clips per step; pyramid variants: equal tokens per batch
    steps: int
    eval_fractions: tuple[float, ...]
    seeds: int
    dataset_size: int
    heldout_clips: int
    sample_clips: int
    fid_bootstrap: int
    schedule: SamplingSchedule
    budget_s: float
    budget_clock: str = "cpu"         # "cpu": process CPU seconds; "wall": wall seconds (CUDA)
    lr: float = 1e-3
    data: str = "real"
    resamples: int = 2000             # bootstrap resamples of each ladder ratio

    @property
    def eval_steps(self) -> tuple[int, ...]:
        return tuple(sorted({max(1, round(f * self.steps)) for f in self.eval_fractions}))

    def eval_priority(self) -> list[int]:
        """Evaluation steps, most needed first: the end, the middle, a quarter, three quarters, then the rest."""
        rank = {1.0: 0, 0.5: 1, 0.4: 1, 0.25: 2, 0.2: 2, 0.75: 3, 0.6: 3, 0.8: 4}
        by_fraction = sorted(self.eval_fractions, key=lambda f: (rank.get(round(f, 6), 5), -f))
        out = []
        for f in by_fraction:
            s = max(1, round(f * self.steps))
            if s not in out:
                out.append(s)
        return out

    def preset(self, base: Preset) -> Preset:
        """The run preset at this scale (RGB pixels as latents, class-conditional)."""
        from pfbench.experiments.shapes import NUM_CLASSES
        return base.replace(name=f"{base.name}/{self.name}", model=self.model, channels=3, frames=self.frames,
                            height=self.height, width=self.width, batch_size=self.batch_size, num_classes=NUM_CLASSES)

    def seed_list(self, base_seed: int) -> list[int]:
        return [base_seed + 1000 * i for i in range(self.seeds)]


BUDGET_ENV = "PFBENCH_FID_BUDGET_S"


def convergence_scale(preset: Preset, environ=None) -> ConvergenceScale:
    """The scale of the convergence experiment for a run preset (table in the module docstring);
    ``$PFBENCH_FID_BUDGET_S`` (in ``environ``, default os.environ) replaces the time budget."""
    import dataclasses
    import os

    scale = _scale(preset)
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


def _scale(preset: Preset) -> ConvergenceScale:
    if not preset.trainable:
        raise ValueError(f"preset {preset.name!r} is shape-only: run FID convergence with --pf-preset smoke, cpu or gpu")
    if preset.name in ("smoke", "gpu-smoke"):
        return ConvergenceScale("smoke-tiny-3x16x16", "tiny", 3, 16, 16, batch_size=4, steps=8,
                                eval_fractions=(0.5, 1.0), seeds=2, dataset_size=32, heldout_clips=8,
                                sample_clips=4, fid_bootstrap=10, schedule=SamplingSchedule(4, (2, 2, 2), (2, 2, 2)),
                                budget_s=120.0, data="procedural", resamples=300)
    if preset.name == "cpu":
        return ConvergenceScale("cpu-tiny-4x16x16", "tiny", 4, 16, 16, batch_size=4, steps=24,
                                eval_fractions=(0.125, 0.25, 0.5, 0.75, 1.0), seeds=3, dataset_size=256,
                                heldout_clips=12, sample_clips=6, fid_bootstrap=20,
                                schedule=SamplingSchedule(8, (3, 3, 3), (3, 3, 3)), budget_s=600.0)
    return ConvergenceScale(f"{preset.name}-small-8x32x32", "small", 8, 32, 32, batch_size=32, steps=1500,
                            eval_fractions=(0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=3, dataset_size=2048,
                            heldout_clips=256, sample_clips=128, fid_bootstrap=50,
                            schedule=SamplingSchedule(20, (8, 8, 8), (8, 8, 8)), budget_s=1200.0,
                            budget_clock="wall")


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
