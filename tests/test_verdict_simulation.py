"""Every quality verdict simulated at the exact sizes of the presets that run on a CPU, with known truths.

Features are Gaussian and clip-structured like real ones (a clip's frames share a clip mean; correlation RHO), in
the extractor's dimension D. A generator at training cost c draws clips around a mean offset a(c) (falling as
training goes on) with a diversity scale s (1: as diverse as the data). Scenarios:

- (a) identical: the variant is the baseline again;
- (b) better: the variant reaches every quality at 1/3 of the baseline's cost (the paper's claim is true);
- (c) worse and less diverse: the same mean convergence with diversity scale 0.6 (a collapsing generator, which a
  bias-dominated Fréchet distance scores *better* than a perfect one);
- (d) seed variance larger than evaluation noise: (a) and (b) with a per-seed factor on a(c).

Each scenario runs the harness's own functions on the simulated statistics (pfbench.metrics.small_sample,
pfbench.benchmarks.fid.convergence, pfbench.benchmarks.vocabulary, the verdicts' decision rules). Asserted: a
false "faster" / "reproduced" call <= 5% in (a) and (d), never in (c), over >= 200 repetitions; every interval
covers the truth >= 93%. ``python -m pytest tests/test_verdict_simulation.py -s`` prints the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from pfbench.benchmarks.fid.convergence import Curve, ladder_ratios, ladder_targets
from pfbench.benchmarks.fid.verdicts import ladder_call
from pfbench.benchmarks.vocabulary import EQUIVALENCE_MARGIN, diversity_guard, equivalence, non_inferiority, superiority
from pfbench.core.config import get_preset
from pfbench.experiments.shapes import experiment_shape
from pfbench.metrics.stats import t_interval

RHO = 0.6          # correlation of frames within a clip
REPS = 200
FASTER = ("reproduced", "partly reproduced")


@dataclass(frozen=True)
class Sizes:
    """One preset's FID-convergence sizes (pfbench.experiments.shapes' table) and the extractor's dimension."""
    name: str
    fake_clips: int
    real_clips: int
    frames: int
    seeds: int
    fractions: tuple[float, ...]
    dim: int = 1280  # EfficientNet-Lite0's pooled features (the default extractor)


def preset_sizes(name: str) -> Sizes:
    c = experiment_shape(get_preset(name)).convergence
    return Sizes(name, c.sample_clips, c.heldout_clips, c.frames, c.seeds, c.eval_fractions)


PRESETS = [preset_sizes("smoke"), preset_sizes("cpu")]


def clips(rng, reps: int, n_clips: int, frames: int, direction: np.ndarray, offset, scale) -> np.ndarray:
    """(reps, n_clips * frames, D) clip-structured features: clip mean ~ N(offset * direction, RHO s^2 I), frames
    add N(0, (1 - RHO) s^2 I). ``direction``: (D,) with |direction|^2 ~ D; ``offset``, ``scale``: (reps,)."""
    dim = len(direction)
    offset, scale = np.asarray(offset, np.float32), np.asarray(scale, np.float32)
    centre = rng.standard_normal((reps, n_clips, 1, dim), dtype=np.float32) * np.float32(math.sqrt(RHO))
    x = centre + rng.standard_normal((reps, n_clips, frames, dim), dtype=np.float32) * np.float32(math.sqrt(1 - RHO))
    x = x * scale[:, None, None, None] + offset[:, None, None, None] * direction.astype(np.float32)
    return x.reshape(reps, n_clips * frames, dim)


