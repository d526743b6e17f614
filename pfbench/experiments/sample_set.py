"""A set of samples of one variant, sharded over torchrun ranks: ``torchrun --nproc_per_node N -m pfbench.experiments.sample_set
--checkpoint RUN_DIR --count 64 --out DIR`` (plain ``python -m pfbench.experiments.sample_set`` is one process).

Clip i is generated alone from a generator seeded ``seed + i`` (label ``i % classes`` for a conditional model), so
a clip does not depend on how many ranks share the work. Each rank writes its own ``sample-<i>.mp4`` files; rank
0 writes the gathered ``samples.csv`` (index, file, label, seed, rank). The folder is then ready for
``pfbench eval-videos DIR`` (also shardable) or ``pfbench fid``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from pfbench.core import distributed
from pfbench.core.errors import EXIT_USAGE

FORMATS = ("mp4", "gif")


def _args(argv):
    p = argparse.ArgumentParser(prog="pfbench.experiments.sample_set", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None, help="a `pfbench train` run folder or checkpoint (weights_only)")
    p.add_argument("--variant", default=None)
    p.add_argument("--preset", default=None)
    p.add_argument("--ema", action="store_true")
    p.add_argument("--count", type=int, required=True, help="number of clips")
    p.add_argument("--seed", type=int, default=0, help="clip i uses seed + i")
    p.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance (conditional models)")
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--fps", type=int, default=8)
    p.add_argument("--format", default="mp4", choices=FORMATS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="a new (or empty) folder")
    return p.parse_args(argv)


def generate(args, ctx) -> list[dict]:
    """This rank's clips: written to files, described by one row each."""
    from pfbench.core.video_write import write_video
    from pfbench.data.procedural import to_uint8_frames
    from pfbench.experiments.sampling import prepare_sampler
    from reference_model.variants import sample_video

    prepared = prepare_sampler(args.checkpoint, ema=args.ema, seed=args.seed, preset=args.preset,
                               variant=args.variant)
    model, preset, variant, schedule = prepared.model, prepared.preset, prepared.variant, prepared.schedule
    classes = model.cfg.num_classes
    if args.guidance != 1.0 and not classes:
        raise ValueError(f"--guidance {args.guidance:g} needs a conditional model (labels i % classes are used)")
    device = ctx.device if ctx.distributed else args.device
    model = model.to(device).eval()
    frames = args.frames or preset.frames
    rows = []
    for i in distributed.shard_indices(args.count, ctx.rank, ctx.world_size):
        y = torch.tensor([i % classes], device=device) if classes else None
        gen = torch.Generator(device=device).manual_seed(args.seed + i)
        with torch.no_grad():
            clip = sample_video(variant, model, (1, model.cfg.in_channels, frames, preset.height, preset.width),
                                generator=gen, schedule=schedule, y=y, guidance=(args.guidance, args.guidance),
                                device=device)  # (1, C, T, H, W)
        if not torch.isfinite(clip).all():
            raise ValueError(f"clip {i} has NaN/Inf: the checkpoint may be diverged")
        name = f"sample-{i:05d}.{args.format}"
        write_video(Path(args.out) / name, to_uint8_frames(clip[0].cpu()).numpy(), fps=args.fps)
        rows.append({"index": i, "file": name, "label": "" if y is None else int(y), "seed": args.seed + i,
                     "variant": variant, "rank": ctx.rank})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        if args.count < 1:
            raise ValueError(f"--count must be >= 1, got {args.count}")
        out = Path(args.out)
        with distributed.session(args.device) as ctx:
            if ctx.is_main and out.exists() and any(out.iterdir()):
                raise ValueError(f"--out {out} is not empty: choose a new folder (samples are never overwritten)")
            distributed.barrier(ctx)
            out.mkdir(parents=True, exist_ok=True)
            rows = distributed.gather_list(generate(args, ctx), ctx)
            if ctx.is_main:
                with open(out / "samples.csv", "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
                print(f"wrote {len(rows)} clips to {out} on {ctx.world_size} process(es)")
        return 0
    except (ValueError, FileNotFoundError) as err:
        print(f"pfbench.experiments.sample_set: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
