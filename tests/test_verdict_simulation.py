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
import torch

from pfbench.benchmarks.fid.convergence import Curve, ladder_ratios, ladder_targets
from pfbench.benchmarks.fid.verdicts import ladder_call
from pfbench.benchmarks.vocabulary import EQUIVALENCE_MARGIN, diversity_guard, equivalence, non_inferiority, superiority
from pfbench.core.config import get_preset
from pfbench.experiments.shapes import experiment_shape
from pfbench.metrics.stats import t_interval

RHO = 0.6          # correlation of frames within a clip
REPS = 200
# The ablations' simulations are cheap (3 seeds at one point): 600 repetitions put a rate's 95% sampling error near
# +-1.6%, so a 95% interval's coverage is not judged on the luck of 200 draws (+-3%).
ABLATION_REPS = 600
FASTER = ("reproduced", "partly reproduced")
ON_CPU = ("smoke", "cpu")  # gpu-smoke runs its quality experiments at smoke's sizes (test below)
# The gpu preset's sizes (128 generated vs 256 held-out clips x 8 frames in 1280 dimensions, 7 points, 3 seeds) are
# ~250 TFLOP of kernel matrices for 200 repetitions: simulated on a CUDA device, the same code as on the CPU.
GPU_ONLY = ("gpu",)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="the gpu preset's sizes need a CUDA GPU (~250 TFLOP); run this file there")


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

    @property
    def device(self) -> str:
        return "cuda" if self.name in GPU_ONLY else "cpu"


def preset_sizes(name: str) -> Sizes:
    c = experiment_shape(get_preset(name)).convergence
    return Sizes(name, c.sample_clips, c.heldout_clips, c.frames, c.seeds, c.eval_fractions)


PRESETS = {name: preset_sizes(name) for name in ON_CPU + GPU_ONLY}
PRESET_PARAMS = [pytest.param(n, marks=needs_cuda) if n in GPU_ONLY else n for n in PRESETS]


def generator(sizes: Sizes, seed: int) -> torch.Generator:
    return torch.Generator(device=sizes.device).manual_seed(seed)


def clips(gen, reps: int, n_clips: int, frames: int, direction: torch.Tensor, offset, scale) -> torch.Tensor:
    """(reps, n_clips * frames, D) clip-structured features: clip mean ~ N(offset * direction, RHO s^2 I), frames
    add N(0, (1 - RHO) s^2 I). ``direction``: (D,) with |direction|^2 ~ D; ``offset``, ``scale``: (reps,)."""
    dim, dev = len(direction), direction.device
    offset = torch.as_tensor(offset, dtype=torch.float32, device=dev)
    scale = torch.as_tensor(scale, dtype=torch.float32, device=dev)
    centre = torch.randn((reps, n_clips, 1, dim), generator=gen, device=dev) * math.sqrt(RHO)
    x = centre + torch.randn((reps, n_clips, frames, dim), generator=gen, device=dev) * math.sqrt(1 - RHO)
    x = x * scale[:, None, None, None] + offset[:, None, None, None] * direction
    return x.reshape(reps, n_clips * frames, dim)


def _off_clip(n: int, frames: int, dev) -> torch.Tensor:
    """(n, n) 1.0 where two frames belong to different clips."""
    clip_of = torch.arange(n, device=dev) // frames
    return (clip_of[:, None] != clip_of[None, :]).double()


class Reference:
    """Every repetition's held-out set (R, Ny, D) and what each comparison against it reuses: the clip-blocked
    kernel matrix, the centred features, the mean and the covariance trace."""

    def __init__(self, feats: torch.Tensor, frames: int):
        d, n = feats.shape[-1], feats.shape[1]
        self.feats, self.frames = feats, frames
        self.off = _off_clip(n, frames, feats.device)                               # (Ny, Ny)
        self.kernel = ((feats @ feats.mT / d + 1) ** 3).double() * self.off         # (R, Ny, Ny)
        self.centred = ((feats - feats.mean(1, keepdim=True)) / math.sqrt(n - 1)).double()
        self.mean = feats.mean(1).double()                                          # (R, D)
        self.trace = (self.centred ** 2).sum((1, 2))                                # (R,)