def blocked_mmd_batch(x: np.ndarray, y: np.ndarray, frames: int, halves: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """pfbench.metrics.small_sample.blocked_mmd for every repetition at once, and its half-sample se (over
    ``halves`` half-samples of each set's clips): x (R, Nx, D), y (R, Ny, D) -> (R,), (R,)."""
    d = x.shape[-1]
    kxx = ((x @ x.transpose(0, 2, 1) / d + 1) ** 3).astype(np.float64)  # (R, Nx, Nx)
    kyy = ((y @ y.transpose(0, 2, 1) / d + 1) ** 3).astype(np.float64)
    kxy = ((x @ y.transpose(0, 2, 1) / d + 1) ** 3).astype(np.float64)  # (R, Nx, Ny)
    cx, cy = np.arange(x.shape[1]) // frames, np.arange(y.shape[1]) // frames
    ox, oy = (cx[:, None] != cx[None, :]).astype(float), (cy[:, None] != cy[None, :]).astype(float)

    def stat(mx, my):  # masks (..., R, N) of the frames kept
        wx = np.einsum("...rn,rnm,...rm->...r", mx, kxx * ox, mx) / np.einsum("...rn,nm,...rm->...r", mx, ox, mx)
        wy = np.einsum("...rn,rnm,...rm->...r", my, kyy * oy, my) / np.einsum("...rn,nm,...rm->...r", my, oy, my)
        xy = np.einsum("...rn,rnm,...rm->...r", mx, kxy, my) / (mx.sum(-1) * my.sum(-1))
        return wx + wy - 2 * xy

    reps = x.shape[0]
    full = stat(np.ones((reps, x.shape[1])), np.ones((reps, y.shape[1])))

    def half_masks(n_frames: int, clip_of: np.ndarray) -> np.ndarray:
        n = clip_of.max() + 1
        keep = rng.random((halves, reps, n)).argsort(-1) < n // 2  # (H, R, clips)
        return keep[..., clip_of].astype(float)  # (H, R, frames)

    return full, stat(half_masks(x.shape[1], cx), half_masks(y.shape[1], cy)).std(axis=0, ddof=1)


def frechet_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The Fréchet distance (pfbench.metrics.stats.frechet_distance, N < D form) for every repetition."""
    fx = (x - x.mean(1, keepdims=True)) / np.float32(math.sqrt(x.shape[1] - 1))  # (R, Nx, D)
    fy = (y - y.mean(1, keepdims=True)) / np.float32(math.sqrt(y.shape[1] - 1))
    cross = np.linalg.svd((fx @ fy.transpose(0, 2, 1)).astype(np.float64), compute_uv=False).sum(-1)
    mean = ((x.mean(1) - y.mean(1)).astype(np.float64) ** 2).sum(-1)
    own = (fx.astype(np.float64) ** 2).sum((1, 2)) + (fy.astype(np.float64) ** 2).sum((1, 2))
    return np.maximum(mean + own - 2 * cross, 0.0)


def offset(cost: np.ndarray) -> np.ndarray:
    """The generator's mean offset after training cost ``cost`` (a power law, still falling at the run's end)."""
    return 0.1 + 1.0 * np.asarray(cost, float) ** -0.5


# arms: (cost multiplier, diversity scale, per-seed effect sd); scenarios: (baseline arm, variant arm, true ratio)
ARMS = {"base": (1.0, 1.0, 0.0), "same": (1.0, 1.0, 0.0), "fast": (3.0, 1.0, 0.0), "collapsed": (1.0, 0.6, 0.0),
        "base_sv": (1.0, 1.0, 0.4), "same_sv": (1.0, 1.0, 0.4), "fast_sv": (3.0, 1.0, 0.4)}
SCENARIOS = {
    "a_identical": ("base", "same", 1.0),
    "b_better_3x": ("base", "fast", 3.0),
    "c_worse_less_diverse": ("base", "collapsed", None),
    "d_identical_seed_var": ("base_sv", "same_sv", 1.0),
    "d_better_3x_seed_var": ("base_sv", "fast_sv", 3.0),
}


def run_arm(rng, sizes: Sizes, real: np.ndarray, direction: np.ndarray, arm: str, reps: int) -> list[dict]:
    """Per seed: the kernel distance, its se, the diversity ratio and (for the arms the old Fréchet rule is shown
    on) the Fréchet distance at every evaluation point, (P, reps) each."""
    with_fd = arm in ("base", "collapsed")
    mult, scale, seed_sd = ARMS[arm]
    costs = np.asarray(sizes.fractions) * 16.0
    out = []
    for _ in range(sizes.seeds):
        effect = np.exp(seed_sd * rng.standard_normal(reps))  # this seed's slower or faster training
        kid, se, fd, div = [], [], [], []
        for c in costs:
            fake = clips(rng, reps, sizes.fake_clips, sizes.frames, direction, effect * offset(mult * c),
                         np.full(reps, scale))
            k, e = blocked_mmd_batch(fake, real, sizes.frames, 4, rng)
            kid.append(k), se.append(e), fd.append(frechet_batch(fake, real) if with_fd else np.zeros(reps))
            div.append(fake.var(1, ddof=1).sum(-1) / real.var(1, ddof=1).sum(-1))
        out.append(dict(kid=np.array(kid), se=np.array(se), fd=np.array(fd), div=np.array(div)))
    return out


def ladder_outcome(sizes: Sizes, base: list[dict], var: list[dict], r: int, statistic: str):
    """The last ladder target's ratio interval of repetition ``r`` on ``statistic`` ('kid' or 'fd')."""
    costs = tuple(np.asarray(sizes.fractions) * 16.0)

    def curve(run):
        se = tuple(run["se"][:, r]) if statistic == "kid" else ()
        return Curve(costs, tuple(run[statistic][:, r]), se, tuple(sizes.fractions))

    b, v = [curve(x) for x in base], [curve(x) for x in var]
    return ladder_ratios(b, v, ladder_targets(b)[-1:], resamples=200, seed=r)[-1]  # the verdict's target only


