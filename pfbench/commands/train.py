"""`pfbench train`: train a variant into a run folder (checkpoints, step log, exact resume); --nproc N runs it
under torchrun (DDP over N local processes)."""
from __future__ import annotations

from pfbench.cli_args import int_range
from pfbench.train.cli import add_arguments, launch, run_training


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
