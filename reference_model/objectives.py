"""Training losses as pure functions: model, clean latents, explicit generator in; scalar loss out.

- ``flow_matching_loss``: full-sequence flow matching (every frame at full resolution, one t per clip).
- ``spatial_pyramid_loss``: spatial pyramid flow matching; all frames of a clip share one stage.
- ``autoregressive_loss``: spatial + temporal pyramid; one current latent frame per sample, loss on its
  tokens only, history compressed (or full-resolution) and corrupted.

Per-sample random choices (stage, frame, time) can be passed in to make a step reproducible and its
cost known in advance (the throughput suite does this); otherwise they are drawn from ``generator``.
"""
from __future__ import annotations

import torch

from reference_model.layout import PackedLayout, clip_layout
from reference_model.pyramid import (DEFAULT_TIME_CONDITIONING, check_pyramid_size, check_time_conditioning,
                                     interpolate, model_time, noise_pyramid, stage_endpoints, stage_windows,
                                     time_dtype, velocity_target)
from reference_model.temporal import ar_layout, corrupt_history, history_latents

TIME_SAMPLINGS = ("uniform", "logit_normal")


def _check_clip(x1: torch.Tensor, model, num_stages: int) -> None:
    if x1.ndim != 5:
        raise ValueError(f"expected clean latents of shape (B, C, T, H, W), got shape {tuple(x1.shape)}; "
                         "add a frame axis for images: x.unsqueeze(2)")
    if x1.shape[1] != model.cfg.in_channels:
        raise ValueError(f"latents have {x1.shape[1]} channels, the model expects {model.cfg.in_channels}")
    if x1.device.type != "meta" and not torch.isfinite(x1).all():
        raise ValueError("clean latents contain NaN or Inf: check the data pipeline (normalisation, decoding)")
    check_pyramid_size(x1.shape[-2], x1.shape[-1], num_stages, model.cfg.patch_size)


def _generator_device(generator) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def stage_mix_weights(stage_mix, num_stages: int) -> torch.Tensor:
    """Stage probabilities indexed by k (k = 0 full resolution).

    ``stage_mix`` is 'uniform', a string like '1:2:1', or a sequence of weights, ordered low:...:full
    resolution as the paper's code writes it (so '1:2:1' means low 1, mid 2, full 1).
    """
    if isinstance(stage_mix, str):
        if stage_mix == "uniform":
            weights = [1.0] * num_stages
        else:
            try:
                weights = [float(v) for v in stage_mix.split(":")]
            except ValueError as err:
                raise ValueError(f"stage mix {stage_mix!r} is not 'uniform' or like '1:2:1'") from err
    else:
        weights = [float(v) for v in stage_mix]
    if len(weights) != num_stages or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError(f"stage mix {stage_mix!r} needs {num_stages} non-negative weights (low:...:full) "
                         f"or 'uniform'")
    w = torch.tensor(weights[::-1], dtype=torch.float64)  # reorder to index by k
    return w / w.sum()


def draw_stages(batch: int, stage_mix, num_stages: int, generator=None) -> torch.Tensor:
    """Stage index k per sample, (B,) int64 on the CPU."""
    probs = stage_mix_weights(stage_mix, num_stages).to(_generator_device(generator))
    return torch.multinomial(probs, batch, replacement=True, generator=generator).cpu()


def draw_frames(batch: int, num_frames: int, generator=None) -> torch.Tensor:
    """Current latent frame index per sample, uniform over 0 .. T-1, (B,) int64 on the CPU."""
    return torch.randint(0, num_frames, (batch,), generator=generator, device=_generator_device(generator)).cpu()


