"""Named variants under test, all on the same DiT backbone, selectable by name everywhere.

| name                      | spatial pyramid | autoregressive | history          | attention          |
|---------------------------|-----------------|----------------|------------------|--------------------|
| full_sequence             | no              | no             | -                | bidirectional      |
| spatial_pyramid           | yes             | no             | -                | bidirectional      |
| pyramid_ar                | yes             | yes            | compressed       | blockwise causal   |
| ar_full_history           | yes             | yes            | full resolution  | blockwise causal   |
| pyramid_ar_bidirectional  | yes             | yes            | compressed       | bidirectional      |

The sliding window (``SamplingSchedule.history_window`` = W) is a sampling setting of the autoregressive
variants, not a trained variant: each frame sees only its last W frames, the remedy a user of an already
trained pyramid_ar model can apply when generation slows down as history grows.

Besides training and sampling, a variant enumerates the layouts it builds (shapes only): every
(layout, probability) a training sample can take, and every (layout, forward count) a generated video
needs. Accounting counts tokens and attention pairs from these, without running the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

from reference_model.layout import SequenceLayout, clip_layout
from reference_model.objectives import (autoregressive_loss, flow_matching_loss, spatial_pyramid_loss,
                                        stage_mix_weights)
from reference_model.pyramid import DEFAULT_TIME_CONDITIONING
from reference_model.samplers import euler_full_sequence, euler_pyramid, sample_autoregressive
from reference_model.temporal import ar_layout


@dataclass(frozen=True)
class Variant:
    name: str
    spatial_pyramid: bool
    autoregressive: bool
    compressed_history: bool
    causal: bool
    description: str


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("full_sequence", False, False, False, False,
            "full-sequence flow matching: all frames at full resolution, one time, bidirectional"),
    Variant("spatial_pyramid", True, False, False, False,
            "spatial pyramid flow matching over whole clips (no temporal pyramid)"),
    Variant("pyramid_ar", True, True, True, True,
            "the paper's method: spatial + temporal pyramid, autoregressive, blockwise causal"),
    Variant("ar_full_history", True, True, False, True,
            "autoregressive spatial pyramid with uncompressed full-resolution history"),
    Variant("pyramid_ar_bidirectional", True, True, True, False,
            "pyramid_ar with bidirectional attention (the paper's attention ablation)"),
]}


def get_variant(name: str) -> Variant:
    """A variant by name; the error lists the valid names."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}: choose one of {', '.join(VARIANTS)}") from None


# --------------------------------------------------------------------------------------------------
# Training and sampling
# --------------------------------------------------------------------------------------------------
def training_loss(name: str, model, x1: torch.Tensor, y: torch.Tensor | None = None, *, generator=None,
                  num_stages: int = 3, stage_mix="1:2:1", stages: torch.Tensor | None = None,
                  frames: torch.Tensor | None = None, time_sampling: str = "uniform",
                  gamma: float = -1.0 / 3.0, time_conditioning: str = DEFAULT_TIME_CONDITIONING) -> torch.Tensor:
    """The variant's training loss on clean latents x1 (B, C, T, H, W); ``gamma`` sets the stage windows and
    ``time_conditioning`` the time the model is fed ('stage' remap or 'global'; pyramid variants only): the
    sampler's values, so training and sampling agree."""
    v = get_variant(name)
    if not v.spatial_pyramid:
        return flow_matching_loss(model, x1, y, generator=generator, time_sampling=time_sampling)
    if not v.autoregressive:
        return spatial_pyramid_loss(model, x1, y, generator=generator, num_stages=num_stages,
                                    stage_mix=stage_mix, stages=stages, gamma=gamma,
                                    time_conditioning=time_conditioning)
    return autoregressive_loss(model, x1, y, generator=generator, num_stages=num_stages, stage_mix=stage_mix,
                               full_history=not v.compressed_history, causal=v.causal, stages=stages,
                               frames=frames, gamma=gamma, time_conditioning=time_conditioning)


@dataclass(frozen=True)
class SamplingSchedule:
    """Steps for each sampler: Euler steps for full-sequence, per-stage steps (coarsest first) otherwise."""

    full_sequence_steps: int = 30
    steps_first_frame: tuple[int, ...] = (20, 20, 20)
    steps_later_frames: tuple[int, ...] = (10, 10, 10)
    gamma: float = -1.0 / 3.0
    renoise: bool = True                # the jumps' corrective noise (False: the ablation, pyramid.renoise)
    history_window: int | None = None   # autoregressive variants: condition on the last W frames (None: all)
    time_conditioning: str = DEFAULT_TIME_CONDITIONING  # pyramid variants: 'stage' remap or 'global' (as trained)
    renoise_keep_variance: bool = True  # renoise=False: right noise variance, block-correlated (False: rescale only)


