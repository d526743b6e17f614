"""FID convergence against training compute: the paper's "almost 3x faster" claim (Fig. 7) as a compute-to-quality
ratio over a ladder of targets, with an interval over seeds and evaluation samples.

Protocol (pfbench.benchmarks.fid.convergence, scales in pfbench.benchmarks.fid.convergence_run): ``full_sequence``, ``spatial_pyramid`` and
``pyramid_ar`` train, for each of >= 3 seeds, from the same initial weights (the seed's), on the same clips and
sample stream, with the same AdamW settings, warm-up, constant learning rate and number of steps, and **equal tokens
per batch** (a pyramid variant takes round(batch x mean tokens of full_sequence / its mean tokens) clips per step).
Snapshots at the evaluation points are scored afterwards (samples of the snapshot, every frame, Fréchet distance
on EfficientNet-Lite0 features against held-out clips; the extractor is every row's backend):

1. the baseline's runs first; its ladder targets (its seed-mean FID at 20/40/60/80% of the run and at the end) are
   fixed and recorded before any pyramid run is scored;
2. then the other variants; per target the ratio full_sequence cost / variant cost (training FLOPs, and wall
   seconds) on the seed-mean curves, with a bootstrap 95% interval over seeds and evaluation samples.

The experiment runs under a time budget (CPU seconds on CPU, so a loaded machine does not shrink it): training is
required, evaluation points are scored in priority order until the budget is spent (fewer points, never a failure).
Compute-bound check: each variant's drop in FID over the last 20% of its run, in standard errors (``fid_drop_last20_z``).
Quality orderings are recorded, not asserted.
"""
from __future__ import annotations

import time

import pytest

from pfbench.benchmarks.fid.convergence import (
    LADDER_FRACTIONS,
    geometric_mean_ratio,
    ladder_ratios,
    ladder_targets,
    still_falling,
)
from pfbench.benchmarks.fid.convergence_run import (
    Budget,
    common_points,
    convergence_scale,
    ladder_statistic,
    point_from_fid,
    run_curve,
    seed_mean_rows,
)
from pfbench.experiments.clips import clips_to_frames, experiment_clips
from pfbench.experiments.recipe import (FidEvaluator, Snapshots, fid_config, initial_model, logged_wall, sample_clips,
                                       shared_run_name, train_variant)
from pfbench.experiments.shapes import equal_token_batches, mean_tokens_per_sample, train_flops_per_sample

VARIANTS = ("full_sequence", "spatial_pyramid", "pyramid_ar")
BASELINE = "full_sequence"
SEED_SLOTS = 3
MIN_POINTS = 3   # evaluation steps scored whatever the budget (the end, the middle, a quarter of the run)
EQUALISATION = ("equal tokens per batch (pyramid variants take more clips per step), same steps, initial weights, "
                "data stream, AdamW, warm-up + constant lr")


@pytest.fixture(scope="module")
def setup(pf_preset, pf_device, pf_seed):
    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only; FID convergence needs a trainable preset")
    scale = convergence_scale(pf_preset)
    budget = Budget(scale.budget_s, "wall" if pf_device.startswith("cuda") else scale.budget_clock)
    preset = scale.preset(pf_preset)
    data = experiment_clips(scale, preset, scale.dataset_size, pf_seed)
    real, _ = experiment_clips(scale, preset, scale.heldout_clips, pf_seed, split="heldout")
    t0 = time.perf_counter()
    evaluator = FidEvaluator(clips_to_frames(real), fid_config(scale, pf_device, pf_seed), frames_per_clip=preset.frames)
    return dict(scale=scale, preset=preset, data=data, evaluator=evaluator, budget=budget,
                real_features_s=time.perf_counter() - t0, seeds=scale.seed_list(pf_seed), inits={},
                data_tag=f"experiment_clips:{scale.name}:train:{scale.dataset_size}:seed{pf_seed}",
                batches=equal_token_batches(VARIANTS, preset, scale.batch_size, BASELINE))


@pytest.fixture(scope="module")
def runs() -> dict:
    """(variant, seed) -> dict(model, weights {step: state}, wall {step: s}, batch, per_sample)."""
    return {}


def _note(setup, variant) -> str:
    s, b = setup["scale"], setup["batches"]
    return (f"{EQUALISATION}: batch {b[variant]} clips ({b[variant] * mean_tokens_per_sample(variant, setup['preset']):.0f}"
            f" tokens; {BASELINE} {b[BASELINE]} clips), {s.steps} steps, lr {s.lr}, scale {s.name}; "
            f"{s.sample_clips} generated vs {s.heldout_clips} held-out {s.data} clips (all frames)")