def blocked_mmd_batch(x: torch.Tensor, ref: Reference, halves: int, gen) -> tuple[np.ndarray, np.ndarray]:
    """pfbench.metrics.small_sample.blocked_mmd for every repetition at once, and its half-sample se (over
    ``halves`` half-samples of each set's clips): x (R, Nx, D) against ``ref`` -> (R,), (R,)."""
    y, frames, oy, kyy = ref.feats, ref.frames, ref.off, ref.kernel
    d, reps, dev = x.shape[-1], x.shape[0], x.device
    ox = _off_clip(x.shape[1], frames, dev)
    kxx = ((x @ x.mT / d + 1) ** 3).double() * ox                # (R, Nx, Nx), same-clip pairs dropped
    kxy = ((x @ y.mT / d + 1) ** 3).double()                     # (R, Nx, Ny)

    def stat(mx, my):  # masks (..., R, N) of the frames kept
        wx = torch.einsum("...rn,rnm,...rm->...r", mx, kxx, mx) / torch.einsum("...rn,nm,...rm->...r", mx, ox, mx)
        wy = torch.einsum("...rn,rnm,...rm->...r", my, kyy, my) / torch.einsum("...rn,nm,...rm->...r", my, oy, my)
        xy = torch.einsum("...rn,rnm,...rm->...r", mx, kxy, my) / (mx.sum(-1) * my.sum(-1))
        return wx + wy - 2 * xy

    full = stat(torch.ones(reps, x.shape[1], dtype=torch.float64, device=dev),
                torch.ones(reps, y.shape[1], dtype=torch.float64, device=dev))

    def half_masks(n_frames: int) -> torch.Tensor:
        n = n_frames // frames
        keep = torch.rand((halves, reps, n), generator=gen, device=dev).argsort(-1) < n // 2  # (H, R, clips)
        return keep.repeat_interleave(frames, dim=-1).double()  # (H, R, frames)

    se = stat(half_masks(x.shape[1]), half_masks(y.shape[1])).std(dim=0, correction=1)
    return full.cpu().numpy(), se.cpu().numpy()


def frechet_batch(x: torch.Tensor, ref: Reference) -> np.ndarray:
    """The Fréchet distance (pfbench.metrics.stats.frechet_distance, N < D form) for every repetition; the trace
    term is the nuclear norm of fx fy^T, the square roots of the eigenvalues of (fx fy^T)(fx fy^T)^T."""
    fx = ((x - x.mean(1, keepdim=True)) / math.sqrt(x.shape[1] - 1)).double()  # (R, Nx, D)
    m = fx @ ref.centred.mT                                                     # (R, Nx, Ny)
    cross = torch.linalg.eigvalsh(m @ m.mT).clamp(min=0).sqrt().sum(-1)
    mean = ((x.mean(1).double() - ref.mean) ** 2).sum(-1)
    own = (fx ** 2).sum((1, 2)) + ref.trace
    return (mean + own - 2 * cross).clamp(min=0).cpu().numpy()


def diversity(fake: torch.Tensor, ref: Reference) -> np.ndarray:
    """(R,) covariance-trace ratio of each repetition's generated set to its reference (written out: torch's var
    over the middle dimension is ~10x slower on a CPU)."""
    centred = fake - fake.mean(1, keepdim=True)
    return ((centred * centred).sum((1, 2)).double() / (fake.shape[1] - 1) / ref.trace).cpu().numpy()


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


def run_arm(rng, gen, sizes: Sizes, real: Reference, direction: torch.Tensor, arm: str, reps: int) -> list[dict]:
    """Per seed: the kernel distance, its se, the diversity ratio and (for the arms the old Fréchet rule is shown
    on) the Fréchet distance at every evaluation point, (P, reps) each."""
    # the old Fréchet rule is shown where the default run computes it; at the gpu preset's N the batched
    # eigendecompositions (200 of 1024 x 1024 per point) would cost more than the rest of the simulation
    with_fd = arm in ("base", "collapsed") and sizes.device == "cpu"
    mult, scale, seed_sd = ARMS[arm]
    costs = np.asarray(sizes.fractions) * 16.0
    out = []
    for _ in range(sizes.seeds):
        effect = np.exp(seed_sd * rng.standard_normal(reps))  # this seed's slower or faster training
        kid, se, fd, div = [], [], [], []
        for c in costs:
            fake = clips(gen, reps, sizes.fake_clips, sizes.frames, direction, effect * offset(mult * c),
                         np.full(reps, scale))
            k, e = blocked_mmd_batch(fake, real, 4, gen)
            kid.append(k), se.append(e), fd.append(frechet_batch(fake, real) if with_fd else np.zeros(reps))
            div.append(diversity(fake, real))
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
    rng, gen = np.random.default_rng(seed), generator(sizes, seed)  # per-seed effects; the features
    direction = torch.randn(sizes.dim, generator=gen, device=sizes.device)
    real = Reference(clips(gen, reps, sizes.real_clips, sizes.frames, direction, np.zeros(reps), np.ones(reps)),
                     sizes.frames)
    arms = {arm: run_arm(rng, gen, sizes, real, direction, arm, reps) for arm in ARMS}
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
            if scenario.startswith("c_") and sizes.device == "cpu":  # the old rule: a Fréchet ladder, no guard
                fd = ladder_outcome(sizes, base, var, r, "fd")
                fd_faster += ladder_call(fd.low, fd.high, math.nan, math.nan)[0] in FASTER
        table[scenario] = dict(faster=float(np.mean([c in FASTER for c in calls])),
                               count_faster=int(sum(c in FASTER for c in calls)),
                               consistent=float(np.mean([c == "reproduced" for c in calls])),
                               coverage=covered / reps if truth is not None else None,
                               fd_faster=fd_faster / reps if scenario.startswith("c_") and sizes.device == "cpu"
                               else None)
    return table