def stratified_draws(batch: int, stage_mix, num_stages: int, num_frames: int,
                     generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stages and current frames spread evenly over their distributions (stratified sampling).

    Stage j sits at the (j + 0.5) / B quantile of the stage mix, frame j at the (j + 0.5) / B quantile of the
    uniform frame distribution, and frames are shuffled against stages. A batch drawn this way costs close
    to the expected cost of a training sample, which makes a benchmarked step representative.
    """
    probs = stage_mix_weights(stage_mix, num_stages)
    cdf = torch.cumsum(probs.flip(0), 0)  # coarsest stage first, as the mix is written
    quantiles = (torch.arange(batch, dtype=torch.float64) + 0.5) / batch
    stages = (num_stages - 1) - torch.searchsorted(cdf, quantiles).clamp(max=num_stages - 1)
    frames = (quantiles * num_frames).floor().long()
    perm = torch.randperm(batch, generator=generator, device=_generator_device(generator)).cpu()
    return stages.long(), frames[perm]


def draw_time(batch: int, scheme: str = "uniform", generator=None, device=None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """t in (0, 1) per sample: uniform, or logit-normal (sigmoid of N(0, 1), as in SD3)."""
    if scheme == "uniform":
        return torch.rand(batch, generator=generator, device=device, dtype=dtype)
    if scheme == "logit_normal":
        return torch.sigmoid(torch.randn(batch, generator=generator, device=device, dtype=dtype))
    raise ValueError(f"unknown time sampling {scheme!r}: choose one of {', '.join(TIME_SAMPLINGS)}")


def _mse_per_sample(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)  # (B,)


def flow_matching_loss(model, x1: torch.Tensor, y: torch.Tensor | None = None, *, generator=None,
                       time_sampling: str = "uniform") -> torch.Tensor:
    """Full-sequence flow matching: x_t = t x1 + (1 - t) n, target x1 - n, every token at full resolution."""
    _check_clip(x1, model, 1)
    B, _, T, H, W = x1.shape
    noise = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    t = draw_time(B, time_sampling, generator, x1.device, time_dtype(x1))  # (B,)
    x_t = interpolate(noise, x1, t)
    layout = clip_layout(T, H, W, model.cfg.patch_size)
    v = model([x_t], layout, t, y)[0]  # (B, C, T, H, W)
    return _mse_per_sample(v, x1 - noise).mean()


def spatial_pyramid_loss(model, x1: torch.Tensor, y: torch.Tensor | None = None, *, generator=None,
                         num_stages: int = 3, stage_mix="1:2:1", stages: torch.Tensor | None = None,
                         gamma: float = -1.0 / 3.0,
                         time_conditioning: str = DEFAULT_TIME_CONDITIONING) -> torch.Tensor:
    """Spatial pyramid flow matching on whole clips: per sample a stage k, a local time, coupled endpoints.

    The model is fed ``pyramid.model_time`` of the local time: the stage's own segment of the time scale
    ('stage', the public code's remap) or the true global time ('global')."""
    _check_clip(x1, model, num_stages)
    check_time_conditioning(time_conditioning)
    B, _, T, H, W = x1.shape
    windows = stage_windows(num_stages, gamma)
    noise = torch.randn(x1.shape, generator=generator, device=x1.device, dtype=x1.dtype)
    levels = noise_pyramid(noise, num_stages)
    ks = draw_stages(B, stage_mix, num_stages, generator) if stages is None else stages.cpu()
    t_local = torch.rand(B, generator=generator, device=x1.device, dtype=time_dtype(x1))  # (B,)
    losses = torch.zeros(B, device=x1.device)
    for k in sorted(set(ks.tolist())):
        idx = (ks == k).nonzero().flatten().to(x1.device)
        x_s, x_e = stage_endpoints(x1[idx], levels[k][idx], k, num_stages, windows)  # (b, C, T, H_k, W_k)
        x_t = interpolate(x_s, x_e, t_local[idx])
        layout = clip_layout(T, H >> k, W >> k, model.cfg.patch_size, level=k)
        t_model = model_time(t_local[idx], k, windows, time_conditioning)  # (b,)
        v = model([x_t], layout, t_model, None if y is None else y[idx])[0]
        losses = losses.index_put((idx,), _mse_per_sample(v, velocity_target(x_s, x_e)))
    return losses.mean()


def autoregressive_loss(model, x1: torch.Tensor, y: torch.Tensor | None = None, *, generator=None,
                        num_stages: int = 3, stage_mix="1:2:1", full_history: bool = False, causal: bool = True,
                        corrupt: bool = True, stages: torch.Tensor | None = None,
                        frames: torch.Tensor | None = None, gamma: float = -1.0 / 3.0,
                        time_conditioning: str = DEFAULT_TIME_CONDITIONING) -> torch.Tensor:
    """Spatial + temporal pyramid: predict the velocity of one current frame given its (compressed) history.

    Every sample draws its own (frame, stage), so sequences differ in length; they are packed into one
    sequence (samples never attend to each other) and run in a single forward. Only current-frame tokens
    carry loss. The model's time is ``pyramid.model_time`` (see spatial_pyramid_loss).
    """
    _check_clip(x1, model, num_stages)
    check_time_conditioning(time_conditioning)
    B, C, T, H, W = x1.shape
    windows = stage_windows(num_stages, gamma)
    ks = draw_stages(B, stage_mix, num_stages, generator) if stages is None else stages.cpu()
    fs = draw_frames(B, T, generator) if frames is None else frames.cpu()
    noise = torch.randn((B, C, 1, H, W), generator=generator, device=x1.device, dtype=x1.dtype)
    levels = noise_pyramid(noise, num_stages)
    t_local = torch.rand(B, generator=generator, device=x1.device, dtype=time_dtype(x1))  # (B,)
    layouts, latents, targets, t_global = [], [], [], []
    for b, (i, k) in enumerate(zip(fs.tolist(), ks.tolist())):
        layout = ar_layout(i, k, num_stages, H, W, model.cfg.patch_size, full_history, causal)
        x_s, x_e = stage_endpoints(x1[b:b + 1, :, i:i + 1], levels[k][b:b + 1], k, num_stages, windows)
        history = history_latents(x1[b:b + 1], layout)  # (1, C, T_s, h_s, w_s) per history segment
        if corrupt:
            history = corrupt_history(history, generator)
        layouts.append(layout)
        latents += history + [interpolate(x_s, x_e, t_local[b:b + 1])]
        targets.append(velocity_target(x_s, x_e))  # (1, C, 1, H_k, W_k)
        t_global.append(model_time(t_local[b:b + 1], k, windows, time_conditioning))
    v = model(latents, PackedLayout(tuple(layouts)), torch.cat(t_global), y, output="last")  # B x (1, C, 1, h, w)
    return torch.stack([_mse_per_sample(pred, target)[0] for pred, target in zip(v, targets)]).mean()
