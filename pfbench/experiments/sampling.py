"""What a sampler needs from a trained run, or from a preset's backbone with seeded random weights: the model, the
resolved preset and variant, and the schedule the model was trained for. Shared by `pfbench sample` and the
sharded sample sets, so both refuse the same conflicts with the same messages."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pfbench.core.config import Preset, get_preset, preset_from_dict
from pfbench.train.checkpoint import load_checkpoint, trained_time_conditioning
from pfbench.train.loop import model_for_preset
from reference_model.variants import SamplingSchedule, get_variant

DEFAULT_PRESET = "smoke"
DEFAULT_VARIANT = "pyramid_ar"


@dataclass
class PreparedSampler:
    """A model ready to sample from, with everything resolved from its checkpoint (or the preset)."""
    model: torch.nn.Module
    meta: dict              # the checkpoint's meta ({} for random weights)
    preset: Preset
    variant: str
    schedule: SamplingSchedule
    random_weights: bool    # True when no checkpoint was given: the samples show an untrained model


def resolve_preset(checkpoint: str | None, preset: str | None, meta: dict) -> Preset:
    """The checkpoint's resolved preset; ``preset`` may only repeat it (a conflict is an error)."""
    if not checkpoint:
        return get_preset(preset or DEFAULT_PRESET)
    name = meta.get("preset")
    if preset is not None and name is not None and preset != name:
        raise ValueError(f"--preset {preset} conflicts with checkpoint {checkpoint}, trained at preset {name}: "
                         "drop --preset (the checkpoint's resolved config is used)")
    stored = meta.get("preset_config")
    return preset_from_dict(stored) if stored else get_preset(preset or name or DEFAULT_PRESET)


def resolve_variant(checkpoint: str | None, variant: str | None, meta: dict) -> str:
    """The checkpoint's variant; ``variant`` may only repeat it. Unknown names raise naming the choices."""
    trained = meta.get("variant")
    if variant and trained and variant != trained:
        raise ValueError(f"--variant {variant} conflicts with checkpoint {checkpoint}, trained as {trained}: drop "
                         "--variant (the checkpoint's variant is used)")
    name = variant or trained or DEFAULT_VARIANT
    get_variant(name)
    return name


def prepare_sampler(checkpoint: str | None = None, *, ema: bool = False, seed: int = 0, preset: str | None = None,
                    variant: str | None = None) -> PreparedSampler:
    """Load ``checkpoint`` (a run folder or a checkpoint file, weights only; its EMA weights with ``ema``), or build
    the preset's backbone with random weights seeded by ``seed``; resolve preset, variant and schedule."""
    if checkpoint:
        model, meta = load_checkpoint(checkpoint, weights="ema" if ema else "model")
    elif ema:
        raise ValueError("--ema needs --checkpoint (random weights have no moving average)")
    else:
        torch.manual_seed(seed)
        model, meta = model_for_preset(get_preset(preset or DEFAULT_PRESET), zero_init=False), {}
    resolved = resolve_preset(checkpoint, preset, meta)
    name = resolve_variant(checkpoint, variant, meta)
    schedule = resolved.sampling_schedule(
        gamma=float(meta.get("gamma", resolved.gamma)),
        time_conditioning=trained_time_conditioning(meta) if checkpoint else resolved.time_conditioning)
    return PreparedSampler(model, meta, resolved, name, schedule, random_weights=not checkpoint)