@pytest.fixture(scope="module")
def convergence_table():
    """preset name -> {scenario: rates}, simulated the first time a test asks for that preset."""
    tables: dict[str, dict] = {}

    def table(preset: str) -> dict:
        if preset not in tables:
            tables[preset] = simulate_convergence(PRESETS[preset])
            print(f"\nFID convergence at {preset}'s sizes: ladder on the clip-blocked kernel distance with the "
                  f"diversity guard ({REPS} repetitions; 'Fréchet rule': the old ladder on the Fréchet distance)")
            print(f"{'scenario':24s} {'faster':>7s} {'count':>6s} {'~3x':>6s} {'coverage':>9s} {'Fréchet rule faster':>20s}")
            for scenario, r in tables[preset].items():
                cov = "—" if r["coverage"] is None else f"{r['coverage']:.1%}"
                fd = "—" if r["fd_faster"] is None else f"{r['fd_faster']:.1%}"
                print(f"{scenario:24s} {r['faster']:7.1%} {r['count_faster']:6d} {r['consistent']:6.1%} "
                      f"{cov:>9s} {fd:>20s}")
        return tables[preset]
    return table


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_convergence_verdict_holds_at_the_presets_sizes(convergence_table, preset):
    t = convergence_table(preset)
    assert t["a_identical"]["faster"] <= 0.05, t["a_identical"]
    assert t["d_identical_seed_var"]["faster"] <= 0.05, t["d_identical_seed_var"]
    assert t["c_worse_less_diverse"]["count_faster"] == 0, t["c_worse_less_diverse"]
    for s in ("b_better_3x", "d_better_3x_seed_var"):
        assert t[s]["coverage"] >= 0.93, (s, t[s])


def test_the_old_fid_rule_is_fooled_by_a_less_diverse_generator(convergence_table):
    """The reason the ladder reads the kernel distance: at the cpu preset's sizes a bias-dominated Fréchet ladder
    calls the collapsing generator faster."""
    assert convergence_table("cpu")["c_worse_less_diverse"]["fd_faster"] > 0.5


# ----------------------------------------------------------------------------------------------- ablations

def simulate_paired_gaps(sizes: Sizes, gap: float, scale_b: float = 1.0, reps: int = ABLATION_REPS, seed: int = 1):
    """Per-seed clip-blocked kernel distances of two settings (a, b) of one model at the end of training:
    (reps, seeds) each; ``gap`` shifts b's offset (positive: b worse), ``scale_b`` its diversity."""
    rng, gen = np.random.default_rng(seed), generator(sizes, seed)
    direction = torch.randn(sizes.dim, generator=gen, device=sizes.device)
    real = Reference(clips(gen, reps, sizes.real_clips, sizes.frames, direction, np.zeros(reps), np.ones(reps)),
                     sizes.frames)
    a, b, da, db = [], [], [], []
    for _ in range(sizes.seeds):
        effect = np.exp(0.3 * rng.standard_normal(reps))  # shared by the pair: same init, data, sample seeds
        base = effect * offset(16.0)
        fa = clips(gen, reps, sizes.fake_clips, sizes.frames, direction, base, np.ones(reps))
        fb = clips(gen, reps, sizes.fake_clips, sizes.frames, direction, base + gap, np.full(reps, scale_b))
        a.append(blocked_mmd_batch(fa, real, 2, gen)[0])
        b.append(blocked_mmd_batch(fb, real, 2, gen)[0])
        da.append(diversity(fa, real)), db.append(diversity(fb, real))
    # per-seed kernel distances (reps, seeds) of a and b, and their seed-mean diversity ratios (reps,)
    return np.array(a).T, np.array(b).T, np.array(da).T.mean(1), np.array(db).T.mean(1)


