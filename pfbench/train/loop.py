"""The training loop: AdamW (the paper's eps, weight decay, clipping, warm-up), EMA, label dropout, run folders,
exact resume, DDP/FSDP2 under torchrun.

One seeded sample stream. The global batch of step s holds the samples s*B .. s*B + B - 1; they are cut into
chunks of ``stream_chunk`` consecutive samples, and chunk j draws its clip indices, label dropout, noise,
times, stages and frames from its own generator seeded by (seed, j). A rank takes a contiguous slice of the
chunks, so the math of a step does not depend on how many processes share it (up to float summation order),
and the stream's position is the number of samples seen: resuming with another process count keeps it.
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from pfbench.core.config import Preset
from pfbench.core.distributed import DistContext, all_reduce_sum, any_rank
from pfbench.data.procedural import ProceduralVideoConfig, ProceduralVideos
from pfbench.train import state as st
from pfbench.train.checkpoint import KILL_ENV, LAST, _kill_hook, save_run_checkpoint
from pfbench.train.rundir import StepLog, check_same_run, write_config
from reference_model.dit import DiT, dit_config
from reference_model.variants import get_variant, training_loss

DEFAULT_GAMMA = -1.0 / 3.0


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "pyramid_ar"
    steps: int = 100
    batch_size: int = 4             # global batch (all ranks together)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    adam_eps: float = 1e-6
    grad_clip: float = 1.0
    warmup_steps: int = 10
    seed: int = 0
    num_stages: int = 3
    stage_mix: str = "1:2:1"
    dataset_size: int = 64
    conditional: bool = True
    label_dropout: float = 0.1      # P(label -> null label) per sample, trains the CFG null row (DiT: 0.1)
    gamma: float = DEFAULT_GAMMA    # stage-window parameter, the same value the sampler uses
    time_conditioning: str = "stage"  # pyramid stages' model time: 'stage' remap or 'global' (the sampler's value)
    ema_decay: float = 0.999
    stream_chunk: int = 1           # samples per random stream; ranks split whole chunks
    deterministic: bool = False     # torch.use_deterministic_algorithms + fixed threads
    threads: int = 0                # intra-op threads (0: leave torch's choice; --deterministic fixes it)


@dataclass(frozen=True)
class RunConfig:
    """Where and how often a run folder is written."""

    out: Path | None = None
    checkpoint_every: int = 50      # steps
    checkpoint_seconds: float = 600.0
    keep: int = 3                   # ckpt-<step>.pt files kept besides last.pt
    parallel: str = "ddp"           # ddp | fsdp2 (under torchrun)


@dataclass
class TrainResult:
    model: DiT
    losses: list[float] = field(default_factory=list)
    step: int = 0
    checkpoint: Path | None = None
    resumed_from: int = 0
    interrupted: bool = False
    ema: dict | None = None


def model_for_preset(preset: Preset, num_classes: int = 0, **overrides) -> DiT:
    """The model under test: the user's ``model.factory`` when the preset names one (any nn.Module that implements
    reference_model/protocol.py), else the preset's reference backbone with the preset's latent channels and patch
    size. ``overrides`` are DiT options (a factory gets those its signature accepts)."""
    if preset.model_factory:
        from pfbench.core.model_factory import build_factory_model

        return build_factory_model(preset.model_factory, preset, num_classes=num_classes, **overrides)
    cfg = dit_config(preset.model, in_channels=preset.channels, patch_size=preset.patch_size,
                     num_classes=num_classes, **overrides)
    return DiT(cfg)


def dataset_for_preset(preset: Preset, size: int, seed: int = 0) -> ProceduralVideos:
    return ProceduralVideos(ProceduralVideoConfig(num_clips=size, channels=preset.channels, frames=preset.frames,
                                                  height=preset.height, width=preset.width, seed=seed))


def chunk_generator(seed: int, chunk_index: int, device) -> torch.Generator:
    """The generator of one chunk of the sample stream (same (seed, index), same draws, on any rank)."""
    return torch.Generator(device=device).manual_seed((seed + 1) * 1_000_000_007 + chunk_index)


def set_determinism(cfg: TrainConfig) -> None:
    """--deterministic: deterministic kernels, fixed intra-op threads, cuBLAS workspace, no cuDNN autotune."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not cfg.deterministic:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop finishes the step, writes a checkpoint and returns."""

    def __init__(self):
        self.signal: int | None = None
        self._old: dict = {}

    def __enter__(self):
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no handlers, Ctrl-C behaves as before
            self._old = {}
        return self

    def _handle(self, signum, frame):
        if self.signal is not None:  # second Ctrl-C: stop now (last.pt is still the last complete one)
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        return False