def simulate_convergence(sizes: Sizes, reps: int = REPS, seed: int = 0) -> dict:
    """Every scenario's rates of each call, coverage of the true ratio, and the old Fréchet rule's calls."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(sizes.dim)
    real = clips(rng, reps, sizes.real_clips, sizes.frames, direction, np.zeros(reps), np.ones(reps))
    arms = {arm: run_arm(rng, sizes, real, direction, arm, reps) for arm in ARMS}
    table = {}
    for scenario, (b_arm, v_arm, truth) in SCENARIOS.items():
        base, var = arms[b_arm], arms[v_arm]
        calls, covered, fd_faster = [], 0, 0
        for r in range(reps):
            final = ladder_outcome(sizes, base, var, r, "kid")
            div = np.mean([run["div"][-1, r] for run in var])
            base_div = np.mean([run["div"][-1, r] for run in base])
            calls.append(ladder_call(final.low, final.high, div, base_div)[0])
            covered += truth is not None and final.low <= truth <= final.high
            if scenario.startswith("c_"):  # the old rule: a Fréchet ladder, no diversity guard
                fd = ladder_outcome(sizes, base, var, r, "fd")
                fd_faster += ladder_call(fd.low, fd.high, math.nan, math.nan)[0] in FASTER
        table[scenario] = dict(faster=float(np.mean([c in FASTER for c in calls])),
                               count_faster=int(sum(c in FASTER for c in calls)),
                               consistent=float(np.mean([c == "reproduced" for c in calls])),
                               coverage=covered / reps if truth is not None else None,
                               fd_faster=fd_faster / reps if scenario.startswith("c_") else None)
    return table


@pytest.fixture(scope="module")
def convergence_table():
    table = {(sizes.name, sc): r for sizes in PRESETS for sc, r in simulate_convergence(sizes).items()}
    print("\nFID convergence: ladder on the clip-blocked kernel distance with the diversity guard "
          f"({REPS} repetitions; 'Fréchet rule': the old ladder on the Fréchet distance, no guard)")
    print(f"{'preset':7s} {'scenario':24s} {'faster':>7s} {'count':>6s} {'~3x':>6s} {'coverage':>9s} "
          f"{'Fréchet rule faster':>20s}")
    for (preset, scenario), r in table.items():
        cov = "—" if r["coverage"] is None else f"{r['coverage']:.1%}"
        fd = "—" if r["fd_faster"] is None else f"{r['fd_faster']:.1%}"
        print(f"{preset:7s} {scenario:24s} {r['faster']:7.1%} {r['count_faster']:6d} {r['consistent']:6.1%} "
              f"{cov:>9s} {fd:>20s}")
    return table


@pytest.mark.parametrize("preset", [p.name for p in PRESETS])
def test_convergence_verdict_holds_at_the_presets_sizes(convergence_table, preset):
    t = {s: convergence_table[(preset, s)] for s in SCENARIOS}
    assert t["a_identical"]["faster"] <= 0.05, t["a_identical"]
    assert t["d_identical_seed_var"]["faster"] <= 0.05, t["d_identical_seed_var"]
    assert t["c_worse_less_diverse"]["count_faster"] == 0, t["c_worse_less_diverse"]
    for s in ("b_better_3x", "d_better_3x_seed_var"):
        assert t[s]["coverage"] >= 0.93, (s, t[s])


def test_the_old_fid_rule_is_fooled_by_a_less_diverse_generator(convergence_table):
    """The reason the ladder reads the kernel distance: at the cpu preset's sizes a bias-dominated Fréchet ladder
    calls the collapsing generator faster."""
    assert convergence_table[("cpu", "c_worse_less_diverse")]["fd_faster"] > 0.5


# ----------------------------------------------------------------------------------------------- ablations

def simulate_paired_gaps(sizes: Sizes, gap: float, scale_b: float = 1.0, reps: int = REPS, seed: int = 1):
    """Per-seed clip-blocked kernel distances of two settings (a, b) of one model at the end of training:
    (reps, seeds) each; ``gap`` shifts b's offset (positive: b worse), ``scale_b`` its diversity."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(sizes.dim)
    real = clips(rng, reps, sizes.real_clips, sizes.frames, direction, np.zeros(reps), np.ones(reps))
    a, b, da, db = [], [], [], []
    for _ in range(sizes.seeds):
        effect = np.exp(0.3 * rng.standard_normal(reps))  # shared by the pair: same init, data, sample seeds
        base = effect * offset(16.0)
        fa = clips(rng, reps, sizes.fake_clips, sizes.frames, direction, base, np.ones(reps))
        fb = clips(rng, reps, sizes.fake_clips, sizes.frames, direction, base + gap, np.full(reps, scale_b))
        a.append(blocked_mmd_batch(fa, real, sizes.frames, 2, rng)[0])
        b.append(blocked_mmd_batch(fb, real, sizes.frames, 2, rng)[0])
        da.append(fa.var(1, ddof=1).sum(-1) / real.var(1, ddof=1).sum(-1))
        db.append(fb.var(1, ddof=1).sum(-1) / real.var(1, ddof=1).sum(-1))
    # per-seed kernel distances (reps, seeds) of a and b, and their seed-mean diversity ratios (reps,)
    return np.array(a).T, np.array(b).T, np.array(da).T.mean(1), np.array(db).T.mean(1)


