"""What a checkpoint holds and how it comes back: weights, optimizer, EMA, LR schedule, progress, RNG states.

Everything is stored as tensors or plain Python values (no classes), so ``torch.load(weights_only=True)``
reads it back. Model and optimizer states go through ``torch.distributed.checkpoint.state_dict`` with full
(unsharded, CPU) state dicts keyed by parameter name: the same file resumes a plain, a DDP or an FSDP2 run
with any number of processes.
"""
from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

import numpy as np
import torch

from pfbench.core.distributed import DistContext, gather_list
from pfbench.train.checkpoint import CHECKPOINT_FORMAT, load_payload, trained_time_conditioning


def _dcp():
    """torch.distributed.checkpoint.state_dict, imported when a checkpoint is written or read: importing it costs
    ~1.3 s, which every process that only trains or measures (each suite, each memory child) would pay."""
    from torch.distributed.checkpoint import state_dict

    return state_dict


@dataclass
class Progress:
    """Counters of a run; ``samples`` is also the data stream's position."""

    step: int = 0
    samples: int = 0
    tokens: float = 0.0
    train_flops: float = 0.0
    wall_s: float = 0.0

    def advance(self, batch: int, counts: tuple[float, float], seconds: float) -> None:
        self.step += 1
        self.samples += batch
        self.tokens += batch * counts[0]
        self.train_flops += batch * counts[1]
        self.wall_s += seconds


def sample_counts(cfg, preset, model, clip_shape) -> tuple[float, float]:
    """(expected tokens, expected training FLOPs) of one sample, from pfbench.accounting (mean over draws)."""
    from pfbench.accounting.flops import variant_counts
    from pfbench.accounting.shapes import ModelShape, VideoShape

    _, _, T, H, W = clip_shape
    shape = VideoShape(T, H, W, model.cfg.patch_size, cfg.num_stages, cfg.stage_mix)
    try:
        model_shape = ModelShape.from_config(model.cfg)
    except AttributeError:  # a model.factory model: the reference backbone's count (model.backbone), as elsewhere
        model_shape = ModelShape.from_preset(preset)
    c = variant_counts(cfg.variant, shape, model_shape)
    return float(c.mean_tokens), float(c.train_flops_per_sample)


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


class EmaWeights:
    """Exponential moving average of the parameters (by name), updated after every optimizer step."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        names = list(self.shadow)
        params = dict(model.named_parameters())
        torch._foreach_lerp_([self.shadow[n] for n in names], [params[n].detach() for n in names], 1.0 - self.decay)

    def state_dict(self) -> dict:
        """Full tensors on the CPU (FSDP2 shards are gathered)."""
        return {n: _local(t).detach().cpu().clone() for n, t in self.shadow.items()}

    def load_state_dict(self, state: dict) -> None:
        for n, t in self.shadow.items():
            full = state[n].to(t.device if not hasattr(t, "device_mesh") else _local(t).device)
            if hasattr(t, "device_mesh"):
                from torch.distributed.tensor import distribute_tensor
                t.copy_(distribute_tensor(full, t.device_mesh, t.placements))
            else:
                t.copy_(full)


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(s: dict) -> None:
    np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["gauss"]))


def _to_lists(obj):
    return [_to_lists(x) for x in obj] if isinstance(obj, (tuple, list)) else obj


def _to_tuples(obj):
    return tuple(_to_tuples(x) for x in obj) if isinstance(obj, list) else obj


def rng_state() -> dict:
    """This process's RNG states: torch CPU, every CUDA device, numpy, python."""
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": _numpy_state(), "python": _to_lists(random.getstate())}


def set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s["cuda"] and torch.cuda.is_available() and len(s["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(s["cuda"])
    _set_numpy_state(s["numpy"])
    random.setstate(_to_tuples(s["python"]))


def build_payload(identity: dict, preset, core, opt, sched, ema: EmaWeights, progress: Progress,
                  ctx: DistContext) -> dict:
    """The checkpoint dict (call on every rank: FSDP2 gathers shards, RNG states are gathered per rank)."""
    dcp = _dcp()
    full = dcp.StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_sd = dcp.get_model_state_dict(core, options=full)
    opt_sd = dcp.get_optimizer_state_dict(core, opt, options=full)
    rngs = gather_list([rng_state()], ctx)
    return {
        "format": CHECKPOINT_FORMAT, "identity": identity, "model_config": identity["model_config"],
        "state_dict": model_sd, "ema": ema.state_dict(), "optimizer": opt_sd, "scheduler": sched.state_dict(),
        "progress": dataclasses.asdict(progress), "rng": rngs, "world_size": ctx.world_size,
        "data": {"samples": progress.samples, "seed": identity["seed"], "stream_chunk": identity["stream_chunk"],
                 "dataset_size": identity["dataset_size"]},
        "meta": {"variant": identity["variant"], "preset": identity["preset"], "preset_config": preset.to_dict(),
                 "train_config": {k: v for k, v in identity.items() if k not in ("model_config",)},
                 "gamma": identity["gamma"],
                 "time_conditioning": trained_time_conditioning(identity)},
        "step": progress.step,
    }


def load_run_payload(path) -> dict:
    payload = load_payload(path)
    if "identity" not in payload:
        raise ValueError(f"{path} is an old single-file checkpoint (format v1) without optimizer/RNG/progress "
                         "state: it can be sampled but not resumed; start a new --out folder")
    return payload


def restore(payload: dict, core, opt, sched, ema: EmaWeights, progress: Progress, ctx: DistContext) -> None:
    """Put a checkpoint back into a freshly built model/optimizer/schedule (any world size)."""
    dcp = _dcp()
    load = dcp.StateDictOptions(full_state_dict=True)
    dcp.set_model_state_dict(core, payload["state_dict"], options=load)
    dcp.set_optimizer_state_dict(core, opt, payload["optimizer"], options=load)
    sched.load_state_dict(payload["scheduler"])
    ema.load_state_dict(payload["ema"])
    for k, v in payload["progress"].items():
        setattr(progress, k, v)
    rngs = payload["rng"]
    set_rng_state(rngs[ctx.rank] if len(rngs) == ctx.world_size else rngs[0])
