"""Training throughput of one process count, for the scaling suite: ``torchrun --nproc_per_node N -m
pfbench.benchmarks.scaling.driver --out R.json ...`` (weak scaling: the per-process batch is fixed, the global batch grows).

Each rank runs the real training loop (pfbench.train.loop.train under DDP). Rank 0 times every step after the
warm-up steps (wall clock, after the loss all-reduce, so the step is finished on every rank) and sums, per
step, how long the DDP gradient buckets' all-reduces were in flight (a DDP communication hook wrapping
PyTorch's default ``allreduce_hook``; it overlaps the backward pass, so it is an upper bound on exposed
communication).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from pfbench.core.errors import EXIT_USAGE


class CommTimer:
    """DDP comm hook: PyTorch's allreduce_hook, timed from bucket ready to all-reduce done."""

    def __init__(self):
        self.seconds = 0.0
        self.buckets = 0

    def hook(self, state, bucket):
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        t0 = time.perf_counter()
        fut = default_hooks.allreduce_hook(state, bucket)

        def done(f):
            self.seconds += time.perf_counter() - t0
            self.buckets += 1
            return f.value()

        return fut.then(done)


def measure(preset_name: str, variant: str, per_rank_batch: int, steps: int, warmup: int, device: str,
            seed: int = 0) -> dict:
    """Run ``warmup + steps`` training steps on this torchrun job; rank 0's measurements as a dict."""
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from pfbench.core import distributed
    from pfbench.core.config import get_preset
    from pfbench.train.loop import TrainConfig, train
    from pfbench.train.state import sample_counts

    preset = get_preset(preset_name)
    with distributed.session(device) as ctx:
        cfg = TrainConfig(variant=variant, steps=warmup + steps, batch_size=per_rank_batch * ctx.world_size,
                          seed=seed, num_stages=preset.stages, dataset_size=max(16, per_rank_batch * ctx.world_size),
                          stage_mix=":".join(f"{w:g}" for w in preset.stage_mix), gamma=preset.gamma,
                          time_conditioning=preset.time_conditioning)
        timer, marks, comm = CommTimer(), [], []

        def on_wrap(wrapped):
            if isinstance(wrapped, DistributedDataParallel):
                wrapped.register_comm_hook(None, timer.hook)

        def callback(step, loss, model):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            marks.append(time.perf_counter())
            comm.append(timer.seconds)

        t_start = time.perf_counter()
        result = train(cfg, preset, device=device, ctx=ctx, callback=callback, on_wrap=on_wrap)
        marks, comm = [t_start] + marks, [0.0] + comm  # step i ends at marks[i + 1]
        step_s = [b - a for a, b in zip(marks[warmup:], marks[warmup + 1:])]  # (steps,) after the warm-up
        comm_s = [b - a for a, b in zip(comm[warmup:], comm[warmup + 1:])]
        tokens, flops = sample_counts(cfg, preset, result.model, (1, preset.channels, preset.frames, preset.height,
                                                                  preset.width))
        median = statistics.median(step_s)
        return {"world_size": ctx.world_size, "backend": ctx.backend or "single-process", "device": device,
                "preset": preset.name, "variant": variant, "per_rank_batch": per_rank_batch,
                "global_batch": cfg.batch_size, "steps_timed": len(step_s), "step_s_median": median,
                "step_s": step_s, "samples_per_s": cfg.batch_size / median,
                "tokens_per_s": cfg.batch_size * tokens / median, "train_flops_per_s": cfg.batch_size * flops / median,
                "comm_s_per_step": statistics.median(comm_s) if ctx.distributed else 0.0,
                "comm_buckets": timer.buckets, "rank": ctx.rank}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="pfbench.benchmarks.scaling.driver", description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="smoke")
    p.add_argument("--variant", default="pyramid_ar")
    p.add_argument("--per-rank-batch", type=int, default=2)
    p.add_argument("--steps", type=int, default=4, help="timed steps")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", required=True, help="JSON file rank 0 writes")
    args = p.parse_args(argv)
    if args.steps < 2:
        print("pfbench.benchmarks.scaling.driver: error: --steps must be >= 2 (a median of step times)", file=sys.stderr)
        return EXIT_USAGE
    row = measure(args.preset, args.variant, args.per_rank_batch, args.steps, args.warmup, args.device)
    if row["rank"] == 0:
        Path(args.out).write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