def ablation_rates(sizes: Sizes) -> dict[str, float]:
    """What each ablation verdict's rule calls, over ABLATION_REPS simulated runs at ``sizes``."""
    table = {}
    a, b, _, _ = simulate_paired_gaps(sizes, 0.0)
    margin = lambda ref: EQUIVALENCE_MARGIN * np.abs(ref.mean(1))  # noqa: E731
    ivs = [t_interval(a[r] - b[r]) for r in range(ABLATION_REPS)]
    table["corrective noise, identical: false 'worse without it'"] = np.mean(
        [superiority(lo, hi).status == "reproduced" for _, lo, hi in ivs])
    table["paired interval coverage of 0, identical"] = np.mean(
        [lo <= 0 <= hi for _, lo, hi in ivs if lo == lo] or [1.0])
    worse_a, ref_b, _, _ = simulate_paired_gaps(sizes, 0.0, seed=2)
    # causal truly worse by 3x the margin: a false "no worse" must stay rare
    m = margin(ref_b)
    gap = 3 * m
    table["causal worse by 3 margins: false 'no worse'"] = np.mean(
        [non_inferiority(*t_interval(worse_a[r] + gap[r] - ref_b[r])[1:], m[r]).status == "reproduced"
         for r in range(ABLATION_REPS)])
    table["temporal different by 3 margins: false 'equivalent'"] = np.mean(
        [equivalence(worse_a[r] + gap[r] - ref_b[r], m[r])[0].status == "reproduced" for r in range(ABLATION_REPS)])
    la, lb, dla, dlb = simulate_paired_gaps(sizes, 0.0, scale_b=0.6, seed=3)  # b less diverse, same mean offset
    table["less diverse setting called better"] = np.mean(
        [diversity_guard(superiority(*t_interval(la[r] - lb[r])[1:]), dlb[r], dla[r]).status == "reproduced"
         for r in range(ABLATION_REPS)])
    table["less diverse setting called better, no guard"] = np.mean(
        [superiority(*t_interval(la[r] - lb[r])[1:]).status == "reproduced" for r in range(ABLATION_REPS)])
    return table


@pytest.fixture(scope="module")
def ablation_table():
    """preset name -> {rule: rate}, simulated the first time a test asks for that preset."""
    tables: dict[str, dict] = {}

    def table(preset: str) -> dict:
        if preset not in tables:
            tables[preset] = ablation_rates(PRESETS[preset])
            print(f"\nAblations at {preset}'s sizes (clip-blocked kernel distance, paired seeds)")
            for what, rate in tables[preset].items():
                print(f"{what:58s} {rate:6.1%}")
        return tables[preset]
    return table


@pytest.mark.parametrize("preset", PRESET_PARAMS)
def test_ablation_verdicts_hold_at_the_presets_sizes(ablation_table, preset):
    t = ablation_table(preset)
    assert t["corrective noise, identical: false 'worse without it'"] <= 0.05, t
    assert t["paired interval coverage of 0, identical"] >= 0.93, t
    assert t["causal worse by 3 margins: false 'no worse'"] <= 0.05, t
    assert t["temporal different by 3 margins: false 'equivalent'"] <= 0.05, t
    assert t["less diverse setting called better"] == 0.0, t


def test_the_batched_statistics_are_the_harness_own():
    """The simulation's batched kernel distance, Fréchet distance and diversity ratio equal, repetition by
    repetition, what pfbench.metrics computes on one set pair."""
    from pfbench.metrics.small_sample import blocked_mmd
    from pfbench.metrics.stats import frechet_distance

    sizes = Sizes("check", fake_clips=3, real_clips=5, frames=4, seeds=1, fractions=(1.0,), dim=16)
    gen = generator(sizes, 7)
    direction = torch.randn(sizes.dim, generator=gen)
    ref = Reference(clips(gen, 2, 5, 4, direction, np.zeros(2), np.ones(2)), 4)
    fake = clips(gen, 2, 3, 4, direction, np.array([0.3, 1.0]), np.array([1.0, 0.6]))
    kid, _ = blocked_mmd_batch(fake, ref, 2, gen)
    fd, div = frechet_batch(fake, ref), diversity(fake, ref)
    for r in range(2):
        x, y = fake[r].numpy(), ref.feats[r].numpy()
        assert kid[r] == pytest.approx(blocked_mmd(x, y, np.arange(12) // 4, np.arange(20) // 4), rel=1e-5)
        assert fd[r] == pytest.approx(frechet_distance(x, y), rel=1e-5)
        assert div[r] == pytest.approx(np.trace(np.cov(x.T)) / np.trace(np.cov(y.T)), rel=1e-5)


def test_the_simulated_sizes_cover_gpu_smoke():
    """gpu-smoke runs its quality experiments at the smoke preset's sizes, so the smoke rows above are its rows too;
    the gpu preset's sizes are simulated by the same code on a CUDA device (the [gpu] cases, skipped without one)."""
    smoke, gpu_smoke = preset_sizes("smoke"), preset_sizes("gpu-smoke")
    assert (smoke.fake_clips, smoke.real_clips, smoke.frames, smoke.seeds, smoke.fractions) == (
        gpu_smoke.fake_clips, gpu_smoke.real_clips, gpu_smoke.frames, gpu_smoke.seeds, gpu_smoke.fractions)
