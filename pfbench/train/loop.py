"""A small, real training loop: AdamW (the paper's eps, weight decay, clipping, warm-up), checkpoints, resume.

Used by `pfbench train`, by the FID-convergence suite and by tests. Checkpoints carry the model config,
the variant and the preset, so `pfbench sample --checkpoint` rebuilds exactly the trained model.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from pfbench.config import Preset
from pfbench.data import ProceduralVideoConfig, ProceduralVideos
from reference_model.dit import DiT, DiTConfig, dit_config
from reference_model.variants import get_variant, training_loss

CHECKPOINT_FORMAT = "pfbench-checkpoint-v1"


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "pyramid_ar"
    steps: int = 100
    batch_size: int = 4
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


@dataclass
class TrainResult:
    model: DiT
    losses: list[float] = field(default_factory=list)
    step: int = 0
    checkpoint: Path | None = None


def model_for_preset(preset: Preset, num_classes: int = 0, **overrides) -> DiT:
    """The preset's backbone with the preset's latent channels and patch size."""
    cfg = dit_config(preset.model, in_channels=preset.channels, patch_size=preset.patch_size,
                     num_classes=num_classes, **overrides)
    return DiT(cfg)


def dataset_for_preset(preset: Preset, size: int, seed: int = 0) -> ProceduralVideos:
    return ProceduralVideos(ProceduralVideoConfig(num_clips=size, channels=preset.channels, frames=preset.frames,
                                                  height=preset.height, width=preset.width, seed=seed))


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------
def save_checkpoint(path: str | os.PathLike, model: DiT, meta: dict, optimizer=None, step: int = 0) -> Path:
    """Write atomically (temporary file, then rename) so a killed run never leaves a half checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "model_config": dataclasses.asdict(model.cfg),
               "state_dict": model.state_dict(), "meta": meta, "step": step,
               "optimizer": optimizer.state_dict() if optimizer is not None else None}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> tuple[DiT, dict]:
    """Rebuild the model from a checkpoint; the error names the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist: pass a file written by `pfbench train --out`")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        raise ValueError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); it is corrupt or not "
                         "a PyTorch file: re-run `pfbench train` to write a new one") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} is not a pfbench checkpoint (expected format {CHECKPOINT_FORMAT}); "
                         "write one with `pfbench train`")
    model = DiT(DiTConfig(**payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model, {**payload["meta"], "step": payload["step"], "optimizer": payload["optimizer"]}


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------
def _lr_at(step: int, cfg: TrainConfig) -> float:
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))


def train(cfg: TrainConfig, preset: Preset, *, device: str = "cpu", model: DiT | None = None,
          data: tuple[torch.Tensor, torch.Tensor] | None = None, checkpoint: str | os.PathLike | None = None,
          resume: bool = False, callback: Callable[[int, float, DiT], None] | None = None) -> TrainResult:
    """Train ``cfg.variant`` on the preset's procedural clips (or ``data``) for ``cfg.steps`` steps.

    callback(step, loss, model) runs after every step (evaluation hooks, progress). With ``checkpoint`` the
    model is saved at the end; with ``resume`` and an existing checkpoint, training continues from it.
    """
    get_variant(cfg.variant)
    torch.manual_seed(cfg.seed)
    num_classes = 4 if cfg.conditional else 0
    start_step, opt_state = 0, None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        model, meta = load_checkpoint(checkpoint)
        start_step, opt_state = meta["step"], meta["optimizer"]
    model = (model or model_for_preset(preset, num_classes=num_classes)).to(device)
    if data is None:
        data = dataset_for_preset(preset, cfg.dataset_size, seed=cfg.seed).tensors()
    clips, labels = data[0].to(device), data[1].to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, eps=cfg.adam_eps, weight_decay=cfg.weight_decay)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    result = TrainResult(model=model, step=start_step)
    model.train()
    for step in range(start_step, cfg.steps):
        idx = torch.randint(0, clips.shape[0], (cfg.batch_size,), generator=gen, device=device)
        y = labels[idx] if model.cfg.num_classes else None
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        loss = training_loss(cfg.variant, model, clips[idx], y, generator=gen, num_stages=cfg.num_stages,
                             stage_mix=cfg.stage_mix)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step} of {cfg.variant}: lower --lr "
                                     f"(now {cfg.lr}) or check the data for NaNs")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        result.losses.append(loss.item())
        result.step = step + 1
        if callback is not None:
            callback(step, result.losses[-1], model)
    model.eval()
    if checkpoint is not None:
        meta = {"variant": cfg.variant, "preset": preset.name, "train_config": dataclasses.asdict(cfg)}
        result.checkpoint = save_checkpoint(checkpoint, model, meta, opt, result.step)
    return result
