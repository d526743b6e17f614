"""Before/after the sampler fix (#15) on the same trained weights: FID of each variant's samples.

Training is untouched by the fix, so each variant is trained once (the FID-convergence suite's recipe at the
preset's experiment shape: shared init, equal tokens per batch, same data and steps) and its snapshots are
sampled twice with the same seeds: with the fixed samplers (local time 0..1 per stage, global time fed) and
with the pre-fix stepping (global time over [s_k, e_k], dt = (e_k - s_k) / steps), re-created here by swapping
``reference_model.samplers._integrate``. Also the corrective-noise and attention ablations' FIDs.

    python tools/sampler_before_after.py --preset cpu [--steps-at 50,200] [--out ab.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import time

import torch

import reference_model.samplers as samplers
from pfbench.core.config import get_preset
from pfbench.experiments.clips import clips_to_frames, heldout_clips, procedural_clips
from pfbench.experiments.recipe import (
    FidEvaluator,
    Snapshots,
    ci_half_width,
    fid_config,
    initial_model,
    sample_clips,
    train_variant,
)
from pfbench.experiments.sample_measures import block_correlation
from pfbench.experiments.shapes import equal_token_batches, experiment_shape

FIXED = samplers._integrate


def _global_time_integrate(velocity, x, window, steps, callback, info):
    """The pre-fix stepping: Euler in global time over the stage window, so a stage moves (e - s) of its path."""
    s, e = window
    ts = torch.linspace(s, e, steps + 1).tolist()
    for step, (t0, t1) in enumerate(zip(ts[:-1], ts[1:])):
        t = torch.full((x.shape[0],), t0, device=x.device, dtype=torch.float32)
        x = x + (t1 - t0) * velocity(x, t).to(x.dtype)
    return x


@contextlib.contextmanager
def prefix_sampler():
    samplers._integrate = _global_time_integrate
    try:
        yield
    finally:
        samplers._integrate = FIXED


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-at", default="", help="evaluation steps (default: the experiment's)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    torch.set_num_threads(2)
    shape = experiment_shape(get_preset(args.preset))
    preset = shape.preset(get_preset(args.preset))
    eval_steps = tuple(int(s) for s in args.steps_at.split(",")) if args.steps_at else shape.eval_steps
    data = procedural_clips(preset, shape.dataset_size, args.seed)
    real, _ = heldout_clips(preset, shape.heldout_clips, args.seed)
    evaluator = FidEvaluator(clips_to_frames(real), fid_config(shape, "cpu", args.seed))
    init = initial_model(preset, args.seed)
    variants = ("full_sequence", "spatial_pyramid", "pyramid_ar", "pyramid_ar_bidirectional")
    batches = equal_token_batches(variants, preset, shape.batch_size, "full_sequence")
    rows, models = [], {}

    def score(variant, model, step, case, **kw):
        for sampler in ("fixed", "pre-fix"):
            with (prefix_sampler() if sampler == "pre-fix" else contextlib.nullcontext()):
                clips = sample_clips(variant, model, preset, shape.sample_clips, shape.schedule, seed=args.seed + 1,
                                     **kw)
            fid = evaluator(clips_to_frames(clips))
            bc = block_correlation(clips)["value"]
            rows.append(dict(case=case, variant=variant, step=step, sampler=sampler, fid=fid.fid,
                             ci95=ci_half_width(fid), block_correlation=bc, extractor=fid.extractor, **kw))
            print(json.dumps(rows[-1]), flush=True)

    for variant in variants:
        snaps = Snapshots(tuple(sorted(set(eval_steps) | {shape.steps})))
        t0 = time.perf_counter()
        result = train_variant(variant, preset, init, data, steps=shape.steps, batch_size=batches[variant],
                               seed=args.seed, lr=shape.lr, callback=snaps)
        print(f"# trained {variant} in {time.perf_counter() - t0:.0f} s", flush=True)
        model = result.model.eval()
        for step in eval_steps if variant != "pyramid_ar_bidirectional" else (shape.steps,):
            model.load_state_dict(snaps.weights[step])
            score(variant, model, step, "convergence" if variant != "pyramid_ar_bidirectional" else "attention")
        model.load_state_dict(snaps.weights[shape.steps])
        models[variant] = model
    sp = models["spatial_pyramid"]
    score("spatial_pyramid", sp, shape.steps, "corrective_noise_off", renoise=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"preset": preset.name, "shape": shape.name, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