def _identity(cfg: TrainConfig, preset: Preset, model: DiT) -> dict:
    return {**dataclasses.asdict(cfg), "preset": preset.name, "model_config": dataclasses.asdict(model.cfg)}


def train(cfg: TrainConfig, preset: Preset, *, device: str = "cpu", model: DiT | None = None,
          data: tuple[torch.Tensor, torch.Tensor] | None = None, run: RunConfig | None = None,
          ctx: DistContext | None = None,
          callback: Callable[[int, float, DiT], None] | None = None,
          on_wrap: Callable[[torch.nn.Module], None] | None = None) -> TrainResult:
    """Train ``cfg.variant`` on the preset's procedural clips (or ``data``) up to ``cfg.steps`` steps.

    With ``run.out`` the folder gets config.json, log.csv and periodic atomic checkpoints, and an existing
    ``out/last.pt`` is resumed (refused when it holds another variant, preset, model shape or data stream).
    ``callback(step, loss, model)`` runs after every step on every rank (evaluation hooks, progress); a
    callback may return a dict of {metric: value} to log as eval rows. Under torchrun pass ``ctx`` (see
    pfbench.core.distributed.init): the model is wrapped in DDP (or FSDP2) and rank 0 alone writes; ``on_wrap``
    receives the wrapped model (e.g. to register a DDP communication hook).
    """
    from pfbench.train import parallel

    get_variant(cfg.variant)
    ctx = ctx or DistContext(device=device)
    device = ctx.device if ctx.distributed else device
    run = run or RunConfig()
    set_determinism(cfg)
    if cfg.batch_size % (cfg.stream_chunk * ctx.world_size):
        raise ValueError(f"global batch {cfg.batch_size} must be a multiple of stream_chunk ({cfg.stream_chunk}) x "
                         f"processes ({ctx.world_size}): change --batch-size or --nproc")
    if not 0.0 <= cfg.label_dropout < 1.0:
        raise ValueError(f"label dropout {cfg.label_dropout} must be in [0, 1)")
    torch.manual_seed(cfg.seed)
    model = model or model_for_preset(preset, num_classes=4 if cfg.conditional else 0)
    identity = _identity(cfg, preset, model)
    out = Path(run.out) if run.out is not None else None
    payload = None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; a training run is a folder: pass a new or existing folder")
        if (out / LAST).exists():
            payload = st.load_run_payload(out / LAST)
            check_same_run(payload["identity"], identity, f"{out / LAST}")
        elif (out / "config.json").exists():  # killed before its first checkpoint: still the same run only
            import json
            stored = json.loads((out / "config.json").read_text(encoding="utf-8")).get("identity", {})
            check_same_run(stored, identity, f"{out / 'config.json'}")
    model = model.to(device)
    if data is None:
        data = dataset_for_preset(preset, cfg.dataset_size, seed=cfg.seed).tensors()
    clips, labels = data[0].to(device), data[1].to(device)
    wrapped, core = parallel.wrap(model, ctx, run.parallel, device)
    if on_wrap is not None:
        on_wrap(wrapped)
    opt = torch.optim.AdamW(core.parameters(), lr=cfg.lr, eps=cfg.adam_eps, weight_decay=cfg.weight_decay,
                            fused=True if device.startswith("cuda") and not ctx.distributed else None)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    ema = st.EmaWeights(core, cfg.ema_decay)
    progress = st.Progress()
    if payload is not None:
        st.restore(payload, core, opt, sched, ema, progress, ctx)
    result = TrainResult(model=model, step=progress.step, resumed_from=progress.step)
    log = None
    if out is not None and ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_config(out, {"identity": identity, "preset_config": preset.to_dict(), "run": dataclasses.asdict(run),
                           "world_size": ctx.world_size})
        log = StepLog(out / "log.csv", progress.step)
    counts = st.sample_counts(cfg, preset, model, clips.shape)
    chunks_per_step = cfg.batch_size // cfg.stream_chunk
    mine = range(ctx.rank * chunks_per_step // ctx.world_size, (ctx.rank + 1) * chunks_per_step // ctx.world_size)
    local_samples = len(mine) * cfg.stream_chunk
    writes, last_save_t = 0, time.monotonic()
    wrapped.train()
    try:
        with _StopFlag() as stop:
            while progress.step < cfg.steps:
                t0 = time.perf_counter()
                step = progress.step
                opt.zero_grad(set_to_none=True)
                loss_sum = torch.zeros((), device=device, dtype=torch.float64)
                for n, j in enumerate(mine):
                    last = n == len(mine) - 1
                    gen = chunk_generator(cfg.seed, step * chunks_per_step + j, device)
                    idx = torch.randint(0, clips.shape[0], (cfg.stream_chunk,), generator=gen, device=device)
                    y = labels[idx] if model.cfg.num_classes else None
                    if y is not None and cfg.label_dropout > 0:
                        drop = torch.rand(cfg.stream_chunk, generator=gen, device=device) < cfg.label_dropout
                        y = torch.where(drop, torch.full_like(y, model.null_label), y)
                    with parallel.no_sync(wrapped, run.parallel, enabled=not last):
                        loss = training_loss(cfg.variant, wrapped, clips[idx], y, generator=gen,
                                             num_stages=cfg.num_stages, stage_mix=cfg.stage_mix, gamma=cfg.gamma,
                                             time_conditioning=cfg.time_conditioning)
                        (loss * (cfg.stream_chunk / local_samples)).backward()
                    loss_sum += loss.detach().double() * cfg.stream_chunk
                grad_norm = parallel.clip_grad_norm(core, cfg.grad_clip)
                lr = opt.param_groups[0]["lr"]
                opt.step()
                sched.step()
                ema.update(core)
                mean_loss = (all_reduce_sum(loss_sum, ctx) / cfg.batch_size).item()
                if not math.isfinite(mean_loss):
                    raise FloatingPointError(f"loss became {mean_loss} at step {step} of {cfg.variant}: lower --lr "
                                             f"(now {cfg.lr}) or check the data for NaNs")
                progress.advance(cfg.batch_size, counts, time.perf_counter() - t0)
                result.losses.append(mean_loss)
                result.step = progress.step
                if log is not None:
                    log.train_row(step=progress.step, samples=progress.samples, tokens=progress.tokens,
                                  train_flops=progress.train_flops, wall_s=round(progress.wall_s, 6), loss=mean_loss,
                                  lr=lr, grad_norm=grad_norm)
                _kill_hook("step", progress.step)
                _kill_hook(f"rank{ctx.rank}-step", progress.step)
                extra = callback(step, mean_loss, core) if callback is not None else None
                if log is not None and isinstance(extra, dict):
                    for metric, value in extra.items():
                        log.eval_row(progress.step, metric, float(value))
                stopping, timer_due = any_rank([stop.signal is not None,
                                                 time.monotonic() - last_save_t >= run.checkpoint_seconds],
                                                ctx, device if ctx.backend == "nccl" else "cpu")
                due = (progress.step % max(1, run.checkpoint_every) == 0 or progress.step == cfg.steps or stopping
                       or timer_due)
                if out is not None and due:
                    writes += 1
                    payload = st.build_payload(identity, preset, core, opt, sched, ema, progress, ctx)
                    if ctx.is_main:
                        result.checkpoint = save_run_checkpoint(out, payload, progress.step, run.keep,
                                                                writes if KILL_ENV in os.environ else 0)
                    last_save_t = time.monotonic()
                    _kill_hook("saved", progress.step)
                if stopping:
                    result.interrupted = True
                    break
    finally:
        if log is not None:
            log.close()
    wrapped.eval()
    result.ema = ema.state_dict()
    return result