@pytest.mark.parametrize("seed_slot", range(SEED_SLOTS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_train(benchmark, setup, runs, pf_record, pf_device, pf_train_dir, variant, seed_slot):
    scale, preset = setup["scale"], setup["preset"]
    if seed_slot >= scale.seeds:
        pytest.skip(f"scale {scale.name} runs {scale.seeds} seeds")
    seed = setup["seeds"][seed_slot]
    if seed not in setup["inits"]:
        setup["inits"][seed] = initial_model(preset, seed, pf_device)
    batch = setup["batches"][variant]
    # a run folder (`pfbench run --resume` continues it) shared with every suite that trains the same model
    folder = pf_train_dir("shared", shared_run_name(variant, preset, seed=seed, steps=scale.steps, batch_size=batch,
                                                    lr=scale.lr, stage_mix="1:2:1", data=setup["data_tag"],
                                                    eval_steps=scale.eval_steps))
    snaps, wall, t0 = Snapshots(scale.eval_steps, folder=folder), {}, time.perf_counter()

    def callback(step, loss, model):
        snaps(step, loss, model)
        if step + 1 in scale.eval_steps:
            wall[step + 1] = time.perf_counter() - t0

    def run():
        return train_variant(variant, preset, setup["inits"][seed], setup["data"], steps=scale.steps,
                             batch_size=batch, seed=seed, lr=scale.lr, device=pf_device, callback=callback,
                             run_dir=folder)

    result = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    snaps.complete()
    wall.update({s: w for s, w in logged_wall(folder).items() if s in scale.eval_steps})
    runs[(variant, seed)] = dict(model=result.model, weights=snaps.weights, wall=wall, batch=batch,
                                 per_sample=train_flops_per_sample(variant, preset))
    train_s = benchmark.stats.stats.max if benchmark.stats else float("nan")
    pf_record([dict(case=f"seed{seed}", variant=variant, metric="train_time_s", value=train_s, unit="s",
                    backend="measured", note=f"{scale.steps} steps, batch {batch}; evaluation excluded"
                    + (f"; resumed at step {result.resumed_from}" if result.resumed_from else "")),
               dict(case="convergence", variant=variant, metric="batch_clips", value=batch, unit="clips",
                    backend="config", note=_note(setup, variant)),
               dict(case="convergence", variant=variant, metric="train_flops_per_step",
                    value=batch * runs[(variant, seed)]["per_sample"], unit="FLOP", backend="analytic",
                    note=_note(setup, variant))])
    assert result.step == scale.steps


def _evaluate(setup, runs, variants, steps_in_order, budget, share: float, pf_device, done: dict) -> list[int]:
    """Score every run of ``variants`` at each step in order (all seeds of a step together) while the budget
    allows (at least MIN_POINTS steps: end, middle, quarter); returns the steps scored. ``share``: the part of the
    remaining budget to use."""
    limit = budget.used() + max(0.0, budget.left()) * share
    scored, per_step = [], None
    for i, step in enumerate(steps_in_order):
        if i >= MIN_POINTS and (budget.used() >= limit or (per_step and budget.used() + per_step > limit)):
            break
        start = budget.used()
        for variant in variants:
            for seed in setup["seeds"]:
                r = runs[(variant, seed)]
                model = r["model"]
                model.load_state_dict(r["weights"][step])
                fake = sample_clips(variant, model, setup["preset"], setup["scale"].sample_clips,
                                    setup["scale"].schedule, seed=seed + 1, device=pf_device)
                fid = setup["evaluator"](clips_to_frames(fake))
                done.setdefault(variant, {}).setdefault(seed, []).append(
                    point_from_fid(step, step * r["batch"] * r["per_sample"], r["wall"].get(step, float("nan")), fid))
        per_step = budget.used() - start
        scored.append(step)
    return scored


def test_ladder(setup, runs, pf_record, pf_device):
    scale, budget = setup["scale"], setup["budget"]
    missing = [(v, s) for v in VARIANTS for s in setup["seeds"] if (v, s) not in runs]
    if missing:
        pytest.skip(f"runs not trained in this session: {missing}")
    order = scale.eval_priority()
    points: dict = {}
    clock0 = budget.usage()
    base_steps = _evaluate(setup, runs, [BASELINE], order, budget, 1 / 3, pf_device, points)
    base_points = common_points(points)[BASELINE]
    statistic = ladder_statistic([p for pts in base_points.values() for p in pts])
    base_curves = [run_curve(p, scale.steps, statistic=statistic) for p in base_points.values()]
    targets = ladder_targets(base_curves, LADDER_FRACTIONS)  # fixed now, before any pyramid run is scored
    others = [v for v in VARIANTS if v != BASELINE]
    other_steps = _evaluate(setup, runs, others, order, budget, 1.0, pf_device, points)
    usage = budget.usage()
    points = common_points(points)
    first = next(iter(points[BASELINE].values()))[0]
    extractor = first.extractor
    backend = f"{statistic}[{extractor}]"  # the statistic the ladder (and its verdict) reads, and its features
    why = (f"clip-blocked kernel distance: the Fréchet distance of {first.n_fake} generated frames in "
           f"{first.feature_dim} dimensions is bias-dominated (N < 10 D)" if statistic == "kid_blocked" else
           f"Fréchet distance ({first.n_fake} generated frames >= 10 x {first.feature_dim} dimensions)")
    rows = []
    for fraction, target in targets:
        rows.append(dict(case="ladder", variant=BASELINE, metric="ladder_target", value=target, unit="",
                         backend=backend, x_name="target_fraction", x_value=fraction,
                         note=f"{BASELINE}'s seed-mean {statistic} at {fraction:.0%} of its run (interpolated between "
                              f"its evaluated steps {sorted(base_steps)}), fixed before the other variants were "
                              f"scored; statistic: {why}"))
    for variant in VARIANTS:
        note = _note(setup, variant)
        rows += seed_mean_rows(variant, points[variant], note)
        for seed, pts in points[variant].items():
            rows += [dict(case=f"seed{seed}", variant=variant, metric=f"{m}_run", value=p.value(stat)[0], unit="",
                          backend=p.extractor, spread=1.96 * p.value(stat)[1], spread_kind="ci95_eval_samples",
                          x_name="train_step", x_value=float(p.step), note=f"seed {seed}; " + note)
                     for p in pts for m, stat in (("fid", "fid"), ("kid_blocked", "kid_blocked"))]
        fall = still_falling([run_curve(p, scale.steps, statistic=statistic) for p in points[variant].values()])
        rows.append(dict(case="compute_bound", variant=variant, metric="fid_drop_last20_z", value=fall.z, unit="",
                         backend="seeds", note=f"{statistic} drop from {fall.from_progress:.0%} of the run to its end "
                                               f"{fall.drop:.4g} / its se {fall.se:.3g} over seeds (> 2: still "
                                               "falling, training is compute-bound)"))
    summary = []
    for variant in others:
        for x, metric in (("flops", "compute_ratio_vs_full_sequence"), ("wall_s", "wall_ratio_vs_full_sequence")):
            b = [run_curve(points[BASELINE][seed], scale.steps, x, statistic) for seed in setup["seeds"]]
            v = [run_curve(points[variant][seed], scale.steps, x, statistic) for seed in setup["seeds"]]
            ratios = ladder_ratios(b, v, targets, seed=0)  # paired by seed
            for r in ratios:
                what = "training FLOPs" if x == "flops" else "training wall seconds"
                common = dict(case="ladder", variant=variant, unit="x", backend=backend, x_name="target_fraction",
                              x_value=r.fraction)
                rows += [{**common, "metric": metric, "value": r.ratio, "bound": r.bound,
                          "status": "ok" if r.ratio is not None else "skipped",
                          "note": (f"{BASELINE} {what} / {variant} {what} to reach {statistic} {r.target:.4g} "
                                   f"({BASELINE} at {r.fraction:.0%} of its run); {r.confidence:.0%} CI "
                                   f"{r.low:.3g}-{r.high:.3g} over {r.over}, {r.seeds[0]} paired seeds; per seed "
                                   f"{[round(x, 3) for x in r.per_seed]}"
                                   + ("" if r.ratio is not None else f"; {variant} never reached it")
                                   + (f"; {r.cause}" if r.cause else ""))},
                         {**common, "metric": metric + "_ci_low", "value": r.low,
                          "note": "2.5% end: Student-t over paired seeds on log ratios" + (f"; {r.cause}" if r.cause else "")},
                         {**common, "metric": metric + "_ci_high", "value": r.high,
                          "note": "97.5% end: Student-t over paired seeds on log ratios" + (f"; {r.cause}" if r.cause else "")}]
            if x == "flops":
                summary.append(f"{variant}: " + ", ".join(
                    f"{r.fraction:.0%} {r.ratio if r.ratio is None else round(r.ratio, 2)}x [{r.low:.2g}, {r.high:.2g}]"
                    for r in ratios) + f" (geo-mean {geometric_mean_ratio(ratios)})")
    rows += [dict(case="budget", variant=BASELINE, metric="eval_points", value=len(points[BASELINE][setup['seeds'][0]]),
                  unit="count", backend="measured", note=f"{BASELINE} steps scored {sorted(base_steps)}; others "
                  f"{sorted(other_steps)} of {list(scale.eval_steps)} (priority {order})"),
             dict(case="budget", variant=BASELINE, metric="experiment_cpu_s", value=usage["cpu_s"], unit="s",
                  backend="measured", note=f"process CPU seconds of the whole experiment (training + evaluation) "
                  f"against a budget of {scale.budget_s:g} {budget.clock} seconds; evaluation alone "
                  f"{usage['cpu_s'] - clock0['cpu_s']:.0f} CPU-s"),
             dict(case="budget", variant=BASELINE, metric="experiment_wall_s", value=usage["wall_s"], unit="s",
                  backend="measured", note=f"wall seconds (evaluation alone {usage['wall_s'] - clock0['wall_s']:.0f} s;"
                  f" real features once {setup['real_features_s']:.1f} s)")]
    pf_record(rows)
    print("\n".join(summary))
    need = min(MIN_POINTS, len(scale.eval_steps))
    assert all(len(p) >= need for by_seed in points.values() for p in by_seed.values()), f"every run needs {need} points"
