"""`pfbench train`: train a variant into a run folder (checkpoints, step log, exact resume); --nproc N runs it
under torchrun (DDP over N local processes). ``torchrun -m pfbench.train`` enters through :func:`main`."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from pfbench.cli.args import device, float_range, int_range, positive_float, positive_int, probability, seed
from pfbench.core.errors import EXIT_USAGE
from reference_model.variants import VARIANTS

# (flag, attribute) pairs forwarded verbatim when `pfbench train --nproc N` re-launches itself under torchrun
_FORWARD = ("variant", "preset", "config", "steps", "batch_size", "lr", "seed", "device", "out", "checkpoint_every",
            "checkpoint_seconds", "keep", "label_dropout", "ema_decay", "stream_chunk", "threads", "parallel")
_FLAGS = ("deterministic", "resume")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", default="pyramid_ar", help=f"one of {', '.join(VARIANTS)}")
    p.add_argument("--preset", default=None, help="a built-in config (default: smoke)")
    p.add_argument("--config", default=None, metavar="FILE", help="a TOML config (`pfbench config show smoke`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set data.latents=DIR (trains on precomputed latents)")
    p.add_argument("--steps", type=positive_int, default=None, help="total steps (default: the preset's train_steps)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="global batch, all processes together")
    p.add_argument("--lr", type=float_range(0.0, 10.0, lo_open=True, what="a learning rate"), default=1e-3,
                   help="AdamW learning rate (default 1e-3)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the initial weights and the data order (default 0)")
    p.add_argument("--device", default="cpu", type=device, help="cpu | cuda (under torchrun each rank takes cuda:LOCAL_RANK)")
    p.add_argument("--out", required=True, help="run folder: config.json, log.csv, last.pt, ckpt-<step>.pt; an "
                                                "existing folder is resumed from its last.pt")
    p.add_argument("--resume", action="store_true", help="require --out to hold a run (the default resumes "
                                                         "one anyway)")
    p.add_argument("--checkpoint-every", type=positive_int, default=50, help="checkpoint every N steps (and at the end)")
    p.add_argument("--checkpoint-seconds", type=positive_float, default=600.0, help="... and at least every M seconds")
    p.add_argument("--keep", type=int_range(0, 10 ** 6, "a count"), default=3, help="ckpt-<step>.pt files kept besides last.pt")
    p.add_argument("--label-dropout", type=probability, default=0.1,
                   help="probability that a label is replaced by the null label (trains classifier-free guidance)")
    p.add_argument("--ema-decay", type=probability, default=0.999,
                   help="decay of the EMA weights kept beside the trained ones (default 0.999)")
    p.add_argument("--stream-chunk", type=positive_int, default=1,
                   help="samples per random stream; processes split whole chunks (1: any process count)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels and fixed threads: a killed and resumed run is bit-identical")
    p.add_argument("--threads", type=int_range(0, 4096, "a thread count"), default=0, help="intra-op threads (default: torch's; "
                                                          "--deterministic fixes them to 1 unless given)")
    p.add_argument("--parallel", default="ddp", choices=("ddp", "fsdp2"),
                   help="under torchrun: DistributedDataParallel or FSDP2 fully_shard (per block)")


def torchrun_command(args, nproc: int) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node N -m pfbench.train ARGS` for ``args``."""
    argv = []
    for name in _FORWARD:
        value = getattr(args, name, None)
        if value is not None:
            argv += ["--" + name.replace("_", "-"), str(value)]
    argv += ["--" + f for f in _FLAGS if getattr(args, f, False)]
    for text in getattr(args, "set", None) or []:
        argv += ["--set", text]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "pfbench.train", *argv]


def launch(args, nproc: int) -> int:
    """Run this training under torchrun with ``nproc`` local processes; returns torchrun's exit status."""
    return subprocess.call(torchrun_command(args, nproc))


