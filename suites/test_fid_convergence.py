"""FID convergence against training compute: the paper's spatial- and temporal-pyramid ablation in shape.

The paper (Fig. 7, Fig. 8 / 12b) trains pyramidal flow matching and standard (full-sequence) flow matching
with the same data, tokens per batch, hyper-parameters and architecture, and finds the pyramid converging
"almost three times" faster in FID. Here ``full_sequence``, ``spatial_pyramid`` and ``pyramid_ar`` train:

- from the same initial weights (one seeded class-conditional model, copied), on the same clips (cpu preset: crops
  of real videos, ``pfbench.data.real``; smoke: procedural clips),
  with the same AdamW settings, warm-up, clipping, learning rate and number of steps;
- with **equal tokens per batch** (the paper's equalisation): full_sequence takes ``batch`` clips per step,
  a pyramid variant round(batch x mean tokens of full_sequence / its mean tokens per sample) clips, since a
  pyramid sample has fewer tokens (low-resolution stages, one current frame with compressed history);
- at the experiment shape of ``pfbench.experiments.experiment_shape`` (cpu preset: tiny backbone, 4 x 16 x 16
  RGB clips, 200 steps, FID at 10, 25, 50, 100, 150, 200 steps; smoke: 3 x 16 x 16, 30 steps).

FID uses EfficientNet-Lite0 features when installed (else the named fallback ``pfbench-randconv-s0``; the extractor
is the row's backend) between every frame of ``sample_clips`` class-balanced generated clips and every frame of
held-out clips (real: frames training never sees; procedural: a seed training never uses); spread = half-width of
the 95% interval over clips (half-samples, ``pfbench.metrics.stats``), centred on the ``fid_debiased`` row.
x axes: cumulative expected analytic training FLOPs (pfbench.accounting) and training step. Training
(``benchmark.pedantic``, one round, weights snapshotted at the evaluation steps) and evaluation (sampling +
FID, after training) are timed separately. Quality orderings are recorded, not asserted: a few hundred CPU
steps cannot guarantee them.
"""
from __future__ import annotations

import time

import pytest
import torch

from pfbench.experiments import (FidEvaluator, Snapshots, Stopwatch, ci_half_width, clips_to_frames, compute_to_reach,
                                 equal_token_batches, experiment_clips, experiment_shape, fid_config, initial_model,
                                 mean_tokens_per_sample, sample_clips, train_flops_per_sample, train_variant)

VARIANTS = ("full_sequence", "spatial_pyramid", "pyramid_ar")
BASELINE = "full_sequence"
EQUALISATION = "equal tokens per batch (pyramid variants take more clips per step), same steps, init, data, lr"


@pytest.fixture(scope="module")
def setup(pf_preset, pf_device, pf_seed):
    if not pf_preset.trainable:
        pytest.skip(f"preset {pf_preset.name} is shape-only; FID convergence needs a trainable preset")
    shape = experiment_shape(pf_preset)
    preset = shape.preset(pf_preset)
    data = experiment_clips(shape, preset, shape.dataset_size, pf_seed)
    real, _ = experiment_clips(shape, preset, shape.heldout_clips, pf_seed, split="heldout")
    t0 = time.perf_counter()
    evaluator = FidEvaluator(clips_to_frames(real), fid_config(shape, pf_device, pf_seed),
                             frames_per_clip=preset.frames)
    real_features_s = time.perf_counter() - t0
    return dict(shape=shape, preset=preset, data=data, evaluator=evaluator, real_features_s=real_features_s,
                init=initial_model(preset, pf_seed, pf_device),
                batches=equal_token_batches(VARIANTS, preset, shape.batch_size, BASELINE))


@pytest.fixture(scope="module")
def curves() -> dict:
    """variant -> list of (step, train_flops, fid, ci half-width, train_loss) collected in this module."""
    return {}


def _note(setup, variant) -> str:
    s, b = setup["shape"], setup["batches"]
    return (f"{EQUALISATION}: batch {b[variant]} clips ({b[variant] * mean_tokens_per_sample(variant, setup['preset']):.0f}"
            f" tokens; {BASELINE} {b[BASELINE]} clips), {s.steps} steps, lr {s.lr}, shape {s.name}; "
            f"FIDs of {s.sample_clips} generated vs {s.heldout_clips} held-out {s.data} clips (all frames)")