@pytest.fixture(scope="module")
def ablation_table():
    table = {}
    for sizes in PRESETS:
        a, b, _, _ = simulate_paired_gaps(sizes, 0.0)
        margin = lambda ref: EQUIVALENCE_MARGIN * np.abs(ref.mean(1))  # noqa: E731
        ivs = [t_interval(a[r] - b[r]) for r in range(REPS)]
        table[(sizes.name, "corrective noise, identical: false 'worse without it'")] = np.mean(
            [superiority(lo, hi).status == "reproduced" for _, lo, hi in ivs])
        table[(sizes.name, "paired interval coverage of 0, identical")] = np.mean(
            [lo <= 0 <= hi for _, lo, hi in ivs if lo == lo] or [1.0])
        worse_a, ref_b, _, _ = simulate_paired_gaps(sizes, 0.0, seed=2)
        # causal truly worse by 3x the margin: a false "no worse" must stay rare
        m = margin(ref_b)
        gap = 3 * m
        table[(sizes.name, "causal worse by 3 margins: false 'no worse'")] = np.mean(
            [non_inferiority(*t_interval(worse_a[r] + gap[r] - ref_b[r])[1:], m[r]).status == "reproduced"
             for r in range(REPS)])
        table[(sizes.name, "temporal different by 3 margins: false 'equivalent'")] = np.mean(
            [equivalence(worse_a[r] + gap[r] - ref_b[r], m[r])[0].status == "reproduced" for r in range(REPS)])
        la, lb, dla, dlb = simulate_paired_gaps(sizes, 0.0, scale_b=0.6, seed=3)  # b less diverse, same mean offset
        table[(sizes.name, "less diverse setting called better")] = np.mean(
            [diversity_guard(superiority(*t_interval(la[r] - lb[r])[1:]), dlb[r], dla[r]).status == "reproduced"
             for r in range(REPS)])
        table[(sizes.name, "less diverse setting called better, no guard")] = np.mean(
            [superiority(*t_interval(la[r] - lb[r])[1:]).status == "reproduced" for r in range(REPS)])
    print("\nAblations (clip-blocked kernel distance, paired seeds)")
    for (preset, what), rate in table.items():
        print(f"{preset:7s} {what:58s} {rate:6.1%}")
    return table


@pytest.mark.parametrize("preset", [p.name for p in PRESETS])
def test_ablation_verdicts_hold_at_the_presets_sizes(ablation_table, preset):
    t = {k[1]: v for k, v in ablation_table.items() if k[0] == preset}
    assert t["corrective noise, identical: false 'worse without it'"] <= 0.05, t
    assert t["paired interval coverage of 0, identical"] >= 0.93, t
    assert t["causal worse by 3 margins: false 'no worse'"] <= 0.05, t
    assert t["temporal different by 3 margins: false 'equivalent'"] <= 0.05, t
    assert t["less diverse setting called better"] == 0.0, t


def test_the_simulated_sizes_cover_gpu_smoke():
    """gpu-smoke runs its quality experiments at the smoke preset's sizes, so the smoke rows above are its rows too;
    the gpu preset's sizes (128 generated vs 256 held-out clips x 8 frames in 1280 dimensions, 7 points, 3 seeds)
    are ~500 TFLOP of kernel matrices for 200 repetitions: not simulated on a CPU."""
    smoke, gpu_smoke = preset_sizes("smoke"), preset_sizes("gpu-smoke")
    assert (smoke.fake_clips, smoke.real_clips, smoke.frames, smoke.seeds, smoke.fractions) == (
        gpu_smoke.fake_clips, gpu_smoke.real_clips, gpu_smoke.frames, gpu_smoke.seeds, gpu_smoke.fractions)