def sample_video(name: str, model, shape: Sequence[int], *, generator: torch.Generator | None = None,
                 schedule: SamplingSchedule = SamplingSchedule(), y: torch.Tensor | None = None,
                 guidance: tuple[float, float] = (1.0, 1.0), callback=None, device=None,
                 dtype=torch.float32) -> torch.Tensor:
    """Generate latents (B, C, T, H, W) with the variant's sampler. Same generator state, same output."""
    v = get_variant(name)
    B, C, T, H, W = shape
    if not v.spatial_pyramid:
        noise = torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
        return euler_full_sequence(model, noise, steps=schedule.full_sequence_steps, y=y, guidance=guidance[0],
                                   callback=callback)
    K = len(schedule.steps_first_frame)
    if not v.autoregressive:
        from reference_model.pyramid import check_pyramid_size
        check_pyramid_size(H, W, K, model.cfg.patch_size)
        noise = torch.randn((B, C, T, H >> (K - 1), W >> (K - 1)), generator=generator, device=device, dtype=dtype)
        return euler_pyramid(model, noise, steps_per_stage=schedule.steps_first_frame, gamma=schedule.gamma,
                             renoise_jumps=schedule.renoise, generator=generator, y=y, guidance=guidance[0],
                             callback=callback, time_conditioning=schedule.time_conditioning,
                             jump_keeps_variance=schedule.renoise_keep_variance)
    return sample_autoregressive(model, shape, generator=generator, steps_first_frame=schedule.steps_first_frame,
                                 steps_later_frames=schedule.steps_later_frames,
                                 full_history=not v.compressed_history, causal=v.causal, gamma=schedule.gamma,
                                 renoise_jumps=schedule.renoise, y=y, guidance=guidance, callback=callback,
                                 device=device, dtype=dtype, history_window=schedule.history_window,
                                 time_conditioning=schedule.time_conditioning,
                                 jump_keeps_variance=schedule.renoise_keep_variance)


# --------------------------------------------------------------------------------------------------
# Layout enumeration (shapes only) for counting
# --------------------------------------------------------------------------------------------------
def training_layouts(name: str, frames: int, height: int, width: int, patch_size: int = 2, num_stages: int = 3,
                     stage_mix="1:2:1") -> Iterator[tuple[SequenceLayout, float]]:
    """Every layout one training sample can take, with its probability (stage mix x uniform frame)."""
    v = get_variant(name)
    if not v.spatial_pyramid:
        yield clip_layout(frames, height, width, patch_size), 1.0
        return
    probs = stage_mix_weights(stage_mix, num_stages).tolist()
    for k, p_k in enumerate(probs):
        if p_k == 0:
            continue
        if not v.autoregressive:
            yield clip_layout(frames, height >> k, width >> k, patch_size, level=k), p_k
            continue
        for i in range(frames):
            yield (ar_layout(i, k, num_stages, height, width, patch_size, not v.compressed_history, v.causal),
                   p_k / frames)


def sampling_layouts(name: str, frames: int, height: int, width: int, patch_size: int = 2,
                     schedule: SamplingSchedule = SamplingSchedule()) -> Iterator[tuple[SequenceLayout, int]]:
    """Every layout a generated video runs through, with how many model forwards use it (no guidance)."""
    v = get_variant(name)
    if not v.spatial_pyramid:
        yield clip_layout(frames, height, width, patch_size), schedule.full_sequence_steps
        return
    K = len(schedule.steps_first_frame)
    stage_order = range(K - 1, -1, -1)
    if not v.autoregressive:
        for order, k in enumerate(stage_order):
            yield clip_layout(frames, height >> k, width >> k, patch_size, level=k), schedule.steps_first_frame[order]
        return
    for i in range(frames):
        steps = schedule.steps_first_frame if i == 0 else schedule.steps_later_frames
        for order, k in enumerate(stage_order):
            yield (ar_layout(i, k, K, height, width, patch_size, not v.compressed_history, v.causal,
                             schedule.history_window), steps[order])