@pytest.mark.parametrize("variant", VARIANTS)
def test_convergence(benchmark, setup, curves, pf_record, pf_device, pf_seed, pf_train_dir, variant):
    shape, preset = setup["shape"], setup["preset"]
    batch = setup["batches"][variant]
    per_sample = train_flops_per_sample(variant, preset)
    folder = pf_train_dir("fid", variant)  # a run folder: `pfbench run --resume` continues the training
    snaps = Snapshots(shape.eval_steps, folder=folder)

    def run():
        return train_variant(variant, preset, setup["init"], setup["data"], steps=shape.steps, batch_size=batch,
                             seed=pf_seed, lr=shape.lr, device=pf_device, callback=snaps, run_dir=folder)

    result = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    snaps.complete()
    train_s = benchmark.stats.stats.max if benchmark.stats else float("nan")

    model, points, eval_clock = result.model, [], Stopwatch()
    for step in shape.eval_steps:
        with eval_clock:
            model.load_state_dict(snaps.weights[step])
            fake = sample_clips(variant, model, preset, shape.sample_clips, shape.schedule, seed=pf_seed + 1,
                                device=pf_device)
            fid = setup["evaluator"](clips_to_frames(fake))
        points.append((step, step * batch * per_sample, fid, snaps.window_loss[step]))
    curves[variant] = [(s, x, f.fid, ci_half_width(f), loss) for s, x, f, loss in points]

    note = _note(setup, variant)
    backend = fid.extractor
    rows = []
    for step, flops, f, loss in points:
        common = dict(case="convergence", variant=variant, note=note)
        spread = ci_half_width(f)
        for x_name, x_value in (("train_flops", flops), ("train_step", step)):
            rows.append({**common, "metric": "fid", "value": f.fid, "unit": "", "backend": backend, "spread": spread,
                         "spread_kind": "ci95", "x_name": x_name, "x_value": x_value})
            if f.fid_debiased is not None:
                rows.append({**common, "metric": "fid_debiased", "value": f.fid_debiased, "unit": "",
                             "backend": backend, "spread": spread, "spread_kind": "ci95", "x_name": x_name,
                             "x_value": x_value, "note": note + f"; {f.interval_over}, {f.n_fake_clips} clips"})
            rows.append({**common, "metric": "train_loss", "value": loss, "unit": "", "backend": "mse",
                         "x_name": x_name, "x_value": x_value,
                         "note": note + "; mean training loss since the previous evaluation point (loss scales "
                                        "differ between variants: compare FID, not loss, across variants)"})
        if f.kid_mean is not None:
            rows.append({**common, "metric": "kid", "value": f.kid_mean, "unit": "", "backend": backend,
                         "spread": f.kid_std, "spread_kind": "std", "x_name": "train_flops", "x_value": flops})
    rows += [
        dict(case="convergence", variant=variant, metric="train_time_s", value=train_s, unit="s", backend="measured",
             note=f"{shape.steps} training steps, batch {batch}, snapshots included; evaluation excluded"
                  + (f"; resumed at step {result.resumed_from}: this attempt's time only" if result.resumed_from
                     else "")),
        dict(case="convergence", variant=variant, metric="eval_time_s", value=eval_clock.seconds, unit="s",
             backend="measured", note=f"{len(shape.eval_steps)} x (sample {shape.sample_clips} clips + FID); "
                                      f"real features once: {setup['real_features_s']:.2f} s"),
        dict(case="convergence", variant=variant, metric="train_flops_per_step", value=batch * per_sample,
             unit="FLOP", backend="analytic", note=note),
        dict(case="convergence", variant=variant, metric="batch_clips", value=batch, unit="clips", backend="config",
             note=note),
    ]
    pf_record(rows)
    benchmark.extra_info.update(case="convergence", variant=variant, backend="measured", batch=batch,
                                steps=shape.steps, train_flops=shape.steps * batch * per_sample,
                                train_flops_per_sample=per_sample, equalisation=EQUALISATION,
                                experiment_shape=shape.name, eval_time_s=eval_clock.seconds,
                                final_fid=points[-1][2].fid, fid_extractor=backend,
                                final_train_loss=points[-1][3])
    print(f"{variant:16s} batch {batch:3d} train {train_s:6.1f}s eval {eval_clock.seconds:5.1f}s  " +
          "  ".join(f"{s}:{f.fid:.3g}" for s, _, f, _ in points))

    assert result.step == shape.steps and len(result.losses) == shape.steps
    assert all(torch.isfinite(torch.tensor(p[2].fid)) for p in points), "FID must be finite"
    flops = [p[1] for p in points]
    assert flops == sorted(flops) and flops[0] > 0


def test_compute_to_reach_full_sequence_fid(setup, curves, pf_record):
    """Per pyramid variant: the training FLOPs at which it first reaches full_sequence's final FID."""
    if BASELINE not in curves:
        pytest.skip("full_sequence was not trained in this run")
    base = curves[BASELINE]
    target = base[-1][2]
    x_base = compute_to_reach([p[1] for p in base], [p[2] for p in base], target)
    rows = []
    for variant in VARIANTS:
        if variant == BASELINE or variant not in curves:
            continue
        pts = curves[variant]
        reach = compute_to_reach([p[1] for p in pts], [p[2] for p in pts], target)
        note = (f"first training FLOPs (log-x interpolated between evaluation points) at which {variant} reaches "
                f"{BASELINE}'s final FID {target:.4g} ({BASELINE} itself first reaches it at {x_base:.3g} FLOP); "
                + _note(setup, variant))
        if reach is None:
            rows.append(dict(case="convergence", variant=variant, metric="compute_to_reach_full_sequence_fid",
                             value=None, unit="FLOP", backend="analytic", status="skipped",
                             note=f"never reached {BASELINE}'s final FID {target:.4g} within {pts[-1][1]:.3g} FLOP "
                                  f"(its best: {min(p[2] for p in pts):.4g}); " + _note(setup, variant)))
            continue
        rows += [dict(case="convergence", variant=variant, metric="compute_to_reach_full_sequence_fid", value=reach,
                      unit="FLOP", backend="analytic", note=note),
                 dict(case="convergence", variant=variant, metric="compute_saving_vs_full_sequence",
                      value=x_base / reach, unit="x", backend="analytic",
                      note=f"{BASELINE}'s FLOPs to its final FID / {variant}'s FLOPs to the same FID (paper: ~3x)")]
    pf_record(rows)
    # certain by construction: with equal tokens per batch, the analytic cost per step is within attention's
    # share of the full-sequence cost, never above it (pyramid sequences are shorter, attention is quadratic)
    per_step = {v: curves[v][0][1] / curves[v][0][0] for v in curves}
    for v in per_step:
        assert per_step[v] <= per_step[BASELINE] * 1.2, (v, per_step)
