"""`pfbench sample`: generate one clip (or image) with a variant, from random weights or a checkpoint."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from pfbench.cli.args import add_force, check_new_file, device, float_range, int_range, seed
from pfbench.core.files import atomic_path
from pfbench.data.procedural import to_uint8_frames
from pfbench.experiments.sampling import prepare_sampler
from reference_model.variants import VARIANTS, sample_video

OUTPUT_SUFFIXES = (".png", ".mp4", ".gif")


def register(sub) -> None:
    p = sub.add_parser("sample", help="generate a clip (MP4/GIF) or one frame (PNG) with a variant")
    p.add_argument("--variant", default=None, help=f"one of {', '.join(VARIANTS)} (default: the checkpoint's, "
                                                   "else pyramid_ar)")
    p.add_argument("--preset", default=None, help="shape preset (default: the checkpoint's resolved preset, "
                                                  "else smoke); a preset other than the checkpoint's is an error")
    p.add_argument("--seed", type=seed, default=0, help="seed of the starting noise (default 0)")
    p.add_argument("--frames", type=int_range(1, 1024, "a frame count"), default=None,
                   help="latent frames, 1..1024 (default: the preset's)")
    p.add_argument("--checkpoint", default=None, help="a run folder of `pfbench train --out` (its last.pt) or a "
                                                      "checkpoint file; loaded with weights_only=True")
    p.add_argument("--ema", action="store_true", help="sample the checkpoint's EMA weights")
    p.add_argument("--label", type=int_range(0, None, "a class label"), default=None, help="class label for a conditional checkpoint")
    p.add_argument("--guidance", type=float_range(-100.0, 100.0, what="a guidance weight"), default=1.0,
                   help="classifier-free guidance weight (needs --label: it mixes label and null-label velocities)")
    p.add_argument("--fps", type=int_range(1, 240, "a frame rate"), default=8,
                   help="frame rate written into an .mp4 / .gif (default 8)")
    p.add_argument("--device", default="cpu", type=device, help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", required=True, help="output file: .png (one frame), .mp4 or .gif")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on stderr (it is off anyway when stderr is not a terminal)")
    add_force(p, "--out file")
    p.set_defaults(func=run)


def model_origin(prepared, args) -> str:
    """What the clip is sampled from: an untrained model (random weights) or a checkpoint, its step and weights."""
    if prepared.random_weights:
        return (f"UNTRAINED: randomly initialised weights (seed {args.seed}, preset {prepared.preset.name}); the clip "
                "shows what an untrained model makes, not a learned video; pass --checkpoint RUN_DIR from "
                "`pfbench train` to sample a trained one")
    meta = prepared.meta
    weights = "EMA weights" if args.ema else "trained (not EMA) weights; --ema samples the moving average"
    return f"checkpoint {meta.get('path', args.checkpoint)}, step {meta.get('step', '?')}, {weights}"


def run(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--out {out}: unsupported file type; use one of {', '.join(OUTPUT_SUFFIXES)}")
    check_new_file(out, "--out", args.force)
    prepared = prepare_sampler(args.checkpoint, ema=args.ema, seed=args.seed, preset=args.preset,
                               variant=args.variant)
    model, preset, variant, schedule = prepared.model, prepared.preset, prepared.variant, prepared.schedule
    if args.guidance != 1.0 and args.label is None:
        raise ValueError(f"--guidance {args.guidance:g} needs --label K: classifier-free guidance mixes a label's "
                         "velocity with the null label's; pass --label or drop --guidance")
    frames = args.frames or preset.frames
    if out.suffix.lower() == ".png" and frames != 1:
        raise ValueError(f"--out {out}: a PNG holds one frame but {frames} were asked; use --frames 1 or .mp4/.gif")
    model = model.to(args.device).eval()
    y = None
    if args.label is not None:
        if model.cfg.num_classes == 0:
            raise ValueError("--label needs a conditional checkpoint (this model has no classes)")
        if not 0 <= args.label < model.cfg.num_classes:
            raise ValueError(f"--label {args.label} is out of range: this model has labels 0..{model.cfg.num_classes - 1}")
        y = torch.tensor([args.label], device=args.device)
    print(f"model: {model_origin(prepared, args)}", flush=True)
    from pfbench.core.progress import bar

    evaluations = []
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    start = time.perf_counter()
    with torch.no_grad(), bar(desc="model evaluations", enabled=not args.no_progress, unit="eval") as progress:
        def step(info):
            evaluations.append(info)
            progress.update(1)

        latents = sample_video(variant, model, (1, model.cfg.in_channels, frames, preset.height, preset.width),
                               generator=generator, schedule=schedule, y=y, guidance=(args.guidance, args.guidance),
                               callback=step, device=args.device)
    seconds = time.perf_counter() - start
    if not torch.isfinite(latents).all():
        raise ValueError("the sampler produced NaN/Inf: the checkpoint may be diverged; retrain with a lower --lr")
    from pfbench.core.video_write import write_video
    with atomic_path(out) as tmp:  # never half a file at --out
        write_video(tmp, to_uint8_frames(latents[0]).numpy(), fps=args.fps)
    print(f"wrote {out}: {frames} frame(s) {preset.height}x{preset.width}, variant {variant}, seed {args.seed}, "
          f"{len(evaluations)} model evaluations in {seconds:.2f} s")
    if prepared.random_weights:
        print("note: sampled from an untrained model (random weights): see the model line above")
    return 0