def _read_config(path: Path) -> dict:
    """A folder's config.json ({} when absent or not a JSON object)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_training(args) -> int:
    """Build the configs from ``args``, join torchrun's group if launched by it, train; rank 0 prints."""
    from pfbench.core import distributed
    from pfbench.core.config import resolve_run_config
    from pfbench.train.loop import RunConfig, TrainConfig, train

    config = Path(args.config) if args.config else None
    if config is not None and not config.is_file():
        raise ValueError(f"--config {config}: no such file (`pfbench config show smoke > {config}` writes one)")
    preset = resolve_run_config(None if config else (args.preset or "smoke"), config, tuple(args.set)).preset
    if not preset.trainable:
        raise ValueError(f"preset {preset.name} is shape-only (paper sizes); train with smoke, cpu or gpu")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; a training run is a folder: pass a folder (e.g. runs/{out.stem})")
    is_run = out.is_dir() and (any((out / n).exists() for n in ("log.csv", "last.pt")) or
                               "variant" in _read_config(out / "config.json"))  # not a `pfbench run` folder
    if out.is_dir() and any(out.iterdir()) and not is_run:
        raise ValueError(f"--out {out} is a non-empty folder that is not a training run: choose another --out "
                         "(pfbench never writes into other files)")
    if args.resume and not (out / "last.pt").exists():
        raise ValueError(f"--resume: {out / 'last.pt'} does not exist; drop --resume to start a new run there")
    threads = args.threads or (1 if args.deterministic else 0)
    cfg = TrainConfig(variant=args.variant, steps=args.steps or preset.train_steps,
                      batch_size=args.batch_size or preset.batch_size, lr=args.lr, seed=args.seed,
                      num_stages=preset.stages, stage_mix=":".join(f"{w:g}" for w in preset.stage_mix),
                      label_dropout=args.label_dropout, ema_decay=args.ema_decay, stream_chunk=args.stream_chunk,
                      deterministic=args.deterministic, threads=threads, gamma=preset.gamma,
                      time_conditioning=preset.time_conditioning)
    run = RunConfig(out=out, checkpoint_every=args.checkpoint_every, checkpoint_seconds=args.checkpoint_seconds,
                    keep=args.keep, parallel=args.parallel)
    data = None
    if preset.data_latents:
        from pfbench.data.latents import LatentClips

        clips = LatentClips(preset.data_latents, preset.frames, preset.height, preset.width, split="train",
                            num_clips=cfg.dataset_size, heldout_fraction=preset.data_heldout_fraction, seed=cfg.seed)
        if clips.manifest.channels != preset.channels:
            raise ValueError(f"data.latents {preset.data_latents}: channels = {clips.manifest.channels} in its "
                             f"manifest but data.channels = {preset.channels}: --set data.channels="
                             f"{clips.manifest.channels}")
        data = clips.tensors()
        print(f"training on {len(clips.paths)} latent clip(s) of {preset.data_latents} "
              f"({len(data[0])} crops {tuple(data[0].shape[1:])})")
    ctx = distributed.init(args.device)
    try:
        bars = []

        def progress(step, loss, model):
            if not ctx.is_main:
                return
            if not bars:  # opened at the first step, so that a refused resume prints one line only
                from tqdm import tqdm
                bars.append(tqdm(total=cfg.steps, initial=step, desc=f"train {cfg.variant}", unit="step",
                                 file=sys.stderr))
            bars[0].n = step + 1
            bars[0].set_postfix(loss=f"{loss:.4f}")
        result = train(cfg, preset, device=args.device, run=run, ctx=ctx, callback=progress, data=data)
        for bar in bars:
            bar.close()
        if ctx.is_main:
            if result.resumed_from:
                print(f"resumed {out} from step {result.resumed_from}")
            if result.losses:
                print(f"trained {cfg.variant} to step {result.step} on {ctx.world_size} process(es): "
                      f"loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}")
            else:
                print(f"{out} is already at step {result.step} of {cfg.steps}: nothing to do")
            if result.interrupted:
                print(f"interrupted: {out / 'last.pt'} holds step {result.step}; the same command resumes")
            print(f"wrote {out / 'last.pt'}")
        return 130 if result.interrupted else 0
    finally:
        distributed.shutdown()


def main(argv: list[str] | None = None) -> int:
    """The torchrun entry: `torchrun --nproc_per_node=N -m pfbench.train --out DIR ...`."""
    p = argparse.ArgumentParser(prog="pfbench.train", description=__doc__)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_training(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"pfbench train: error: {err}", file=sys.stderr)
        return EXIT_USAGE



def register(sub) -> None:
    p = sub.add_parser("train", help="train a variant into a run folder (resumable; --nproc N for torchrun)")
    add_arguments(p)
    p.add_argument("--nproc", type=int_range(1, 1024, "a process count"), default=1,
                   help="processes on this machine: > 1 launches `torchrun --standalone --nproc_per_node N -m "
                        "pfbench.train` with the same arguments (gloo on CPU, NCCL on GPUs)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1:
        return launch(args, args.nproc)
    return run_training(args)
